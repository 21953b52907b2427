package dev.pggat.operator.stream;

import dev.pggat.crds.v1alpha1.EndpointRole;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.operator.model.ClusterKinds;
import dev.pggat.operator.model.PoolerConfig;
import dev.pggat.operator.model.PoolerResources;
import dev.pggat.operator.model.Problem;
import dev.pggat.operator.model.Topologies;
import dev.pggat.operator.model.Topology;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.routing.EndpointSet;
import dev.pggat.pooler.stream.Envelope;
import dev.pggat.pooler.stream.InstanceIds;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * What a PgPool's poolers are told, computed from cached objects alone. Unlike the pooler configuration the
 * reconciler writes, a snapshot may have no primary: that is how a switchover or failover in progress is told.
 */
public final class Snapshots {
    /** Which cancel-key instance id the operator gave a pooler pod (0-126). */
    public static final String INSTANCE_ID_ANNOTATION = "pggat.dev/instance-id";

    private static final String CNPG_ROLE_LABEL = "cnpg.io/instanceRole";
    private static final String CNPG_LEGACY_ROLE_LABEL = "role";
    private static final String ZALANDO_ROLE_LABEL = "spilo-role";
    private static final String ZONE_LABEL = "topology.kubernetes.io/zone";

    private Snapshots() {}

    /**
     * @param cluster the CloudNativePG Cluster or Zalando postgresql the PgPool names, or null (static, or not
     *     found)
     * @param clusterPods the pods labelled as belonging to that cluster
     * @param poolerPods the PgPool's own pooler pods
     * @return the envelope with endpoint-set version 0, to be stamped by the caller
     */
    public static Envelope of(
            PgPool pool, GenericKubernetesResource cluster, List<Pod> clusterPods, List<Pod> poolerPods) {
        return new Envelope(key(pool), endpoints(pool, cluster, clusterPods), peers(poolerPods));
    }

    public static String key(HasMetadata o) {
        return o.getMetadata().getNamespace() + "/" + o.getMetadata().getName();
    }

    static EndpointSet endpoints(PgPool pool, GenericKubernetesResource cluster, List<Pod> clusterPods) {
        var ref = pool.getSpec() == null ? null : pool.getSpec().cluster;
        if (ref == null) {
            return null;
        }
        List<EndpointSet.Member> members;
        if (ref.staticCluster != null) {
            try {
                Topology t = Topologies.ofStatic(ref.staticCluster);
                members = new ArrayList<>();
                for (var e : t.endpoints()) {
                    members.add(member(e.name(), e.host(), e.port(), e.role(), e.zone(), e.weight()));
                }
            } catch (Problem p) {
                return null;
            }
        } else if (cluster == null) {
            return null;
        } else if (ref.cnpg != null) {
            members = cnpg(cluster, clusterPods);
        } else {
            members = zalando(cluster, clusterPods);
        }
        if (members.isEmpty()) {
            return null;
        }
        members.sort(Comparator.comparing(EndpointSet.Member::name));
        return new EndpointSet(0, members);
    }

    /**
     * {@code status.currentPrimary} is the primary only while {@code status.targetPrimary} agrees: when they differ
     * CloudNativePG is moving the primary (a switchover, or "pending" during a failover), and no server should take
     * writes until it is done. Instances that {@code instancesStatus} reports unhealthy take no reads.
     */
    static List<EndpointSet.Member> cnpg(GenericKubernetesResource cluster, List<Pod> pods) {
        String name = cluster.getMetadata().getName();
        Map<String, Object> status = map(cluster.getAdditionalProperties().get("status"));
        String current = string(status.get("currentPrimary"));
        String target = string(status.get("targetPrimary"));
        boolean settled = current != null && (target == null || target.equals(current));
        // A Cluster without either field (status not written yet, or an old release) is read from the pod labels.
        boolean byLabel = current == null && target == null;
        Set<String> unhealthy = new HashSet<>();
        for (Map.Entry<String, Object> e : map(status.get("instancesStatus")).entrySet()) {
            if (!e.getKey().equals("healthy") && !e.getKey().equals("replicating") && e.getValue() instanceof List) {
                for (Object n : (List<?>) e.getValue()) {
                    unhealthy.add(String.valueOf(n));
                }
            }
        }
        List<EndpointSet.Member> out = new ArrayList<>();
        for (Pod pod : pods) {
            String podName = pod.getMetadata().getName();
            if (!name.equals(label(pod, ClusterKinds.CNPG.podClusterLabel())) || !serving(pod)) {
                continue;
            }
            String role = label(pod, CNPG_ROLE_LABEL);
            if (role == null) {
                role = label(pod, CNPG_LEGACY_ROLE_LABEL);
            }
            boolean primary = byLabel ? "primary".equals(role) : settled && podName.equals(current);
            if (primary) {
                out.add(member(pod, EndpointRole.PRIMARY));
            } else if (!unhealthy.contains(podName)) {
                out.add(member(pod, EndpointRole.REPLICA));
            }
        }
        if (out.stream().filter(m -> m.role() == Endpoint.Role.PRIMARY).count() > 1) {
            // Two pods labelled primary: a failover in flight; take writes nowhere until it settles.
            out.replaceAll(m -> m.role() == Endpoint.Role.PRIMARY
                    ? new EndpointSet.Member(m.name(), m.host(), m.port(), Endpoint.Role.REPLICA, m.zone(), m.weight())
                    : m);
        }
        return out;
    }

    /** Spilo labels the primary master (older) or primary. */
    static List<EndpointSet.Member> zalando(GenericKubernetesResource cluster, List<Pod> pods) {
        String name = cluster.getMetadata().getName();
        List<Pod> primaries = new ArrayList<>();
        List<EndpointSet.Member> out = new ArrayList<>();
        for (Pod pod : pods) {
            if (!name.equals(label(pod, ClusterKinds.ZALANDO.podClusterLabel())) || !serving(pod)) {
                continue;
            }
            String role = label(pod, ZALANDO_ROLE_LABEL);
            if ("master".equals(role) || "primary".equals(role)) {
                primaries.add(pod);
            } else if ("replica".equals(role)) {
                out.add(member(pod, EndpointRole.REPLICA));
            }
        }
        for (Pod p : primaries) {
            // Several at once: a failover in flight; they serve reads, and writes wait until one remains.
            out.add(member(p, primaries.size() == 1 ? EndpointRole.PRIMARY : EndpointRole.REPLICA));
        }
        return out;
    }

    /**
     * Pooler pods with an address and an instance id. A terminating pod stays listed: it still drains clients, and
     * their cancels may land elsewhere.
     */
    static List<Envelope.Peer> peers(List<Pod> poolerPods) {
        List<Pod> sorted = new ArrayList<>(poolerPods);
        sorted.sort(Comparator.comparing((Pod p) -> p.getMetadata().getName()));
        Set<Integer> taken = new HashSet<>();
        List<Envelope.Peer> out = new ArrayList<>();
        for (Pod pod : sorted) {
            Integer id = instanceId(pod);
            String ip = pod.getStatus() == null ? null : pod.getStatus().getPodIP();
            String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
            if (id == null || ip == null || ip.isEmpty() || "Succeeded".equals(phase) || "Failed".equals(phase)) {
                continue;
            }
            if (taken.add(id)) {
                out.add(new Envelope.Peer(pod.getMetadata().getName(), ip, PoolerConfig.LISTEN_PORT, id));
            }
        }
        return out;
    }

    /** The pod's instance id, or null when it has none or a value outside 0-126. */
    public static Integer instanceId(Pod pod) {
        Map<String, String> a = pod.getMetadata().getAnnotations();
        String v = a == null ? null : a.get(INSTANCE_ID_ANNOTATION);
        if (v == null) {
            return null;
        }
        try {
            int id = Integer.parseInt(v.trim());
            return InstanceIds.isAssigned(id) ? id : null;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** Whether a pod belongs to this PgPool's pooler Deployment. */
    public static boolean isPoolerPodOf(Pod pod, PgPool pool) {
        return Objects.equals(
                        pod.getMetadata().getNamespace(), pool.getMetadata().getNamespace())
                && PoolerResources.selectorLabels(pool).entrySet().stream()
                        .allMatch(e -> e.getValue().equals(label(pod, e.getKey())));
    }

    private static boolean serving(Pod pod) {
        return pod.getMetadata().getDeletionTimestamp() == null
                && pod.getStatus() != null
                && pod.getStatus().getPodIP() != null
                && !pod.getStatus().getPodIP().isEmpty()
                && "Running".equals(pod.getStatus().getPhase());
    }

    private static EndpointSet.Member member(Pod pod, EndpointRole role) {
        return member(
                pod.getMetadata().getName(),
                pod.getStatus().getPodIP(),
                Topologies.postgresPort(pod),
                role,
                label(pod, ZONE_LABEL),
                dev.pggat.operator.model.Endpoint.DEFAULT_WEIGHT);
    }

    private static EndpointSet.Member member(
            String name, String host, int port, EndpointRole role, String zone, int weight) {
        return new EndpointSet.Member(
                name,
                host,
                port,
                role == EndpointRole.PRIMARY ? Endpoint.Role.PRIMARY : Endpoint.Role.REPLICA,
                zone,
                weight);
    }

    static String label(HasMetadata o, String key) {
        Map<String, String> labels = o.getMetadata().getLabels();
        return labels == null ? null : labels.get(key);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o) {
        return o instanceof Map ? (Map<String, Object>) o : Map.of();
    }

    private static String string(Object o) {
        if (o == null) {
            return null;
        }
        String s = Objects.toString(o);
        return s.isEmpty() ? null : s;
    }
}
