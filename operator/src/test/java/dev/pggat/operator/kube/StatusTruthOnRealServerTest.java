package dev.pggat.operator.kube;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.DatabaseSpec;
import dev.pggat.crds.v1alpha1.EndpointRole;
import dev.pggat.crds.v1alpha1.NamedRef;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolCondition;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.PgPoolStatus;
import dev.pggat.crds.v1alpha1.SecretKeyRef;
import dev.pggat.crds.v1alpha1.StaticCluster;
import dev.pggat.crds.v1alpha1.StaticEndpoint;
import dev.pggat.crds.v1alpha1.UserSpec;
import dev.pggat.operator.PggatOperator;
import dev.pggat.operator.stream.EndpointHub;
import dev.pggat.operator.stream.EndpointStreamServer;
import dev.pggat.operator.stream.StreamAuth;
import dev.pggat.pooler.routing.EndpointSet;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.javaoperatorsdk.operator.Operator;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The PgPool's status, its ConfigMap and the endpoint stream during a CloudNativePG failover and switchover, with the
 * published Cluster CRD and the operator acting as its own ServiceAccount with deploy/'s RBAC: all three tell the
 * same thing, and none names a failed pod as primary. A write the RBAC forbids shows as a condition.
 */
@RealApiServer
class StatusTruthOnRealServerTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final String POOL = "orders";
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final ResourceDefinitionContext CNPG = new ResourceDefinitionContext.Builder()
            .withGroup("postgresql.cnpg.io")
            .withVersion("v1")
            .withKind("Cluster")
            .withPlural("clusters")
            .withNamespaced(true)
            .build();

    @Test
    @Timeout(300)
    void duringFailoverAndSwitchoverStatusConfigMapAndStreamAgreeAndNoneNamesAFailedPod(KubeApiServer k8s)
            throws Exception {
        Clusters.installDeploy(k8s);
        String ns = k8s.createNamespace("failover");
        KubernetesClient admin = k8s.admin();
        admin.secrets()
                .inNamespace(ns)
                .resource(new SecretBuilder()
                        .withNewMetadata()
                        .withName("pg-app")
                        .endMetadata()
                        .addToStringData(Map.of("username", "app", "password", "not-a-real-password", "dbname", "app"))
                        .build())
                .create();
        admin.genericKubernetesResources(CNPG)
                .inNamespace(ns)
                .resource(new GenericKubernetesResourceBuilder()
                        .withApiVersion("postgresql.cnpg.io/v1")
                        .withKind("Cluster")
                        .withNewMetadata()
                        .withName("pg")
                        .endMetadata()
                        .addToAdditionalProperties("spec", Map.of("instances", 3, "storage", Map.of("size", "1Gi")))
                        .build())
                .create();
        setCluster(k8s, ns, "pg-1", "pg-1", Map.of("healthy", List.of("pg-1", "pg-2", "pg-3")));
        for (int i = 1; i <= 3; i++) {
            runningPod(k8s, ns, "pg-" + i, "10.1.0." + i);
        }
        admin.resource(pool(ns, cnpgRef())).create();

        try (Running op = Running.operator(k8s, ns, StreamAuth.SERVICE_ACCOUNT)) {
            PgPool steady = await("status naming pg-1", () -> {
                PgPool p = get(k8s, ns);
                return p != null && p.getStatus() != null && "pg-1".equals(p.getStatus().primary) ? p : null;
            });
            assertThat(steady.getStatus().replicas).containsExactly("pg-2", "pg-3");
            assertThat(configMapPrimary(k8s, ns)).isEqualTo("10.1.0.1");
            awaitAgreement(k8s, ns, op.hub(), "pg-1");

            // Failover: the primary's pod failed, CloudNativePG has not chosen the next one yet.
            setCluster(
                    k8s, ns, "pg-1", "pending", Map.of("failed", List.of("pg-1"), "healthy", List.of("pg-2", "pg-3")));
            Pod failed = admin.pods().inNamespace(ns).withName("pg-1").get();
            failed.getStatus().setPhase("Failed");
            admin.pods().inNamespace(ns).resource(failed).updateStatus();
            PgPool during = await("no primary in the status", () -> {
                PgPool p = get(k8s, ns);
                return p.getStatus().primary == null ? p : null;
            });
            PgPoolCondition ready = during.getStatus().condition(PgPoolStatus.READY);
            assertThat(ready.status).isEqualTo("False");
            assertThat(ready.reason).isEqualTo("PrimaryNotFound");
            await(
                    "the ConfigMap no longer naming the failed pod",
                    () -> "10.1.0.1".equals(configMapPrimary(k8s, ns)) ? null : true);
            assertThat(configMapPrimary(k8s, ns)).isEqualTo("pg-rw." + ns + ".svc");
            awaitAgreement(k8s, ns, op.hub(), null);

            // Failover done: pg-2 promoted.
            setCluster(k8s, ns, "pg-2", "pg-2", Map.of("healthy", List.of("pg-2", "pg-3")));
            await("status naming pg-2", () -> "pg-2".equals(get(k8s, ns).getStatus().primary) ? true : null);
            awaitAgreement(k8s, ns, op.hub(), "pg-2");
            assertThat(configMapPrimary(k8s, ns)).isEqualTo("10.1.0.2");

            // Switchover to pg-3: while it runs, no primary anywhere.
            setCluster(k8s, ns, "pg-2", "pg-3", Map.of("healthy", List.of("pg-2", "pg-3")));
            await("no primary during the switchover", () -> get(k8s, ns).getStatus().primary == null ? true : null);
            awaitAgreement(k8s, ns, op.hub(), null);
            setCluster(k8s, ns, "pg-3", "pg-3", Map.of("healthy", List.of("pg-2", "pg-3")));
            await("status naming pg-3", () -> "pg-3".equals(get(k8s, ns).getStatus().primary) ? true : null);
            awaitAgreement(k8s, ns, op.hub(), "pg-3");
        }
    }

    @Test
    @Timeout(300)
    void aForbiddenTokenSecretIsAConditionOnThePgPoolNotOnlyALogLine(KubeApiServer k8s) throws Exception {
        Clusters.installDeploy(k8s);
        String ns = k8s.createNamespace("forbidden");
        k8s.admin()
                .secrets()
                .inNamespace(ns)
                .resource(new SecretBuilder()
                        .withNewMetadata()
                        .withName("app-password")
                        .endMetadata()
                        .addToStringData("password", "not-a-real-password")
                        .build())
                .create();
        k8s.admin().resource(pool(ns, staticRef())).create();
        // --stream-auth token: a Secret per PgPool, which deploy/ does not let the operator create.
        try (Running op = Running.operator(k8s, ns, StreamAuth.TOKEN)) {
            PgPoolCondition ready = await("a Forbidden condition", () -> {
                PgPool p = get(k8s, ns);
                PgPoolCondition c = p.getStatus() == null ? null : p.getStatus().condition(PgPoolStatus.READY);
                return c != null && "Forbidden".equals(c.reason) ? c : null;
            });
            assertThat(ready.status).isEqualTo("False");
            assertThat(ready.message).contains("secrets", "create", "RBAC");
            var event = await(
                    "a Warning Event on the PgPool",
                    () -> k8s.admin().v1().events().inNamespace(ns).list().getItems().stream()
                            .filter(e ->
                                    POOL.equals(e.getInvolvedObject().getName()) && "Forbidden".equals(e.getReason()))
                            .findFirst()
                            .orElse(null));
            assertThat(event.getType()).isEqualTo("Warning");
            assertThat(event.getInvolvedObject().getKind()).isEqualTo("PgPool");
        }
    }

    /** Status, stream and the status's endpointSetVersion name the same primary and the same version. */
    private static void awaitAgreement(KubeApiServer k8s, String ns, EndpointHub hub, String primary) {
        await("status and stream agreeing on primary " + primary, () -> {
            EndpointHub.PoolStream s = hub.stream(ns + "/" + POOL);
            EndpointHub.Snapshot snap = s == null ? null : s.current();
            EndpointSet set = snap == null ? null : snap.envelope().endpoints();
            if (set == null) {
                return null;
            }
            String streamed = set.primary() == null ? null : set.primary().name();
            PgPoolStatus st = get(k8s, ns).getStatus();
            return Objects.equals(streamed, primary)
                            && Objects.equals(st.primary, primary)
                            && Objects.equals(st.endpointSetVersion, set.version())
                    ? true
                    : null;
        });
    }

    private record Running(Operator operator, EndpointStreamServer stream, KubernetesClient client)
            implements AutoCloseable {
        static Running operator(KubeApiServer k8s, String ns, StreamAuth auth) throws Exception {
            KubernetesClient client =
                    k8s.clientWithToken(k8s.serviceAccountToken("pggat-system", "pggat-operator"), ns);
            EndpointStreamServer stream = EndpointStreamServer.start(
                    client,
                    Set.of(ns),
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                    Duration.ofMillis(500),
                    Clock.systemUTC());
            Operator operator = PggatOperator.create(
                    client,
                    Set.of(ns),
                    "registry.test/pggat:test",
                    Duration.ofSeconds(1),
                    Clock.systemUTC(),
                    false,
                    new PggatOperator.Options(
                            "http://127.0.0.1:" + stream.port(), stream.hub(), null, auth, Duration.ofSeconds(1)));
            operator.start();
            return new Running(operator, stream, client);
        }

        EndpointHub hub() {
            return stream.hub();
        }

        @Override
        public void close() {
            operator.stop();
            stream.close();
            client.close();
        }
    }

    private static void setCluster(
            KubeApiServer k8s, String ns, String current, String target, Map<String, List<String>> instances) {
        var resource =
                k8s.admin().genericKubernetesResources(CNPG).inNamespace(ns).withName("pg");
        GenericKubernetesResource c = resource.get();
        c.getAdditionalProperties()
                .put(
                        "status",
                        Map.of("currentPrimary", current, "targetPrimary", target, "instancesStatus", instances));
        k8s.admin().genericKubernetesResources(CNPG).inNamespace(ns).resource(c).updateStatus();
    }

    private static void runningPod(KubeApiServer k8s, String ns, String name, String ip) {
        Pod pod = k8s.admin()
                .pods()
                .inNamespace(ns)
                .resource(new PodBuilder()
                        .withNewMetadata()
                        .withName(name)
                        .withLabels(Map.of("cnpg.io/cluster", "pg"))
                        .endMetadata()
                        .withNewSpec()
                        .addNewContainer()
                        .withName("postgres")
                        .withImage("registry.test/postgresql:17")
                        .addNewPort()
                        .withName("postgresql")
                        .withContainerPort(5432)
                        .endPort()
                        .endContainer()
                        .endSpec()
                        .build())
                .create();
        pod.setStatus(new io.fabric8.kubernetes.api.model.PodStatusBuilder()
                .withPhase("Running")
                .withPodIP(ip)
                .withPodIPs(new io.fabric8.kubernetes.api.model.PodIP(ip))
                .build());
        k8s.admin().pods().inNamespace(ns).resource(pod).updateStatus();
    }

    private static String configMapPrimary(KubeApiServer k8s, String ns) {
        var cm = k8s.admin()
                .configMaps()
                .inNamespace(ns)
                .withName(POOL + "-pggat")
                .get();
        if (cm == null) {
            return null;
        }
        try {
            JsonNode file = YAML.readTree(cm.getData().get("pggat.yaml"));
            for (JsonNode db : file.path("databases")) {
                for (JsonNode e : db.path("endpoints")) {
                    if ("primary".equals(e.path("role").asText())) {
                        return e.path("host").asText();
                    }
                }
            }
            return null;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static PgPool get(KubeApiServer k8s, String ns) {
        return k8s.admin()
                .resources(PgPool.class)
                .inNamespace(ns)
                .withName(POOL)
                .get();
    }

    private static ClusterRef cnpgRef() {
        ClusterRef ref = new ClusterRef();
        ref.cnpg = new NamedRef("pg");
        return ref;
    }

    private static ClusterRef staticRef() {
        ClusterRef ref = new ClusterRef();
        ref.staticCluster = new StaticCluster();
        ref.staticCluster.endpoints.add(new StaticEndpoint("10.0.0.1", 5432, EndpointRole.PRIMARY));
        return ref;
    }

    private static PgPool pool(String ns, ClusterRef ref) {
        PgPool pool = new PgPool();
        pool.setMetadata(
                new ObjectMetaBuilder().withName(POOL).withNamespace(ns).build());
        PgPoolSpec spec = new PgPoolSpec();
        spec.cluster = ref;
        if (ref.staticCluster != null) {
            spec.databases = new ArrayList<>(List.of(new DatabaseSpec(
                    "app", List.of(new UserSpec("app", new SecretKeyRef("app-password", "password"))))));
        }
        pool.setSpec(spec);
        return pool;
    }

    private static <T> T await(String what, Supplier<T> check) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            T v = check.get();
            if (v != null) {
                return v;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no " + what + " within " + WAIT);
            }
            KubeApiServer.sleep(200);
        }
    }
}
