package dev.pggat.pooler.config;

import dev.pggat.pooler.tls.BackendTlsConfig;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The keys in which two configurations differ, named as in the YAML file ({@code timeouts.queryWait},
 * {@code databases.app.users.alice.password}). Values are compared, never returned, so the result can be logged
 * even when the values are secrets.
 *
 * <p>Sections are compared component by component through their records, so a key added to a section later is
 * covered without a change here; the record components carry the YAML key names (a test holds them to that),
 * except for the few renamed below.
 */
public final class ConfigDiff {
    private ConfigDiff() {}

    /** The key path of {@code databases.<name>.endpoints}, as {@link #changedKeys} renders it. */
    public static String endpointsKey(String database) {
        return KeyPath.ROOT.key("databases").key(database).key("endpoints").toString();
    }

    /** Every key whose value differs, in file order; an added or removed database or user is one key. */
    public static List<String> changedKeys(PoolerConfig was, PoolerConfig now) {
        List<String> out = new ArrayList<>();
        diff(KeyPath.ROOT.key("listen"), was.listen(), now.listen(), out);
        diff(KeyPath.ROOT.key("admin"), was.admin(), now.admin(), out);
        diff(KeyPath.ROOT.key("limits"), was.limits(), now.limits(), out);
        diff(KeyPath.ROOT.key("timeouts"), was.timeouts(), now.timeouts(), out);
        diff(KeyPath.ROOT.key("pools"), was.pools(), now.pools(), out);
        diff(KeyPath.ROOT.key("tracing"), was.tracing(), now.tracing(), out);
        KeyPath databases = KeyPath.ROOT.key("databases");
        java.util.Set<String> inline = new java.util.HashSet<>(RouteConfig.inlineBackends(was.routes()));
        inline.addAll(RouteConfig.inlineBackends(now.routes()));
        for (String name : union(was.databases().keySet(), now.databases().keySet())) {
            DatabaseConfig a = was.databases().get(name);
            DatabaseConfig b = now.databases().get(name);
            // A route's own backend is named under its route, where the file has it.
            KeyPath at =
                    inline.contains(name) ? KeyPath.ROOT.key("routes").key(name).key("backend") : databases.key(name);
            diff(at, a, b, out);
            if (a != null && b != null) {
                route(at, b, was.security().route(name), now.security().route(name), out);
            }
        }
        routes(was, now, out);
        discovery(was.discovery(), now.discovery(), out);
        diff(KeyPath.ROOT.key("tls"), was.security().tls(), now.security().tls(), out);
        diff(KeyPath.ROOT.key("auth"), was.security().auth(), now.security().auth(), out);
        diff(
                KeyPath.ROOT.key("credentials"),
                was.security().credentials(),
                now.security().credentials(),
                out);
        return out;
    }

    /**
     * Routes by name ({@code routes.<name>}): an added, removed or changed route is one key, and so is a change of
     * order ({@code routes}), which changes which route a client gets.
     */
    private static void routes(PoolerConfig was, PoolerConfig now, List<String> out) {
        Map<String, RouteConfig> a = byName(was.routes());
        Map<String, RouteConfig> b = byName(now.routes());
        KeyPath routes = KeyPath.ROOT.key("routes");
        for (String name : union(a.keySet(), b.keySet())) {
            if (!Objects.equals(a.get(name), b.get(name))) {
                out.add(routes.key(name).toString());
            }
        }
        List<String> common = new ArrayList<>(a.keySet());
        common.retainAll(b.keySet());
        List<String> order = new ArrayList<>(b.keySet());
        order.retainAll(a.keySet());
        if (!common.equals(order)) {
            out.add(routes.toString());
        }
    }

    /** A changed, added or removed source is {@code discovery.<name>}; a database's source is its own key. */
    private static void discovery(DiscoveryConfig a, DiscoveryConfig b, List<String> out) {
        KeyPath sources = KeyPath.ROOT.key("discovery");
        for (String name : union(a.sources().keySet(), b.sources().keySet())) {
            if (!Objects.equals(a.sources().get(name), b.sources().get(name))) {
                out.add(sources.key(name).toString());
            }
        }
        for (String db : union(a.targets().keySet(), b.targets().keySet())) {
            if (!Objects.equals(a.targets().get(db), b.targets().get(db))) {
                out.add(KeyPath.ROOT.key("databases").key(db).key("discovery").toString());
            }
        }
    }

    private static Map<String, RouteConfig> byName(List<RouteConfig> routes) {
        Map<String, RouteConfig> m = new java.util.LinkedHashMap<>();
        routes.forEach(r -> m.put(r.name(), r));
        return m;
    }

    /** A database's own {@code tls}, {@code serverTls}, endpoints' {@code serverTls} and users' passThrough. */
    private static void route(KeyPath db, DatabaseConfig now, RouteSecurity a, RouteSecurity b, List<String> out) {
        diff(db.key("tls"), a.clientTls(), b.clientTls(), out);
        diff(db.key("serverTls"), a.serverTls(), b.serverTls(), out);
        for (String endpoint : union(a.endpointTls().keySet(), b.endpointTls().keySet())) {
            BackendTlsConfig x = a.endpointTls().get(endpoint);
            BackendTlsConfig y = b.endpointTls().get(endpoint);
            if (!Objects.equals(x, y)) {
                out.add(endpointPath(db, now, endpoint).key("serverTls").toString());
            }
        }
        for (String user : union(a.passThroughUsers(), b.passThroughUsers())) {
            if (a.passThroughUsers().contains(user) != b.passThroughUsers().contains(user)) {
                out.add(db.key("users").key(user).key("passThrough").toString());
            }
        }
    }

    private static KeyPath endpointPath(KeyPath db, DatabaseConfig now, String endpointKey) {
        for (int i = 0; i < now.endpoints().size(); i++) {
            Endpoint e = now.endpoints().get(i);
            if (RouteSecurity.key(e.host(), e.port()).equals(endpointKey)) {
                return db.key("endpoints").index(i);
            }
        }
        // The endpoint left the file: its settings went with it, which the endpoints key already reports.
        return db.key("endpoints");
    }

    private static void diff(KeyPath path, Object a, Object b, List<String> out) {
        if (Objects.equals(a, b)) {
            return;
        }
        if (a instanceof Record ra && b instanceof Record rb && a.getClass() == b.getClass()) {
            for (RecordComponent c : ra.getClass().getRecordComponents()) {
                if (c.getName().equals("name")) {
                    continue; // the map key above it
                }
                // PoolLimits groups keys that sit in the YAML next to their siblings (pools.reservePoolSize).
                KeyPath at = c.getType() == PoolLimits.class ? path : path.key(yamlName(ra.getClass(), c.getName()));
                diff(at, value(ra, c), value(rb, c), out);
            }
            return;
        }
        if (a instanceof Map<?, ?> ma && b instanceof Map<?, ?> mb) {
            Set<Object> keys = new LinkedHashSet<>(ma.keySet());
            keys.addAll(mb.keySet());
            for (Object k : keys) {
                diff(path.key(String.valueOf(k)), ma.get(k), mb.get(k), out);
            }
            return;
        }
        out.add(path.toString());
    }

    /** The YAML key of a record component, where it is not the component's name. */
    static String yamlName(Class<?> record, String component) {
        return record == ClientTlsSettings.class && component.equals("policy") ? "mode" : component;
    }

    private static Object value(Record r, RecordComponent c) {
        try {
            return c.getAccessor().invoke(r);
        } catch (IllegalAccessException | InvocationTargetException e) {
            throw new IllegalStateException(
                    "cannot read " + c.getName() + " of " + r.getClass().getSimpleName(), e);
        }
    }

    private static <T> Set<T> union(Set<T> a, Set<T> b) {
        Set<T> all = new LinkedHashSet<>(a);
        all.addAll(b);
        return all;
    }
}
