package dev.pggat.operator.kube;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.NamedRef;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.SidecarSpec;
import dev.pggat.operator.LeaderElection;
import dev.pggat.operator.PggatOperator;
import dev.pggat.operator.model.PoolerResources;
import dev.pggat.operator.stream.EndpointStreamServer;
import dev.pggat.operator.stream.StreamAuth;
import dev.pggat.operator.stream.TokenReviews;
import dev.pggat.operator.webhook.SidecarInjector;
import dev.pggat.operator.webhook.WebhookOptions;
import dev.pggat.pooler.stream.StreamProtocol;
import io.fabric8.kubernetes.api.model.EndpointsBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.javaoperatorsdk.operator.Operator;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * The operator with its own ServiceAccount token and exactly the RBAC of deploy/, through a whole scenario:
 * CloudNativePG and Zalando PgPools (their published CRDs), a pooler pod getting its instance id, a switchover and
 * a failover, a sidecar injected through the API server calling the webhook, a stream subscriber's token review,
 * leader election, and a PgPool deleted through its finalizer. The API server's audit log then shows every call
 * it made: none may have been forbidden, and every rule deploy/ grants must have been used.
 */
@RealApiServer
class OperatorRbacAuditTest {
    private static final String OPERATOR = "system:serviceaccount:pggat-system:pggat-operator";
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final ResourceDefinitionContext CNPG = context("postgresql.cnpg.io", "Cluster", "clusters");
    private static final ResourceDefinitionContext ZALANDO = context("acid.zalan.do", "postgresql", "postgresqls");

    /**
     * Granted but not called in this scenario, each for a reason outside it: pgpools/finalizers is checked by the
     * OwnerReferencesPermissionEnforcement admission plugin (OpenShift enables it) when an owner reference sets
     * blockOwnerDeletion, never called; JOSDK's leader election start-up check demands update on the Lease, which
     * the elector itself never uses (it patches).
     */
    private static final Set<String> USED_ONLY_INDIRECTLY =
            Set.of("pggat.dev|pgpools/finalizers|update", "coordination.k8s.io|leases|update");

    @Test
    @Timeout(900)
    void operatorWithDeployRbacMakesNoForbiddenCallAndUsesEveryGrant(KubeApiServer k8s) throws Exception {
        Clusters.installDeploy(k8s);
        KubernetesClient admin = k8s.admin();
        String ns = k8s.createNamespace("audit");
        long since = System.currentTimeMillis();
        admin.secrets()
                .inNamespace("pggat-system")
                .withName("pggat-operator-webhook-cert")
                .delete();
        await(
                "no webhook certificate Secret",
                () -> admin.secrets()
                                        .inNamespace("pggat-system")
                                        .withName("pggat-operator-webhook-cert")
                                        .get()
                                == null
                        ? true
                        : null);
        admin.leases()
                .inNamespace("pggat-system")
                .withName(PggatOperator.LEASE_NAME)
                .delete();

        // CloudNativePG: a Cluster, its app Secret, three pods.
        admin.secrets()
                .inNamespace(ns)
                .resource(
                        secret("pg-app", Map.of("username", "app", "password", "not-a-real-password", "dbname", "app")))
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
        cnpgStatus(k8s, ns, "pg-1", "pg-1");
        for (int i = 1; i <= 3; i++) {
            runningPod(k8s, ns, "pg-" + i, "10.2.0." + i, Map.of("cnpg.io/cluster", "pg"));
        }
        // Zalando: a postgresql, the owner's credentials Secret, two Spilo pods.
        admin.secrets()
                .inNamespace(ns)
                .resource(secret(
                        "app-owner.acid.credentials.postgresql.acid.zalan.do",
                        Map.of("username", "app_owner", "password", "not-a-real-password")))
                .create();
        admin.genericKubernetesResources(ZALANDO)
                .inNamespace(ns)
                .resource(new GenericKubernetesResourceBuilder()
                        .withApiVersion("acid.zalan.do/v1")
                        .withKind("postgresql")
                        .withNewMetadata()
                        .withName("acid")
                        .endMetadata()
                        .addToAdditionalProperties(
                                "spec",
                                Map.of(
                                        "teamId", "acid",
                                        "numberOfInstances", 2,
                                        "postgresql", Map.of("version", "17"),
                                        "volume", Map.of("size", "1Gi"),
                                        "users", Map.of("app_owner", List.of()),
                                        "databases", Map.of("app", "app_owner")))
                        .build())
                .create();
        runningPod(k8s, ns, "acid-0", "10.3.0.1", Map.of("cluster-name", "acid", "spilo-role", "master"));
        runningPod(k8s, ns, "acid-1", "10.3.0.2", Map.of("cluster-name", "acid", "spilo-role", "replica"));

        admin.resource(pool(ns, "cnpg-pool", ref("cnpg", "pg"), true)).create();
        admin.resource(pool(ns, "zalando-pool", ref("zalando", "acid"), false)).create();

        KubernetesClient op = k8s.clientWithToken(k8s.serviceAccountToken("pggat-system", "pggat-operator"), ns);
        LeaderElection election = new LeaderElection("pggat-system", "audit-" + ns);
        election.checkPermissions(op);
        EndpointStreamServer stream = EndpointStreamServer.start(
                op,
                Set.of(ns),
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                Duration.ofMillis(500),
                EndpointStreamServer.DEFAULT_MAX_SUBSCRIBERS,
                Clock.systemUTC(),
                new TokenReviews(op));
        Operator operator = PggatOperator.create(
                op,
                Set.of(ns),
                "registry.test/pggat:test",
                Duration.ofSeconds(1),
                Clock.systemUTC(),
                false,
                new PggatOperator.Options(
                        "http://127.0.0.1:" + stream.port(),
                        stream.hub(),
                        election.configuration(),
                        StreamAuth.SERVICE_ACCOUNT,
                        Duration.ofSeconds(1)));
        // A first start creates the webhook's certificate Secret; a later one finding it unusable rewrites it.
        WebhookOptions first = new WebhookOptions();
        new CommandLine(first)
                .parseArgs(
                        "--webhook-port",
                        Integer.toString(KubeApiServer.freePort()),
                        "--operator-namespace",
                        "pggat-system");
        try (AutoCloseable w = first.start(op, "registry.test/pggat:test")) {
            await("the webhook certificate Secret", () -> admin.secrets()
                    .inNamespace("pggat-system")
                    .withName("pggat-operator-webhook-cert")
                    .get());
        }
        admin.secrets()
                .inNamespace("pggat-system")
                .withName("pggat-operator-webhook-cert")
                .edit(sec -> {
                    sec.setData(null);
                    return sec;
                });
        int webhookPort = KubeApiServer.freePort();
        WebhookOptions webhookOptions = new WebhookOptions();
        new CommandLine(webhookOptions)
                .parseArgs("--webhook-port", Integer.toString(webhookPort), "--operator-namespace", "pggat-system");
        AutoCloseable webhook = webhookOptions.start(op, "registry.test/pggat:test");
        try {
            operator.start();
            for (String name : List.of("cnpg-pool", "zalando-pool")) {
                await("ConfigMap of " + name, () -> admin.configMaps()
                        .inNamespace(ns)
                        .withName(name + "-pggat")
                        .get());
                await("PodDisruptionBudget of " + name, () -> admin.policy()
                        .v1()
                        .podDisruptionBudget()
                        .inNamespace(ns)
                        .withName(name + "-pggat")
                        .get());
            }
            // A pooler pod gets its cancel-key instance id.
            PgPool cnpgPool = admin.resources(PgPool.class)
                    .inNamespace(ns)
                    .withName("cnpg-pool")
                    .get();
            Map<String, String> poolerLabels = new HashMap<>(admin.apps()
                    .deployments()
                    .inNamespace(ns)
                    .withName(PoolerResources.deploymentName(cnpgPool))
                    .get()
                    .getSpec()
                    .getTemplate()
                    .getMetadata()
                    .getLabels());
            runningPod(k8s, ns, "cnpg-pool-pggat-0", "10.4.0.1", poolerLabels);
            await("an instance id on the pooler pod", () -> {
                var a = admin.pods()
                        .inNamespace(ns)
                        .withName("cnpg-pool-pggat-0")
                        .get()
                        .getMetadata()
                        .getAnnotations();
                return a != null && a.containsKey("pggat.dev/instance-id") ? true : null;
            });
            // Switchover, then failover.
            cnpgStatus(k8s, ns, "pg-1", "pg-2");
            cnpgStatus(k8s, ns, "pg-2", "pg-2");
            cnpgStatus(k8s, ns, "pg-2", "pending");
            await("the switchover and failover in the status", () -> {
                var st = admin.resources(PgPool.class)
                        .inNamespace(ns)
                        .withName("cnpg-pool")
                        .get()
                        .getStatus();
                return st != null && st.primary == null && st.endpointSetVersion != null ? true : null;
            });
            cnpgStatus(k8s, ns, "pg-3", "pg-3");
            relabel(k8s, ns, "acid-0", "replica");
            relabel(k8s, ns, "acid-1", "master");
            await(
                    "the Zalando switchover in the status",
                    () -> "acid-1"
                                    .equals(admin.resources(PgPool.class)
                                            .inNamespace(ns)
                                            .withName("zalando-pool")
                                            .get()
                                            .getStatus()
                                            .primary)
                            ? true
                            : null);

            // A spec change rewrites the pooler Deployment, Service and PodDisruptionBudget.
            admin.resources(PgPool.class)
                    .inNamespace(ns)
                    .withName("zalando-pool")
                    .edit(p -> {
                        p.getSpec().deployment = new dev.pggat.crds.v1alpha1.DeploymentSpec();
                        p.getSpec().deployment.replicas = 3;
                        p.getSpec().deployment.serviceType = dev.pggat.crds.v1alpha1.ServiceType.NodePort;
                        p.getSpec().deployment.pdb = new dev.pggat.crds.v1alpha1.PdbSpec();
                        p.getSpec().deployment.pdb.minAvailable = 2;
                        return p;
                    });
            await(
                    "the Service rewritten",
                    () -> "NodePort"
                                    .equals(admin.services()
                                            .inNamespace(ns)
                                            .withName("zalando-pool")
                                            .get()
                                            .getSpec()
                                            .getType())
                            ? true
                            : null);
            await("the PodDisruptionBudget rewritten", () -> {
                var pdb = admin.policy()
                        .v1()
                        .podDisruptionBudget()
                        .inNamespace(ns)
                        .withName("zalando-pool-pggat")
                        .get();
                return pdb.getSpec().getMinAvailable().getIntVal() == 2 ? true : null;
            });

            // The API server calls the webhook through the operator Service's Endpoints, as in a cluster.
            String hostIp = nonLoopbackIpv4();
            admin.endpoints()
                    .inNamespace("pggat-system")
                    .resource(new EndpointsBuilder()
                            .withNewMetadata()
                            .withName("pggat-operator")
                            .endMetadata()
                            .addNewSubset()
                            .addNewAddress()
                            .withIp(hostIp)
                            .endAddress()
                            .addNewPort()
                            .withName("webhook")
                            .withPort(webhookPort)
                            .withProtocol("TCP")
                            .endPort()
                            .endSubset()
                            .build())
                    .createOr(e -> e.update());
            await("the webhook's caBundle", () -> {
                var c = admin.admissionRegistration()
                        .v1()
                        .mutatingWebhookConfigurations()
                        .withName("pggat-operator")
                        .get();
                String ca = c.getWebhooks().get(0).getClientConfig().getCaBundle();
                return ca != null && !ca.isEmpty() ? true : null;
            });
            Pod app = await("a Pod admitted with the sidecar", () -> {
                Pod dry = admin.pods()
                        .inNamespace(ns)
                        .resource(appPod("app-probe"))
                        .dryRun()
                        .create();
                return dry.getMetadata().getLabels().containsKey(SidecarInjector.SIDECAR_OF_LABEL)
                        ? admin.pods().inNamespace(ns).resource(appPod("app")).create()
                        : null;
            });
            assertThat(app.getSpec().getContainers())
                    .extracting(c -> c.getName())
                    .contains(SidecarInjector.CONTAINER);

            // A pooler presents a ServiceAccount token to the stream: the operator asks for a TokenReview.
            String saToken = admin.serviceAccounts()
                    .inNamespace(ns)
                    .withName("default")
                    .tokenRequest(new TokenRequestBuilder()
                            .withNewSpec()
                            .withAudiences(TokenReviews.AUDIENCE)
                            .withExpirationSeconds(600L)
                            .endSpec()
                            .build())
                    .getStatus()
                    .getToken();
            HttpRequest subscribe = HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + stream.port() + StreamProtocol.path(ns, "cnpg-pool")))
                    .header("Authorization", "Bearer " + saToken)
                    .timeout(Duration.ofSeconds(5))
                    .build();
            // The stream answers with its headers once the token is accepted and then stays open: read no body.
            try (var body = HttpClient.newHttpClient()
                    .sendAsync(subscribe, HttpResponse.BodyHandlers.ofInputStream())
                    .get(30, java.util.concurrent.TimeUnit.SECONDS)
                    .body()) {
                // closing ends the subscription
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                // a refusal or a slow answer: the TokenReview was asked for either way
            }

            // Deletion through the finalizer.
            admin.resources(PgPool.class).inNamespace(ns).withName("cnpg-pool").delete();
            await(
                    "the PgPool gone",
                    () -> admin.resources(PgPool.class)
                                            .inNamespace(ns)
                                            .withName("cnpg-pool")
                                            .get()
                                    == null
                            ? true
                            : null);
            assertThat(admin.configMaps()
                            .inNamespace(ns)
                            .withName("cnpg-pool-pggat")
                            .get())
                    .isNull();
            await("the Lease taken", () -> {
                var l = admin.leases()
                        .inNamespace("pggat-system")
                        .withName(PggatOperator.LEASE_NAME)
                        .get();
                return l != null && election.identity().equals(l.getSpec().getHolderIdentity()) ? true : null;
            });
        } finally {
            election.shuttingDown();
            stream.close();
            operator.stop();
            election.release(op);
            webhook.close();
            op.close();
        }

        // What the operator did, from the audit log.
        Set<String> used = new TreeSet<>();
        Set<String> forbidden = new TreeSet<>();
        KubeApiServer.sleep(1500); // the audit log is written asynchronously
        for (String line : Files.readAllLines(k8s.auditLog())) {
            JsonNode e = JSON.readTree(line);
            if (!OPERATOR.equals(e.at("/user/username").asText())
                    || !"ResponseComplete".equals(e.path("stage").asText())
                    || java.time.Instant.parse(
                                            e.path("requestReceivedTimestamp").asText())
                                    .toEpochMilli()
                            < since
                    || !e.has("objectRef")) {
                continue;
            }
            JsonNode ref = e.get("objectRef");
            String resource = ref.path("resource").asText()
                    + (ref.hasNonNull("subresource")
                            ? "/" + ref.get("subresource").asText()
                            : "");
            String call = ref.path("apiGroup").asText("") + "|" + resource + "|"
                    + e.path("verb").asText();
            if (e.at("/responseStatus/code").asInt() == 403) {
                forbidden.add(call + " " + ref.path("namespace").asText() + "/"
                        + ref.path("name").asText());
            } else {
                used.add(call);
            }
        }
        assertThat(forbidden).as("calls the RBAC of deploy/ refused").isEmpty();
        Set<String> unused = new TreeSet<>(granted());
        unused.removeAll(used);
        unused.removeAll(USED_ONLY_INDIRECTLY);
        assertThat(unused)
                .as("granted by deploy/ but never used; calls made: %s", used)
                .isEmpty();
    }

    private static Set<String> granted() throws java.io.IOException {
        Set<String> out = new TreeSet<>();
        for (String f : List.of("030-clusterrole-read.yaml", "031-clusterrole-manage.yaml", "032-role-operator.yaml")) {
            JsonNode role = YAML.readTree(KubeApiServer.repo("deploy/" + f).toFile());
            for (JsonNode rule : role.path("rules")) {
                for (JsonNode g : rule.path("apiGroups")) {
                    for (JsonNode r : rule.path("resources")) {
                        for (JsonNode v : rule.path("verbs")) {
                            out.add(g.asText() + "|" + r.asText() + "|" + v.asText());
                        }
                    }
                }
            }
        }
        return out;
    }

    private static String nonLoopbackIpv4() throws Exception {
        for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (!nic.isUp() || nic.isLoopback()) {
                continue;
            }
            for (InetAddress a : Collections.list(nic.getInetAddresses())) {
                if (a instanceof Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress()) {
                    return a.getHostAddress();
                }
            }
        }
        throw new IllegalStateException("this machine has no non-loopback IPv4 address; the API server refuses"
                + " Endpoints on loopback, so it cannot reach the webhook through the operator's Service");
    }

    private static void cnpgStatus(KubeApiServer k8s, String ns, String current, String target) {
        GenericKubernetesResource c = k8s.admin()
                .genericKubernetesResources(CNPG)
                .inNamespace(ns)
                .withName("pg")
                .get();
        c.getAdditionalProperties()
                .put(
                        "status",
                        Map.of(
                                "currentPrimary",
                                current,
                                "targetPrimary",
                                target,
                                "instancesStatus",
                                Map.of("healthy", List.of("pg-1", "pg-2", "pg-3"))));
        k8s.admin().genericKubernetesResources(CNPG).inNamespace(ns).resource(c).updateStatus();
        KubeApiServer.sleep(500);
    }

    private static void relabel(KubeApiServer k8s, String ns, String pod, String role) {
        k8s.admin().pods().inNamespace(ns).withName(pod).edit(p -> {
            p.getMetadata().getLabels().put("spilo-role", role);
            return p;
        });
    }

    private static void runningPod(KubeApiServer k8s, String ns, String name, String ip, Map<String, String> labels) {
        Pod pod = k8s.admin()
                .pods()
                .inNamespace(ns)
                .resource(new PodBuilder()
                        .withNewMetadata()
                        .withName(name)
                        .withLabels(labels)
                        .endMetadata()
                        .withNewSpec()
                        .addNewContainer()
                        .withName("main")
                        .withImage("registry.test/main:1")
                        .addNewPort()
                        .withName("postgresql")
                        .withContainerPort(5432)
                        .endPort()
                        .endContainer()
                        .endSpec()
                        .build())
                .create();
        pod.setStatus(new PodStatusBuilder()
                .withPhase("Running")
                .withPodIP(ip)
                .withPodIPs(new PodIP(ip))
                .build());
        k8s.admin().pods().inNamespace(ns).resource(pod).updateStatus();
    }

    private static Pod appPod(String name) {
        return new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .withLabels(Map.of(SidecarInjector.POOL_LABEL, "cnpg-pool", "app", "checkout"))
                .endMetadata()
                .withNewSpec()
                .addNewContainer()
                .withName("app")
                .withImage("registry.test/checkout:1")
                .endContainer()
                .endSpec()
                .build();
    }

    private static io.fabric8.kubernetes.api.model.Secret secret(String name, Map<String, String> data) {
        return new SecretBuilder()
                .withNewMetadata()
                .withName(name)
                .endMetadata()
                .withStringData(data)
                .build();
    }

    private static ClusterRef ref(String kind, String name) {
        ClusterRef ref = new ClusterRef();
        if (kind.equals("cnpg")) {
            ref.cnpg = new NamedRef(name);
        } else {
            ref.zalando = new NamedRef(name);
        }
        return ref;
    }

    private static PgPool pool(String ns, String name, ClusterRef ref, boolean sidecar) {
        PgPool pool = new PgPool();
        pool.setMetadata(
                new ObjectMetaBuilder().withName(name).withNamespace(ns).build());
        PgPoolSpec spec = new PgPoolSpec();
        spec.cluster = ref;
        if (sidecar) {
            spec.sidecar = new SidecarSpec();
            spec.sidecar.enabled = true;
        }
        pool.setSpec(spec);
        return pool;
    }

    private static ResourceDefinitionContext context(String group, String kind, String plural) {
        return new ResourceDefinitionContext.Builder()
                .withGroup(group)
                .withVersion("v1")
                .withKind(kind)
                .withPlural(plural)
                .withNamespaced(true)
                .build();
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
            KubeApiServer.sleep(250);
        }
    }
}
