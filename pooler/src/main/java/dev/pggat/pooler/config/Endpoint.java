package dev.pggat.pooler.config;

import java.util.Locale;
import java.util.Objects;

/** One PostgreSQL server behind a database. */
public record Endpoint(String host, int port, Role role) {
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

    public static Endpoint primary(String host, int port) {
        return new Endpoint(host, port, Role.PRIMARY);
    }

    public static Endpoint replica(String host, int port) {
        return new Endpoint(host, port, Role.REPLICA);
    }
}
