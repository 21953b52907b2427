package dev.pggat.pooler.config;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The whole configuration. Build it with {@link ConfigLoader} from YAML (validated), or in code with
 * {@link #defaults(List)} and the {@code with...} methods (not validated, so tests may use port 0).
 *
 * <p>There is only the canonical constructor, with every section: a changed configuration is made from an
 * existing one with the {@code with...} methods, so no caller can drop a section by leaving it out (a shorter
 * constructor once defaulted {@code tracing} away on a reload).
 *
 * @param pools the pool defaults as written; every {@link DatabaseConfig} already has them applied
 * @param databases by client-facing name, in file order
 * @param security authentication and TLS on both sides
 * @param discovery sources that find databases' servers by themselves, and which databases they feed
 * @param tracing OpenTelemetry spans per client transaction
 * @param routes tried in order before a client's database name is looked up in {@code databases}
 */
public record PoolerConfig(
        Listen listen,
        Admin admin,
        Limits limits,
        Timeouts timeouts,
        PoolDefaults pools,
        Map<String, DatabaseConfig> databases,
        SecurityConfig security,
        DiscoveryConfig discovery,
        TracingConfig tracing,
        List<RouteConfig> routes) {

    public PoolerConfig {
        Objects.requireNonNull(tracing, "tracing");
        routes = List.copyOf(routes);
        Objects.requireNonNull(discovery, "discovery");
        Objects.requireNonNull(security, "security");
        Objects.requireNonNull(listen, "listen");
        Objects.requireNonNull(admin, "admin");
        Objects.requireNonNull(limits, "limits");
        Objects.requireNonNull(timeouts, "timeouts");
        Objects.requireNonNull(pools, "pools");
        databases = Collections.unmodifiableMap(new LinkedHashMap<>(databases));
    }

    /** Every section at its default, serving {@code databases}. */
    public static PoolerConfig defaults(List<DatabaseConfig> databases) {
        Map<String, DatabaseConfig> map = new LinkedHashMap<>();
        for (DatabaseConfig db : databases) {
            if (map.putIfAbsent(db.name(), db) != null) {
                throw new IllegalArgumentException("duplicate database " + db.name());
            }
        }
        return new PoolerConfig(
                Listen.DEFAULT,
                Admin.DEFAULT,
                Limits.DEFAULT,
                Timeouts.DEFAULT,
                PoolDefaults.DEFAULT,
                map,
                SecurityConfig.DEFAULT,
                DiscoveryConfig.NONE,
                TracingConfig.DEFAULT,
                List.of());
    }

    public PoolerConfig withPools(PoolDefaults newPools) {
        return new PoolerConfig(
                listen, admin, limits, timeouts, newPools, databases, security, discovery, tracing, routes);
    }

    public PoolerConfig withListen(Listen newListen) {
        return new PoolerConfig(
                newListen, admin, limits, timeouts, pools, databases, security, discovery, tracing, routes);
    }

    public PoolerConfig withAdmin(Admin newAdmin) {
        return new PoolerConfig(
                listen, newAdmin, limits, timeouts, pools, databases, security, discovery, tracing, routes);
    }

    public PoolerConfig withLimits(Limits newLimits) {
        return new PoolerConfig(
                listen, admin, newLimits, timeouts, pools, databases, security, discovery, tracing, routes);
    }

    public PoolerConfig withTimeouts(Timeouts newTimeouts) {
        return new PoolerConfig(
                listen, admin, limits, newTimeouts, pools, databases, security, discovery, tracing, routes);
    }

    public PoolerConfig withSecurity(SecurityConfig newSecurity) {
        return new PoolerConfig(
                listen, admin, limits, timeouts, pools, databases, newSecurity, discovery, tracing, routes);
    }

    public PoolerConfig withDiscovery(DiscoveryConfig newDiscovery) {
        return new PoolerConfig(
                listen, admin, limits, timeouts, pools, databases, security, newDiscovery, tracing, routes);
    }

    public PoolerConfig withTracing(TracingConfig newTracing) {
        return new PoolerConfig(
                listen, admin, limits, timeouts, pools, databases, security, discovery, newTracing, routes);
    }

    public PoolerConfig withRoutes(List<RouteConfig> newRoutes) {
        return new PoolerConfig(
                listen, admin, limits, timeouts, pools, databases, security, discovery, tracing, newRoutes);
    }

    public PoolerConfig withDatabases(Map<String, DatabaseConfig> newDatabases) {
        return new PoolerConfig(
                listen, admin, limits, timeouts, pools, newDatabases, security, discovery, tracing, routes);
    }
}
