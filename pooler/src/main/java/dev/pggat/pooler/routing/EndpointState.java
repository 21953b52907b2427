package dev.pggat.pooler.routing;

import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.util.LatencyHistogram;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * What the pooler knows about one endpoint: health and role as last probed, WAL position and lag, moving averages
 * of the probe's and of the clients' server round trips, and the queries sessions are running on it right now.
 *
 * <p>{@link HealthProber} writes the probe results from its event loop; sessions and {@link ReplicaChooser} read
 * them from any thread. A probe result is published as one {@link Observation}, so readers never mix two probes.
 */
public final class EndpointState {
    public enum Health {
        /** Not probed yet. */
        UNKNOWN,
        UP,
        DOWN
    }

    /**
     * One probe's result.
     *
     * @param role as the server says (in recovery = replica), null until a probe succeeded
     * @param lsn on a primary pg_current_wal_lsn(), on a replica pg_last_wal_replay_lsn(); -1 when unknown
     * @param lagBytes how far replay is behind the primary's last known LSN; 0 on a primary, -1 when unknown
     * @param lagMillis now() - pg_last_xact_replay_timestamp(), 0 when replay caught up with what was received
     *     and on a primary, -1 when unknown
     * @param atNanos System.nanoTime() of the probe, 0 before the first
     * @param error why the last probe failed (no secrets), null when it succeeded
     */
    public record Observation(
            Health health, Endpoint.Role role, long lsn, long lagBytes, long lagMillis, long atNanos, String error) {
        static final Observation INITIAL = new Observation(Health.UNKNOWN, null, -1, -1, -1, 0, null);
    }

    /** Weight of the newest sample in the latency average. */
    static final double EWMA_WEIGHT = 0.3;

    private volatile EndpointSet.Member member;
    private volatile Observation observation = Observation.INITIAL;
    /** Double bits of the latency average in nanoseconds; 0 = no sample yet. */
    private final AtomicLong ewmaBits = new AtomicLong();

    /**
     * Half-life of the round-trip average: a change of the endpoint's latency shows half within this time, and
     * nearly all (97%) within five of them.
     */
    static final long ROUND_TRIP_HALF_LIFE_NANOS = 2_000_000_000L;

    /** Decaying average of the server round trips in nanoseconds; 0 = none measured yet. */
    private volatile double roundTripNanos;

    /** What the last fold saw of the round-trip histogram; -1 = not read yet. Touched by the fold task only. */
    private long foldedCount = -1;

    private long foldedSumNanos;
    private long foldedAtNanos;

    /** Begun and ended on every transaction by every event loop: striped, so the loops do not share a cache line. */
    private final LongAdder outstanding = new LongAdder();

    private volatile int consecutiveFailures;

    public EndpointState(EndpointSet.Member member) {
        this.member = member;
    }

    public EndpointSet.Member member() {
        return member;
    }

    void member(EndpointSet.Member m) {
        this.member = m;
    }

    public String name() {
        return member.name();
    }

    public Observation observation() {
        return observation;
    }

    void observation(Observation o) {
        this.observation = o;
    }

    public Health health() {
        return observation.health();
    }

    /** The role the server has as last probed, or null when never reached. */
    public Endpoint.Role observedRole() {
        return observation.role();
    }

    /** True when the server's role differs from the configured one (a "primary" in recovery, a writable "replica"). */
    public boolean roleMismatch() {
        Endpoint.Role seen = observation.role();
        return seen != null && seen != member.role();
    }

    public long lsn() {
        return observation.lsn();
    }

    public long lagBytes() {
        return observation.lagBytes();
    }

    public long lagMillis() {
        return observation.lagMillis();
    }

    /** Moving average of the probe round trips in nanoseconds, 0 before the first. */
    public double ewmaLatencyNanos() {
        return Double.longBitsToDouble(ewmaBits.get());
    }

    /** Adds a probe round trip to the probe latency average (the clients' round trips have their own). */
    public void recordLatency(long nanos) {
        double sample = Math.max(1, nanos);
        while (true) {
            long bits = ewmaBits.get();
            double old = Double.longBitsToDouble(bits);
            double next = old == 0 ? sample : old + EWMA_WEIGHT * (sample - old);
            if (ewmaBits.compareAndSet(bits, Double.doubleToRawLongBits(next))) {
                return;
            }
        }
    }

    /**
     * Decaying average of the round trips the pooler's server connections to this endpoint measured (a query's
     * last message written to the first reply), in nanoseconds; 0 before any was folded in.
     */
    public double roundTripNanos() {
        return roundTripNanos;
    }

    /**
     * Folds in the round trips measured since the last call: their mean moves the average by a weight that grows
     * with the time since the last fold that had any, {@code 1 - 2^(-elapsed / half-life)}, so the average decays
     * by time, not by sample count (a busy endpoint and a quiet one adapt equally fast). Called by one task only.
     *
     * @param h the endpoint's round trips (shared by its pools), cumulative
     */
    void foldRoundTrips(LatencyHistogram h, long now) {
        long count = h.count();
        long sum = h.sumNanos();
        if (foldedCount < 0 || count < foldedCount || sum < foldedSumNanos) {
            foldedCount = count;
            foldedSumNanos = sum;
            foldedAtNanos = now;
            return;
        }
        long n = count - foldedCount;
        if (n == 0) {
            return;
        }
        double mean = (double) (sum - foldedSumNanos) / n;
        foldedCount = count;
        foldedSumNanos = sum;
        double old = roundTripNanos;
        if (old == 0) {
            // The first round trips of new server connections are slow (catalog caches still cold): starting
            // from them would count a replica slow for several half-lives. The probes' average, measured on the
            // same path, is the starting point the first samples then move.
            old = ewmaLatencyNanos();
        }
        double weight = 1 - Math.pow(2, -(double) (now - foldedAtNanos) / ROUND_TRIP_HALF_LIFE_NANOS);
        foldedAtNanos = now;
        roundTripNanos = Math.max(1, old == 0 ? mean : old + weight * (mean - old));
    }

    /** Queries sessions run on this endpoint now; part of the replica choice. */
    public int outstanding() {
        return outstanding.intValue();
    }

    /** Call when a transaction starts on this endpoint; pair with {@link #endQuery()}. */
    public void beginQuery() {
        outstanding.increment();
    }

    public void endQuery() {
        outstanding.decrement();
    }

    /** Probes that failed in a row; drives the retry backoff. */
    public int consecutiveFailures() {
        return consecutiveFailures;
    }

    void consecutiveFailures(int n) {
        this.consecutiveFailures = n;
    }

    @Override
    public String toString() {
        Observation o = observation;
        return member.name() + "[" + o.health() + ", configured " + member.role() + ", seen " + o.role() + ", lag "
                + o.lagBytes() + " B / " + o.lagMillis() + " ms, outstanding " + outstanding.intValue() + "]";
    }
}
