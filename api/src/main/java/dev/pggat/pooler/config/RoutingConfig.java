package dev.pggat.pooler.config;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * How a database's traffic is spread over its primary and replicas.
 *
 * @param readWriteSplit send reads to replicas (when there are any); false sends everything to the primary
 * @param consistency eventual, or read-your-writes: after a client's write, its reads go only to replicas that
 *     have replayed it
 * @param maxReplicaLag a replica further behind than this (in time) gets no reads; 0 = no limit
 * @param maxReplicaLagBytes a replica further behind than this many bytes of WAL gets no reads; 0 = no limit
 * @param replicaFallback what a read does when no replica qualifies: go to the primary, or fail
 * @param probeInterval how often each endpoint's health, role and WAL position are checked
 * @param primaryWait how long a write waits for a writable primary during a failover; 0 = fail at once
 * @param primaryFunctions extra function names that make a read go to the primary (a trailing * matches a prefix)
 * @param retryReads classify every transaction-mode transaction, also where reads are not split (one endpoint,
 *     readWriteSplit false, a client that asked for the primary), so that a read whose server died before
 *     answering is sent again there too; costs the classifier's CPU on each transaction
 */
public record RoutingConfig(
        boolean readWriteSplit,
        Consistency consistency,
        Duration maxReplicaLag,
        long maxReplicaLagBytes,
        ReplicaFallback replicaFallback,
        Duration probeInterval,
        Duration primaryWait,
        List<String> primaryFunctions,
        boolean retryReads) {

    public static final RoutingConfig DEFAULT = new RoutingConfig(
            true,
            Consistency.EVENTUAL,
            Duration.ofSeconds(10),
            16L * 1024 * 1024,
            ReplicaFallback.PRIMARY,
            Duration.ofSeconds(1),
            Duration.ofSeconds(10),
            List.of(),
            false);

    public enum Consistency {
        EVENTUAL,
        READ_YOUR_WRITES;

        public String yamlName() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }
    }

    public enum ReplicaFallback {
        PRIMARY,
        FAIL;

        public String yamlName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public RoutingConfig {
        Objects.requireNonNull(consistency, "consistency");
        Objects.requireNonNull(maxReplicaLag, "maxReplicaLag");
        Objects.requireNonNull(replicaFallback, "replicaFallback");
        Objects.requireNonNull(probeInterval, "probeInterval");
        Objects.requireNonNull(primaryWait, "primaryWait");
        primaryFunctions = List.copyOf(primaryFunctions);
    }

    public RoutingConfig withConsistency(Consistency c) {
        return new RoutingConfig(
                readWriteSplit,
                c,
                maxReplicaLag,
                maxReplicaLagBytes,
                replicaFallback,
                probeInterval,
                primaryWait,
                primaryFunctions,
                retryReads);
    }

    public RoutingConfig withRetryReads(boolean on) {
        return new RoutingConfig(
                readWriteSplit,
                consistency,
                maxReplicaLag,
                maxReplicaLagBytes,
                replicaFallback,
                probeInterval,
                primaryWait,
                primaryFunctions,
                on);
    }
}
