package dev.pggat.pooler.config;

import java.time.Duration;
import java.util.Objects;

/**
 * All timeouts. {@link Duration#ZERO} means disabled for {@code queryWait} (wait forever), {@code serverIdle} (never
 * close idle servers), {@code serverLifetime} (unlimited), {@code clientIdle}, {@code idleInTransaction} and
 * {@code query} (off, as in PostgreSQL); the loader rejects zero for the others.
 */
public record Timeouts(
        Duration clientLogin,
        Duration queryWait,
        Duration serverConnect,
        Duration serverConnectBackoffMax,
        Duration serverIdle,
        Duration serverLifetime,
        Duration shutdown,
        Duration clientIdle,
        Duration idleInTransaction,
        Duration query) {

    public static final Timeouts DEFAULT = new Timeouts(
            Duration.ofSeconds(15),
            Duration.ofSeconds(30),
            Duration.ofSeconds(5),
            Duration.ofSeconds(30),
            Duration.ofMinutes(10),
            Duration.ofHours(1),
            Duration.ofSeconds(30));

    public Timeouts {
        Objects.requireNonNull(clientLogin, "clientLogin");
        Objects.requireNonNull(queryWait, "queryWait");
        Objects.requireNonNull(serverConnect, "serverConnect");
        Objects.requireNonNull(serverConnectBackoffMax, "serverConnectBackoffMax");
        Objects.requireNonNull(serverIdle, "serverIdle");
        Objects.requireNonNull(serverLifetime, "serverLifetime");
        Objects.requireNonNull(shutdown, "shutdown");
        Objects.requireNonNull(clientIdle, "clientIdle");
        Objects.requireNonNull(idleInTransaction, "idleInTransaction");
        Objects.requireNonNull(query, "query");
    }

    /** With the client-side timeouts (clientIdle, idleInTransaction, query) off. */
    public Timeouts(
            Duration clientLogin,
            Duration queryWait,
            Duration serverConnect,
            Duration serverConnectBackoffMax,
            Duration serverIdle,
            Duration serverLifetime,
            Duration shutdown) {
        this(
                clientLogin,
                queryWait,
                serverConnect,
                serverConnectBackoffMax,
                serverIdle,
                serverLifetime,
                shutdown,
                Duration.ZERO,
                Duration.ZERO,
                Duration.ZERO);
    }

    public Timeouts withClientTimeouts(Duration newClientIdle, Duration newIdleInTransaction, Duration newQuery) {
        return new Timeouts(
                clientLogin,
                queryWait,
                serverConnect,
                serverConnectBackoffMax,
                serverIdle,
                serverLifetime,
                shutdown,
                newClientIdle,
                newIdleInTransaction,
                newQuery);
    }
}
