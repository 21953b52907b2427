package dev.pggat.operator.model;

import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.EndpointRole;
import dev.pggat.crds.v1alpha1.StaticCluster;
import dev.pggat.crds.v1alpha1.StaticEndpoint;
import dev.pggat.pooler.config.Endpoint;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Turns what the cluster operators publish into a {@link Topology}: the one set of rules that the pooler ConfigMap,
 * the endpoint stream and the PgPool's status are all computed with.
 */
public final class Topologies {
    private static final String CNPG_ROLE_LABEL = "cnpg.io/instanceRole";
    // Older CloudNativePG releases only set this one.
    private static final String CNPG_LEGACY_ROLE_LABEL = "role";
    private static final String ZALANDO_ROLE_LABEL = "spilo-role";
    private static final String ZONE_LABEL = "topology.kubernetes.io/zone";
    /** What CloudNativePG names the PostgreSQL port of its instance pods. */
    private static final String POSTGRES_PORT_NAME = "postgresql";

    private Topologies() {}

    /**
     * @param cluster the CloudNativePG Cluster or Zalando postgresql the reference names (ignored for static)
     * @param pods the pods labelled as that cluster's
     * @throws Problem when the static endpoints are invalid or the cluster resource is missing
     */
    public static Topology of(ClusterRef ref, GenericKubernetesResource cluster, List<Pod> pods) {
        if (ref.staticCluster != null) {
            return ofStatic(ref.staticCluster);
        }
        if (cluster == null) {
            throw Problem.waiting("ClusterNotFound", "the cluster resource does not exist");
        }
        return ref.cnpg != null ? ofCnpg(cluster, pods) : ofZalando(cluster, pods);
    }

    public static Topology ofStatic(StaticCluster cluster) {
        Endpoint primary = null;
        List<Endpoint> replicas = new ArrayList<>();
        int i = 0;
        for (StaticEndpoint e : cluster.endpoints) {
            String where = "spec.cluster.static.endpoints[" + i++ + "]";
            if (e.host == null || e.host.isBlank()) {
                throw Problem.invalid("InvalidSpec", where + ".host is required");
            }
            int port = e.port == null ? Endpoint.DEFAULT_PORT : e.port;
            EndpointRole role = e.role == null ? EndpointRole.PRIMARY : e.role;
            String name = e.name != null ? e.name : e.host + ":" + port;
            Endpoint endpoint = new Endpoint(
                    e.host, port, role(role), name, e.zone, e.weight == null ? Endpoint.DEFAULT_WEIGHT : e.weight);
            if (role == EndpointRole.PRIMARY) {
                if (primary != null) {
                    throw Problem.invalid(
                            "InvalidSpec",
                            where + " is a second primary (role defaults to primary); exactly one endpoint may"
                                    + " have role primary, the others need role: replica");
                }
                primary = endpoint;
            } else {
                replicas.add(endpoint);
            }
        }
        if (primary == null) {
            throw Problem.invalid(
                    "InvalidSpec",
                    "spec.cluster.static.endpoints has no endpoint with role primary; exactly one is" + " required");
        }
        return new Topology(primary, replicas);
    }

    /**
     * {@code status.currentPrimary} is the primary only while {@code status.targetPrimary} agrees: when they differ
     * CloudNativePG is moving the primary (a switchover, or {@code pending} during a failover), and no server may
     * take writes until it is done. A Cluster with neither field (status not written yet, an old release) is read
     * from the pod labels. Instances that {@code instancesStatus} reports as anything but healthy or replicating
     * take no reads; a pod that does not run takes nothing.
     */
    public static Topology ofCnpg(GenericKubernetesResource cluster, List<Pod> pods) {
        String clusterName = cluster.getMetadata().getName();
        Map<String, Object> status = map(cluster.getAdditionalProperties().get("status"));
        String current = string(status.get("currentPrimary"));
        String target = string(status.get("targetPrimary"));
        boolean settled = current != null && (target == null || target.equals(current));
        boolean byLabel = current == null && target == null;
        Set<String> unhealthy = new HashSet<>();
        for (Map.Entry<String, Object> e : map(status.get("instancesStatus")).entrySet()) {
            if (!e.getKey().equals("healthy") && !e.getKey().equals("replicating") && e.getValue() instanceof List) {
                for (Object name : (List<?>) e.getValue()) {
                    unhealthy.add(String.valueOf(name));
                }
            }
        }
        List<Endpoint> primaries = new ArrayList<>();
        List<Endpoint> replicas = new ArrayList<>();
        for (Pod pod : pods) {
            String name = pod.getMetadata().getName();
            if (!clusterName.equals(label(pod, ClusterKinds.CNPG.podClusterLabel())) || !serving(pod)) {
                continue;
            }
            String roleLabel = label(pod, CNPG_ROLE_LABEL);
            if (roleLabel == null) {
                roleLabel = label(pod, CNPG_LEGACY_ROLE_LABEL);
            }
            boolean isPrimary = byLabel ? "primary".equals(roleLabel) : settled && name.equals(current);
            if (isPrimary) {
                primaries.add(endpoint(pod, EndpointRole.PRIMARY));
            } else if (!unhealthy.contains(name)) {
                replicas.add(endpoint(pod, EndpointRole.REPLICA));
            }
        }
        return settle(primaries, replicas);
    }

    /**
     * Spilo labels the primary master (older) or primary. Two pods labelled so is a failover in flight: both serve
     * reads, and writes wait until one remains.
     */
    public static Topology ofZalando(GenericKubernetesResource cluster, List<Pod> pods) {
        String clusterName = cluster.getMetadata().getName();
        List<Endpoint> primaries = new ArrayList<>();
        List<Endpoint> replicas = new ArrayList<>();
        for (Pod pod : pods) {
            if (!clusterName.equals(label(pod, ClusterKinds.ZALANDO.podClusterLabel())) || !serving(pod)) {
                continue;
            }
            String role = label(pod, ZALANDO_ROLE_LABEL);
            if ("master".equals(role) || "primary".equals(role)) {
                primaries.add(endpoint(pod, EndpointRole.PRIMARY));
            } else if ("replica".equals(role)) {
                replicas.add(endpoint(pod, EndpointRole.REPLICA));
            }
        }
        return settle(primaries, replicas);
    }

    /** One primary is the primary; several are demoted to replicas, so that no write can go to the wrong one. */
    private static Topology settle(List<Endpoint> primaries, List<Endpoint> replicas) {
        if (primaries.size() == 1) {
            return new Topology(primaries.get(0), replicas);
        }
        List<Endpoint> all = new ArrayList<>(replicas);
        for (Endpoint p : primaries) {
            all.add(new Endpoint(p.host(), p.port(), Endpoint.Role.REPLICA, p.name(), p.zone(), p.weight()));
        }
        return new Topology(null, all);
    }

    /**
     * The cluster's own read-write Service, which its operator points at the primary once one is settled: what
     * the pooler configuration file names as primary while there is none (the file format requires one). Pods
     * started from the file then reach the new primary through it; the endpoint stream tells them the truth.
     */
    public static Endpoint readWriteService(ClusterKinds kind, String clusterName, String namespace, int port) {
        String service = kind == ClusterKinds.CNPG ? clusterName + "-rw" : clusterName;
        return new Endpoint(
                service + "." + namespace + ".svc",
                port,
                Endpoint.Role.PRIMARY,
                service,
                null,
                Endpoint.DEFAULT_WEIGHT);
    }

    static Endpoint.Role role(EndpointRole role) {
        return role == EndpointRole.PRIMARY ? Endpoint.Role.PRIMARY : Endpoint.Role.REPLICA;
    }

    private static boolean serving(Pod pod) {
        return pod.getMetadata().getDeletionTimestamp() == null
                && pod.getStatus() != null
                && pod.getStatus().getPodIP() != null
                && !pod.getStatus().getPodIP().isEmpty()
                && ("Running".equals(pod.getStatus().getPhase()));
    }

    private static Endpoint endpoint(Pod pod, EndpointRole role) {
        return new Endpoint(
                pod.getStatus().getPodIP(),
                postgresPort(pod),
                role(role),
                pod.getMetadata().getName(),
                label(pod, ZONE_LABEL),
                Endpoint.DEFAULT_WEIGHT);
    }

    /**
     * The port PostgreSQL listens on in a pod: the container port named {@value #POSTGRES_PORT_NAME} (CloudNativePG
     * names it so), else {@value Endpoint#DEFAULT_PORT} when some container declares it (Spilo declares Patroni's
     * REST port before it, unnamed), else the first container port declared, else {@value Endpoint#DEFAULT_PORT}.
     * A cluster built on another port must not be dialled at 5432.
     */
    public static int postgresPort(Pod pod) {
        Integer first = null;
        boolean declaresDefault = false;
        if (pod.getSpec() != null && pod.getSpec().getContainers() != null) {
            for (Container c : pod.getSpec().getContainers()) {
                if (c.getPorts() == null) {
                    continue;
                }
                for (ContainerPort p : c.getPorts()) {
                    Integer port = p.getContainerPort();
                    if (port == null || port < 1 || port > 65535) {
                        continue;
                    }
                    if (POSTGRES_PORT_NAME.equals(p.getName())) {
                        return port;
                    }
                    declaresDefault |= port == Endpoint.DEFAULT_PORT;
                    if (first == null) {
                        first = port;
                    }
                }
            }
        }
        return declaresDefault || first == null ? Endpoint.DEFAULT_PORT : first;
    }

    static String label(io.fabric8.kubernetes.api.model.HasMetadata o, String key) {
        Map<String, String> labels = o.getMetadata().getLabels();
        return labels == null ? null : labels.get(key);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object o) {
        return o instanceof Map ? (Map<String, Object>) o : Map.of();
    }

    static String string(Object o) {
        if (o == null) {
            return null;
        }
        String s = Objects.toString(o);
        return s.isEmpty() ? null : s;
    }
}
