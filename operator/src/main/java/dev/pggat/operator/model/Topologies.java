package dev.pggat.operator.model;

import dev.pggat.crds.v1alpha1.EndpointRole;
import dev.pggat.crds.v1alpha1.StaticCluster;
import dev.pggat.crds.v1alpha1.StaticEndpoint;
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

/** Turns what the cluster operators publish into a {@link Topology}. */
public final class Topologies {
    private static final String CNPG_ROLE_LABEL = "cnpg.io/instanceRole";
    // Older CloudNativePG releases only set this one.
    private static final String CNPG_LEGACY_ROLE_LABEL = "role";
    private static final String ZALANDO_ROLE_LABEL = "spilo-role";
    private static final String ZONE_LABEL = "topology.kubernetes.io/zone";
    /** What CloudNativePG names the PostgreSQL port of its instance pods. */
    private static final String POSTGRES_PORT_NAME = "postgresql";

    private Topologies() {}

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
                    name, e.host, port, role, e.zone, e.weight == null ? Endpoint.DEFAULT_WEIGHT : e.weight);
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
     * The CloudNativePG Cluster's {@code status.currentPrimary} names the primary pod: it is what the CNPG operator
     * acts on, and pod labels follow it only later. Pods that {@code status.instancesStatus} lists as anything
     * other than healthy or replicating take no traffic.
     */
    public static Topology ofCnpg(GenericKubernetesResource cluster, List<Pod> pods) {
        String clusterName = cluster.getMetadata().getName();
        Map<String, Object> status = map(cluster.getAdditionalProperties().get("status"));
        String currentPrimary = string(status.get("currentPrimary"));
        Set<String> unhealthy = new HashSet<>();
        for (Map.Entry<String, Object> e : map(status.get("instancesStatus")).entrySet()) {
            if (!e.getKey().equals("healthy") && !e.getKey().equals("replicating") && e.getValue() instanceof List) {
                for (Object name : (List<?>) e.getValue()) {
                    unhealthy.add(String.valueOf(name));
                }
            }
        }
        Endpoint primary = null;
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
            boolean isPrimary = currentPrimary != null ? currentPrimary.equals(name) : "primary".equals(roleLabel);
            if (isPrimary) {
                primary = endpoint(pod, EndpointRole.PRIMARY);
            } else if (!unhealthy.contains(name)) {
                replicas.add(endpoint(pod, EndpointRole.REPLICA));
            }
        }
        if (primary == null) {
            throw Problem.waiting(
                    "PrimaryNotFound",
                    "CloudNativePG Cluster " + clusterName + " has no running primary pod with an IP yet"
                            + (currentPrimary != null ? " (status.currentPrimary=" + currentPrimary + ")" : ""));
        }
        return new Topology(primary, replicas);
    }

    /** Spilo labels its pods master (older) or primary, and replica. */
    public static Topology ofZalando(GenericKubernetesResource cluster, List<Pod> pods) {
        String clusterName = cluster.getMetadata().getName();
        Endpoint primary = null;
        List<Endpoint> replicas = new ArrayList<>();
        for (Pod pod : pods) {
            if (!clusterName.equals(label(pod, ClusterKinds.ZALANDO.podClusterLabel())) || !serving(pod)) {
                continue;
            }
            String role = label(pod, ZALANDO_ROLE_LABEL);
            if ("master".equals(role) || "primary".equals(role)) {
                if (primary != null) {
                    // Two pods claiming to be primary is a failover in flight: wait rather than split writes.
                    throw Problem.waiting(
                            "PrimaryAmbiguous",
                            "Zalando cluster " + clusterName + " has two pods labelled primary: " + primary.name()
                                    + " and " + pod.getMetadata().getName());
                }
                primary = endpoint(pod, EndpointRole.PRIMARY);
            } else if ("replica".equals(role)) {
                replicas.add(endpoint(pod, EndpointRole.REPLICA));
            }
        }
        if (primary == null) {
            throw Problem.waiting(
                    "PrimaryNotFound",
                    "Zalando cluster " + clusterName + " has no running pod labelled spilo-role=master with an IP yet");
        }
        return new Topology(primary, replicas);
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
                pod.getMetadata().getName(),
                pod.getStatus().getPodIP(),
                postgresPort(pod),
                role,
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
        return o == null ? null : Objects.toString(o);
    }
}
