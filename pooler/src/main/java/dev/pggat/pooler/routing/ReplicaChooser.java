package dev.pggat.pooler.routing;

import dev.pggat.pooler.config.Endpoint;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import java.util.random.RandomGenerator;

/**
 * Picks the replica a read goes to: among the eligible ones (up, in recovery, weight above 0, lag within the
 * limits, replayed at least to a given LSN), two at random, and of those one with a probability inversely
 * proportional to its load score, latency x (outstanding + 1) / weight². With two replicas that is a weighted random
 * choice by 1 / score; sampling two instead of scanning for the best keeps many sessions choosing at once from
 * piling on the same replica.
 *
 * <p>Latency is the decaying average of the round trips the pooler's own server connections measured on the
 * endpoint ({@link EndpointState#roundTripNanos()}), or, while either candidate has none yet, the health probes'
 * average. Replicas within a tolerance of the fastest eligible one count as equally fast (the tolerance is the
 * fastest's own latency, at least 1 ms): timing noise on a busy host does not skew an even split. Beyond it, what
 * a replica is slower than that counts in full, so one 40 ms behind a 1 ms replica gets about 1 read in 40; never
 * none, so its latency keeps being measured and it wins its share back when it recovers.
 *
 * <p>With no eligible replica the primary is returned, or null when the policy says reads must fail instead.
 * Thread-safe; the only state is the random generator.
 */
public final class ReplicaChooser {

    /**
     * @param maxLagBytes replicas further behind the primary are skipped; 0 = no limit
     * @param maxLagTime replicas with a larger replay delay are skipped; zero = no limit
     * @param fallbackToPrimary send reads to the primary when no replica is eligible; false = return null
     */
    public record Policy(long maxLagBytes, Duration maxLagTime, boolean fallbackToPrimary) {
        public static final Policy DEFAULT = new Policy(16L * 1024 * 1024, Duration.ofSeconds(10), true);

        public Policy {
            if (maxLagBytes < 0) {
                throw new IllegalArgumentException(
                        "maxLagBytes " + maxLagBytes + " is negative; accepted are 0 (no limit) and up");
            }
            Objects.requireNonNull(maxLagTime, "maxLagTime");
            if (maxLagTime.isNegative()) {
                throw new IllegalArgumentException(
                        "maxLagTime " + maxLagTime + " is negative; accepted are 0 (no limit) and up");
            }
        }
    }

    private final Policy policy;
    private final long maxLagMillis;
    private final RandomGenerator random;

    /** Uses the calling thread's {@link ThreadLocalRandom}. */
    public ReplicaChooser(Policy policy) {
        this(policy, null);
    }

    /** @param random used for sampling (tests pass a seeded one); null = the calling thread's ThreadLocalRandom */
    public ReplicaChooser(Policy policy, RandomGenerator random) {
        this.policy = Objects.requireNonNull(policy, "policy");
        this.maxLagMillis = policy.maxLagTime().toMillis();
        this.random = random;
    }

    public Policy policy() {
        return policy;
    }

    /** A replica for a read, or the fallback. */
    public EndpointState choose(List<EndpointState> endpoints) {
        return choose(endpoints, 0);
    }

    /**
     * @param minReplayLsn for read-your-writes: only replicas that replayed at least this LSN (as last probed)
     *     qualify; 0 = any
     */
    public EndpointState choose(List<EndpointState> endpoints, long minReplayLsn) {
        int n = 0;
        double fastestRoundTrip = Double.MAX_VALUE;
        double fastestProbe = Double.MAX_VALUE;
        for (int i = 0, size = endpoints.size(); i < size; i++) {
            EndpointState s = endpoints.get(i);
            if (eligible(s, minReplayLsn)) {
                n++;
                double rt = s.roundTripNanos();
                if (rt > 0 && rt < fastestRoundTrip) {
                    fastestRoundTrip = rt;
                }
                double probe = s.ewmaLatencyNanos();
                if (probe > 0 && probe < fastestProbe) {
                    fastestProbe = probe;
                }
            }
        }
        if (n == 0) {
            return policy.fallbackToPrimary() ? primary(endpoints) : null;
        }
        RandomGenerator r = random != null ? random : ThreadLocalRandom.current();
        int a = r.nextInt(n);
        int b = n == 1 ? a : r.nextInt(n - 1);
        if (n > 1 && b >= a) {
            b++;
        }
        // Probes may have changed eligibility since the count; then take whatever of the two is still found.
        EndpointState first = null;
        EndpointState second = null;
        int k = 0;
        for (int i = 0, size = endpoints.size(); i < size && (first == null || second == null); i++) {
            EndpointState s = endpoints.get(i);
            if (!eligible(s, minReplayLsn)) {
                continue;
            }
            if (k == a) {
                first = s;
            }
            if (k == b) {
                second = s;
            }
            k++;
        }
        if (first == null || second == null) {
            EndpointState found = first != null ? first : second;
            return found != null ? found : policy.fallbackToPrimary() ? primary(endpoints) : null;
        }
        // The better of the two wins in proportion to how much better it is: equal replicas share evenly (with two
        // replicas a strict comparison would always pick the same one), a slow one still gets some.
        double l1;
        double l2;
        if (first.roundTripNanos() > 0 && second.roundTripNanos() > 0) {
            l1 = latency(first.roundTripNanos(), fastestRoundTrip);
            l2 = latency(second.roundTripNanos(), fastestRoundTrip);
        } else if (first.ewmaLatencyNanos() > 0 && second.ewmaLatencyNanos() > 0) {
            l1 = latency(first.ewmaLatencyNanos(), fastestProbe);
            l2 = latency(second.ewmaLatencyNanos(), fastestProbe);
        } else {
            l1 = 1;
            l2 = 1;
        }
        double s1 = score(first, l1);
        double s2 = score(second, l2);
        return r.nextDouble() * (s1 + s2) < s2 ? first : second;
    }

    /** Below this, latency differences count as noise whatever the fastest replica's latency. */
    static final double MIN_TOLERANCE_NANOS = 1_000_000;

    /**
     * The latency a replica's score uses: the fastest's when within the tolerance of it, else what exceeds the
     * tolerance (continuous at its edge, so a replica drifting past it does not lose reads all at once).
     */
    static double latency(double nanos, double fastest) {
        double tolerance = Math.max(MIN_TOLERANCE_NANOS, fastest);
        return Math.max(fastest, nanos - tolerance);
    }

    /** Whether a read may go to this endpoint now. */
    public boolean eligible(EndpointState s, long minReplayLsn) {
        EndpointState.Observation o = s.observation();
        if (o.health() != EndpointState.Health.UP
                || o.role() != Endpoint.Role.REPLICA
                || s.member().weight() == 0) {
            return false;
        }
        // Unknown lag (the primary is unreachable, nothing replayed yet) does not exclude: reads are what
        // replicas can still serve while the primary is away.
        if (policy.maxLagBytes() > 0 && o.lagBytes() > policy.maxLagBytes()) {
            return false;
        }
        if (maxLagMillis > 0 && o.lagMillis() > maxLagMillis) {
            return false;
        }
        return minReplayLsn <= 0 || o.lsn() >= minReplayLsn;
    }

    /** Lower is better: expected wait on this endpoint relative to its share of the traffic. */
    static double score(EndpointState s, double latency) {
        // Weights count squared because outstanding queries push back against them: a replica of weight 3 then
        // ends up with about three times the reads of one of weight 1.
        double weight = s.member().weight();
        return latency * (Math.max(0, s.outstanding()) + 1) / (weight * weight);
    }

    /**
     * The primary: the endpoint seen writable and up (after a failover that is the promoted one), else the
     * configured primary whatever its state, else null.
     */
    public static EndpointState primary(List<EndpointState> endpoints) {
        EndpointState configured = null;
        EndpointState seen = null;
        for (int i = 0, size = endpoints.size(); i < size; i++) {
            EndpointState s = endpoints.get(i);
            EndpointState.Observation o = s.observation();
            boolean configuredPrimary = s.member().role() == Endpoint.Role.PRIMARY;
            if (o.health() == EndpointState.Health.UP && o.role() == Endpoint.Role.PRIMARY) {
                if (configuredPrimary) {
                    return s;
                }
                if (seen == null) {
                    seen = s;
                }
            }
            if (configuredPrimary) {
                configured = s;
            }
        }
        return seen != null ? seen : configured;
    }
}
