package dev.pggat.pooler.tls;

import io.netty.handler.ssl.ApplicationProtocolConfig;
import java.util.List;

/** Protocol versions, cipher suites and ALPN shared by both sides of the pooler. */
final class TlsDefaults {
    /** The ALPN protocol name PostgreSQL 17 registered; direct TLS connections must negotiate it. */
    static final String ALPN_POSTGRESQL = "postgresql";

    static final List<String> PROTOCOLS = List.of("TLSv1.3", "TLSv1.2");

    /*
     * TLS 1.2 is limited to forward-secret AEAD suites; TLS 1.3 suites are all fine. Names the running JDK does not
     * know are dropped by the cipher suite filter rather than failing the build of the context.
     */
    static final List<String> CIPHERS = List.of(
            "TLS_AES_128_GCM_SHA256",
            "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384");

    /*
     * As PostgreSQL 17 does: a client that offers ALPN without "postgresql" is refused with a fatal alert; a
     * client that offers no ALPN at all (libpq before 17, pgjdbc) is accepted.
     */
    /**
     * The listener's ALPN for contexts of {@code provider}. BoringSSL through Netty cannot send a fatal alert when
     * no protocol matches: it then negotiates none, and direct-TLS connections without "postgresql" are refused
     * by the login handler after the handshake instead.
     */
    static ApplicationProtocolConfig serverAlpn(io.netty.handler.ssl.SslProvider provider) {
        return provider == io.netty.handler.ssl.SslProvider.JDK ? SERVER_ALPN : SERVER_ALPN_NO_ALERT;
    }

    static final ApplicationProtocolConfig SERVER_ALPN_NO_ALERT = new ApplicationProtocolConfig(
            ApplicationProtocolConfig.Protocol.ALPN,
            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
            ALPN_POSTGRESQL);

    static final ApplicationProtocolConfig SERVER_ALPN = new ApplicationProtocolConfig(
            ApplicationProtocolConfig.Protocol.ALPN,
            ApplicationProtocolConfig.SelectorFailureBehavior.FATAL_ALERT,
            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
            ALPN_POSTGRESQL);

    static final ApplicationProtocolConfig CLIENT_ALPN = new ApplicationProtocolConfig(
            ApplicationProtocolConfig.Protocol.ALPN,
            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
            ALPN_POSTGRESQL);

    private TlsDefaults() {}
}
