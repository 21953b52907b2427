package dev.pggat.pooler.config;

import java.util.Locale;

/**
 * What the pooler's client listener (or one database) does with TLS. A server cannot prefer anything: the client
 * decides whether to ask. The four names follow libpq's sslmode so that operators read them the same way.
 */
public enum TlsPolicy {
    /** SSLRequest is declined, direct TLS refused; on a database: clients that came over TLS are refused. */
    DISABLE,
    /** TLS when the client asks, with the configured certificate only (no certificate: as disable). */
    ALLOW,
    /** TLS when the client asks; without a configured certificate a self-signed one is generated at start. */
    PREFER,
    /** As prefer, and clients that do not use TLS are refused with 28000. */
    REQUIRE;

    public String yamlName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Whether the listener answers SSLRequest with 'S' (given a certificate). */
    public boolean offersTls() {
        return this != DISABLE;
    }
}
