package dev.pggat.pooler.routing;

import dev.pggat.pooler.auth.Secret;
import dev.pggat.pooler.backend.ServerAddress;
import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.config.AuthMethod;
import dev.pggat.pooler.config.DatabaseConfig;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.config.PoolMode;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.config.RoutingConfig;
import dev.pggat.pooler.config.Timeouts;
import dev.pggat.pooler.config.UserConfig;
import dev.pggat.pooler.pool.ConnectionCap;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.pool.PoolSettings;
import io.netty.channel.EventLoopGroup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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
    private final Map<String, Database> databases = new LinkedHashMap<>();
    /** Per user name: the cap on that user's server connections across databases (maxUserConnections). */
    private final Map<String, ConnectionCap> userCaps = new LinkedHashMap<>();

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
        for (DatabaseConfig db : config.databases().values()) {
            databases.put(db.name(), new Database(db, config.timeouts(), connector, loops, userCaps));
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

    /** The database clients named, or null when none is configured under that name. */
    public Database database(String name) {
        return databases.get(name);
    }

    public Collection<Database> databases() {
        return databases.values();
    }

    /** Every pool of every database and user, for metrics and shutdown. */
    public List<Pool> pools() {
        List<Pool> all = new ArrayList<>();
        for (Database d : databases.values()) {
            for (User u : d.users.values()) {
                all.addAll(u.pools.values());
            }
        }
        return all;
    }

    public void start() {
        for (Database d : databases.values()) {
            d.start();
        }
    }

    @Override
    public void close() {
        for (Database d : databases.values()) {
            d.close();
        }
    }

    /** A database: its endpoints, their health, and its users' pools. */
    public static final class Database {
        private final String name;
        private final DatabaseConfig config;
        private final PoolSettings settings;
        private final ServerConnector connector;
        private final EventLoopGroup loops;
        private final Map<String, User> users = new LinkedHashMap<>();
        private final HealthProber prober;
        private final ReplicaChooser chooser;
        private final QueryClassifier classifier;
        private final RoutingConfig routing;
        private volatile EndpointSet endpoints;
        private final Map<String, LongAdder> decisions = new HashMap<>();
        /** maxDatabaseConnections, or null without one. */
        private final ConnectionCap cap;

        private final Map<String, ConnectionCap> userCaps;

        Database(
                DatabaseConfig db,
                Timeouts t,
                ServerConnector connector,
                EventLoopGroup loops,
                Map<String, ConnectionCap> userCaps) {
            this.name = db.name();
            this.userCaps = userCaps;
            this.cap = db.limits().maxDatabaseConnections() > 0
                    ? new ConnectionCap(
                            ConnectionCap.Kind.DATABASE, db.name(), db.limits().maxDatabaseConnections())
                    : null;
            this.config = db;
            this.connector = connector;
            this.loops = loops;
            this.routing = db.routing();
            this.settings = new PoolSettings(
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
            this.endpoints = EndpointSet.fromConfig(1, db.endpoints());
            for (UserConfig u : db.users().values()) {
                users.put(u.name(), new User(this, u));
            }
            for (User u : users.values()) {
                u.syncPools(endpoints);
            }
            UserConfig probeUser = db.users().values().iterator().next();
            Duration interval = routing.probeInterval();
            this.prober = new HealthProber(
                    connector,
                    loops.next(),
                    new HealthProber.Login(db.serverDatabase(), probeUser.serverUser(), probeUser.serverPassword()),
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
                        }

                        @Override
                        public void healthChanged(
                                EndpointState state, EndpointState.Health from, EndpointState.Health to) {
                            log.info("database {}: endpoint {} is {} (was {})", name, state.name(), to, from);
                        }
                    });
            this.chooser = new ReplicaChooser(new ReplicaChooser.Policy(
                    routing.maxReplicaLagBytes(),
                    routing.maxReplicaLag(),
                    routing.replicaFallback() == RoutingConfig.ReplicaFallback.PRIMARY));
            this.classifier = new QueryClassifier(routing.primaryFunctions());
        }

        private List<ConnectionCap> capsFor(String user) {
            ConnectionCap userCap = userCaps.get(user);
            if (cap == null) {
                return userCap == null ? List.of() : List.of(userCap);
            }
            return userCap == null ? List.of(cap) : List.of(cap, userCap);
        }

        void start() {
            prober.update(endpoints);
            for (User u : users.values()) {
                u.pools.values().forEach(Pool::start);
            }
        }

        void close() {
            prober.close();
            for (User u : users.values()) {
                u.pools.values().forEach(Pool::close);
            }
        }

        public String name() {
            return name;
        }

        public Map<String, User> users() {
            return users;
        }

        public User user(String name) {
            return users.get(name);
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
            endpoints = set;
            prober.update(set);
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

    /** A configured user of a database: how clients prove who they are, and one pool per endpoint. */
    public static final class User {
        private final Database database;
        private final String name;
        private final AuthMethod auth;
        private final Secret secret;
        private final String serverUser;
        private final String serverPassword;
        private volatile Map<String, Pool> pools = Map.of();
        private final AtomicInteger[] clients = {new AtomicInteger(), new AtomicInteger(), new AtomicInteger()};

        User(Database database, UserConfig u) {
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

        public String name() {
            return name;
        }

        public AuthMethod auth() {
            return auth;
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

        /** A pool that knows the server's startup parameters, or the primary's, for clients logging in. */
        public Pool loginPool() {
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
            clients[ClientState.IDLE.ordinal()].incrementAndGet();
        }

        public void clientLeft(ClientState state) {
            clients[state.ordinal()].decrementAndGet();
        }

        public void clientMoved(ClientState from, ClientState to) {
            clients[from.ordinal()].decrementAndGet();
            clients[to.ordinal()].incrementAndGet();
        }

        public int clients(ClientState state) {
            return clients[state.ordinal()].get();
        }

        @Override
        public String toString() {
            return "User[" + name + "@" + database.name + ", " + auth + "]";
        }
    }
}
