package dev.pggat.pooler.pool;

import java.time.Duration;

/**
 * How one pool behaves; built from the configuration of its database.
 *
 * @param clientIdle a client idle outside a transaction this long is closed; zero = never
 * @param idleInTransaction a client holding a server in a transaction and sending nothing this long is closed;
 *     zero = never
 * @param queryTimeout a query running on a server this long is canceled; zero = never
 * @param reservePoolSize connections the pool may open beyond maxServerConnections for clients that waited
 *     {@code reservePoolTimeout}
 * @param preparedStatementCacheSize prepared statements kept per server connection (transaction mode)
 */
public record PoolSettings(
        PoolMode mode,
        int maxServerConnections,
        int minServerConnections,
        Duration queryWait,
        Duration serverIdle,
        Duration serverConnectBackoffMax,
        String resetQuery,
        Duration clientIdle,
        Duration idleInTransaction,
        Duration queryTimeout,
        int reservePoolSize,
        Duration reservePoolTimeout,
        int preparedStatementCacheSize) {

    /** Without client timeouts or a reserve pool, with the default statement cache size. */
    public PoolSettings(
            PoolMode mode,
            int maxServerConnections,
            int minServerConnections,
            Duration queryWait,
            Duration serverIdle,
            Duration serverConnectBackoffMax,
            String resetQuery) {
        this(
                mode,
                maxServerConnections,
                minServerConnections,
                queryWait,
                serverIdle,
                serverConnectBackoffMax,
                resetQuery,
                Duration.ZERO,
                Duration.ZERO,
                Duration.ZERO,
                0,
                Duration.ZERO,
                1000);
    }

    public enum PoolMode {
        TRANSACTION,
        SESSION
    }
}
