package dev.pggat.operator.model;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** The primary and replicas of a cluster at one moment. Replicas are kept in name order so output is stable. */
public record Topology(Endpoint primary, List<Endpoint> replicas) {
    public Topology {
        replicas = replicas.stream()
                .sorted(java.util.Comparator.comparing(Endpoint::name))
                .toList();
    }

    /** For a cluster the pooler discovers itself (Patroni, Cloud SQL, DigitalOcean): the operator knows no servers. */
    public static Topology discoveredByPooler() {
        return new Topology(null, List.of());
    }

    public List<Endpoint> endpoints() {
        List<Endpoint> all = new ArrayList<>();
        if (primary != null) {
            all.add(primary);
        }
        all.addAll(replicas);
        return all;
    }

    public List<String> replicaNames() {
        return replicas.stream().map(Endpoint::name).toList();
    }

    /** A digest of everything the pooler routes by, to tell whether the endpoint set changed. */
    public String fingerprint() {
        StringBuilder b = new StringBuilder();
        for (Endpoint e : endpoints()) {
            b.append(e.name())
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
