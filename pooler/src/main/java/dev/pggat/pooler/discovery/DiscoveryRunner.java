package dev.pggat.pooler.discovery;

import dev.pggat.pooler.config.DiscoveryConfig;
import dev.pggat.pooler.routing.EndpointSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Asks one source on its own thread, at its interval, and applies what it finds to the databases it feeds. A
 * failed look keeps the last good sets and retries with a doubling delay (with jitter, so that many poolers do not
 * hit an API in step) up to the source's backoffMax. {@link #refreshNow()} asks again at once, e.g. when the health
 * probes see the primary fail.
 */
public final class DiscoveryRunner implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DiscoveryRunner.class);

    /** Where the endpoint sets go: the pooler's databases, through the same path as the admin API's PUT. */
    public interface Sink {
        /** The set a database uses now, or null when there is no such database. */
        EndpointSet current(String database);

        /** Applies a newer set; false when the database is unknown or the set not newer. */
        boolean apply(String database, EndpointSet set);

        /** The database's name on the servers, to find the cluster that has it. */
        String serverDatabase(String database);

        /**
         * The users the source lists for the database's cluster (name to password, a null password when the source
         * does not know it). Called on every successful look, also when nothing changed.
         */
        default void users(String database, Map<String, String> users) {}
    }

    /** How often a source is asked while it reports a switchover or failover under way. */
    static final Duration CHANGING_INTERVAL = Duration.ofMillis(100);
    /** How long the quick looks go on before the interval applies again. */
    static final Duration CHANGING_LIMIT = Duration.ofSeconds(30);

    private final String name;
    private final DiscoveryConfig.Source config;
    private final DiscoverySource source;
    private final Map<String, DiscoveryConfig.Target> targets;
    private final Sink sink;
    private final ScheduledExecutorService executor;

    private ScheduledFuture<?> next;
    private boolean running;
    private boolean again;
    private boolean closed;
    private int failures;
    private long changingSince;

    public final LongAdder refreshesTotal = new LongAdder();
    private final Map<String, LongAdder> errors = new ConcurrentHashMap<>();
    private volatile double lastSuccessSeconds;
    /** Per database and role (primary, replica): how many endpoints the last applied look found. */
    private final Map<String, Map<String, Integer>> found = new ConcurrentHashMap<>();

    /**
     * @param targets the databases this source feeds, with the cluster each names (if any)
     */
    public DiscoveryRunner(
            String name,
            DiscoveryConfig.Source config,
            DiscoverySource source,
            Map<String, DiscoveryConfig.Target> targets,
            Sink sink) {
        this.name = Objects.requireNonNull(name, "name");
        this.config = Objects.requireNonNull(config, "config");
        this.source = Objects.requireNonNull(source, "source");
        this.targets = Map.copyOf(targets);
        this.sink = Objects.requireNonNull(sink, "sink");
        this.executor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "pggat-discovery-" + name);
            t.setDaemon(true);
            return t;
        });
    }

    public String name() {
        return name;
    }

    public String kind() {
        return config.kind();
    }

    /** The databases this source feeds. */
    public Set<String> databases() {
        return targets.keySet();
    }

    /** Starts asking: the first look at once. */
    public synchronized DiscoveryRunner start() {
        next = executor.schedule(this::run, 0, TimeUnit.MILLISECONDS);
        return this;
    }

    /**
     * Asks the source again as soon as possible, without waiting for the interval. Calls while a look runs make one
     * more look after it; cheap to call often.
     */
    public synchronized void refreshNow() {
        if (closed) {
            return;
        }
        if (running) {
            again = true;
            return;
        }
        if (next != null && next.getDelay(TimeUnit.MILLISECONDS) > 0 && next.cancel(false)) {
            next = executor.schedule(this::run, 0, TimeUnit.MILLISECONDS);
        }
    }

    private void run() {
        synchronized (this) {
            if (closed) {
                return;
            }
            running = true;
            again = false;
        }
        Duration delay;
        try {
            delay = lookAndApply();
        } catch (RuntimeException e) {
            // A bug must not stop discovery for good: count it and keep the schedule.
            log.error("discovery {}: unexpected failure", name, e);
            count("internal");
            delay = config.schedule().interval();
        }
        synchronized (this) {
            running = false;
            if (closed) {
                return;
            }
            next = executor.schedule(this::run, again ? 0 : delay.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** One look; returns the delay until the next. */
    private Duration lookAndApply() {
        refreshesTotal.increment();
        Discovered d;
        try {
            d = source.fetch();
        } catch (DiscoveryException e) {
            return failed(e);
        }
        boolean allMatched = true;
        for (Map.Entry<String, DiscoveryConfig.Target> t : targets.entrySet()) {
            try {
                applyTo(t.getKey(), t.getValue(), d);
            } catch (DiscoveryException e) {
                allMatched = false;
                count(e.reason());
                log.warn(
                        "discovery {}: database {}: {}; keeping its last endpoint set",
                        name,
                        t.getKey(),
                        e.getMessage());
            }
        }
        if (failures > 0) {
            log.info("discovery {}: {} answers again after {} failed looks", name, kind(), failures);
        }
        failures = 0;
        if (allMatched) {
            lastSuccessSeconds = System.currentTimeMillis() / 1000.0;
        }
        if (!d.changing()) {
            changingSince = 0;
        } else {
            long now = System.nanoTime();
            if (changingSince == 0) {
                changingSince = now;
            }
            // A new primary is on its way and writes wait for it: look again soon, but not for ever (a cluster
            // that stays without a leader is down, not switching over).
            if (now - changingSince < CHANGING_LIMIT.toNanos()) {
                return min(config.schedule().interval(), CHANGING_INTERVAL);
            }
        }
        return config.schedule().interval();
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    private Duration failed(DiscoveryException e) {
        synchronized (this) {
            if (closed) {
                return config.schedule().interval();
            }
        }
        count(e.reason());
        failures++;
        Duration interval = config.schedule().interval();
        Duration max = config.schedule().backoffMax();
        long base = interval.toMillis() << Math.min(failures, 20);
        long capped = Math.min(base, max.toMillis());
        // Jitter: somewhere in the upper half, so the delay still grows but poolers spread out.
        long delay = capped / 2 + ThreadLocalRandom.current().nextLong(capped / 2 + 1);
        if (e.retryAfter() != null) {
            delay = Math.max(delay, Math.min(e.retryAfter().toMillis(), max.toMillis()));
        }
        log.warn(
                "discovery {}: {} failed ({} in a row): {}; keeping the last endpoint sets, next try in {} ms",
                name,
                kind(),
                failures,
                e.getMessage(),
                delay);
        return Duration.ofMillis(Math.max(delay, 1));
    }

    private void applyTo(String database, DiscoveryConfig.Target target, Discovered d) throws DiscoveryException {
        Discovered.Cluster cluster = pick(database, target, d);
        List<EndpointSet.Member> members = cluster.members();
        if (cluster.users() != null) {
            sink.users(database, cluster.users());
        }
        Map<String, Integer> counts = new LinkedHashMap<>();
        counts.put("primary", 0);
        counts.put("replica", 0);
        for (EndpointSet.Member m : members) {
            counts.merge(m.role().yamlName(), 1, Integer::sum);
        }
        found.put(database, counts);
        EndpointSet current = sink.current(database);
        if (current == null) {
            throw new DiscoveryException("no_database", "the pooler has no database of that name");
        }
        if (new HashSet<>(current.endpoints()).equals(new HashSet<>(members))
                && current.endpoints().size() == members.size()) {
            return;
        }
        EndpointSet set = new EndpointSet(current.version() + 1, members);
        if (sink.apply(database, set)) {
            log.info(
                    "discovery {}: database {}: endpoint set version {} from {} {}: {} ({})",
                    name,
                    database,
                    set.version(),
                    kind(),
                    cluster.name(),
                    describe(set),
                    changes(current, set));
        }
    }

    private Discovered.Cluster pick(String database, DiscoveryConfig.Target target, Discovered d)
            throws DiscoveryException {
        if (target.cluster() != null) {
            for (Discovered.Cluster c : d.clusters()) {
                if (c.name().equals(target.cluster())) {
                    return c;
                }
            }
            throw new DiscoveryException(
                    "no_cluster", "cluster " + target.cluster() + " is not among what " + kind() + " lists now");
        }
        if (d.clusters().size() == 1 && d.clusters().get(0).databases() == null) {
            return d.clusters().get(0);
        }
        String serverDb = sink.serverDatabase(database);
        List<Discovered.Cluster> having = new ArrayList<>();
        for (Discovered.Cluster c : d.clusters()) {
            if (c.databases() == null || c.databases().contains(serverDb)) {
                having.add(c);
            }
        }
        if (having.size() > 1) {
            // A database lives where its writable primary is: a promoted replica's cluster wins over the old one.
            List<Discovered.Cluster> withPrimary = having.stream()
                    .filter(c -> c.members().stream()
                            .anyMatch(m -> m.role() == dev.pggat.pooler.config.Endpoint.Role.PRIMARY))
                    .toList();
            if (withPrimary.size() == 1) {
                return withPrimary.get(0);
            }
        }
        if (having.size() == 1) {
            return having.get(0);
        }
        if (having.isEmpty()) {
            throw new DiscoveryException(
                    "no_cluster", "no cluster " + kind() + " lists now has a database named " + serverDb);
        }
        throw new DiscoveryException(
                "no_cluster",
                "clusters " + having.stream().map(Discovered.Cluster::name).toList() + " all have a database named "
                        + serverDb + "; name one as discovery: " + name + "/<cluster>");
    }

    static String describe(EndpointSet set) {
        if (set.endpoints().isEmpty()) {
            return "no usable server";
        }
        EndpointSet.Member p = set.primary();
        StringBuilder sb = new StringBuilder();
        sb.append("primary ").append(p == null ? "none (writes wait)" : address(p));
        List<EndpointSet.Member> replicas = set.replicas();
        sb.append(", replicas ");
        if (replicas.isEmpty()) {
            sb.append("none");
        }
        for (int i = 0; i < replicas.size(); i++) {
            sb.append(i == 0 ? "" : ", ").append(address(replicas.get(i)));
        }
        return sb.toString();
    }

    private static String address(EndpointSet.Member m) {
        return m.name() + " " + m.host() + ":" + m.port() + (m.zone() == null ? "" : " in " + m.zone())
                + (m.weight() == EndpointSet.DEFAULT_WEIGHT ? "" : " weight " + m.weight());
    }

    static String changes(EndpointSet before, EndpointSet after) {
        List<String> parts = new ArrayList<>();
        for (EndpointSet.Member m : after.endpoints()) {
            EndpointSet.Member old = before.member(m.name());
            if (old == null || !old.sameServer(m)) {
                parts.add("added " + m.name());
            } else if (old.role() != m.role()) {
                parts.add(m.name() + " " + old.role().yamlName() + " -> "
                        + m.role().yamlName());
            } else if (!old.equals(m)) {
                parts.add(m.name() + " changed");
            }
        }
        for (EndpointSet.Member m : before.endpoints()) {
            EndpointSet.Member now = after.member(m.name());
            if (now == null || !now.sameServer(m)) {
                parts.add("removed " + m.name());
            }
        }
        if (before.primary() != null && after.primary() == null) {
            parts.add("no primary now");
        }
        return parts.isEmpty() ? "no change" : String.join(", ", parts);
    }

    private void count(String reason) {
        errors.computeIfAbsent(reason, k -> new LongAdder()).increment();
    }

    /** Failed looks by reason, for metrics. */
    public Map<String, Long> errors() {
        Map<String, Long> m = new LinkedHashMap<>();
        errors.forEach((k, v) -> m.put(k, v.sum()));
        return m;
    }

    /** Unix time of the last look that fed every database, 0 before the first. */
    public double lastSuccessSeconds() {
        return lastSuccessSeconds;
    }

    /** Endpoints the last look found, per database and role. */
    public Map<String, Map<String, Integer>> found() {
        return Map.copyOf(found);
    }

    @Override
    public void close() {
        synchronized (this) {
            closed = true;
            if (next != null) {
                next.cancel(false);
            }
        }
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        source.close();
    }
}
