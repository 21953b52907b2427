package dev.pggat.operator.model;

import dev.pggat.pooler.config.Endpoint;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The primary and replicas of a cluster at one moment, as the ConfigMap, the endpoint stream and the status all
 * report it. Replicas are kept in name order so output is stable.
 *
 * @param primary null while no server may take writes: a switchover or failover is under way
 */
public record Topology(Endpoint primary, List<Endpoint> replicas) {
    public Topology {
        replicas = replicas.stream()
                .sorted(java.util.Comparator.comparing(Topology::name))
                .toList();
    }

    /** For a cluster the pooler discovers itself (Patroni, Cloud SQL, DigitalOcean): the operator knows no servers. */
    public static Topology discoveredByPooler() {
        return new Topology(null, List.of());
    }

    /** The endpoint's name; every endpoint the operator builds has one. */
    public static String name(Endpoint e) {
        return e.name() != null ? e.name() : e.host() + ":" + e.port();
    }

    public boolean hasPrimary() {
        return primary != null;
    }

    /** The primary (when there is one) first, then the replicas. */
    public List<Endpoint> endpoints() {
        List<Endpoint> all = new ArrayList<>();
        if (primary != null) {
            all.add(primary);
        }
        all.addAll(replicas);
        return all;
    }

    public String primaryName() {
        return primary == null ? null : name(primary);
    }

    public List<String> replicaNames() {
        return replicas.stream().map(Topology::name).toList();
    }

    /** The same servers with {@code standIn} as the primary, for a file format that must name one. */
    public Topology withPrimary(Endpoint standIn) {
        return new Topology(standIn, replicas);
    }

    /** A digest of everything the pooler routes by, to tell whether the endpoint set changed. */
    public String fingerprint() {
        StringBuilder b = new StringBuilder();
        for (Endpoint e : endpoints()) {
            b.append(name(e))
                    .append('|')
                    .append(e.host())
                    .append('|')
                    .append(e.port())
                    .append('|')
                    .append(e.role())
                    .append('|')
                    .append(e.zone())
                    .append('|')
                    .append(e.weight())
                    .append('\n');
        }
        return Hashing.sha256(b.toString().getBytes(StandardCharsets.UTF_8));
    }
}
