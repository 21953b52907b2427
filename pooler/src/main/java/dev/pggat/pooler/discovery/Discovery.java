package dev.pggat.pooler.discovery;

import dev.pggat.pooler.config.DiscoveryConfig;
import dev.pggat.pooler.routing.EndpointSet;
import dev.pggat.pooler.routing.Router;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiPredicate;

/**
 * The runners of every configured source, wired to the router: what {@code pggat pooler} starts. A reload that
 * changes the discovery section stops every runner and starts the new section's ({@link #reconfigure}); the
 * endpoint sets the old runners applied stay until the new ones apply theirs.
 */
public final class Discovery implements AutoCloseable {
    /** The runners and which database each feeds; replaced whole by a reload. */
    private record Runners(List<DiscoveryRunner> list, Map<String, DiscoveryRunner> byDatabase) {}

    private final DiscoveryRunner.Sink sink;
    private volatile Runners runners;
    private boolean started;
    private boolean closed;

    /**
     * @param apply how a set is applied, e.g. {@code pooler::applyEndpointSet} (the admin PUT's path)
     */
    public Discovery(DiscoveryConfig config, Router router, BiPredicate<String, EndpointSet> apply) {
        this.sink = new DiscoveryRunner.Sink() {
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
        this.runners = runners(config, sink);
        router.primaryTroubleListener(database -> {
            DiscoveryRunner r = runners.byDatabase().get(database);
            if (r != null) {
                r.refreshNow();
            }
        });
    }

    private static Runners runners(DiscoveryConfig config, DiscoveryRunner.Sink sink) {
        List<DiscoveryRunner> list = new ArrayList<>();
        Map<String, DiscoveryRunner> byDatabase = new LinkedHashMap<>();
        for (Map.Entry<String, DiscoveryConfig.Source> e : config.sources().entrySet()) {
            Map<String, DiscoveryConfig.Target> targets = new LinkedHashMap<>();
            config.targets().forEach((db, t) -> {
                if (t.source().equals(e.getKey())) {
                    targets.put(db, t);
                }
            });
            DiscoveryRunner r =
                    new DiscoveryRunner(e.getKey(), e.getValue(), create(e.getKey(), e.getValue()), targets, sink);
            list.add(r);
            targets.keySet().forEach(db -> byDatabase.put(db, r));
        }
        return new Runners(List.copyOf(list), byDatabase);
    }

    /**
     * Takes a reloaded discovery section: the running sources stop (a look in progress is waited for), the new
     * section's start (their first look at once, if this was started). Databases the new section no longer feeds
     * keep the endpoints they last had.
     */
    public synchronized void reconfigure(DiscoveryConfig next) {
        if (closed) {
            return;
        }
        Runners made = runners(next, sink);
        Runners was = runners;
        was.list().forEach(DiscoveryRunner::close);
        runners = made;
        if (started) {
            made.list().forEach(DiscoveryRunner::start);
        }
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

    public synchronized Discovery start() {
        started = true;
        runners.list().forEach(DiscoveryRunner::start);
        return this;
    }

    /** The runners in use now. */
    public List<DiscoveryRunner> runners() {
        return runners.list();
    }

    /** The runner feeding {@code database}, or null. */
    public DiscoveryRunner runner(String database) {
        return runners.byDatabase().get(database);
    }

    @Override
    public synchronized void close() {
        closed = true;
        runners.list().forEach(DiscoveryRunner::close);
    }
}
