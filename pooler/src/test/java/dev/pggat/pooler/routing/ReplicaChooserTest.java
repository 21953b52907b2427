package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.routing.EndpointState.Health;
import dev.pggat.pooler.routing.EndpointState.Observation;
import dev.pggat.pooler.util.LatencyHistogram;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ReplicaChooserTest {
    private static final long MS = 1_000_000L;
    private static final ReplicaChooser.Policy POLICY =
            new ReplicaChooser.Policy(1024 * 1024, Duration.ofSeconds(5), true);

    private static EndpointState node(String name, Endpoint.Role configured, int weight) {
        return new EndpointState(new EndpointSet.Member(name, name + ".db", 5432, configured, null, weight));
    }

    private static EndpointState replica(String name, long latencyNanos) {
        return replica(name, latencyNanos, 100);
    }

    private static EndpointState replica(String name, long latencyNanos, int weight) {
        EndpointState s = node(name, Endpoint.Role.REPLICA, weight);
        observe(s, Health.UP, Endpoint.Role.REPLICA, 1000, 0, 0);
        s.recordLatency(latencyNanos);
        return s;
    }

    private static EndpointState primary(String name) {
        EndpointState s = node(name, Endpoint.Role.PRIMARY, 100);
        observe(s, Health.UP, Endpoint.Role.PRIMARY, 1000, 0, 0);
        s.recordLatency(MS);
        return s;
    }

    private static void observe(
            EndpointState s, Health health, Endpoint.Role role, long lsn, long lagBytes, long lagMillis) {
        s.observation(new Observation(health, role, lsn, lagBytes, lagMillis, System.nanoTime(), null));
    }

    private static Map<String, Integer> pickCounts(ReplicaChooser chooser, List<EndpointState> all, int rounds) {
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < rounds; i++) {
            EndpointState s = chooser.choose(all);
            counts.merge(s == null ? "null" : s.name(), 1, Integer::sum);
        }
        return counts;
    }

    /**
     * Clients that each run one query at a time: a query on an endpoint takes that endpoint's latency, and the
     * client chooses again when it finishes. Outstanding counts rise and fall as in a real pooler.
     */
    private static Map<String, Integer> simulate(
            ReplicaChooser chooser, List<EndpointState> all, Map<String, Long> latency, int clients, int queries) {
        record Done(long at, EndpointState on) {}
        PriorityQueue<Done> running = new PriorityQueue<>((x, y) -> Long.compare(x.at, y.at));
        Map<String, Integer> counts = new HashMap<>();
        long now = 0;
        for (int i = 0; i < queries; i++) {
            if (running.size() == clients) {
                Done d = running.poll();
                now = d.at;
                d.on.endQuery();
            }
            EndpointState s = chooser.choose(all);
            s.beginQuery();
            counts.merge(s.name(), 1, Integer::sum);
            running.add(new Done(now + latency.get(s.name()), s));
        }
        return counts;
    }

    @Test
    void equalReplicasShareReadsEvenly() {
        List<EndpointState> all = List.of(primary("p"), replica("r1", MS), replica("r2", MS), replica("r3", MS));
        Map<String, Integer> counts = pickCounts(new ReplicaChooser(POLICY, new Random(1)), all, 30_000);
        assertThat(counts).doesNotContainKey("p");
        for (String r : List.of("r1", "r2", "r3")) {
            assertThat(counts.get(r)).as(r + " in " + counts).isBetween(9_000, 11_000);
        }
    }

    @Test
    void equalReplicasUnderLoadShareReadsEvenly() {
        List<EndpointState> all = List.of(replica("r1", MS), replica("r2", MS), replica("r3", MS));
        Map<String, Long> latency = Map.of("r1", MS, "r2", MS, "r3", MS);
        Map<String, Integer> counts = simulate(new ReplicaChooser(POLICY, new Random(2)), all, latency, 12, 30_000);
        for (String r : List.of("r1", "r2", "r3")) {
            assertThat(counts.get(r)).as(r + " in " + counts).isBetween(9_000, 11_000);
        }
        assertThat(all).allSatisfy(s -> assertThat(s.outstanding()).isBetween(0, 12));
    }

    @Test
    void aSlowReplicaGetsLessButNotNothing() {
        EndpointState fast1 = replica("fast1", MS);
        EndpointState fast2 = replica("fast2", MS);
        EndpointState slow = replica("slow", 4 * MS);
        List<EndpointState> all = List.of(fast1, slow, fast2);
        Map<String, Long> latency = Map.of("fast1", MS, "fast2", MS, "slow", 4 * MS);
        Map<String, Integer> counts = simulate(new ReplicaChooser(POLICY, new Random(3)), all, latency, 16, 30_000);
        assertThat(counts.get("slow")).as(counts.toString()).isPositive().isLessThan(counts.get("fast1") / 2);
        assertThat(counts.get("fast1")).as(counts.toString()).isCloseTo(counts.get("fast2"), within(0.1, counts));
    }

    private static org.assertj.core.data.Offset<Integer> within(double fraction, Map<String, Integer> counts) {
        return org.assertj.core.data.Offset.offset((int) (counts.get("fast1") * fraction));
    }

    @Test
    void aHeavierReplicaGetsMoreUnderLoad() {
        List<EndpointState> all = List.of(replica("heavy", MS, 300), replica("light", MS, 100));
        Map<String, Long> latency = Map.of("heavy", MS, "light", MS);
        Map<String, Integer> counts = simulate(new ReplicaChooser(POLICY, new Random(4)), all, latency, 16, 20_000);
        assertThat(counts.get("heavy")).as(counts.toString()).isGreaterThan(2 * counts.get("light"));
        assertThat(counts.get("light")).as(counts.toString()).isPositive();
    }

    @Test
    void aLaggingReplicaGetsNone() {
        EndpointState behindInBytes = replica("bytes", MS / 10);
        observe(behindInBytes, Health.UP, Endpoint.Role.REPLICA, 1000, 2 * 1024 * 1024, 0);
        EndpointState behindInTime = replica("time", MS / 10);
        observe(behindInTime, Health.UP, Endpoint.Role.REPLICA, 1000, 0, 6_000);
        EndpointState ok = replica("ok", 10 * MS);
        List<EndpointState> all = List.of(primary("p"), behindInBytes, behindInTime, ok);
        Map<String, Integer> counts = pickCounts(new ReplicaChooser(POLICY, new Random(5)), all, 5_000);
        assertThat(counts).containsOnlyKeys("ok");

        ReplicaChooser noLimits = new ReplicaChooser(new ReplicaChooser.Policy(0, Duration.ZERO, true), new Random(5));
        assertThat(pickCounts(noLimits, all, 5_000)).containsKeys("bytes", "time");
    }

    @Test
    void unknownLagDoesNotExcludeAReplica() {
        EndpointState r = replica("r", MS);
        observe(r, Health.UP, Endpoint.Role.REPLICA, 1000, -1, -1);
        assertThat(new ReplicaChooser(POLICY, new Random(6)).choose(List.of(primary("p"), r)))
                .isSameAs(r);
    }

    @Test
    void downUnknownWritableAndZeroWeightReplicasAreSkipped() {
        EndpointState down = replica("down", MS);
        observe(down, Health.DOWN, Endpoint.Role.REPLICA, 1000, 0, 0);
        EndpointState unknown = node("unknown", Endpoint.Role.REPLICA, 100);
        EndpointState promoted = replica("promoted", MS);
        observe(promoted, Health.UP, Endpoint.Role.PRIMARY, 1000, 0, 0);
        EndpointState drained = replica("drained", MS, 0);
        EndpointState ok = replica("ok", MS);
        EndpointState p = primary("p");
        List<EndpointState> all = List.of(p, down, unknown, promoted, drained, ok);
        ReplicaChooser chooser = new ReplicaChooser(POLICY, new Random(7));
        assertThat(pickCounts(chooser, all, 2_000)).containsOnlyKeys("ok");
        assertThat(chooser.eligible(p, 0)).isFalse();
    }

    @Test
    void readYourWritesSkipsReplicasThatHaveNotReplayedTheLsn() {
        EndpointState behind = replica("behind", MS / 10);
        observe(behind, Health.UP, Endpoint.Role.REPLICA, 5_000, 0, 0);
        EndpointState caughtUp = replica("caughtUp", 10 * MS);
        observe(caughtUp, Health.UP, Endpoint.Role.REPLICA, 9_000, 0, 0);
        EndpointState p = primary("p");
        List<EndpointState> all = List.of(p, behind, caughtUp);
        ReplicaChooser chooser = new ReplicaChooser(POLICY, new Random(8));
        for (int i = 0; i < 500; i++) {
            assertThat(chooser.choose(all, 8_000)).isSameAs(caughtUp);
        }
        assertThat(chooser.choose(all, 9_001)).isSameAs(p);
        // Without the LSN condition the faster replica wins every comparison again.
        assertThat(chooser.choose(all)).isSameAs(behind);
    }

    @Test
    void withoutEligibleReplicasReadsFallBackToThePrimaryOrNull() {
        EndpointState p = primary("p");
        EndpointState down = replica("r", MS);
        observe(down, Health.DOWN, Endpoint.Role.REPLICA, -1, -1, -1);
        assertThat(new ReplicaChooser(POLICY, new Random(9)).choose(List.of(p, down)))
                .isSameAs(p);
        ReplicaChooser strict = new ReplicaChooser(new ReplicaChooser.Policy(0, Duration.ZERO, false), new Random(9));
        assertThat(strict.choose(List.of(p, down))).isNull();
        assertThat(new ReplicaChooser(POLICY).choose(List.of(down))).isNull();
    }

    @Test
    void thePrimaryIsTheOneSeenWritableAfterAFailover() {
        EndpointState oldPrimary = node("old", Endpoint.Role.PRIMARY, 100);
        observe(oldPrimary, Health.DOWN, null, -1, -1, -1);
        EndpointState promoted = replica("promoted", MS);
        observe(promoted, Health.UP, Endpoint.Role.PRIMARY, 1000, 0, 0);
        EndpointState r = replica("r", MS);
        List<EndpointState> all = new ArrayList<>(List.of(oldPrimary, r, promoted));
        assertThat(ReplicaChooser.primary(all)).isSameAs(promoted);
        observe(promoted, Health.DOWN, null, -1, -1, -1);
        assertThat(ReplicaChooser.primary(all)).isSameAs(oldPrimary);
        all.remove(oldPrimary);
        assertThat(ReplicaChooser.primary(all)).isNull();
    }

    @Test
    void rejectsNegativeLimits() {
        assertThatThrownBy(() -> new ReplicaChooser.Policy(-1, Duration.ZERO, true))
                .hasMessageContaining("maxLagBytes -1 is negative");
        assertThatThrownBy(() -> new ReplicaChooser.Policy(0, Duration.ofSeconds(-1), true))
                .hasMessageContaining("maxLagTime PT-1S is negative");
    }

    @Test
    void latencyAverageFollowsNewSamples() {
        EndpointState s = node("x", Endpoint.Role.REPLICA, 100);
        assertThat(s.ewmaLatencyNanos()).isZero();
        s.recordLatency(10 * MS);
        assertThat(s.ewmaLatencyNanos()).isEqualTo(10.0 * MS);
        s.recordLatency(20 * MS);
        assertThat(s.ewmaLatencyNanos()).isEqualTo(10.0 * MS + EndpointState.EWMA_WEIGHT * 10 * MS);
        for (int i = 0; i < 100; i++) {
            s.recordLatency(2 * MS);
        }
        assertThat(s.ewmaLatencyNanos()).isCloseTo(2.0 * MS, org.assertj.core.data.Offset.offset(1000.0));
    }

    /** Gives {@code s} a round-trip average of {@code nanos}, as the fold task would after one measured round trip. */
    private static void roundTrips(EndpointState s, long nanos) {
        assertThat(s.roundTripNanos()).isZero();
        LatencyHistogram h = new LatencyHistogram();
        s.foldRoundTrips(h, 1);
        h.observe(nanos);
        // Long enough after the first fold for the samples to replace where the average started.
        s.foldRoundTrips(h, 100 * EndpointState.ROUND_TRIP_HALF_LIFE_NANOS);
        assertThat(s.roundTripNanos()).isCloseTo(nanos, org.assertj.core.data.Offset.offset(1.0));
    }

    private static double share(Map<String, Integer> counts, String name, int rounds) {
        return counts.getOrDefault(name, 0) / (double) rounds;
    }

    @Test
    void roundTripsWithinTheToleranceShareEvenlyWhateverTheProbesSay() {
        EndpointState r1 = replica("r1", MS);
        EndpointState r2 = replica("r2", 10 * MS);
        roundTrips(r1, 300_000);
        roundTrips(r2, 900_000);
        Map<String, Integer> counts = pickCounts(new ReplicaChooser(POLICY, new Random(5)), List.of(r1, r2), 20_000);
        assertThat(share(counts, "r1", 20_000)).as(counts.toString()).isBetween(0.47, 0.53);
    }

    @Test
    void aReplicaWithSlowRoundTripsGetsFewReadsButSome() {
        EndpointState fast = replica("fast", 5 * MS);
        EndpointState slow = replica("slow", MS);
        roundTrips(fast, 500_000);
        roundTrips(slow, 40 * MS);
        Map<String, Integer> counts =
                pickCounts(new ReplicaChooser(POLICY, new Random(6)), List.of(fast, slow), 20_000);
        // 40 ms less the 1 ms tolerance against 0.5 ms: about 1 in 79.
        assertThat(share(counts, "slow", 20_000)).as(counts.toString()).isBetween(0.005, 0.025);
    }

    @Test
    void theToleranceGrowsWithTheFastestLatency() {
        // 10 ms and 19 ms: within the fastest's own latency of it, an even split.
        EndpointState a = replica("a", MS);
        EndpointState b = replica("b", MS);
        roundTrips(a, 10 * MS);
        roundTrips(b, 19 * MS);
        Map<String, Integer> counts = pickCounts(new ReplicaChooser(POLICY, new Random(7)), List.of(a, b), 20_000);
        assertThat(share(counts, "b", 20_000)).as(counts.toString()).isBetween(0.47, 0.53);
        assertThat(ReplicaChooser.latency(40 * MS, 10 * MS)).isEqualTo(30.0 * MS);
        assertThat(ReplicaChooser.latency(0.2 * MS, 0.2 * MS)).isEqualTo(0.2 * MS);
        assertThat(ReplicaChooser.latency(1.1 * MS, 0.2 * MS)).isEqualTo(0.2 * MS);
        assertThat(ReplicaChooser.latency(3.2 * MS, 0.2 * MS))
                .isCloseTo(2.2 * MS, org.assertj.core.data.Offset.offset(1.0));
    }

    @Test
    void untilBothCandidatesHaveRoundTripsTheProbesDecide() {
        EndpointState measured = replica("measured", 20 * MS);
        EndpointState fresh = replica("fresh", MS);
        roundTrips(measured, 500_000);
        Map<String, Integer> counts =
                pickCounts(new ReplicaChooser(POLICY, new Random(8)), List.of(measured, fresh), 20_000);
        // Probes 20 ms against 1 ms: 19 ms over the tolerance, so "measured" gets about 1 in 20.
        assertThat(share(counts, "measured", 20_000)).as(counts.toString()).isBetween(0.02, 0.08);
    }

    @Test
    void roundTripAverageDecaysByTimeWithItsHalfLife() {
        EndpointState s = node("x", Endpoint.Role.REPLICA, 100);
        LatencyHistogram h = new LatencyHistogram();
        long t = 1_000;
        s.foldRoundTrips(h, t);
        assertThat(s.roundTripNanos())
                .as("the first fold only notes where the counts are")
                .isZero();
        for (int i = 0; i < 10; i++) {
            h.observe(10 * MS);
        }
        s.foldRoundTrips(h, t += 100 * MS);
        assertThat(s.roundTripNanos())
                .as("without a probe average to start from, the first samples are the average")
                .isEqualTo(10.0 * MS);
        // A fold without new round trips changes nothing, and the time it covered still counts for the next one.
        s.foldRoundTrips(h, t += EndpointState.ROUND_TRIP_HALF_LIFE_NANOS / 2);
        assertThat(s.roundTripNanos()).isEqualTo(10.0 * MS);
        h.observe(MS);
        h.observe(3 * MS);
        s.foldRoundTrips(h, t += EndpointState.ROUND_TRIP_HALF_LIFE_NANOS / 2);
        // One half-life since the last fold with samples: halfway from 10 ms to their mean of 2 ms.
        assertThat(s.roundTripNanos()).isCloseTo(6.0 * MS, org.assertj.core.data.Offset.offset(1.0));
        // Many samples in a short time move it little: the weight follows time, not the count.
        for (int i = 0; i < 1000; i++) {
            h.observe(2 * MS);
        }
        s.foldRoundTrips(h, t += EndpointState.ROUND_TRIP_HALF_LIFE_NANOS / 20);
        assertThat(s.roundTripNanos()).isBetween(5.5 * MS, 6.0 * MS);
    }

    @Test
    void roundTripAverageStartsFromTheProbesAverage() {
        EndpointState s = replica("x", 4 * MS);
        LatencyHistogram h = new LatencyHistogram();
        s.foldRoundTrips(h, 0);
        h.observe(40 * MS);
        s.foldRoundTrips(h, EndpointState.ROUND_TRIP_HALF_LIFE_NANOS);
        // Cold first queries of 40 ms move it from the probes' 4 ms half way in one half-life, not all the way.
        assertThat(s.roundTripNanos()).isCloseTo(22.0 * MS, org.assertj.core.data.Offset.offset(1.0));
    }
}
