package dev.pggat.pooler.config;

import java.util.Objects;

/** Where clients connect. */
public record Listen(String host, int port) {
    public static final Listen DEFAULT = new Listen("0.0.0.0", 6432);

    public Listen {
        Objects.requireNonNull(host, "host");
    }
}
