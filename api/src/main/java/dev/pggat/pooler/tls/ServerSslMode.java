package dev.pggat.pooler.tls;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** How the pooler protects its connections to PostgreSQL, with libpq's {@code sslmode} meanings. */
public enum ServerSslMode {
    /** Plain text only; no SSLRequest is sent. */
    DISABLE("disable"),
    /**
     * Plain text first; TLS only if the server refuses plain text. The connector opens the plain connection itself
     * and retries with {@link BackendTls#negotiate} when the server rejects it; given to {@code negotiate} directly,
     * it behaves as {@link #PREFER}.
     */
    ALLOW("allow"),
    /** TLS if the server offers it, else plain text; the certificate is checked only if a CA file is configured. */
    PREFER("prefer"),
    /**
     * TLS or no connection; the certificate is not checked unless a CA file is configured, which then makes it
     * {@link #VERIFY_CA} (as libpq does when a root certificate file exists).
     */
    REQUIRE("require"),
    /** TLS with a certificate chaining to the configured CA. */
    VERIFY_CA("verify-ca"),
    /** As {@link #VERIFY_CA}, and the certificate must name the host connected to (DNS name or IP address). */
    VERIFY_FULL("verify-full");

    private final String configName;

    ServerSslMode(String configName) {
        this.configName = configName;
    }

    /** The spelling in the configuration file (libpq's). */
    public String configName() {
        return configName;
    }

    /** Whether the first connection attempt sends an SSLRequest (all but disable and allow). */
    public boolean triesTlsFirst() {
        return this != DISABLE && this != ALLOW;
    }

    /** Whether the connection may end up in plain text. */
    public boolean allowsPlaintext() {
        return this == DISABLE || this == ALLOW || this == PREFER;
    }

    /** Whether the server certificate is checked against the CA file regardless of other settings. */
    public boolean verifiesCertificate() {
        return this == VERIFY_CA || this == VERIFY_FULL;
    }

    public boolean verifiesHostName() {
        return this == VERIFY_FULL;
    }

    /** Parses the configuration spelling; the error lists what is accepted. */
    public static ServerSslMode fromConfig(String value) {
        String v = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
        for (ServerSslMode m : values()) {
            if (m.configName.equals(v)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown sslmode '" + value + "'; accepted: "
                + Arrays.stream(values()).map(ServerSslMode::configName).collect(Collectors.joining(", ")));
    }
}
