package dev.pggat.pooler.config;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A database clients connect to, with the pool defaults already applied.
 *
 * @param name the database name clients ask for
 * @param serverDatabase the database name on the servers
 * @param users by user name, in file order
 * @param limits caps, reserve pool and statement cache, with the pool defaults applied
 */
public record DatabaseConfig(
        String name,
        String serverDatabase,
        List<Endpoint> endpoints,
        PoolMode mode,
        int maxServerConnections,
        int minServerConnections,
        String resetQuery,
        Map<String, UserConfig> users,
        RoutingConfig routing,
        PoolLimits limits) {

    /** Without limits: the defaults. */
    public DatabaseConfig(
            String name,
            String serverDatabase,
            List<Endpoint> endpoints,
            PoolMode mode,
            int maxServerConnections,
            int minServerConnections,
            String resetQuery,
            Map<String, UserConfig> users,
            RoutingConfig routing) {
        this(
                name,
                serverDatabase,
                endpoints,
                mode,
                maxServerConnections,
                minServerConnections,
                resetQuery,
                users,
                routing,
                PoolLimits.DEFAULT);
    }

    /** Without routing settings: the defaults. */
    public DatabaseConfig(
            String name,
            String serverDatabase,
            List<Endpoint> endpoints,
            PoolMode mode,
            int maxServerConnections,
            int minServerConnections,
            String resetQuery,
            Map<String, UserConfig> users) {
        this(
                name,
                serverDatabase,
                endpoints,
                mode,
                maxServerConnections,
                minServerConnections,
                resetQuery,
                users,
                RoutingConfig.DEFAULT);
    }

    public DatabaseConfig {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(serverDatabase, "serverDatabase");
        endpoints = List.copyOf(endpoints);
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(resetQuery, "resetQuery");
        users = Collections.unmodifiableMap(new LinkedHashMap<>(users));
        Objects.requireNonNull(routing, "routing");
        Objects.requireNonNull(limits, "limits");
    }

    public DatabaseConfig withRouting(RoutingConfig newRouting) {
        return new DatabaseConfig(
                name,
                serverDatabase,
                endpoints,
                mode,
                maxServerConnections,
                minServerConnections,
                resetQuery,
                users,
                newRouting,
                limits);
    }

    /** A database with the default pool settings, served under the same name on the servers. */
    public static DatabaseConfig of(String name, List<Endpoint> endpoints, List<UserConfig> users) {
        PoolDefaults pools = PoolDefaults.DEFAULT;
        return new DatabaseConfig(
                name,
                name,
                endpoints,
                pools.mode(),
                pools.maxServerConnections(),
                pools.minServerConnections(),
                pools.resetQuery(),
                byName(users));
    }

    public DatabaseConfig withMode(PoolMode newMode) {
        return new DatabaseConfig(
                name,
                serverDatabase,
                endpoints,
                newMode,
                maxServerConnections,
                minServerConnections,
                resetQuery,
                users,
                routing,
                limits);
    }

    public DatabaseConfig withServerConnections(int min, int max) {
        return new DatabaseConfig(name, serverDatabase, endpoints, mode, max, min, resetQuery, users, routing, limits);
    }

    public DatabaseConfig withLimits(PoolLimits newLimits) {
        return new DatabaseConfig(
                name,
                serverDatabase,
                endpoints,
                mode,
                maxServerConnections,
                minServerConnections,
                resetQuery,
                users,
                routing,
                newLimits);
    }

    /** The one endpoint with role primary (the loader guarantees exactly one). */
    public Endpoint primary() {
        return endpoints.stream()
                .filter(e -> e.role() == Endpoint.Role.PRIMARY)
                .findFirst()
                .orElseThrow(() -> new IllegalStateException("database " + name + " has no primary endpoint"));
    }

    /** The endpoints with role replica, in file order. */
    public List<Endpoint> replicas() {
        return endpoints.stream().filter(e -> e.role() == Endpoint.Role.REPLICA).toList();
    }

    private static Map<String, UserConfig> byName(List<UserConfig> users) {
        Map<String, UserConfig> map = new LinkedHashMap<>();
        for (UserConfig user : users) {
            if (map.putIfAbsent(user.name(), user) != null) {
                throw new IllegalArgumentException("duplicate user " + user.name());
            }
        }
        return map;
    }
}
