package dev.pggat.pooler.tls;

import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;

/**
 * TLS from the pooler to PostgreSQL: the client-side {@link SslContext} and the SSLRequest exchange that starts
 * TLS on a connected channel.
 */
public final class BackendTls {
    /** Name of the {@link SslHandler} in the server connection's pipeline. */
    public static final String HANDLER_NAME = "pg-tls";
    /** Name of the short-lived handler that reads the server's answer to the SSLRequest. */
    public static final String NEGOTIATION_HANDLER_NAME = "pg-ssl-negotiation";

    private static final int SSL_REQUEST_LENGTH = 8;
    private static final int SSL_REQUEST_CODE = 80877103;

    private BackendTls() {}

    /** The context for {@code config}; empty for sslmode disable. */
    public static Optional<SslContext> context(BackendTlsConfig config) throws TlsConfigException {
        return config.sslMode() == ServerSslMode.DISABLE
                ? Optional.empty()
                : Optional.of(load(config).context());
    }

    /**
     * The context for {@code config}, following its files every {@link BackendTlsConfig#reloadInterval()}; empty
     * for sslmode disable.
     *
     * @param description names the context in log lines ("server TLS for database app")
     */
    public static Optional<ReloadingSslContext> reloading(BackendTlsConfig config, String description)
            throws TlsConfigException {
        if (config.sslMode() == ServerSslMode.DISABLE) {
            return Optional.empty();
        }
        return Optional.of(ReloadingSslContext.load(description, config.files(), () -> load(config))
                .startWatching(config.reloadInterval()));
    }

    static ReloadingSslContext.Loaded load(BackendTlsConfig config) throws TlsConfigException {
        // The JDK's engine on this side: server connections are pooled, so their handshakes are rare, and its
        // errors say why a certificate was refused (BoringSSL's mostly say "General OpenSslEngine problem").
        SslContextBuilder b = SslContextBuilder.forClient()
                .sslProvider(io.netty.handler.ssl.SslProvider.JDK)
                .protocols(TlsDefaults.PROTOCOLS)
                .ciphers(TlsDefaults.CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                .applicationProtocolConfig(TlsDefaults.CLIENT_ALPN)
                // Netty 4.2 checks host names by default; only verify-full wants that.
                .endpointIdentificationAlgorithm(config.sslMode().verifiesHostName() ? "HTTPS" : null);
        StringBuilder summary =
                new StringBuilder("sslmode ").append(config.sslMode().configName());
        if (config.verifiesCertificate()) {
            List<X509Certificate> cas = PemFiles.readCertificates(config.caFile());
            b.trustManager(cas);
            summary.append(", server certificates checked against ")
                    .append(cas.size())
                    .append(" CA certificate(s) from ")
                    .append(config.caFile());
        } else {
            // libpq's require/prefer/allow without a root certificate: encryption without authentication.
            b.trustManager(InsecureTrustManagerFactory.INSTANCE);
            summary.append(", server certificate not checked");
        }
        if (config.certFile() != null) {
            List<X509Certificate> chain = PemFiles.readCertificates(config.certFile());
            PrivateKey key = PemFiles.readPrivateKey(config.keyFile());
            PemFiles.checkKeyMatches(
                    key,
                    chain.get(0),
                    config.keyFile().toString(),
                    config.certFile().toString());
            b.keyManager(key, chain);
            summary.append(", client ")
                    .append(ClientTlsContexts.describe(chain.get(0)))
                    .append(" from ")
                    .append(config.certFile());
        }
        try {
            return new ReloadingSslContext.Loaded(b.build(), summary.toString());
        } catch (SSLException | IllegalArgumentException e) {
            throw new TlsConfigException(
                    "cannot build the TLS context for servers (" + summary + "): "
                            + e.getClass().getSimpleName(),
                    e);
        }
    }

    /**
     * A handler for a connection to {@code host}: sends SNI for host names (not IP addresses) and, if the context
     * checks host names, checks the certificate against {@code host}.
     */
    public static SslHandler newHandler(SslContext context, ByteBufAllocator alloc, String host, int port) {
        SslHandler handler = context.newHandler(alloc, host, port);
        String name = host.endsWith(".") ? host.substring(0, host.length() - 1) : host;
        if (!NetUtil.isValidIpV4Address(name) && !NetUtil.isValidIpV6Address(stripBrackets(name))) {
            SSLEngine engine = handler.engine();
            SSLParameters params = engine.getSSLParameters();
            try {
                params.setServerNames(List.of(new SNIHostName(name)));
                engine.setSSLParameters(params);
            } catch (IllegalArgumentException e) {
                // Not a name SNI can carry (underscores...): connect without SNI, as libpq does.
            }
        }
        return handler;
    }

    /**
     * Starts TLS on a connected channel as {@code mode} demands, before anything else is written: sends the
     * SSLRequest, and on 'S' puts an {@link SslHandler} named {@value #HANDLER_NAME} first in the pipeline. The
     * future completes once the connection is ready for the StartupMessage: with the handshake's {@link TlsInfo},
     * or empty when it stays in plain text (mode disable, or 'N' from the server under allow/prefer). It fails with
     * a {@link BackendTlsException} (and the channel is closed) when the server declines TLS that the mode
     * requires, answers with an error, sends anything unexpected, or the handshake fails; the connect timeout is
     * the caller's.
     *
     * @param context the context for this server; unused for mode disable
     */
    public static Future<Optional<TlsInfo>> negotiate(
            Channel channel, ServerSslMode mode, SslContext context, String host, int port) {
        Promise<Optional<TlsInfo>> promise = channel.eventLoop().newPromise();
        if (mode == ServerSslMode.DISABLE) {
            promise.setSuccess(Optional.empty());
            return promise;
        }
        Objects.requireNonNull(context, "context");
        Runnable start = () -> {
            if (!channel.isActive()) {
                promise.tryFailure(new BackendTlsException(
                        "connection to server " + host + ":" + port + " closed before SSL negotiation"));
                return;
            }
            channel.pipeline().addFirst(NEGOTIATION_HANDLER_NAME, new Negotiation(promise, mode, context, host, port));
            ByteBuf request = channel.alloc().buffer(SSL_REQUEST_LENGTH);
            request.writeInt(SSL_REQUEST_LENGTH).writeInt(SSL_REQUEST_CODE);
            channel.writeAndFlush(request).addListener(f -> {
                if (!f.isSuccess()) {
                    fail(channel, promise, "could not send SSLRequest to server " + host + ":" + port, f.cause());
                }
            });
        };
        if (channel.eventLoop().inEventLoop()) {
            start.run();
        } else {
            channel.eventLoop().execute(start);
        }
        return promise;
    }

    private static void fail(Channel channel, Promise<?> promise, String message, Throwable cause) {
        if (promise.tryFailure(
                cause == null ? new BackendTlsException(message) : new BackendTlsException(message, cause))) {
            channel.close();
        }
    }

    private static String stripBrackets(String host) {
        return host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    }

    /** Reads the one-byte answer to the SSLRequest (or an ErrorResponse), then gets out of the way. */
    private static final class Negotiation extends ChannelInboundHandlerAdapter {
        private static final int MAX_ERROR = 64 * 1024;

        private final Promise<Optional<TlsInfo>> promise;
        private final ServerSslMode mode;
        private final SslContext context;
        private final String host;
        private final int port;
        /** Set once the server answered 'E': the rest of its ErrorResponse is collected here. */
        private ByteBuf error;

        Negotiation(Promise<Optional<TlsInfo>> promise, ServerSslMode mode, SslContext context, String host, int port) {
            this.promise = promise;
            this.mode = mode;
            this.context = context;
            this.host = host;
            this.port = port;
        }

        private String server() {
            return "server " + host + ":" + port;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof ByteBuf in)) {
                ctx.fireChannelRead(msg);
                return;
            }
            try {
                if (promise.isDone()) {
                    return;
                }
                if (error != null) {
                    collectError(ctx, in);
                    return;
                }
                if (!in.isReadable()) {
                    return;
                }
                byte answer = in.readByte();
                switch (answer) {
                    case 'S' -> {
                        if (in.isReadable()) {
                            // Bytes before the handshake would be read as if they had come over TLS.
                            fail(
                                    ctx.channel(),
                                    promise,
                                    server() + " sent unencrypted data after its SSL response",
                                    null);
                            return;
                        }
                        startHandshake(ctx);
                    }
                    case 'N' -> {
                        if (!mode.allowsPlaintext()) {
                            fail(
                                    ctx.channel(),
                                    promise,
                                    server() + " does not support SSL, but sslmode " + mode.configName()
                                            + " requires it",
                                    null);
                            return;
                        }
                        if (in.isReadable()) {
                            fail(
                                    ctx.channel(),
                                    promise,
                                    server() + " sent unexpected data after its SSL response",
                                    null);
                            return;
                        }
                        ctx.pipeline().remove(this);
                        promise.trySuccess(Optional.empty());
                    }
                    case 'E' -> {
                        error = ctx.alloc().buffer();
                        error.writeByte('E');
                        collectError(ctx, in);
                    }
                    default ->
                        fail(
                                ctx.channel(),
                                promise,
                                server() + " answered the SSLRequest with unexpected byte 0x"
                                        + Integer.toHexString(answer & 0xFF) + "; is it a PostgreSQL server?",
                                null);
                }
            } finally {
                in.release();
            }
        }

        private void startHandshake(ChannelHandlerContext ctx) {
            SslHandler ssl = newHandler(context, ctx.alloc(), host, port);
            ssl.handshakeFuture().addListener(f -> {
                if (f.isSuccess()) {
                    promise.trySuccess(Optional.of(TlsInfo.of(ssl)));
                } else {
                    fail(
                            ctx.channel(),
                            promise,
                            "TLS handshake with " + server() + " failed (sslmode " + mode.configName() + "): "
                                    + f.cause().getMessage(),
                            f.cause());
                }
            });
            ctx.pipeline().replace(this, HANDLER_NAME, ssl);
        }

        private void collectError(ChannelHandlerContext ctx, ByteBuf in) {
            error.writeBytes(in);
            if (error.readableBytes() > MAX_ERROR) {
                fail(ctx.channel(), promise, server() + " answered the SSLRequest with an oversized error", null);
                return;
            }
            if (Frames.messageEnd(error, error.readerIndex()) < 0) {
                return;
            }
            ErrorFields fields = ErrorFields.parse(error);
            fail(
                    ctx.channel(),
                    promise,
                    server() + " refused the SSLRequest: "
                            + (fields.message() == null ? "(no message)" : fields.message()),
                    null);
        }

        @Override
        public void handlerRemoved(ChannelHandlerContext ctx) {
            if (error != null) {
                error.release();
                error = null;
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            promise.tryFailure(new BackendTlsException(server() + " closed the connection during SSL negotiation"));
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(ctx.channel(), promise, "SSL negotiation with " + server() + " failed: " + cause.getMessage(), cause);
        }
    }
}
