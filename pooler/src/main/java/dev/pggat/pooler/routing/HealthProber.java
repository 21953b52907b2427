package dev.pggat.pooler.routing;

import dev.pggat.pooler.backend.ServerAddress;
import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.backend.ServerQuery;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.routing.EndpointState.Health;
import dev.pggat.pooler.routing.EndpointState.Observation;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps one dedicated server connection per endpoint of an {@link EndpointSet} and runs a probe query on it every
 * interval: whether the server is in recovery, its WAL position, and the replay delay. Results go to each
 * endpoint's {@link EndpointState}; an endpoint that cannot be reached or does not answer in time is DOWN and is
 * retried with exponential backoff. Replica byte lag is measured against the last LSN of the endpoint seen as
 * primary.
 *
 * <p>Between intervals, {@link #probeSoon()} probes every endpoint at once: a server connection that failed, a
 * primary that refused a write or a write waiting for a primary says the roles may have changed (a failover), and
 * waiting for the next interval would keep writes failing that long. Requests within {@link #URGENT_GAP_NANOS} of
 * the last such round make one more round at its end, so a storm of failures costs a few rounds, not one each.
 *
 * <p>Everything runs on the one event loop given; {@link #states()} and the states may be read from any thread.
 * Run one prober per database (not per pool): each costs one server connection per endpoint.
 */
public final class HealthProber implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HealthProber.class);

    /**
     * One round trip answers everything; pg_current_wal_lsn() is only called on a primary, where it works. The
     * replay delay counts only while replay is behind what was received: an idle primary sends no transactions,
     * and the age of the last replayed one would otherwise look like lag.
     */
    static final String PROBE_SQL = "SELECT pg_is_in_recovery(),"
            + " CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,"
            + " CASE WHEN NOT pg_is_in_recovery() THEN 0"
            + " WHEN pg_last_wal_receive_lsn() IS NOT NULL AND pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn()"
            + " THEN 0"
            + " ELSE floor(extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000) END";

    /** Least time between two rounds that {@link #probeSoon()} asks for. */
    static final long URGENT_GAP_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    /**
     * @param interval time between probes of an endpoint that is up
     * @param timeout how long a probe query may take before the endpoint counts as DOWN
     * @param backoffMax cap of the retry delay while an endpoint is DOWN (it doubles from {@code interval})
     */
    public record Settings(Duration interval, Duration timeout, Duration backoffMax) {
        public static final Settings DEFAULT =
                new Settings(Duration.ofSeconds(1), Duration.ofSeconds(3), Duration.ofSeconds(30));

        public Settings {
            if (interval.isNegative() || interval.isZero()) {
                throw new IllegalArgumentException("probe interval " + interval + " must be positive");
            }
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("probe timeout " + timeout + " must be positive");
            }
            if (backoffMax.compareTo(interval) < 0) {
                throw new IllegalArgumentException(
                        "probe backoffMax " + backoffMax + " must be at least the interval " + interval);
            }
        }
    }

    /** Who the prober logs in as: any user that may connect to the database; no privileges are needed. */
    public record Login(String database, String user, String password) {
        public Login {
            Objects.requireNonNull(database, "database");
            Objects.requireNonNull(user, "user");
        }

        @Override
        public String toString() {
            return user + "/" + database;
        }
    }

    /** Told about changes, on the prober's event loop; must not block. */
    public interface Listener {
        /** The server's role differs from the configured one; called again only when what is seen changes. */
        default void roleMismatch(EndpointState state, Endpoint.Role configured, Endpoint.Role observed) {}

        default void healthChanged(EndpointState state, Health from, Health to) {}
    }

    private final ServerConnector connector;
    private final EventLoop loop;
    /** Replaced when discovery names a user to probe with (a database that configures none). */
    private volatile Login login;

    private final Settings settings;
    private final Listener listener;

    /** Replaced as a whole on update; read by any thread. */
    private volatile List<EndpointState> states = List.of();

    private volatile EndpointSet endpoints;
    private final Map<String, Target> targets = new LinkedHashMap<>();
    private volatile boolean closed;

    /** A round asked for by {@link #probeSoon()} is queued or scheduled; later requests join it. */
    private final AtomicBoolean urgentQueued = new AtomicBoolean();
    /** When the last asked-for round started (loop only); 0 before the first. */
    private long lastUrgentNanos;

    private final Runnable urgentRound = this::urgentRound;
    /** Rounds of probes {@link #probeSoon()} started, for metrics. */
    public final LongAdder urgentRounds = new LongAdder();

    public HealthProber(ServerConnector connector, EventLoop loop, Login login, Settings settings, Listener listener) {
        this.connector = Objects.requireNonNull(connector, "connector");
        this.loop = Objects.requireNonNull(loop, "loop");
        this.login = Objects.requireNonNull(login, "login");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.listener = listener != null ? listener : new Listener() {};
    }

    /** Probes log in as {@code newLogin} from their next connection on. */
    public void login(Login newLogin) {
        this.login = Objects.requireNonNull(newLogin, "login");
    }

    /** The states of the current endpoints, in set order. */
    public List<EndpointState> states() {
        return states;
    }

    /** The state of the endpoint of that name, or null. */
    public EndpointState state(String name) {
        for (EndpointState s : states) {
            if (s.name().equals(name)) {
                return s;
            }
        }
        return null;
    }

    public EndpointSet endpoints() {
        return endpoints;
    }

    /**
     * Starts probing {@code set}, or switches to it: endpoints that stay (same name and address) keep their state
     * and connection, removed ones are closed, new ones are probed at once.
     *
     * @return false, changing nothing, when {@code set} is not newer than the current one
     */
    public synchronized boolean update(EndpointSet set) {
        Objects.requireNonNull(set, "set");
        if (closed || !set.newerThan(endpoints)) {
            return false;
        }
        List<EndpointState> next = new ArrayList<>();
        for (EndpointSet.Member m : set.endpoints()) {
            EndpointState old = state(m.name());
            if (old != null && old.member().sameServer(m)) {
                old.member(m);
                next.add(old);
            } else {
                next.add(new EndpointState(m));
            }
        }
        endpoints = set;
        states = List.copyOf(next);
        loop.execute(() -> apply(next));
        return true;
    }

    private void apply(List<EndpointState> next) {
        if (closed) {
            return;
        }
        Map<String, Target> keep = new LinkedHashMap<>();
        for (EndpointState s : next) {
            Target t = targets.remove(s.name());
            if (t != null && t.state == s) {
                t.checkRole();
                keep.put(s.name(), t);
            } else {
                if (t != null) {
                    t.stop();
                }
                Target fresh = new Target(s);
                keep.put(s.name(), fresh);
                fresh.schedule(0);
            }
        }
        for (Target gone : targets.values()) {
            gone.stop();
        }
        targets.clear();
        targets.putAll(keep);
    }

    /**
     * Probes every endpoint now rather than at its next turn (an endpoint whose probe is in flight is probed again
     * when it answers), unless a round started less than {@link #URGENT_GAP_NANOS} ago: then one round follows at
     * the end of that gap, however many times this is called meanwhile. Any thread; does not block.
     */
    public void probeSoon() {
        if (!closed && urgentQueued.compareAndSet(false, true)) {
            loop.execute(urgentRound);
        }
    }

    private void urgentRound() {
        if (closed) {
            return;
        }
        long now = System.nanoTime();
        long wait = lastUrgentNanos == 0 ? 0 : lastUrgentNanos + URGENT_GAP_NANOS - now;
        if (wait > 0) {
            loop.schedule(urgentRound, wait, TimeUnit.NANOSECONDS);
            return;
        }
        // Cleared before the round: a request from here on may see results older than the round's, so it needs one.
        urgentQueued.set(false);
        lastUrgentNanos = now == 0 ? 1 : now;
        urgentRounds.increment();
        for (Target t : targets.values()) {
            t.probeNow();
        }
    }

    /** Stops probing and closes the probe connections. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        loop.execute(() -> {
            for (Target t : targets.values()) {
                t.stop();
            }
            targets.clear();
        });
    }

    /** Retry delay after {@code failures} failed probes in a row: the interval, doubling, capped. */
    static long backoffMillis(Settings settings, int failures) {
        long base = settings.interval().toMillis();
        long cap = settings.backoffMax().toMillis();
        int shift = Math.min(Math.max(failures - 1, 0), 30);
        long delay = base << shift;
        return delay <= 0 || delay > cap ? cap : delay;
    }

    /** The LSN of the endpoint seen as primary, preferring the configured one; -1 when none is up. */
    private long primaryLsn() {
        EndpointState p = ReplicaChooser.primary(states);
        if (p == null) {
            return -1;
        }
        Observation o = p.observation();
        return o.health() == Health.UP && o.role() == Endpoint.Role.PRIMARY ? o.lsn() : -1;
    }

    static long parseLsn(String text) {
        if (text == null) {
            return -1;
        }
        int slash = text.indexOf('/');
        if (slash <= 0) {
            throw new IllegalArgumentException("not an LSN: '" + text + "'");
        }
        return (Long.parseLong(text.substring(0, slash), 16) << 32) | Long.parseLong(text.substring(slash + 1), 16);
    }

    /** Probing of one endpoint; only touched on the loop. */
    private final class Target {
        final EndpointState state;
        ServerConnection connection;
        ScheduledFuture<?> pending;
        boolean stopped;
        /** A probe is connecting or querying. */
        boolean inFlight;
        /** Probe again as soon as the one in flight answers: it may have started before what prompted the round. */
        boolean again;

        Endpoint.Role reportedMismatch;

        Target(EndpointState state) {
            this.state = state;
        }

        void schedule(long delayMillis) {
            if (!stopped) {
                pending = loop.schedule(this::probe, delayMillis, TimeUnit.MILLISECONDS);
            }
        }

        /** Part of a round {@link #probeSoon()} asked for. */
        void probeNow() {
            if (stopped) {
                return;
            }
            if (inFlight) {
                again = true;
            } else {
                if (pending != null) {
                    pending.cancel(false);
                    pending = null;
                }
                probe();
            }
        }

        /** The probe in flight is done: the next one after {@code delayMillis}, or at once if a round asked. */
        void next(long delayMillis) {
            inFlight = false;
            if (again) {
                again = false;
                delayMillis = 0;
            }
            schedule(delayMillis);
        }

        void stop() {
            stopped = true;
            if (pending != null) {
                pending.cancel(false);
            }
            if (connection != null) {
                connection.close();
                connection = null;
            }
        }

        void probe() {
            if (stopped || inFlight) {
                return;
            }
            inFlight = true;
            if (connection != null && connection.isUsable()) {
                query();
                return;
            }
            connection = null;
            EndpointSet.Member m = state.member();
            ServerAddress address =
                    new ServerAddress(m.host(), m.port(), login.database(), login.user(), login.password());
            connector.connect(loop, address).addListener((Future<ServerConnection> f) -> {
                if (stopped) {
                    if (f.isSuccess()) {
                        f.getNow().close();
                    }
                    return;
                }
                if (f.isSuccess()) {
                    connection = f.getNow();
                    query();
                } else {
                    failed(f.cause());
                }
            });
        }

        void query() {
            ServerConnection c = connection;
            long t0 = System.nanoTime();
            ServerQuery.simple(c, PROBE_SQL, settings.timeout()).addListener((Future<ServerQuery.Result> f) -> {
                if (stopped) {
                    return;
                }
                if (!f.isSuccess() || f.getNow().failed()) {
                    c.abort();
                    connection = null;
                    failed(f.isSuccess() ? f.getNow().error() : f.cause());
                    return;
                }
                long now = System.nanoTime();
                List<String> row = f.getNow().firstRow();
                try {
                    succeeded(row, now - t0, now);
                } catch (RuntimeException e) {
                    c.abort();
                    connection = null;
                    failed(new IllegalStateException("unexpected probe answer " + row + ": " + e.getMessage()));
                    return;
                }
                if (c.expired(now)) {
                    // Same lifetime as pooled connections, so that a probe connection is renewed as they are.
                    c.close();
                    connection = null;
                }
                next(settings.interval().toMillis());
            });
        }

        void succeeded(List<String> row, long latencyNanos, long now) {
            if (row.size() != 3) {
                throw new IllegalStateException("expected 3 columns, got " + row.size());
            }
            boolean inRecovery = "t".equals(row.get(0));
            Endpoint.Role role = inRecovery ? Endpoint.Role.REPLICA : Endpoint.Role.PRIMARY;
            long lsn = parseLsn(row.get(1));
            long lagMillis = row.get(2) == null ? -1 : Math.max(0, Math.round(Double.parseDouble(row.get(2))));
            long lagBytes;
            if (!inRecovery) {
                lagBytes = 0;
            } else {
                long primary = primaryLsn();
                lagBytes = primary < 0 || lsn < 0 ? -1 : Math.max(0, primary - lsn);
            }
            state.recordLatency(latencyNanos);
            state.consecutiveFailures(0);
            publish(new Observation(Health.UP, role, lsn, lagBytes, lagMillis, now, null));
            checkRole();
        }

        void failed(Throwable cause) {
            int failures = state.consecutiveFailures() + 1;
            state.consecutiveFailures(failures);
            String message = cause == null ? "unknown failure" : cause.getMessage();
            Observation old = state.observation();
            // A server that answers but refuses the probe's login (pass-through users have no password for the
            // pooler to probe with) is not down: its health stays unknown and routing does not avoid it.
            Health health = cause instanceof dev.pggat.pooler.backend.ServerError se && !se.isTransient()
                    ? (old.health() == Health.UP ? Health.UP : Health.UNKNOWN)
                    : Health.DOWN;
            publish(new Observation(health, old.role(), old.lsn(), -1, -1, System.nanoTime(), message));
            long delay = backoffMillis(settings, failures);
            if (old.health() != Health.DOWN && health == Health.DOWN) {
                log.warn("endpoint {} is down ({}); retrying in {} ms", state.name(), message, delay);
            } else if (failures == 1 && health != Health.DOWN) {
                log.warn(
                        "endpoint {}: the health probe cannot log in ({}); routing goes on without it",
                        state.name(),
                        message);
            }
            next(delay);
        }

        private void publish(Observation o) {
            Observation old = state.observation();
            Health before = old.health();
            state.observation(o);
            if (old.health() == Health.UP
                    && old.role() == Endpoint.Role.PRIMARY
                    && (o.health() != Health.UP || o.role() != Endpoint.Role.PRIMARY)) {
                // The primary went away or into recovery: another endpoint may be the primary now.
                probeSoon();
            }
            if (before != o.health()) {
                if (o.health() == Health.UP && before == Health.DOWN) {
                    log.info("endpoint {} is up again", state.name());
                }
                try {
                    listener.healthChanged(state, before, o.health());
                } catch (RuntimeException e) {
                    log.warn("health listener failed for {}", state.name(), e);
                }
            }
        }

        void checkRole() {
            Endpoint.Role seen = state.observedRole();
            Endpoint.Role configured = state.member().role();
            if (seen == null || seen == configured) {
                reportedMismatch = null;
                return;
            }
            if (seen == reportedMismatch) {
                return;
            }
            reportedMismatch = seen;
            log.warn(
                    "endpoint {} is configured as {} but the server is a {}",
                    state.name(),
                    configured.yamlName(),
                    seen.yamlName());
            try {
                listener.roleMismatch(state, configured, seen);
            } catch (RuntimeException e) {
                log.warn("role listener failed for {}", state.name(), e);
            }
        }
    }
}
