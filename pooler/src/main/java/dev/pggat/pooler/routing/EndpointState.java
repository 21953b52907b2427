package dev.pggat.pooler.routing;

import dev.pggat.pooler.config.Endpoint;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * What the pooler knows about one endpoint: health and role as last probed, WAL position and lag, a moving
 * average of latency, and the queries sessions are running on it right now.
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

    /** Moving average of latency in nanoseconds, 0 before the first sample. */
    public double ewmaLatencyNanos() {
        return Double.longBitsToDouble(ewmaBits.get());
    }

    /** Adds a latency sample: the prober's probe round trips, and query latencies if the session reports them. */
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
