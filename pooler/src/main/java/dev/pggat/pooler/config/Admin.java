package dev.pggat.pooler.config;

import java.util.Objects;

/** The HTTP endpoint serving /healthz, /readyz and /metrics. */
public record Admin(boolean enabled, String host, int port) {
    public static final Admin DEFAULT = new Admin(true, "127.0.0.1", 9930);

    public Admin {
        Objects.requireNonNull(host, "host");
    }
}
