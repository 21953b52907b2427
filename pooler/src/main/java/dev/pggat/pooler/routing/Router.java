package dev.pggat.pooler.routing;

import dev.pggat.pooler.auth.Secret;
import dev.pggat.pooler.backend.ServerAddress;
import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.config.AuthMethod;
import dev.pggat.pooler.config.DatabaseConfig;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.config.PoolMode;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.config.RouteConfig;
import dev.pggat.pooler.config.RouteMatcher;
import dev.pggat.pooler.config.RoutingConfig;
import dev.pggat.pooler.config.Timeouts;
import dev.pggat.pooler.config.UserConfig;
import dev.pggat.pooler.pool.ConnectionCap;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.pool.PoolSettings;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.util.LatencyHistogram;
import dev.pggat.pooler.util.Printable;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Maps a client's (database, user) to its route: one pool per endpoint of the database, the health of each
 * endpoint, and the rules that pick the primary or a replica for a transaction. Endpoint sets can be replaced
 * while running ({@link Database#apply}).
 */
public final class Router implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Router.class);
    /** By name, in file order; replaced whole (never changed in place) so that readers need no lock. */
    private volatile Map<String, Database> databases = Map.of();
    /**
     * Databases a route's database rewrite made from a backend, by "backend/serverDatabase": each has the backend's
     * settings and its own pools. They last until the backend changes.
     */
    private final ConcurrentHashMap<String, Database> derived = new ConcurrentHashMap<>();
    /** What the routes section says, with the counters of each route. */
    private volatile RouteTable routes;

    private volatile PoolerConfig config;
    private final ServerConnector connector;
    private final EventLoopGroup loops;
    private volatile boolean started;
    /** Told of every pool made after start (new endpoints, dynamic users) and of every pool removed. */
    private volatile PoolListener poolListener = PoolListener.NONE;
    /** Told when a database's primary stops taking writes (seen down or read-only), e.g. to ask discovery again. */
    private volatile java.util.function.Consumer<String> primaryTrouble = database -> {};

    /** Sees pools come and go, e.g. to tie each to its database's server TLS settings. */
    public interface PoolListener {
        PoolListener NONE = new PoolListener() {
            @Override
            public void added(String database, Pool pool) {}

            @Override
            public void removed(String database, Pool pool) {}
        };

        void added(String database, Pool pool);

        void removed(String database, Pool pool);
    }

    /**
     * Per user name: the cap on that user's server connections across databases (maxUserConnections). Concurrent:
     * dynamic users get theirs on first login.
     */
    private final Map<String, ConnectionCap> userCaps = new ConcurrentHashMap<>();

    public Router(PoolerConfig config, ServerConnector connector, EventLoopGroup loops) {
        for (DatabaseConfig db : config.databases().values()) {
            for (UserConfig u : db.users().values()) {
                // The loader checked that every database setting it for this user sets the same value.
                if (u.maxUserConnections() > 0) {
                    userCaps.putIfAbsent(
                            u.name(), new ConnectionCap(ConnectionCap.Kind.USER, u.name(), u.maxUserConnections()));
                }
            }
        }
        if (config.pools().maxUserConnections() > 0) {
            for (DatabaseConfig db : config.databases().values()) {
                for (UserConfig u : db.users().values()) {
                    userCaps.computeIfAbsent(
                            u.name(),
                            n -> new ConnectionCap(
                                    ConnectionCap.Kind.USER, n, config.pools().maxUserConnections()));
                }
            }
        }
        this.config = config;
        this.connector = connector;
        this.loops = loops;
        Map<String, Database> dbs = new LinkedHashMap<>();
        for (DatabaseConfig db : config.databases().values()) {
            dbs.put(db.name(), new Database(this, db, config, connector, loops, db.name()));
        }
        this.databases = java.util.Collections.unmodifiableMap(dbs);
        this.routes = new RouteTable(config.routes(), null);
    }

    /**
     * Takes a reloaded configuration: new databases get pools and start; changed ones take their new settings in
     * place (see {@link Database#update}); removed ones are marked, their clients told at their next query, their
     * pools drained; the routes are replaced. Endpoints are applied by the caller as endpoint sets. Databases that
     * routes made from a backend follow it.
     *
     * @return one line per change, for the log and the reload's result
     */
    public synchronized List<String> reconfigure(PoolerConfig next) {
        List<String> out = new ArrayList<>();
        Map<String, Database> was = databases;
        Map<String, Database> now = new LinkedHashMap<>();
        List<Database> startLater = new ArrayList<>();
        for (DatabaseConfig dc : next.databases().values()) {
            Database d = was.get(dc.name());
            if (d == null) {
                d = new Database(this, dc, next, connector, loops, dc.name());
                PoolListener l = poolListener;
                for (Pool p : d.pools()) {
                    l.added(d.family, p);
                }
                startLater.add(d);
                out.add("database " + dc.name() + " added");
            } else {
                for (String change : d.update(dc, next)) {
                    out.add("database " + dc.name() + ": " + change);
                }
            }
            now.put(dc.name(), d);
        }
        this.config = next;
        for (Database d : was.values()) {
            if (!now.containsKey(d.name())) {
                d.remove();
                out.add("database " + d.name() + " removed");
            }
        }
        for (Map.Entry<String, Database> e : List.copyOf(derived.entrySet())) {
            Database d = e.getValue();
            Database base = now.get(d.family);
            if (base == null) {
                derived.remove(e.getKey());
                d.remove();
                continue;
            }
            DatabaseConfig c = base.config();
            d.update(
                    new DatabaseConfig(
                            d.name(),
                            d.serverDatabase(),
                            c.endpoints(),
                            c.mode(),
                            c.maxServerConnections(),
                            c.minServerConnections(),
                            c.resetQuery(),
                            c.users(),
                            c.routing(),
                            c.limits()),
                    next);
        }
        databases = java.util.Collections.unmodifiableMap(now);
        RouteTable table = new RouteTable(next.routes(), routes);
        if (!table.routes().equals(routes.routes())) {
            out.add("routes replaced (" + table.entries().size() + " routes)");
            routesGeneration++;
        }
        routes = table;
        if (started) {
            startLater.forEach(Database::start);
        }
        return out;
    }

    /** Derived databases per backend at most: a route's database rewrite cannot make pools without end. */
    public static final int MAX_DERIVED_DATABASES = 100;

    /**
     * Goes up by one with each reload that changes the routes: a transaction-mode client routed under an older
     * generation is routed again at its next transaction.
     */
    public long routesGeneration() {
        return routesGeneration;
    }

    private volatile long routesGeneration;

    /** The routes in use, with their counters. */
    public RouteTable routes() {
        return routes;
    }

    /**
     * Where a client goes: the first route that matches it, else the database it names (unless that database is a
     * route's inline backend), else nowhere. Runs on the client's event loop; the matchers' regular expressions
     * are bounded (see {@link dev.pggat.pooler.config.TextPattern}).
     */
    public Choice choose(RouteMatcher.Client client) {
        RouteTable table = routes;
        for (RouteTable.Entry e : table.entries()) {
            @SuppressWarnings("unchecked")
            List<String>[] captures = new List[1];
            boolean matched;
            try {
                matched = e.route().match().matches(client, captures);
            } catch (dev.pggat.pooler.config.TextPattern.StepLimitExceeded ex) {
                e.stepLimitTotal().increment();
                log.warn(
                        "route {}: a regular expression gave up on a client's value ({}); the route does not match",
                        e.route().name(),
                        ex.getMessage());
                matched = false;
            }
            if (!matched) {
                continue;
            }
            e.matchedTotal().increment();
            RouteConfig r = e.route();
            if (r.error() != null) {
                e.errorTotal().increment();
                return new Choice(r, null, r.error().sqlState(), r.error().message());
            }
            Database d = databases.get(r.backend());
            if (d == null) {
                return new Choice(
                        r,
                        null,
                        SqlState.INVALID_CATALOG_NAME,
                        "the backend of route \"" + r.name() + "\" does not exist");
            }
            if (r.rewrite().database() == null) {
                return new Choice(r, d, null, null);
            }
            String serverDb = r.rewrite().database(captures[0]);
            if (serverDb.isEmpty()
                    || serverDb.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 63
                    || serverDb.indexOf('\0') >= 0) {
                return new Choice(
                        r,
                        null,
                        SqlState.INVALID_CATALOG_NAME,
                        "database \"" + client.database() + "\" does not exist");
            }
            if (serverDb.equals(d.serverDatabase())) {
                return new Choice(r, d, null, null);
            }
            Database x = derived(d, serverDb);
            if (x == null) {
                return new Choice(
                        r,
                        null,
                        SqlState.TOO_MANY_CONNECTIONS,
                        "too many databases through route \"" + r.name() + "\" (at most " + MAX_DERIVED_DATABASES
                                + ")");
            }
            return new Choice(r, x, null, null);
        }
        if (table.inlineBackends().contains(client.database())) {
            return new Choice(null, null, null, null);
        }
        return new Choice(null, databases.get(client.database()), null, null);
    }

    /**
     * What {@link #choose} decided.
     *
     * @param route the route that matched; null when the client went by its database name
     * @param database where the client goes; null when refused or when nothing takes it
     * @param sqlState with {@code message}, why the client is refused; null otherwise
     */
    public record Choice(RouteConfig route, Database database, String sqlState, String message) {}

    /** {@code base} on the servers' database {@code serverDatabase}, made on first use; null past the cap. */
    private Database derived(Database base, String serverDatabase) {
        String key = base.name() + "/" + serverDatabase;
        Database d = derived.get(key);
        if (d != null) {
            return d;
        }
        synchronized (derived) {
            d = derived.get(key);
            if (d != null) {
                return d;
            }
            long count = derived.values().stream()
                    .filter(x -> x.family.equals(base.name()))
                    .count();
            if (count >= MAX_DERIVED_DATABASES) {
                return null;
            }
            DatabaseConfig c = base.config();
            DatabaseConfig dc = new DatabaseConfig(
                    key,
                    serverDatabase,
                    c.endpoints(),
                    c.mode(),
                    c.maxServerConnections(),
                    c.minServerConnections(),
                    c.resetQuery(),
                    c.users(),
                    c.routing(),
                    c.limits());
            d = new Database(this, dc, config, connector, loops, base.name());
            // The backend's current endpoints, which may have moved since the file was read.
            EndpointSet live = base.endpoints();
            if (!live.endpoints().isEmpty()) {
                d.apply(new EndpointSet(live.version() + 1, live.endpoints()));
            }
            PoolListener l = poolListener;
            for (Pool p : d.pools()) {
                l.added(base.name(), p);
            }
            derived.put(key, d);
            if (started) {
                d.start();
            }
            log.info("database {}: made for route clients of backend {}", key, base.name());
            return d;
        }
    }

    /** The database and user connection caps, for metrics. */
    public List<ConnectionCap> caps() {
        List<ConnectionCap> all = new ArrayList<>();
        for (Database d : databases.values()) {
            if (d.cap != null) {
                all.add(d.cap);
            }
        }
        all.addAll(userCaps.values());
        return all;
    }

    /** Replaces the pool listener and tells it about every existing pool. */
    public void poolListener(PoolListener listener) {
        this.poolListener = listener;
        for (Database d : databases()) {
            for (User u : d.users().values()) {
                u.pools.values().forEach(p -> listener.added(d.family, p));
            }
        }
    }

    /**
     * Sets who hears that a database's primary was seen down or read-only by the health probes. Called on a probe
     * event loop: it must not block.
     */
    public void primaryTroubleListener(java.util.function.Consumer<String> listener) {
        this.primaryTrouble = listener;
    }

    /** The database clients named, or null when none is configured under that name. */
    public Database database(String name) {
        return databases.get(name);
    }

    /** The configured databases, then those routes made. */
    public Collection<Database> databases() {
        if (derived.isEmpty()) {
            return databases.values();
        }
        List<Database> all = new ArrayList<>(databases.values());
        all.addAll(new java.util.TreeMap<>(derived).values());
        return all;
    }

    /** Every pool of every database and user, for metrics and shutdown. */
    public List<Pool> pools() {
        List<Pool> all = new ArrayList<>();
        for (Database d : databases()) {
            for (User u : d.users.values()) {
                all.addAll(u.pools.values());
            }
            for (User u : d.dynamic.values()) {
                all.addAll(u.pools.values());
            }
            for (User u : d.discovered.values()) {
                all.addAll(u.pools.values());
            }
        }
        return all;
    }

    public void start() {
        started = true;
        for (Database d : databases()) {
            d.start();
        }
    }

    @Override
    public void close() {
        for (Database d : databases()) {
            d.close();
        }
    }

    /** A database: its endpoints, their health, and its users' pools. */
    public static final class Database {
        static final long ROUND_TRIP_FOLD_MILLIS = 250;
        private final Router router;
        private final String name;
        /**
         * The database whose security settings (client TLS policy, server TLS, pass-through users) apply: its own
         * name, or for one a route's rewrite made, the backend's.
         */
        final String family;
        // What a reload may change: replaced whole, read without a lock.
        private volatile DatabaseConfig config;
        private volatile PoolSettings settings;
        private final ServerConnector connector;
        private final EventLoopGroup loops;
        /** Configured users; replaced whole on reload, never changed in place. */
        private volatile Map<String, User> users = new LinkedHashMap<>();

        private final HealthProber prober;
        private volatile ReplicaChooser chooser;
        private volatile QueryClassifier classifier;
        private volatile RoutingConfig routing;
        /** A reload removed the database: its clients are told so at their next query. */
        private volatile boolean removed;

        private volatile EndpointSet endpoints;
        private final Map<String, LongAdder> decisions = new HashMap<>();
        /**
         * Users a discovery source lists for this database's cluster (with the password the source gives, or none:
         * then the credential sources check clients and their login passes through to the server).
         */
        private final ConcurrentHashMap<String, User> discovered = new ConcurrentHashMap<>();
        /** Users not in the configuration, made on first login from a credential source; null when not allowed. */
        private final ConcurrentHashMap<String, User> dynamic = new ConcurrentHashMap<>();

        /** maxDatabaseConnections, or null without one. */
        private volatile ConnectionCap cap;
        /** pools.maxUserConnections: the cap of users that set none (dynamic users among them); 0 = none. */
        private volatile int defaultMaxUserConnections;

        private volatile boolean dynamicUsers;
        /** No configured user or auth query to probe with: the first user discovery lists with a password will do. */
        private final boolean probeWithDiscoveredUser;

        private String probeUser;
        private volatile int maxDynamicUsers;
        private final long dynamicIdleNanos;
        private ScheduledFuture<?> dynamicSweep;
        /**
         * Per endpoint name: the round trips its servers measured, shared by the pools of all users of the endpoint
         * (see ServerMeter); folded into each endpoint's latency average every {@link #ROUND_TRIP_FOLD_MILLIS}.
         */
        private final ConcurrentHashMap<String, LatencyHistogram> roundTrips = new ConcurrentHashMap<>();

        private ScheduledFuture<?> roundTripFold;
        /** PAUSE from the admin console: pools made while it lasts (new endpoints, dynamic users) start paused. */
        private volatile boolean paused;

        /** Reads sent again to another server after theirs died before answering (RouteStage#retryable). */
        public final LongAdder retriedQueriesTotal = new LongAdder();
        /** Transaction-mode clients whose server was lost under them and who were told with an ERROR, not a FATAL. */
        public final LongAdder serverLossErrorsTotal = new LongAdder();

        public final LongAdder dynamicCreatedTotal = new LongAdder();
        public final LongAdder dynamicRemovedTotal = new LongAdder();
        public final LongAdder dynamicRefusedTotal = new LongAdder();

        Database(
                Router router,
                DatabaseConfig db,
                PoolerConfig pooler,
                ServerConnector connector,
                EventLoopGroup loops,
                String family) {
            Timeouts t = pooler.timeouts();
            this.family = family;
            this.router = router;
            this.cap = db.limits().maxDatabaseConnections() > 0
                    ? new ConnectionCap(
                            ConnectionCap.Kind.DATABASE, db.name(), db.limits().maxDatabaseConnections())
                    : null;
            this.defaultMaxUserConnections = pooler.pools().maxUserConnections();
            this.name = db.name();
            this.config = db;
            this.connector = connector;
            this.loops = loops;
            this.routing = db.routing();
            this.settings = settings(db, t);
            this.endpoints = EndpointSet.fromConfig(1, db.endpoints());
            Map<String, User> configured = new LinkedHashMap<>();
            for (UserConfig u : db.users().values()) {
                configured.put(u.name(), new User(this, u));
            }
            this.users = configured;
            for (User u : users.values()) {
                u.syncPools(endpoints);
            }
            this.probeWithDiscoveredUser =
                    db.users().isEmpty() && pooler.security().credentials().authQuery() == null;
            this.dynamicUsers = pooler.security().route(family).dynamicUsers();
            this.maxDynamicUsers = pooler.security().credentials().maxDynamicUsers();
            // Without serverIdle (0 = keep idle servers), an unused dynamic user still goes after 10 minutes.
            Duration idle = t.serverIdle().isZero() ? Duration.ofMinutes(10) : t.serverIdle();
            this.dynamicIdleNanos = idle.toNanos();
            Duration interval = routing.probeInterval();
            this.prober = new HealthProber(
                    connector,
                    loops.next(),
                    probeLogin(db, pooler),
                    new HealthProber.Settings(interval, t.serverConnect(), interval.multipliedBy(8)),
                    new HealthProber.Listener() {
                        @Override
                        public void roleMismatch(
                                EndpointState state, Endpoint.Role configured, Endpoint.Role observed) {
                            log.warn(
                                    "database {}: endpoint {} is configured as {} but is {}: routing follows what"
                                            + " the servers say",
                                    name,
                                    state.name(),
                                    configured.yamlName(),
                                    observed.yamlName());
                            if (configured == Endpoint.Role.PRIMARY) {
                                router.primaryTrouble.accept(name);
                            }
                        }

                        @Override
                        public void healthChanged(
                                EndpointState state, EndpointState.Health from, EndpointState.Health to) {
                            log.info("database {}: endpoint {} is {} (was {})", name, state.name(), to, from);
                            if (to == EndpointState.Health.DOWN
                                    && state.member().role() == Endpoint.Role.PRIMARY) {
                                router.primaryTrouble.accept(name);
                            }
                        }
                    });
            this.chooser = new ReplicaChooser(new ReplicaChooser.Policy(
                    routing.maxReplicaLagBytes(),
                    routing.maxReplicaLag(),
                    routing.replicaFallback() == RoutingConfig.ReplicaFallback.PRIMARY));
            this.classifier = new QueryClassifier(routing.primaryFunctions());
        }

        private static PoolSettings settings(DatabaseConfig db, Timeouts t) {
            return new PoolSettings(
                    db.mode() == PoolMode.SESSION ? PoolSettings.PoolMode.SESSION : PoolSettings.PoolMode.TRANSACTION,
                    db.maxServerConnections(),
                    db.minServerConnections(),
                    t.queryWait(),
                    t.serverIdle(),
                    t.serverConnectBackoffMax(),
                    db.resetQuery(),
                    t.clientIdle(),
                    t.idleInTransaction(),
                    t.query(),
                    db.limits().reservePoolSize(),
                    db.limits().reservePoolTimeout(),
                    db.limits().preparedStatementCacheSize());
        }

        /** Whether a reload removed this database. */
        public boolean removed() {
            return removed;
        }

        /**
         * A reload changed this database: the same object takes the new settings, so that its clients' next
         * transactions use them. Pool sizes, timeouts and the reserve apply to the existing pools; routing to the next
         * routing decision; users that are new get pools, removed ones are marked (their clients are told at their
         * next query) and their pools drain; a user whose server login changed, or every user when the server
         * database or a cap changed, gets new pools while the old ones drain: a client in a transaction finishes it
         * on the server it has. The endpoints are the caller's (see {@link #apply}).
         *
         * @return what changed, for the log
         */
        synchronized List<String> update(DatabaseConfig next, PoolerConfig pooler) {
            List<String> changes = new ArrayList<>();
            DatabaseConfig was = config;
            Timeouts t = pooler.timeouts();
            PoolSettings nextSettings = settings(next, t);
            boolean newCaps = false;
            int nextCap = next.limits().maxDatabaseConnections();
            if ((cap == null ? 0 : cap.limit()) != nextCap) {
                cap = nextCap > 0 ? new ConnectionCap(ConnectionCap.Kind.DATABASE, name, nextCap) : null;
                newCaps = true;
                changes.add("maxDatabaseConnections");
            }
            if (defaultMaxUserConnections != pooler.pools().maxUserConnections()) {
                defaultMaxUserConnections = pooler.pools().maxUserConnections();
                newCaps = true;
            }
            boolean newLogin = !was.serverDatabase().equals(next.serverDatabase()) || newCaps;
            config = next;
            if (!nextSettings.equals(settings)) {
                settings = nextSettings;
                changes.add("pool settings");
            }
            if (!next.routing().equals(routing)) {
                routing = next.routing();
                chooser = new ReplicaChooser(new ReplicaChooser.Policy(
                        routing.maxReplicaLagBytes(),
                        routing.maxReplicaLag(),
                        routing.replicaFallback() == RoutingConfig.ReplicaFallback.PRIMARY));
                classifier = new QueryClassifier(routing.primaryFunctions());
                changes.add("routing");
            }
            dynamicUsers = pooler.security().route(family).dynamicUsers();
            maxDynamicUsers = pooler.security().credentials().maxDynamicUsers();
            List<Pool> added = new ArrayList<>();
            List<Pool> drained = new ArrayList<>();
            Map<String, User> nextUsers = new LinkedHashMap<>();
            for (UserConfig uc : next.users().values()) {
                User old = users.get(uc.name());
                if (old == null) {
                    User u = new User(this, uc);
                    u.syncPools(endpoints, new ArrayList<>(), added);
                    nextUsers.put(uc.name(), u);
                    changes.add("user " + Printable.log(uc.name()) + " added");
                    continue;
                }
                boolean login = old.update(uc);
                if (login || newLogin) {
                    old.replacePools(drained, added);
                    changes.add("user " + Printable.log(uc.name()) + " logs in anew");
                } else {
                    // Pool sizes and timeouts apply to the pools in place.
                    old.pools.values().forEach(p -> p.settings(settings));
                }
                nextUsers.put(uc.name(), old);
            }
            for (User old : users.values()) {
                if (!nextUsers.containsKey(old.name)) {
                    old.removed = true;
                    drained.addAll(old.pools.values());
                    old.pools = Map.of();
                    changes.add("user " + Printable.log(old.name) + " removed");
                }
            }
            users = nextUsers;
            for (User u : dynamic.values()) {
                if (newLogin) {
                    u.replacePools(drained, added);
                } else {
                    u.pools.values().forEach(p -> p.settings(settings));
                }
            }
            for (User u : discovered.values()) {
                if (newLogin) {
                    u.replacePools(drained, added);
                } else {
                    u.pools.values().forEach(p -> p.settings(settings));
                }
            }
            if (!next.users().isEmpty()) {
                prober.login(probeLogin(next, pooler));
            }
            PoolListener l = router.poolListener;
            for (Pool p : added) {
                l.added(family, p);
                if (paused) {
                    p.pause();
                }
                p.start();
            }
            for (Pool p : drained) {
                p.drain();
                l.removed(family, p);
            }
            return changes;
        }

        /** A reload removed the database: clients are told at their next query; its pools drain. */
        synchronized void remove() {
            removed = true;
            prober.close();
            if (dynamicSweep != null) {
                dynamicSweep.cancel(false);
            }
            PoolListener l = router.poolListener;
            for (Pool p : pools()) {
                p.drain();
                l.removed(family, p);
            }
            for (User u : discovered.values()) {
                u.pools.values().forEach(p -> {
                    p.drain();
                    l.removed(family, p);
                });
            }
        }

        private List<ConnectionCap> capsFor(String user) {
            Map<String, ConnectionCap> userCaps = router.userCaps;
            ConnectionCap userCap = defaultMaxUserConnections > 0
                    ? userCaps.computeIfAbsent(
                            user, n -> new ConnectionCap(ConnectionCap.Kind.USER, n, defaultMaxUserConnections))
                    : userCaps.get(user);
            if (cap == null) {
                return userCap == null ? List.of() : List.of(userCap);
            }
            return userCap == null ? List.of(cap) : List.of(cap, userCap);
        }

        /**
         * Who probes the endpoints: the first configured user; without one, the auth query's user (it can log in
         * by definition), else a role name the server likely refuses, which keeps the endpoints' health unknown
         * (routing then goes on without it).
         */
        private static HealthProber.Login probeLogin(DatabaseConfig db, PoolerConfig pooler) {
            if (!db.users().isEmpty()) {
                UserConfig u = db.users().values().iterator().next();
                return new HealthProber.Login(db.serverDatabase(), u.serverUser(), u.serverPassword());
            }
            var q = pooler.security().credentials().authQuery();
            if (q != null) {
                return new HealthProber.Login(
                        q.database() != null ? q.database() : db.serverDatabase(), q.user(), q.password());
            }
            return new HealthProber.Login(db.serverDatabase(), "pggat_probe", null);
        }

        void start() {
            prober.update(endpoints);
            roundTripFold = loops.next()
                    .scheduleWithFixedDelay(
                            this::foldRoundTrips,
                            ROUND_TRIP_FOLD_MILLIS,
                            ROUND_TRIP_FOLD_MILLIS,
                            TimeUnit.MILLISECONDS);
            for (User u : users.values()) {
                u.pools.values().forEach(Pool::start);
            }
            if (dynamicUsers) {
                long every = Math.max(
                        TimeUnit.MILLISECONDS.toNanos(100),
                        Math.min(dynamicIdleNanos / 4, TimeUnit.SECONDS.toNanos(30)));
                dynamicSweep = loops.next()
                        .scheduleWithFixedDelay(this::sweepDynamicUsers, every, every, TimeUnit.NANOSECONDS);
            }
        }

        /** Moves each endpoint's latency average towards what its servers measured since the last fold. */
        private void foldRoundTrips() {
            long now = System.nanoTime();
            for (EndpointState s : prober.states()) {
                LatencyHistogram h = roundTrips.get(s.name());
                if (h != null) {
                    s.foldRoundTrips(h, now);
                }
            }
        }

        /** The round trips measured on an endpoint's servers (cumulative), or null when it has no pool. */
        public LatencyHistogram roundTrips(String endpoint) {
            return roundTrips.get(endpoint);
        }

        LatencyHistogram roundTripsFor(String endpoint) {
            return roundTrips.computeIfAbsent(endpoint, e -> new LatencyHistogram());
        }

        void close() {
            prober.close();
            if (roundTripFold != null) {
                roundTripFold.cancel(false);
            }
            if (dynamicSweep != null) {
                dynamicSweep.cancel(false);
            }
            for (User u : users.values()) {
                u.pools.values().forEach(Pool::close);
            }
            for (User u : dynamic.values()) {
                u.pools.values().forEach(Pool::close);
            }
            for (User u : discovered.values()) {
                u.pools.values().forEach(Pool::close);
            }
        }

        /**
         * Replaces the users a discovery source lists (name to password; a null password: the source does not know
         * it). A configured user of the same name always wins. Users whose password changed get new pools; users no
         * longer listed go, their pools drain.
         */
        public synchronized void discoveredUsers(Map<String, String> listed) {
            List<Pool> removed = new ArrayList<>();
            List<Pool> added = new ArrayList<>();
            List<String> changes = new ArrayList<>();
            for (Map.Entry<String, String> e : listed.entrySet()) {
                String userName = e.getKey();
                String password = e.getValue();
                if (users.containsKey(userName)) {
                    continue;
                }
                User old = discovered.get(userName);
                if (old != null && java.util.Objects.equals(old.serverPassword, password)) {
                    continue;
                }
                User u = new User(
                        this,
                        new UserConfig(
                                userName,
                                password == null ? null : new Secret.Plain(password),
                                AuthMethod.SCRAM_SHA_256,
                                userName,
                                password),
                        false,
                        password == null);
                u.syncPools(endpoints, new ArrayList<>(), added);
                discovered.put(userName, u);
                if (old != null) {
                    removed.addAll(old.pools.values());
                }
                changes.add((old == null ? "added " : "new password for ") + Printable.log(userName));
            }
            for (String userName : List.copyOf(discovered.keySet())) {
                if (!listed.containsKey(userName) || users.containsKey(userName)) {
                    removed.addAll(discovered.remove(userName).pools.values());
                    changes.add("removed " + Printable.log(userName));
                }
            }
            PoolListener l = router.poolListener;
            for (Pool p : added) {
                l.added(family, p);
                p.start();
            }
            for (Pool p : removed) {
                p.drain();
                l.removed(family, p);
            }
            if (!changes.isEmpty()) {
                log.info("database {}: users from discovery: {}", name, String.join(", ", changes));
            }
            if (probeWithDiscoveredUser && (probeUser == null || !discovered.containsKey(probeUser))) {
                // The first the source lists, so that the choice does not change from one look to the next.
                for (String listedName : listed.keySet()) {
                    User u = discovered.get(listedName);
                    if (u != null && u.serverPassword != null) {
                        probeUser = u.name;
                        prober.login(new HealthProber.Login(config.serverDatabase(), u.serverUser, u.serverPassword));
                        break;
                    }
                }
            }
        }

        /**
         * A server of this database failed, the primary refused a write as read-only, or a write waits for a
         * primary: probe every endpoint now (at most one round per short gap however often this is called).
         */
        public void serverTrouble() {
            prober.probeSoon();
        }

        /** Probe rounds {@link #serverTrouble()} started. */
        public long urgentProbeRounds() {
            return prober.urgentRounds.sum();
        }

        /** Whose security settings apply: this database's name, or the backend's for one a route made. */
        public String family() {
            return family;
        }

        /** The database's name on the servers. */
        public String serverDatabase() {
            return config.serverDatabase();
        }

        /** Every pool of this database now: configured users', then dynamic users'. */
        public List<Pool> pools() {
            List<Pool> all = new ArrayList<>();
            for (User u : users.values()) {
                all.addAll(u.pools.values());
            }
            for (User u : dynamic.values()) {
                all.addAll(u.pools.values());
            }
            return all;
        }

        /** PAUSE: new transactions wait for a server until {@link #resume()}; see {@link Pool#pause()}. */
        public synchronized void pause() {
            paused = true;
            pools().forEach(Pool::pause);
        }

        public synchronized void resume() {
            paused = false;
            pools().forEach(Pool::resume);
        }

        public boolean paused() {
            return paused;
        }

        public DatabaseConfig config() {
            return config;
        }

        /** Whether users not in the configuration may log in when a credential source knows them. */
        public boolean allowsDynamicUsers() {
            return dynamicUsers;
        }

        public int maxDynamicUsers() {
            return maxDynamicUsers;
        }

        /** How many dynamic users have pools now. */
        public int dynamicUserCount() {
            return dynamic.size();
        }

        /**
         * The dynamic user {@code name}, made (with the database's pool settings, logging in to the servers as
         * itself by pass-through) when it has no pool yet. The caller holds it for a login until {@link
         * User#loginDone()}, so that it is not removed in between.
         *
         * @throws TooManyDynamicUsers when the database already has {@code maxDynamicUsers} of them
         */
        public synchronized User dynamicUser(String userName) throws TooManyDynamicUsers {
            if (!dynamicUsers || users.containsKey(userName)) {
                throw new IllegalStateException("user " + userName + " of database " + name + " is not dynamic");
            }
            User u = dynamic.get(userName);
            if (u == null) {
                if (dynamic.size() >= maxDynamicUsers) {
                    dynamicRefusedTotal.increment();
                    throw new TooManyDynamicUsers(name, maxDynamicUsers);
                }
                u = new User(this, new UserConfig(userName, null, AuthMethod.SCRAM_SHA_256, userName, null), true);
                List<Pool> added = new ArrayList<>();
                u.syncPools(endpoints, new ArrayList<>(), added);
                dynamic.put(userName, u);
                dynamicCreatedTotal.increment();
                PoolListener l = router.poolListener;
                for (Pool p : added) {
                    l.added(family, p);
                    p.start();
                }
                log.info(
                        "database {}: user \"{}\" is not configured; made a pool for it from the credential sources"
                                + " ({} of at most {} such users)",
                        name,
                        Printable.log(userName),
                        dynamic.size(),
                        maxDynamicUsers);
            }
            u.pendingLogins.incrementAndGet();
            u.lastUsedNanos = System.nanoTime();
            return u;
        }

        /** Removes dynamic users without clients, logins in progress or servers in use for the idle time. */
        synchronized void sweepDynamicUsers() {
            long now = System.nanoTime();
            for (User u : List.copyOf(dynamic.values())) {
                if (u.inUse()) {
                    u.lastUsedNanos = now;
                    continue;
                }
                if (now - u.lastUsedNanos < dynamicIdleNanos) {
                    continue;
                }
                dynamic.remove(u.name);
                dynamicRemovedTotal.increment();
                PoolListener l = router.poolListener;
                for (Pool p : u.pools.values()) {
                    p.close();
                    l.removed(family, p);
                }
                log.info(
                        "database {}: removed the idle pool of user \"{}\" (not configured)",
                        name,
                        Printable.log(u.name));
            }
        }

        public String name() {
            return name;
        }

        /** The configured users, then those discovery lists, then the dynamic ones that have a pool now. */
        public Map<String, User> users() {
            if (dynamic.isEmpty() && discovered.isEmpty()) {
                return users;
            }
            Map<String, User> all = new LinkedHashMap<>(users);
            discovered.forEach(all::putIfAbsent);
            dynamic.forEach(all::putIfAbsent);
            return all;
        }

        /**
         * A configured user (they always win), else one a discovery source lists, else a dynamic user with a pool
         * now, else null.
         */
        public User user(String name) {
            User u = users.get(name);
            if (u == null) {
                u = discovered.get(name);
            }
            return u != null ? u : dynamic.get(name);
        }

        public RoutingConfig routing() {
            return routing;
        }

        public PoolSettings settings() {
            return settings;
        }

        public QueryClassifier classifier() {
            return classifier;
        }

        public EndpointSet endpoints() {
            return endpoints;
        }

        public List<EndpointState> states() {
            return prober.states();
        }

        /** Reads may go to replicas: splitting is on and the set has (or had) replicas. */
        public boolean splitsReads() {
            return routing.readWriteSplit() && endpoints.endpoints().size() > 1;
        }

        /**
         * The endpoint writes go to now: the one seen writable, else the configured primary. Null when the set names
         * no primary (a switchover in progress, as the operator publishes it): writes then wait for the next set.
         */
        public EndpointState primary() {
            if (endpoints.primary() == null) {
                return null;
            }
            return ReplicaChooser.primary(prober.states());
        }

        /** A replica for a read (respecting lag limits and {@code minReplayLsn}), or the fallback, or null. */
        public EndpointState replica(long minReplayLsn) {
            return chooser.choose(prober.states(), minReplayLsn);
        }

        public boolean eligibleReplica(EndpointState s, long minReplayLsn) {
            return chooser.eligible(s, minReplayLsn);
        }

        /** Counts a routing decision for metrics ("replica", "primary:write", "primary:fallback", ...). */
        public void decided(String what) {
            LongAdder a = decisions.get(what);
            if (a == null) {
                synchronized (decisions) {
                    a = decisions.computeIfAbsent(what, k -> new LongAdder());
                }
            }
            a.increment();
        }

        public Map<String, Long> decisions() {
            Map<String, Long> m = new LinkedHashMap<>();
            synchronized (decisions) {
                decisions.forEach((k, v) -> m.put(k, v.sum()));
            }
            return m;
        }

        /**
         * Replaces the endpoint set (admin PUT, operator stream, reload). Endpoints that stay keep their pools and
         * connections; new ones get pools; removed ones drain: idle servers close at once, checked-out ones when
         * their clients release them.
         *
         * @return false when {@code set} is not newer than the current one
         */
        public synchronized boolean apply(EndpointSet set) {
            if (!set.newerThan(endpoints)) {
                return false;
            }
            List<Pool> removed = new ArrayList<>();
            List<Pool> added = new ArrayList<>();
            for (User u : users.values()) {
                u.syncPools(set, removed, added);
            }
            for (User u : dynamic.values()) {
                u.syncPools(set, removed, added);
            }
            for (User u : discovered.values()) {
                u.syncPools(set, removed, added);
            }
            endpoints = set;
            roundTrips.keySet().removeIf(e -> set.endpoints().stream()
                    .noneMatch(m -> m.name().equals(e)));
            prober.update(set);
            PoolListener l = router.poolListener;
            added.forEach(p -> l.added(family, p));
            added.forEach(Pool::start);
            removed.forEach(Pool::drain);
            log.info(
                    "database {}: endpoint set version {} applied ({} endpoints, {} pools added, {} drained)",
                    name,
                    set.version(),
                    set.endpoints().size(),
                    added.size(),
                    removed.size());
            return true;
        }
    }

    /** A database refused a new dynamic user: it has {@code maxDynamicUsers} already. */
    public static final class TooManyDynamicUsers extends Exception {
        public TooManyDynamicUsers(String database, int max) {
            super("too many users for database \"" + database + "\": it already has " + max
                    + " users not listed in the configuration (credentials.maxDynamicUsers)");
        }
    }

    /**
     * A user of a database: how clients prove who they are, and one pool per endpoint. Configured, or dynamic (made
     * on first login from a credential source).
     */
    public static final class User {
        private final Database database;
        private final boolean dynamic;
        private final boolean passThroughLogin;
        private final AtomicInteger pendingLogins = new AtomicInteger();
        private volatile long lastUsedNanos = System.nanoTime();
        private final String name;
        // A reload may change these: new logins see the new ones at once.
        private volatile AuthMethod auth;
        private volatile Secret secret;
        private volatile String serverUser;
        private volatile String serverPassword;
        /** A reload removed this configured user: its clients are told at their next query. */
        private volatile boolean removed;

        private volatile Map<String, Pool> pools = Map.of();
        /** Clients per state; moved on every transaction by every event loop, so striped (read only by metrics). */
        private final LongAdder[] clients = {new LongAdder(), new LongAdder(), new LongAdder()};

        User(Database database, UserConfig u) {
            this(database, u, false);
        }

        User(Database database, UserConfig u, boolean dynamic) {
            this(database, u, dynamic, false);
        }

        User(Database database, UserConfig u, boolean dynamic, boolean passThroughLogin) {
            this.dynamic = dynamic;
            this.passThroughLogin = passThroughLogin;
            this.database = database;
            this.name = u.name();
            this.auth = u.auth();
            this.secret = u.password();
            this.serverUser = u.serverUser();
            this.serverPassword = u.serverPassword();
        }

        public Database database() {
            return database;
        }

        /** Whether a reload removed this user from the configuration. */
        public boolean removed() {
            return removed;
        }

        /**
         * Takes a reloaded configuration of this user.
         *
         * @return true when the server login (role or password) changed, which needs new server connections
         */
        boolean update(UserConfig u) {
            auth = u.auth();
            secret = u.password();
            boolean login =
                    !serverUser.equals(u.serverUser()) || !java.util.Objects.equals(serverPassword, u.serverPassword());
            serverUser = u.serverUser();
            serverPassword = u.serverPassword();
            return login;
        }

        /** New pools for the same endpoints (a new server login or caps); the old ones go to {@code drained}. */
        void replacePools(List<Pool> drained, List<Pool> added) {
            drained.addAll(pools.values());
            pools = Map.of();
            syncPools(database.endpoints, new ArrayList<>(), added);
        }

        public String name() {
            return name;
        }

        public AuthMethod auth() {
            return auth;
        }

        /** Not in the configuration: made on first login from a credential source. */
        public boolean dynamic() {
            return dynamic;
        }

        /**
         * Listed by discovery without a password: its server login reuses what the client proved (as {@code
         * passThrough: true} does for a configured user).
         */
        public boolean passThroughLogin() {
            return passThroughLogin;
        }

        /** The login that obtained this dynamic user handed over to its session or gave up. */
        public void loginDone() {
            lastUsedNanos = System.nanoTime();
            pendingLogins.decrementAndGet();
        }

        /** Clients, logins in progress, or servers checked out, connecting or waited for. */
        boolean inUse() {
            if (pendingLogins.get() > 0) {
                return true;
            }
            for (ClientState st : ClientState.values()) {
                if (clients(st) > 0) {
                    return true;
                }
            }
            for (Pool p : pools.values()) {
                Pool.PoolStats st = p.stats();
                if (st.active() > 0 || st.connecting() > 0 || st.waiting() > 0) {
                    return true;
                }
            }
            return false;
        }

        public Secret secret() {
            return secret;
        }

        public Map<String, Pool> pools() {
            return pools;
        }

        /** The pool for an endpoint, or null when the endpoint left the set. */
        public Pool pool(EndpointState endpoint) {
            return endpoint == null ? null : pools.get(endpoint.name());
        }

        /** The pool of the current primary (what writes use), or null when no primary is known. */
        public Pool primaryPool() {
            return pool(database.primary());
        }

        /**
         * A pool that knows the server's startup parameters, or the primary's, for clients logging in; null while the
         * database has no endpoint (discovery found no usable server yet).
         */
        public Pool loginPool() {
            if (pools.isEmpty()) {
                return null;
            }
            Pool primary = primaryPool();
            if (primary != null && primary.serverParameters() != null) {
                return primary;
            }
            for (Pool p : pools.values()) {
                if (p.serverParameters() != null) {
                    return p;
                }
            }
            return primary != null ? primary : pools.values().iterator().next();
        }

        void syncPools(EndpointSet set) {
            syncPools(set, new ArrayList<>(), new ArrayList<>());
        }

        void syncPools(EndpointSet set, List<Pool> removed, List<Pool> added) {
            Map<String, Pool> next = new LinkedHashMap<>();
            for (EndpointSet.Member m : set.endpoints()) {
                Pool existing = pools.get(m.name());
                if (existing != null
                        && existing.address().host().equals(m.host())
                        && existing.address().port() == m.port()) {
                    next.put(m.name(), existing);
                } else {
                    ServerAddress address = new ServerAddress(
                            m.host(), m.port(), database.config.serverDatabase(), serverUser, serverPassword);
                    Pool p = new Pool(
                            database.name,
                            name,
                            m.name(),
                            database.settings,
                            address,
                            database.connector,
                            database.loops,
                            database.capsFor(name));
                    p.serverStats.roundTrips(database.roundTripsFor(m.name()));
                    if (database.paused) {
                        p.pause();
                    }
                    p.troubleListener(database::serverTrouble);
                    next.put(m.name(), p);
                    added.add(p);
                }
            }
            for (Map.Entry<String, Pool> e : pools.entrySet()) {
                if (next.get(e.getKey()) != e.getValue()) {
                    removed.add(e.getValue());
                }
            }
            pools = Map.copyOf(next);
        }

        /** Where the clients of this (database, user) are: logged in and idle, waiting for a server, running. */
        public enum ClientState {
            IDLE,
            WAITING,
            ACTIVE
        }

        public void clientJoined() {
            clients[ClientState.IDLE.ordinal()].increment();
        }

        public void clientLeft(ClientState state) {
            clients[state.ordinal()].decrement();
        }

        public void clientMoved(ClientState from, ClientState to) {
            clients[from.ordinal()].decrement();
            clients[to.ordinal()].increment();
        }

        public int clients(ClientState state) {
            return clients[state.ordinal()].intValue();
        }

        @Override
        public String toString() {
            return "User[" + name + "@" + database.name + ", " + auth + "]";
        }
    }
}
