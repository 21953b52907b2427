package dev.pggat.pooler.config;

import java.time.Duration;
import java.util.Objects;

/**
 * A database's server-connection limits beyond its pool size, and its prepared-statement cache size.
 *
 * @param maxDatabaseConnections server connections to the database across all its users and endpoints; 0 = no cap
 * @param reservePoolSize connections a pool may open beyond maxServerConnections once a client waited
 *     {@code reservePoolTimeout}; 0 = none
 * @param preparedStatementCacheSize prepared statements each server connection keeps (transaction mode, LRU)
 */
public record PoolLimits(
        int maxDatabaseConnections, int reservePoolSize, Duration reservePoolTimeout, int preparedStatementCacheSize) {
    public static final PoolLimits DEFAULT = new PoolLimits(0, 0, Duration.ofSeconds(5), 1000);

    public PoolLimits {
        Objects.requireNonNull(reservePoolTimeout, "reservePoolTimeout");
    }
}
