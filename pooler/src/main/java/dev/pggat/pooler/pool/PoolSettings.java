package dev.pggat.pooler.pool;

import java.time.Duration;

/** How one pool behaves; built from the configuration of its database. */
public record PoolSettings(
        PoolMode mode,
        int maxServerConnections,
        int minServerConnections,
        Duration queryWait,
        Duration serverIdle,
        Duration serverConnectBackoffMax,
        String resetQuery) {

    public enum PoolMode {
        TRANSACTION,
        SESSION
    }
}
