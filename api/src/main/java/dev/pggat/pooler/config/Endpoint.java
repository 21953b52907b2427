package dev.pggat.pooler.config;

import java.util.Locale;
import java.util.Objects;

/**
 * One PostgreSQL server behind a database.
 *
 * @param name how metrics and endpoint updates name it; null: {@code host:port}
 * @param zone an optional locality label
 * @param weight its share of reads relative to other replicas (100 by default; 0 takes it out of reads)
 */
public record Endpoint(String host, int port, Role role, String name, String zone, int weight) {
    public static final int DEFAULT_WEIGHT = 100;
    public static final int DEFAULT_PORT = 5432;

    public enum Role {
        PRIMARY,
        REPLICA;

        /** The spelling used in the YAML file. */
        public String yamlName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public Endpoint {
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(role, "role");
    }

    public Endpoint(String host, int port, Role role) {
        this(host, port, role, null, null, DEFAULT_WEIGHT);
    }

    public static Endpoint primary(String host, int port) {
        return new Endpoint(host, port, Role.PRIMARY);
    }

    public static Endpoint replica(String host, int port) {
        return new Endpoint(host, port, Role.REPLICA);
    }
}
