package dev.pggat.pooler.discovery;

import dev.pggat.pooler.config.DiscoveryConfig;
import dev.pggat.pooler.routing.EndpointSet;
import dev.pggat.pooler.routing.Router;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiPredicate;

/** The runners of every configured source, wired to the router: what {@code pggat pooler} starts. */
public final class Discovery implements AutoCloseable {
    private final List<DiscoveryRunner> runners = new ArrayList<>();
    private final Map<String, DiscoveryRunner> byDatabase = new LinkedHashMap<>();

    /**
     * @param apply how a set is applied, e.g. {@code pooler::applyEndpointSet} (the admin PUT's path)
     */
    public Discovery(DiscoveryConfig config, Router router, BiPredicate<String, EndpointSet> apply) {
        DiscoveryRunner.Sink sink = new DiscoveryRunner.Sink() {
            @Override
            public EndpointSet current(String database) {
                Router.Database db = router.database(database);
                return db == null ? null : db.endpoints();
            }

            @Override
            public boolean apply(String database, EndpointSet set) {
                return apply.test(database, set);
            }

            @Override
            public String serverDatabase(String database) {
                Router.Database db = router.database(database);
                return db == null ? database : db.serverDatabase();
            }

            @Override
            public void users(String database, Map<String, String> users) {
                Router.Database db = router.database(database);
                if (db != null) {
                    db.discoveredUsers(users);
                }
            }
        };
        for (Map.Entry<String, DiscoveryConfig.Source> e : config.sources().entrySet()) {
            Map<String, DiscoveryConfig.Target> targets = new LinkedHashMap<>();
            config.targets().forEach((db, t) -> {
                if (t.source().equals(e.getKey())) {
                    targets.put(db, t);
                }
            });
            DiscoveryRunner r =
                    new DiscoveryRunner(e.getKey(), e.getValue(), create(e.getKey(), e.getValue()), targets, sink);
            runners.add(r);
            targets.keySet().forEach(db -> byDatabase.put(db, r));
        }
        router.primaryTroubleListener(database -> {
            DiscoveryRunner r = byDatabase.get(database);
            if (r != null) {
                r.refreshNow();
            }
        });
    }

    static DiscoverySource create(String name, DiscoveryConfig.Source source) {
        if (source instanceof DiscoveryConfig.Patroni p) {
            return new PatroniSource(name, p);
        }
        if (source instanceof DiscoveryConfig.CloudSql c) {
            return new CloudSqlSource(name, c);
        }
        if (source instanceof DiscoveryConfig.DigitalOcean d) {
            return new DigitalOceanSource(name, d);
        }
        throw new IllegalArgumentException("discovery " + name + ": " + source.kind() + " is not supported");
    }

    public Discovery start() {
        runners.forEach(DiscoveryRunner::start);
        return this;
    }

    public List<DiscoveryRunner> runners() {
        return List.copyOf(runners);
    }

    /** The runner feeding {@code database}, or null. */
    public DiscoveryRunner runner(String database) {
        return byDatabase.get(database);
    }

    @Override
    public void close() {
        runners.forEach(DiscoveryRunner::close);
    }
}
