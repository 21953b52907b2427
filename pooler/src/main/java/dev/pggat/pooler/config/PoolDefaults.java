package dev.pggat.pooler.config;

import java.util.Objects;

/**
 * Pool settings every database inherits unless it overrides them. An empty {@code resetQuery} means no query is run
 * when a session-mode client leaves.
 */
public record PoolDefaults(PoolMode mode, int maxServerConnections, int minServerConnections, String resetQuery) {
    public static final PoolDefaults DEFAULT = new PoolDefaults(PoolMode.TRANSACTION, 20, 0, "DISCARD ALL");

    public PoolDefaults {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(resetQuery, "resetQuery");
    }
}
