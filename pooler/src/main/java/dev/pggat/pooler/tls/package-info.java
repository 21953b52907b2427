/**
 * TLS for both sides of the pooler: towards clients (the pooler as TLS server) and towards PostgreSQL (the pooler as
 * TLS client). {@code security.Security} builds the contexts from the configuration, {@code frontend.LoginHandler}
 * answers SSLRequest, {@link dev.pggat.pooler.tls.DirectTlsDetector} takes direct TLS, and {@code
 * backend.ServerConnector} negotiates towards servers, as follows.
 *
 * <h2>Client side</h2>
 *
 * <ol>
 *   <li>At start, build one {@link dev.pggat.pooler.tls.ReloadingSslContext}: from files with {@link
 *       dev.pggat.pooler.tls.ClientTlsContexts#reloading(ServerTlsConfig)} (throws {@link
 *       dev.pggat.pooler.tls.TlsConfigException} with a message fit for the user), or from {@link
 *       dev.pggat.pooler.tls.SelfSigned#generate} with {@link
 *       dev.pggat.pooler.tls.ClientTlsContexts#selfSigned(SelfSigned)}, logging {@link
 *       dev.pggat.pooler.tls.SelfSigned#sha256Fingerprint()}. It polls the files on a daemon thread; {@code close()}
 *       it on shutdown. Its {@code lastError()} can feed a metric or the readiness detail.
 *   <li>SSLRequest (the {@code StartupPacket.SslRequest} that {@code ClientSession} now answers 'N'): first make sure
 *       the client sent nothing after it: the {@code StartupDecoder} must hold no buffered bytes (otherwise those
 *       bytes, sent before the handshake, would later be read as if they had been encrypted; PostgreSQL refuses such
 *       clients with a protocol violation). Then write the single byte 'S' and flush, and add {@code
 *       ctx.newHandler(alloc)} at the head of the pipeline ({@code addFirst(ClientTlsContexts.HANDLER_NAME, ...)})
 *       in the same event-loop task: the 'S' is already past the point where the handler sits, the next bytes
 *       (the ClientHello) go through it, and {@code StartupDecoder} (single-decode until the StartupMessage) then
 *       sees the decrypted StartupMessage. A second SSLRequest after TLS is a protocol violation.
 *   <li>PostgreSQL 17 direct TLS ({@code sslnegotiation=direct}): the first byte of a new connection is 0x16 (a TLS
 *       handshake record) instead of a packet length. Put the SslHandler first as above, and after the handshake
 *       require {@code TlsInfo.applicationProtocol()} to be {@code "postgresql"}; a client offering other ALPN
 *       protocols only is already refused by the handshake.
 *   <li>After the handshake ({@code sslHandler.handshakeFuture()}), take {@link
 *       dev.pggat.pooler.tls.TlsInfo#of(io.netty.handler.ssl.SslHandler)}: with {@link
 *       dev.pggat.pooler.tls.ClientCertMode#VERIFY_FULL} reject the login (28000) unless {@code
 *       tlsInfo.peerNameMatches(user)}; offer SCRAM-SHA-256-PLUS only when {@code tlsInfo.tlsServerEndPoint()} is
 *       present and check the client's cbind data against it (constant time). Clients that must use TLS (a
 *       {@code hostssl}-like setting) are refused when the session has no TlsInfo.
 * </ol>
 *
 * <h2>Server side</h2>
 *
 * <ol>
 *   <li>Per database (or endpoint), a {@link dev.pggat.pooler.tls.BackendTlsConfig} gives the {@link
 *       dev.pggat.pooler.tls.ServerSslMode} and files; {@link
 *       dev.pggat.pooler.tls.BackendTls#reloading(BackendTlsConfig, String)} builds the context once (empty for
 *       disable). Contexts are shared by all connections of that config.
 *   <li>In {@code ServerConnector}, once the TCP connect succeeds and before the StartupMessage is written, call
 *       {@link dev.pggat.pooler.tls.BackendTls#negotiate} with the channel, the mode, {@code ctx.current()}, and the
 *       endpoint's host and port (the host is used for SNI and verify-full). Write the StartupMessage when the
 *       future succeeds; map a failure (a {@link dev.pggat.pooler.tls.BackendTlsException}, channel already closed)
 *       to a {@code ServerError} 08001. The existing login timeout also bounds the negotiation. The SslHandler is
 *       added first, so {@code MessageFramer} reads decrypted bytes without change.
 *   <li>sslmode allow means plain text first: connect without {@code negotiate}, and only if the server refuses the
 *       login because it requires encryption, connect again and negotiate. {@code ServerSslMode.triesTlsFirst()}
 *       tells which attempt comes first.
 *   <li>The returned {@link dev.pggat.pooler.tls.TlsInfo} carries the server's {@code tls-server-end-point} for
 *       SCRAM-SHA-256-PLUS towards PostgreSQL.
 * </ol>
 *
 * <p>Key material is never logged: errors name files and what is wrong; certificates appear by subject, expiry and
 * SHA-256 fingerprint only.
 */
package dev.pggat.pooler.tls;
