package dev.pggat.pooler.discovery;

import dev.pggat.pooler.routing.EndpointSet;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * What one look at a source found: its clusters, each a primary (or none, during a switchover) and replicas.
 *
 * @param changing a switchover or failover is under way: the source is asked again soon, not after the interval
 */
public record Discovered(List<Cluster> clusters, boolean changing) {
    public Discovered {
        clusters = List.copyOf(clusters);
    }

    public Discovered(List<Cluster> clusters) {
        this(clusters, false);
    }

    /**
     * One cluster: the servers that share one primary's data.
     *
     * @param name the source's name for it (Cloud SQL: the primary instance; DigitalOcean: the cluster name)
     * @param members the usable servers now; may be empty
     * @param databases the database names on the cluster, or null when the source does not list them
     * @param users user name to password as the source gives them; a null password means the source knows the user
     *     but not its secret (credential sources or pass-through supply it); null when the source lists no users
     */
    public record Cluster(
            String name, List<EndpointSet.Member> members, Set<String> databases, Map<String, String> users) {
        public Cluster {
            Objects.requireNonNull(name, "name");
            members = List.copyOf(members);
            databases = databases == null ? null : Set.copyOf(databases);
            users = users == null ? null : Collections.unmodifiableMap(new LinkedHashMap<>(users));
        }

        /** Never prints passwords. */
        @Override
        public String toString() {
            return "Cluster[" + name + ", " + members.size() + " members, databases=" + databases + ", users="
                    + (users == null ? null : users.keySet()) + "]";
        }
    }
}
