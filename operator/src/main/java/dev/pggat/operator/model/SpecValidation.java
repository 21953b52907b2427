package dev.pggat.operator.model;

import dev.pggat.crds.v1alpha1.Durations;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.PoolSpec;
import java.util.regex.Pattern;

/**
 * The checks the CRD schema makes, repeated here: an API server without CEL support (or a resource written before
 * the CRD was updated) can still hand us a spec that breaks them, and the pooler would refuse its config.
 */
public final class SpecValidation {
    private static final Pattern DURATION = Pattern.compile(Durations.PATTERN);

    private SpecValidation() {}

    public static void check(PgPoolSpec spec) {
        if (spec == null || spec.cluster == null) {
            throw Problem.invalid("InvalidSpec", "spec.cluster is required: set one of cnpg, zalando or static");
        }
        if (spec.cluster.kindsSet() != 1) {
            throw Problem.invalid(
                    "InvalidSpec",
                    "spec.cluster has " + spec.cluster.kindsSet() + " of cnpg, zalando, static set; exactly one is"
                            + " accepted");
        }
        if (spec.cluster.cnpg != null && blank(spec.cluster.cnpg.name)) {
            throw Problem.invalid("InvalidSpec", "spec.cluster.cnpg.name is required");
        }
        if (spec.cluster.zalando != null && blank(spec.cluster.zalando.name)) {
            throw Problem.invalid("InvalidSpec", "spec.cluster.zalando.name is required");
        }
        if (spec.cluster.staticCluster != null
                && (spec.cluster.staticCluster.endpoints == null || spec.cluster.staticCluster.endpoints.isEmpty())) {
            throw Problem.invalid("InvalidSpec", "spec.cluster.static.endpoints needs at least one endpoint");
        }
        if (spec.cluster.staticCluster != null && (spec.databases == null || spec.databases.isEmpty())) {
            throw Problem.invalid(
                    "InvalidSpec",
                    "spec.databases is required with spec.cluster.static: there are no credential"
                            + " Secrets to take them from");
        }
        PoolSpec pool = spec.pool;
        if (pool != null) {
            if (pool.maxServerConnections != null && pool.maxServerConnections < 1) {
                throw Problem.invalid(
                        "InvalidSpec",
                        "spec.pool.maxServerConnections is " + pool.maxServerConnections + "; it must be at least 1");
            }
            int max = pool.maxServerConnections == null ? 20 : pool.maxServerConnections;
            if (pool.minServerConnections != null
                    && (pool.minServerConnections < 0 || pool.minServerConnections > max)) {
                throw Problem.invalid(
                        "InvalidSpec",
                        "spec.pool.minServerConnections is " + pool.minServerConnections + "; it must be between 0"
                                + " and maxServerConnections (" + max + ")");
            }
            if (pool.timeouts != null) {
                duration("spec.pool.timeouts.queryWait", pool.timeouts.queryWait);
                duration("spec.pool.timeouts.serverIdle", pool.timeouts.serverIdle);
                duration("spec.pool.timeouts.serverLifetime", pool.timeouts.serverLifetime);
            }
        }
        if (spec.routing != null) {
            duration("spec.routing.maxReplicaLag", spec.routing.maxReplicaLag);
        }
        if (spec.deployment != null && spec.deployment.replicas != null && spec.deployment.replicas < 0) {
            throw Problem.invalid(
                    "InvalidSpec", "spec.deployment.replicas is " + spec.deployment.replicas + "; it must be >= 0");
        }
    }

    private static void duration(String key, String value) {
        if (value != null && !DURATION.matcher(value).matches()) {
            throw Problem.invalid(
                    "InvalidSpec",
                    key + " is \"" + value + "\"; accepted: 0 or a whole number with unit ms, s, m or h (e.g. 30s)");
        }
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }
}
