package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.routing.EndpointState.Health;
import dev.pggat.pooler.routing.EndpointState.Observation;
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
}
