package dev.pggat.pooler.tls;

import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslProvider;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which TLS implementation builds the pooler's contexts. BoringSSL (netty-tcnative) when its native library loads
 * on this platform: its handshakes cost a fraction of the JDK's SSLEngine (the JDK's elliptic-curve arithmetic
 * dominates a handshake's CPU time); else the JDK's. The system property {@value #PROPERTY} ({@code auto},
 * {@code openssl} or {@code jdk}) overrides the choice.
 */
public final class TlsProvider {
    private static final Logger log = LoggerFactory.getLogger(TlsProvider.class);
    public static final String PROPERTY = "pggat.tlsProvider";

    private static volatile SslProvider chosen;

    private TlsProvider() {}

    /** The provider contexts are built with from now on. */
    public static SslProvider current() {
        SslProvider p = chosen;
        if (p == null) {
            synchronized (TlsProvider.class) {
                p = chosen;
                if (p == null) {
                    p = choose(System.getProperty(PROPERTY, "auto"));
                    chosen = p;
                }
            }
        }
        return p;
    }

    /**
     * Forces a provider for contexts built from now on (tests); null goes back to the automatic choice.
     *
     * @throws IllegalStateException for OPENSSL when the native library is not available
     */
    public static void force(SslProvider provider) {
        if (provider == SslProvider.OPENSSL && !OpenSsl.isAvailable()) {
            throw new IllegalStateException(
                    "the OpenSSL (BoringSSL) provider is not available here: " + OpenSsl.unavailabilityCause());
        }
        chosen = provider;
    }

    /** Whether BoringSSL can be used on this machine. */
    public static boolean openSslAvailable() {
        return OpenSsl.isAvailable();
    }

    static SslProvider choose(String setting) {
        String s = setting.strip().toLowerCase(Locale.ROOT);
        switch (s) {
            case "jdk" -> {
                log.info("TLS provider: JDK ({}={})", PROPERTY, setting);
                return SslProvider.JDK;
            }
            case "openssl", "auto" -> {
                if (OpenSsl.isAvailable()) {
                    log.info("TLS provider: {} through netty-tcnative", OpenSsl.versionString());
                    return SslProvider.OPENSSL;
                }
                Throwable why = OpenSsl.unavailabilityCause();
                if (s.equals("openssl")) {
                    log.warn(
                            "TLS provider: {}=openssl, but the native library does not load ({}); using the JDK's",
                            PROPERTY,
                            why == null ? "unknown reason" : why.toString());
                } else {
                    log.info("TLS provider: JDK (no native TLS library for this platform)");
                }
                return SslProvider.JDK;
            }
            default -> {
                log.warn("TLS provider: {}={} is not one of auto, openssl, jdk; using auto", PROPERTY, setting);
                return choose("auto");
            }
        }
    }
}
