package dev.pggat.pooler.config;

import java.util.Objects;

/**
 * The admin HTTP endpoint.
 *
 * @param token bearer token that authorizes changes (PUT of endpoint sets); null disables changes
 */
public record Admin(boolean enabled, String host, int port, String token) {
    public static final Admin DEFAULT = new Admin(true, "127.0.0.1", 9930, null);

    public Admin {
        Objects.requireNonNull(host, "host");
    }

    public Admin(boolean enabled, String host, int port) {
        this(enabled, host, port, null);
    }

    @Override
    public String toString() {
        return "Admin[enabled=" + enabled + ", host=" + host + ", port=" + port + ", token="
                + (token == null ? "none" : "<redacted>") + "]";
    }
}
