package dev.pggat.pooler.config;

import java.time.Duration;
import java.util.Objects;

/**
 * All timeouts. {@link Duration#ZERO} means disabled for {@code queryWait} (wait forever), {@code serverIdle} (never
 * close idle servers) and {@code serverLifetime} (unlimited); the loader rejects zero for the others.
 */
public record Timeouts(
        Duration clientLogin,
        Duration queryWait,
        Duration serverConnect,
        Duration serverConnectBackoffMax,
        Duration serverIdle,
        Duration serverLifetime,
        Duration shutdown) {

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
    }
}
