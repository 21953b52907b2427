package dev.pggat.pooler.tls;

import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;
import javax.net.ssl.SSLException;

/**
 * Server-side {@link SslContext}s for the pooler's client listener: TLS 1.2 and 1.3 only, ALPN {@code postgresql}
 * (a client offering other protocols only is refused, as PostgreSQL 17 does), and client certificates per {@link
 * ClientCertMode}.
 */
public final class ClientTlsContexts {
    /** Name of the {@link io.netty.handler.ssl.SslHandler} in the client pipeline. */
    public static final String HANDLER_NAME = "pg-tls";

    private ClientTlsContexts() {}

    /** Builds the context from the files in {@code config}. */
    public static SslContext build(ServerTlsConfig config) throws TlsConfigException {
        return load(config).context();
    }

    /** Loads the files in {@code config} and keeps following them every {@link ServerTlsConfig#reloadInterval()}. */
    public static ReloadingSslContext reloading(ServerTlsConfig config) throws TlsConfigException {
        return ReloadingSslContext.load("client TLS", config.files(), () -> load(config))
                .startWatching(config.reloadInterval());
    }

    /**
     * A context serving a generated certificate, without client certificates; it never reloads (the certificate
     * lives as long as the process).
     */
    public static ReloadingSslContext selfSigned(SelfSigned selfSigned) throws TlsConfigException {
        return selfSigned(selfSigned, ClientCertMode.NONE, List.of());
    }

    /** As {@link #selfSigned(SelfSigned)}, checking client certificates against {@code trustedCas}. */
    public static ReloadingSslContext selfSigned(
            SelfSigned selfSigned, ClientCertMode mode, List<X509Certificate> trustedCas) throws TlsConfigException {
        SslContext ctx =
                build(selfSigned.privateKey(), List.of(selfSigned.certificate()), mode, trustedCas, "self-signed");
        return ReloadingSslContext.fixed(
                "client TLS", new ReloadingSslContext.Loaded(ctx, "self-signed " + describe(selfSigned.certificate())));
    }

    static ReloadingSslContext.Loaded load(ServerTlsConfig config) throws TlsConfigException {
        List<X509Certificate> chain = PemFiles.readCertificates(config.certFile());
        PrivateKey key = PemFiles.readPrivateKey(config.keyFile());
        PemFiles.checkKeyMatches(
                key,
                chain.get(0),
                config.keyFile().toString(),
                config.certFile().toString());
        // With a CA file, certificates are requested from every client, and required only in verify modes: the
        // auth rules (method cert, clientCert) decide per connection, as PostgreSQL's ssl_ca_file does.
        List<X509Certificate> cas = config.caFile() != null ? PemFiles.readCertificates(config.caFile()) : List.of();
        SslContext ctx = build(
                key, chain, config.clientCertMode(), cas, config.certFile().toString());
        String summary = describe(chain.get(0)) + " from " + config.certFile()
                + (cas.isEmpty()
                        ? ""
                        : "; client certificates "
                                + (config.clientCertMode().requiresCertificate()
                                        ? config.clientCertMode().configName()
                                        : "optional")
                                + " against " + cas.size() + " CA certificate(s) from " + config.caFile());
        return new ReloadingSslContext.Loaded(ctx, summary);
    }

    /**
     * Builds a context from loaded material.
     *
     * @param chain the pooler's certificate first, then intermediates
     * @param trustedCas the CAs client certificates must chain to; with {@link ClientCertMode#NONE} and CAs, a
     *     certificate is requested but optional (one that does not chain to them still fails the handshake)
     * @param source names the material in errors
     */
    public static SslContext build(
            PrivateKey key,
            List<X509Certificate> chain,
            ClientCertMode mode,
            List<X509Certificate> trustedCas,
            String source)
            throws TlsConfigException {
        if (mode.requiresCertificate() && trustedCas.isEmpty()) {
            throw new TlsConfigException("client certificate mode " + mode.configName()
                    + " needs at least one CA certificate to verify clients against");
        }
        io.netty.handler.ssl.SslProvider provider = TlsProvider.current();
        SslContextBuilder b = SslContextBuilder.forServer(key, chain)
                .sslProvider(provider)
                .protocols(TlsDefaults.PROTOCOLS)
                .ciphers(TlsDefaults.CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                .applicationProtocolConfig(TlsDefaults.serverAlpn(provider));
        if (mode.requiresCertificate()) {
            b.clientAuth(ClientAuth.REQUIRE).trustManager(trustedCas);
        } else if (!trustedCas.isEmpty()) {
            b.clientAuth(ClientAuth.OPTIONAL).trustManager(trustedCas);
        } else {
            b.clientAuth(ClientAuth.NONE);
        }
        try {
            return b.build();
        } catch (SSLException | IllegalArgumentException e) {
            throw new TlsConfigException(
                    "cannot use the certificate and key from " + source + ": "
                            + e.getClass().getSimpleName(),
                    e);
        }
    }

    /** Subject, expiry and fingerprint of a certificate, for log lines. */
    static String describe(X509Certificate cert) {
        Instant notAfter = cert.getNotAfter().toInstant();
        String validity = notAfter.isBefore(Instant.now()) ? "EXPIRED on " + notAfter : "valid until " + notAfter;
        return "certificate '" + cert.getSubjectX500Principal().getName() + "' (" + validity + ", SHA-256 "
                + SelfSigned.fingerprint(cert) + ")";
    }
}
