package dev.pggat.operator.model;

import dev.pggat.crds.v1alpha1.Durations;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.PoolSpec;
import dev.pggat.crds.v1alpha1.StaticEndpoint;
import dev.pggat.crds.v1alpha1.TlsMode;
import dev.pggat.crds.v1alpha1.TlsSpec;
import java.math.BigInteger;
import java.util.regex.Pattern;

/**
 * The checks the CRD schema makes, repeated here: an API server without CEL support (or a resource written before
 * the CRD was updated) can still hand us a spec that breaks them, and the pooler would refuse its config.
 */
public final class SpecValidation {
    private static final Pattern DURATION = Pattern.compile(Durations.PATTERN);
    /** The pooler's longest duration. */
    private static final BigInteger MAX_DURATION_MS = BigInteger.valueOf(365L * 24 * 3600 * 1000);
    /** The pooler's largest endpoint weight. */
    private static final int MAX_WEIGHT = 10_000;

    private SpecValidation() {}

    public static void check(PgPoolSpec spec) {
        if (spec == null || spec.cluster == null) {
            throw Problem.invalid("InvalidSpec", "spec.cluster is required: set one of cnpg, zalando or static");
        }
        if (spec.cluster.kindsSet() != 1) {
            throw Problem.invalid(
                    "InvalidSpec",
                    "spec.cluster has " + spec.cluster.kindsSet() + " of cnpg, zalando, static, patroni, cloudSql,"
                            + " digitalOcean set; exactly one is accepted");
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
        if (spec.cluster.discoveredByPooler() && (spec.databases == null || spec.databases.isEmpty())) {
            throw Problem.invalid(
                    "InvalidSpec",
                    "spec.databases is required with spec.cluster.patroni, cloudSql or digitalOcean: the pooler finds"
                            + " the servers, the spec names the databases and their users");
        }
        if (spec.cluster.patroni != null
                && (spec.cluster.patroni.members == null || spec.cluster.patroni.members.isEmpty())) {
            throw Problem.invalid("InvalidSpec", "spec.cluster.patroni.members needs at least one REST API URL");
        }
        if (spec.cluster.cloudSql != null && blank(spec.cluster.cloudSql.project)) {
            throw Problem.invalid("InvalidSpec", "spec.cluster.cloudSql.project is required");
        }
        if (spec.cluster.digitalOcean != null
                && (spec.cluster.digitalOcean.token == null || blank(spec.cluster.digitalOcean.token.name))) {
            throw Problem.invalid("InvalidSpec", "spec.cluster.digitalOcean.token.name is required");
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
                duration("spec.pool.timeouts.clientIdle", pool.timeouts.clientIdle);
                duration("spec.pool.timeouts.idleInTransaction", pool.timeouts.idleInTransaction);
                duration("spec.pool.timeouts.query", pool.timeouts.query);
            }
            duration("spec.pool.reservePoolTimeout", pool.reservePoolTimeout);
            atLeast("spec.pool.maxDatabaseConnections", pool.maxDatabaseConnections, 0);
            atLeast("spec.pool.reservePoolSize", pool.reservePoolSize, 0);
            atLeast("spec.pool.preparedStatementCacheSize", pool.preparedStatementCacheSize, 1);
        }
        if (spec.cluster.staticCluster != null) {
            for (int i = 0; i < spec.cluster.staticCluster.endpoints.size(); i++) {
                StaticEndpoint e = spec.cluster.staticCluster.endpoints.get(i);
                if (e != null && e.weight != null && (e.weight < 0 || e.weight > MAX_WEIGHT)) {
                    throw Problem.invalid(
                            "InvalidSpec",
                            "spec.cluster.static.endpoints[" + i + "].weight is " + e.weight + "; accepted: 0 to "
                                    + MAX_WEIGHT);
                }
            }
        }
        if (spec.routing != null) {
            duration("spec.routing.maxReplicaLag", spec.routing.maxReplicaLag);
            if (spec.routing.maxReplicaLagBytes != null && spec.routing.maxReplicaLagBytes < 0) {
                throw Problem.invalid(
                        "InvalidSpec",
                        "spec.routing.maxReplicaLagBytes is " + spec.routing.maxReplicaLagBytes + "; accepted: 0 (no"
                                + " limit) or a positive number of bytes");
            }
        }
        if (spec.tls != null) {
            tls(spec.tls);
        }
        if (spec.deployment != null && spec.deployment.replicas != null && spec.deployment.replicas < 0) {
            throw Problem.invalid(
                    "InvalidSpec", "spec.deployment.replicas is " + spec.deployment.replicas + "; it must be >= 0");
        }
    }

    /**
     * Refuses every combination in which the pooler would serve no certificate, or another one than asked for, so
     * that no TLS field is silently without effect.
     */
    private static void tls(TlsSpec t) {
        TlsMode mode = t.mode == null ? TlsMode.PREFER : t.mode;
        String modeName = mode.name().toLowerCase(java.util.Locale.ROOT);
        boolean selfSigned = Boolean.TRUE.equals(t.selfSigned);
        if (t.secretRef != null && blank(t.secretRef.name)) {
            throw Problem.invalid(
                    "InvalidSpec", "spec.tls.secretRef.name is required: the name of a kubernetes.io/tls Secret");
        }
        boolean secret = t.secretRef != null;
        if (secret && selfSigned) {
            throw Problem.invalid(
                    "InvalidSpec",
                    "spec.tls.secretRef and spec.tls.selfSigned: true are both set; accepted: one of them (a Secret"
                            + " with your certificate, or a certificate the pooler makes itself)");
        }
        if (mode == TlsMode.DISABLE && (secret || selfSigned)) {
            throw Problem.invalid(
                    "InvalidSpec",
                    "spec.tls.mode is disable, which serves no certificate, but spec.tls."
                            + (secret ? "secretRef" : "selfSigned") + " is set; accepted: mode allow, prefer or"
                            + " require, or remove " + (secret ? "secretRef" : "selfSigned"));
        }
        if (mode == TlsMode.ALLOW && !secret) {
            throw Problem.invalid(
                    "InvalidSpec",
                    "spec.tls.mode is allow, which serves TLS only with spec.tls.secretRef"
                            + (selfSigned ? " (not with selfSigned)" : "")
                            + "; accepted: set secretRef, or mode prefer or require with selfSigned: true");
        }
        if ((mode == TlsMode.PREFER || mode == TlsMode.REQUIRE) && !secret && !selfSigned) {
            throw Problem.invalid(
                    "InvalidSpec",
                    "spec.tls.mode is " + modeName + (t.mode == null ? " (the default)" : "") + " but no certificate"
                            + " is given; accepted: spec.tls.secretRef.name naming a kubernetes.io/tls Secret, or"
                            + " spec.tls.selfSigned: true");
        }
    }

    private static void atLeast(String key, Integer value, int min) {
        if (value != null && value < min) {
            throw Problem.invalid("InvalidSpec", key + " is " + value + "; it must be at least " + min);
        }
    }

    private static void duration(String key, String value) {
        if (value == null) {
            return;
        }
        var m = DURATION.matcher(value);
        if (!m.matches()) {
            throw Problem.invalid(
                    "InvalidSpec",
                    key + " is \"" + value + "\"; accepted: 0 or a whole number with unit ms, s, m or h (e.g. 30s)");
        }
        if (m.group(2) != null) {
            long unitMs =
                    switch (m.group(2)) {
                        case "ms" -> 1;
                        case "s" -> 1000;
                        case "m" -> 60_000;
                        default -> 3_600_000;
                    };
            String digits = value.substring(0, value.length() - m.group(2).length());
            if (new BigInteger(digits).multiply(BigInteger.valueOf(unitMs)).compareTo(MAX_DURATION_MS) > 0) {
                throw Problem.invalid("InvalidSpec", key + " is \"" + value + "\"; accepted: at most 365 days (8760h)");
            }
        }
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }
}
