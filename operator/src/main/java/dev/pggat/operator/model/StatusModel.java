package dev.pggat.operator.model;

import dev.pggat.crds.v1alpha1.PgPoolCondition;
import dev.pggat.crds.v1alpha1.PgPoolStatus;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;

/** The next status of a PgPool from the previous one and the outcome of one reconciliation. */
public final class StatusModel {
    private StatusModel() {}

    /** What a reconciliation achieved: ready, still progressing, or stuck until the spec changes. */
    public record Outcome(State state, String reason, String message) {
        public enum State {
            READY,
            PROGRESSING,
            STALLED
        }

        public static Outcome ready(String message) {
            return new Outcome(State.READY, "Ready", message);
        }

        public static Outcome progressing(String reason, String message) {
            return new Outcome(State.PROGRESSING, reason, message);
        }

        public static Outcome stalled(String reason, String message) {
            return new Outcome(State.STALLED, reason, message);
        }

        public static Outcome of(Problem p) {
            return p.kind() == Problem.Kind.INVALID
                    ? stalled(p.reason(), p.getMessage())
                    : progressing(p.reason(), p.getMessage());
        }
    }

    /**
     * Whether the Deployment runs the current template everywhere: the Deployment controller has seen the latest
     * generation, and every desired replica is updated and available.
     */
    public static Outcome rollout(Deployment current, int desiredReplicas) {
        if (current == null) {
            return Outcome.progressing("Deploying", "the pooler Deployment is being created");
        }
        var status = current.getStatus();
        Long generation = current.getMetadata().getGeneration();
        if (status == null
                || (generation != null
                        && (status.getObservedGeneration() == null || status.getObservedGeneration() < generation))) {
            return Outcome.progressing("RollingOut", "waiting for the Deployment controller to see the new template");
        }
        int updated = zeroIfNull(status.getUpdatedReplicas());
        int available = zeroIfNull(status.getAvailableReplicas());
        int total = zeroIfNull(status.getReplicas());
        if (updated < desiredReplicas || available < desiredReplicas || total > desiredReplicas) {
            return Outcome.progressing(
                    "RollingOut",
                    updated + " of " + desiredReplicas + " pooler pods run the current configuration, " + available
                            + " available");
        }
        return Outcome.ready(desiredReplicas + " pooler pods run the current configuration");
    }

    /** Application pods with an injected sidecar that were asked, and how many route by the expected set. */
    public record Sidecars(int counted, int atVersion) {}

    public static int podsAtVersion(Deployment current) {
        return current == null || current.getStatus() == null
                ? 0
                : zeroIfNull(current.getStatus().getUpdatedReplicas());
    }

    private static int zeroIfNull(Integer i) {
        return i == null ? 0 : i;
    }

    /**
     * Builds the next status. Fields that the outcome says nothing about (endpoints when discovery failed) keep their
     * previous values; a condition's lastTransitionTime only moves when its status does.
     */
    public static PgPoolStatus next(
            PgPoolStatus previous,
            long generation,
            Outcome outcome,
            Topology topology,
            Long endpointSetVersion,
            Integer podsAtVersion,
            Instant now) {
        return next(previous, generation, outcome, topology, endpointSetVersion, podsAtVersion, null, now);
    }

    /** @param pods the pooler pods podsAtVersion is out of, or null to keep the previous figure */
    public static PgPoolStatus next(
            PgPoolStatus previous,
            long generation,
            Outcome outcome,
            Topology topology,
            Long endpointSetVersion,
            Integer podsAtVersion,
            Integer pods,
            Instant now) {
        return next(previous, generation, outcome, topology, endpointSetVersion, podsAtVersion, pods, null, now);
    }

    /**
     * @param sidecars the injected sidecars counted and how many of them are at the version, or null to keep the
     *     previous figures
     */
    public static PgPoolStatus next(
            PgPoolStatus previous,
            long generation,
            Outcome outcome,
            Topology topology,
            Long endpointSetVersion,
            Integer podsAtVersion,
            Integer pods,
            Sidecars sidecars,
            Instant now) {
        PgPoolStatus prev = previous == null ? new PgPoolStatus() : previous;
        PgPoolStatus s = new PgPoolStatus();
        s.observedGeneration = generation;
        s.primary = topology != null
                ? (topology.primary() != null ? topology.primary().name() : null)
                : prev.primary;
        s.replicas = topology != null ? new ArrayList<>(topology.replicaNames()) : prev.replicas;
        s.endpointSetVersion = endpointSetVersion != null ? endpointSetVersion : prev.endpointSetVersion;
        s.podsAtVersion = podsAtVersion != null ? podsAtVersion : prev.podsAtVersion;
        s.pods = pods != null ? pods : prev.pods;
        s.sidecars = sidecars != null ? Integer.valueOf(sidecars.counted()) : prev.sidecars;
        s.sidecarsAtVersion = sidecars != null ? Integer.valueOf(sidecars.atVersion()) : prev.sidecarsAtVersion;
        String time = now.truncatedTo(ChronoUnit.SECONDS).toString();
        boolean ready = outcome.state() == Outcome.State.READY;
        boolean progressing = outcome.state() == Outcome.State.PROGRESSING;
        boolean stalled = outcome.state() == Outcome.State.STALLED;
        List<PgPoolCondition> conditions = new ArrayList<>();
        conditions.add(condition(
                prev,
                PgPoolStatus.READY,
                ready,
                generation,
                ready ? "Ready" : outcome.reason(),
                outcome.message(),
                time));
        conditions.add(condition(
                prev,
                PgPoolStatus.RECONCILING,
                progressing,
                generation,
                progressing ? outcome.reason() : "Done",
                progressing ? outcome.message() : "",
                time));
        conditions.add(condition(
                prev,
                PgPoolStatus.STALLED,
                stalled,
                generation,
                stalled ? outcome.reason() : "NotStalled",
                stalled ? outcome.message() : "",
                time));
        s.conditions = conditions;
        return s;
    }

    private static PgPoolCondition condition(
            PgPoolStatus prev, String type, boolean value, long generation, String reason, String message, String now) {
        String status = value ? "True" : "False";
        PgPoolCondition old = prev.condition(type);
        String since = old != null && status.equals(old.status) && old.lastTransitionTime != null
                ? old.lastTransitionTime
                : now;
        return new PgPoolCondition(type, status, generation, since, reason, message);
    }
}
