package dev.pggat.operator.stream;

import dev.pggat.crds.v1alpha1.PgPool;
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
 * What a PgPool's poolers are told, computed from cached objects alone with the same {@link Topologies} rules as
 * the ConfigMap and the status. A snapshot may have no primary: that is how a switchover or failover in progress is
 * told.
 */
public final class Snapshots {
    /** Which cancel-key instance id the operator gave a pooler pod (0-126). */
    public static final String INSTANCE_ID_ANNOTATION = "pggat.dev/instance-id";

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

    /** The PgPool's {@link Topology}, computed as for its ConfigMap and status, as an unversioned endpoint set. */
    static EndpointSet endpoints(PgPool pool, GenericKubernetesResource cluster, List<Pod> clusterPods) {
        var ref = pool.getSpec() == null ? null : pool.getSpec().cluster;
        if (ref == null || (ref.staticCluster == null && cluster == null)) {
            return null;
        }
        Topology t;
        try {
            t = Topologies.of(ref, cluster, clusterPods);
        } catch (Problem p) {
            return null;
        }
        List<Endpoint> all = new ArrayList<>(t.endpoints());
        if (all.isEmpty()) {
            return null;
        }
        all.sort(Comparator.comparing(Topology::name));
        return EndpointSet.fromConfig(0, all);
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

    static String label(HasMetadata o, String key) {
        Map<String, String> labels = o.getMetadata().getLabels();
        return labels == null ? null : labels.get(key);
    }
}
