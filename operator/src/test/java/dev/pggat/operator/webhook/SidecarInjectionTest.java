package dev.pggat.operator.webhook;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.DatabaseSpec;
import dev.pggat.crds.v1alpha1.EndpointRole;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.SecretKeyRef;
import dev.pggat.crds.v1alpha1.SidecarSpec;
import dev.pggat.crds.v1alpha1.StaticCluster;
import dev.pggat.crds.v1alpha1.StaticEndpoint;
import dev.pggat.crds.v1alpha1.UserSpec;
import dev.pggat.operator.PggatOperator;
import dev.pggat.operator.model.PoolerResources;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.zjsonpatch.JsonPatch;
import io.javaoperatorsdk.operator.Operator;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * AdmissionReviews for Pods through {@link AdmissionHandler}, against the test API server where the real operator
 * has reconciled a PgPool into its ConfigMap. Patches are applied to the Pod with an independent JSON Patch
 * implementation and the result is checked as a Pod.
 */
class SidecarInjectionTest {
    static final String NS = "shop";
    static final String POOL = "orders";
    static final String IMAGE = "registry.test/pggat:test";
    static final SidecarSettings SETTINGS = new SidecarSettings(
            IMAGE, "http://pggat-operator.pggat-system.svc:8090/v1/namespaces/{namespace}/pgpools/{pgpool}/stream");

    static KubernetesMockServer server;
    static KubernetesClient client;
    static Operator operator;
    static AdmissionHandler handler;
    static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void reconcileAPgPoolWithSidecarsEnabled() throws Exception {
        server = new KubernetesMockServer(
                new Context(), new MockWebServer(), new HashMap<>(), new KubernetesCrudDispatcher(List.of()), false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        client = server.createClient();
        try (InputStream in = PgPool.class.getResourceAsStream("/META-INF/fabric8/pgpools.pggat.dev-v1.yml")) {
            client.resource(SERIALIZATION.unmarshal(in, CustomResourceDefinition.class))
                    .create();
        }
        client.resource(new SecretBuilder()
                        .withNewMetadata()
                        .withName("orders-db")
                        .withNamespace(NS)
                        .endMetadata()
                        .withStringData(Map.of("password", "not-logged"))
                        .withData(Map.of("password", Base64.getEncoder().encodeToString("x".getBytes())))
                        .build())
                .create();
        client.resource(pool(POOL, true, null)).create();
        client.resource(pool("closed", false, null)).create();
        client.resource(pool("picky", true, new SidecarSpec() {
                    {
                        selector = new LabelSelectorBuilder()
                                .withMatchLabels(Map.of("team", "checkout"))
                                .build();
                    }
                }))
                .create();
        operator = PggatOperator.create(client, Set.of(), IMAGE, Duration.ofMillis(300), Clock.systemUTC(), false);
        operator.start();
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (configMap(POOL) == null || configMap("picky") == null) {
            assertThat(System.nanoTime()).as("operator wrote the ConfigMaps").isLessThan(deadline);
            Thread.sleep(50);
        }
        handler = new AdmissionHandler(new SidecarInjector(SETTINGS), new ClientLookup(client));
    }

    @AfterAll
    static void stop() {
        if (operator != null) {
            operator.stop();
        }
        client.close();
        server.destroy();
    }

    static ConfigMap configMap(String pool) {
        return client.configMaps().inNamespace(NS).withName(pool + "-pggat").get();
    }

    static PgPool pool(String name, boolean sidecars, SidecarSpec sidecarSpec) {
        PgPool p = new PgPool();
        p.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(NS).build());
        PgPoolSpec spec = new PgPoolSpec();
        spec.cluster = new ClusterRef();
        spec.cluster.staticCluster = new StaticCluster();
        spec.cluster.staticCluster.endpoints = List.of(
                new StaticEndpoint("db-0.db", 5432, EndpointRole.PRIMARY),
                new StaticEndpoint("db-1.db", 5432, EndpointRole.REPLICA));
        spec.databases = List.of(
                new DatabaseSpec("orders", List.of(new UserSpec("app", new SecretKeyRef("orders-db", "password")))));
        SidecarSpec s = sidecarSpec != null ? sidecarSpec : new SidecarSpec();
        s.enabled = sidecars;
        spec.sidecar = s;
        p.setSpec(spec);
        return p;
    }

    /** A Pod as a ReplicaSet creates it: generateName, no namespace of its own, one init container, volumes. */
    static Pod appPod(Map<String, String> labels, Map<String, String> annotations) {
        return new PodBuilder()
                .withNewMetadata()
                .withGenerateName("checkout-7d9f-")
                .withLabels(labels)
                .withAnnotations(annotations)
                .endMetadata()
                .withNewSpec()
                .addNewInitContainer()
                .withName("migrate")
                .withImage("registry.test/checkout:1")
                .withCommand("migrate", "--database-url", "postgresql://app@127.0.0.1:6432/orders")
                .endInitContainer()
                .addNewContainer()
                .withName("app")
                .withImage("registry.test/checkout:1")
                .addNewPort()
                .withContainerPort(8080)
                .withName("http")
                .endPort()
                .endContainer()
                .addNewVolume()
                .withName("cache")
                .withNewEmptyDir()
                .endEmptyDir()
                .endVolume()
                .endSpec()
                .build();
    }

    static byte[] review(String uid, String operation, Object pod) {
        ObjectNode review = JSON.createObjectNode();
        review.put("apiVersion", "admission.k8s.io/v1");
        review.put("kind", "AdmissionReview");
        ObjectNode request = review.putObject("request");
        request.put("uid", uid);
        request.putObject("kind").put("group", "").put("version", "v1").put("kind", "Pod");
        request.putObject("resource").put("group", "").put("version", "v1").put("resource", "pods");
        request.put("namespace", NS);
        request.put("operation", operation);
        request.set("object", SERIALIZATION.convertValue(pod, JsonNode.class));
        return JSON.valueToTree(review).toString().getBytes(StandardCharsets.UTF_8);
    }

    static JsonNode respond(byte[] review) throws Exception {
        AdmissionHandler.Reply reply = handler.handle(review);
        assertThat(reply.status()).as(reply.bodyText()).isEqualTo(200);
        JsonNode out = JSON.readTree(reply.body());
        assertThat(out.path("apiVersion").asText()).isEqualTo("admission.k8s.io/v1");
        assertThat(out.path("kind").asText()).isEqualTo("AdmissionReview");
        return out.path("response");
    }

    static Pod applied(Pod pod, JsonNode response) throws Exception {
        assertThat(response.path("patchType").asText()).isEqualTo("JSONPatch");
        JsonNode patch =
                JSON.readTree(Base64.getDecoder().decode(response.path("patch").asText()));
        JsonNode result = JsonPatch.apply(patch, SERIALIZATION.convertValue(pod, JsonNode.class));
        return SERIALIZATION.convertValue(result, Pod.class);
    }

    static Map<String, EnvVar> env(Container c) {
        return c.getEnv().stream().collect(Collectors.toMap(EnvVar::getName, Function.identity()));
    }

    @Test
    void podNamingItsPgPoolGetsTheNativeSidecarFirstAndKeepsEverythingElse() throws Exception {
        Pod pod = appPod(Map.of("app", "checkout", SidecarInjector.POOL_LABEL, POOL), null);
        JsonNode response = respond(review("u-1", "CREATE", pod));
        assertThat(response.path("uid").asText()).isEqualTo("u-1");
        assertThat(response.path("allowed").asBoolean()).isTrue();
        Pod out = applied(pod, response);

        assertThat(out.getMetadata().getAnnotations()).containsEntry(SidecarInjector.INJECTED_ANNOTATION, POOL);
        // The label the operator's pod informer selects injected pods by; the pod's own labels stay.
        assertThat(out.getMetadata().getLabels())
                .containsExactlyInAnyOrderEntriesOf(Map.of(
                        "app", "checkout", SidecarInjector.POOL_LABEL, POOL, SidecarInjector.SIDECAR_OF_LABEL, POOL));
        assertThat(out.getSpec().getInitContainers())
                .extracting(Container::getName)
                .containsExactly("pggat", "migrate");
        assertThat(out.getSpec().getContainers()).isEqualTo(pod.getSpec().getContainers());
        Container sidecar = out.getSpec().getInitContainers().get(0);
        assertThat(sidecar.getRestartPolicy()).isEqualTo("Always");
        assertThat(sidecar.getImage()).isEqualTo(IMAGE);
        assertThat(sidecar.getCommand()).containsExactly("pggat", "pooler", "--config", "/etc/pggat/pggat.yaml");
        assertThat(sidecar.getStartupProbe().getHttpGet().getPath()).isEqualTo("/readyz");
        assertThat(sidecar.getStartupProbe().getHttpGet().getPort().getIntVal()).isEqualTo(9930);
        assertThat(sidecar.getPorts()).extracting(p -> p.getContainerPort()).containsExactly(9930);

        Map<String, EnvVar> env = env(sidecar);
        assertThat(env.get("PGGAT_LISTEN_HOST").getValue()).isEqualTo("127.0.0.1");
        assertThat(env.get("PGGAT_STREAM_URL").getValue())
                .isEqualTo("http://pggat-operator.pggat-system.svc:8090/v1/namespaces/shop/pgpools/orders/stream");
        assertThat(env.get("PGGAT_STREAM_TOKEN")
                        .getValueFrom()
                        .getSecretKeyRef()
                        .getName())
                .isEqualTo("orders-pggat-stream");
        assertThat(env.get("PGGAT_STREAM_TOKEN")
                        .getValueFrom()
                        .getSecretKeyRef()
                        .getOptional())
                .isTrue();
        // The sidecar reads the same passwords from the same Secret keys as the operator's own pooler pods.
        Deployment standalone = client.apps()
                .deployments()
                .inNamespace(NS)
                .withName(POOL + "-pggat")
                .get();
        List<EnvVar> standaloneEnv = standalone
                .getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0)
                .getEnv();
        assertThat(standaloneEnv).isNotEmpty();
        assertThat(sidecar.getEnv()).containsAll(standaloneEnv);
        assertThat(env.get("JAVA_OPTS").getValue()).isEqualTo(dev.pggat.operator.model.PoolerJvm.OPTIONS);
        assertThat(sidecar.getResources()).isEqualTo(dev.pggat.operator.model.PoolerJvm.sidecarResources());

        assertThat(out.getSpec().getVolumes())
                .extracting(v -> v.getName())
                .containsExactly("cache", "pggat-config", "pggat-tmp", "pggat-stream-token");
        assertThat(out.getSpec().getVolumes().get(1).getConfigMap().getName()).isEqualTo("orders-pggat");
        // The mounted configuration is the one whose listen host the sidecar's variable overrides.
        assertThat(configMap(POOL).getData().get("pggat.yaml")).contains("${PGGAT_LISTEN_HOST:-0.0.0.0}");
    }

    @Test
    void reinjectingAnInjectedPodChangesNothing() throws Exception {
        Pod pod = appPod(Map.of(SidecarInjector.POOL_LABEL, POOL), Map.of("note", "x"));
        Pod once = applied(pod, respond(review("u-2", "CREATE", pod)));
        assertThat(once.getMetadata().getLabels()).containsEntry(SidecarInjector.SIDECAR_OF_LABEL, POOL);
        JsonNode again = respond(review("u-3", "CREATE", once));
        assertThat(again.path("allowed").asBoolean()).isTrue();
        assertThat(again.has("patch")).isFalse();
        assertThat(once.getSpec().getInitContainers())
                .filteredOn(c -> c.getName().equals("pggat"))
                .hasSize(1);
    }

    @Test
    void podWithNoInitContainersVolumesOrAnnotationsGetsTheListsCreated() throws Exception {
        Pod pod = new PodBuilder()
                .withNewMetadata()
                .withName("bare")
                .withLabels(Map.of(SidecarInjector.POOL_LABEL, POOL))
                .endMetadata()
                .withNewSpec()
                .addNewContainer()
                .withName("app")
                .withImage("app")
                .endContainer()
                .endSpec()
                .build();
        Pod out = applied(pod, respond(review("u-4", "CREATE", pod)));
        assertThat(out.getSpec().getInitContainers())
                .extracting(Container::getName)
                .containsExactly("pggat");
        assertThat(out.getSpec().getVolumes())
                .extracting(v -> v.getName())
                .containsExactly("pggat-config", "pggat-tmp", "pggat-stream-token");
        assertThat(out.getMetadata().getAnnotations()).containsOnlyKeys(SidecarInjector.INJECTED_ANNOTATION);
    }

    @Test
    void sidecarOfLabelCopiedFromAnotherPodIsOverwrittenWithThePgPoolInjected() throws Exception {
        Pod pod = appPod(Map.of(SidecarInjector.POOL_LABEL, POOL, SidecarInjector.SIDECAR_OF_LABEL, "other"), null);
        Pod out = applied(pod, respond(review("u-5", "CREATE", pod)));
        assertThat(out.getMetadata().getLabels()).containsEntry(SidecarInjector.SIDECAR_OF_LABEL, POOL);
    }

    @Test
    void patchCreatesTheLabelAndAnnotationMapsWhenThePodHasNone() throws Exception {
        // Admission always sees the pgpool label, so only the patch itself can be given a pod without labels.
        Pod bare = new PodBuilder()
                .withNewMetadata()
                .withName("bare")
                .endMetadata()
                .withNewSpec()
                .addNewContainer()
                .withName("app")
                .withImage("app")
                .endContainer()
                .endSpec()
                .build();
        JsonNode patch = SidecarInjector.patch(
                bare, new ContainerBuilder().withName("pggat").build(), List.of(), POOL);
        Pod out = SERIALIZATION.convertValue(
                JsonPatch.apply(patch, SERIALIZATION.convertValue(bare, JsonNode.class)), Pod.class);
        assertThat(out.getMetadata().getLabels()).containsOnly(Map.entry(SidecarInjector.SIDECAR_OF_LABEL, POOL));
        assertThat(out.getMetadata().getAnnotations())
                .containsOnly(Map.entry(SidecarInjector.INJECTED_ANNOTATION, POOL));
    }

    @Test
    void podWithoutTheLabelIsAdmittedUnchanged() throws Exception {
        JsonNode response = respond(review("u-5", "CREATE", appPod(Map.of("app", "checkout"), null)));
        assertThat(response.path("allowed").asBoolean()).isTrue();
        assertThat(response.has("patch")).isFalse();
    }

    @Test
    void podThatOptsOutByAnnotationIsAdmittedUnchanged() throws Exception {
        JsonNode response = respond(review(
                "u-6",
                "CREATE",
                appPod(Map.of(SidecarInjector.POOL_LABEL, POOL), Map.of(SidecarInjector.INJECT_ANNOTATION, "false"))));
        assertThat(response.path("allowed").asBoolean()).isTrue();
        assertThat(response.has("patch")).isFalse();
    }

    @Test
    void podNamingAPgPoolThatDoesNotExistIsDeniedWithTheNameAndNamespace() throws Exception {
        JsonNode response = respond(review("u-7", "CREATE", appPod(Map.of(SidecarInjector.POOL_LABEL, "nope"), null)));
        assertThat(response.path("allowed").asBoolean()).isFalse();
        assertThat(response.has("patch")).isFalse();
        assertThat(response.at("/status/code").asInt()).isEqualTo(403);
        assertThat(response.at("/status/message").asText())
                .contains("PgPool nope does not exist in namespace shop")
                .contains("pggat.dev/pgpool");
    }

    @Test
    void pgPoolThatDoesNotEnableSidecarsDeniesNamingTheField() throws Exception {
        JsonNode response =
                respond(review("u-8", "CREATE", appPod(Map.of(SidecarInjector.POOL_LABEL, "closed"), null)));
        assertThat(response.path("allowed").asBoolean()).isFalse();
        assertThat(response.at("/status/message").asText()).contains("spec.sidecar.enabled: true");
    }

    @Test
    void podOutsideThePgPoolsSidecarSelectorIsDeniedAndOneInsideIsInjected() throws Exception {
        JsonNode outside = respond(review("u-9", "CREATE", appPod(Map.of(SidecarInjector.POOL_LABEL, "picky"), null)));
        assertThat(outside.path("allowed").asBoolean()).isFalse();
        assertThat(outside.at("/status/message").asText())
                .contains("spec.sidecar.selector")
                .contains("team=checkout");

        Pod inside = appPod(Map.of(SidecarInjector.POOL_LABEL, "picky", "team", "checkout"), null);
        Pod out = applied(inside, respond(review("u-10", "CREATE", inside)));
        assertThat(out.getSpec().getVolumes().get(1).getConfigMap().getName()).isEqualTo("picky-pggat");
    }

    @Test
    void podOnTheHostNetworkOrUsingThePoolerPortIsDeniedWithTheReason() throws Exception {
        Pod host = appPod(Map.of(SidecarInjector.POOL_LABEL, POOL), null);
        host.getSpec().setHostNetwork(true);
        assertThat(respond(review("u-11", "CREATE", host)).at("/status/message").asText())
                .contains("hostNetwork");

        Pod port = appPod(Map.of(SidecarInjector.POOL_LABEL, POOL), null);
        port.getSpec().getContainers().get(0).getPorts().get(0).setContainerPort(6432);
        JsonNode response = respond(review("u-12", "CREATE", port));
        assertThat(response.path("allowed").asBoolean()).isFalse();
        assertThat(response.at("/status/message").asText()).contains("container app declares port 6432");
    }

    @Test
    void updatesAndOtherKindsAreAdmittedUnchanged() throws Exception {
        JsonNode update = respond(review("u-13", "UPDATE", appPod(Map.of(SidecarInjector.POOL_LABEL, POOL), null)));
        assertThat(update.path("allowed").asBoolean()).isTrue();
        assertThat(update.has("patch")).isFalse();

        ObjectNode review = (ObjectNode) JSON.readTree(review("u-14", "CREATE", Map.of("data", Map.of())));
        ((ObjectNode) review.at("/request/kind")).put("kind", "ConfigMap");
        JsonNode other = respond(review.toString().getBytes(StandardCharsets.UTF_8));
        assertThat(other.path("allowed").asBoolean()).isTrue();
        assertThat(other.has("patch")).isFalse();
    }

    @Test
    void bodiesThatAreNotAdmissionReviewsGetHttp400WithTheReason() {
        AdmissionHandler.Reply notJson = handler.handle("{not json".getBytes(StandardCharsets.UTF_8));
        assertThat(notJson.status()).isEqualTo(400);
        assertThat(notJson.bodyText()).contains("not JSON");

        AdmissionHandler.Reply array = handler.handle("[1,2]".getBytes(StandardCharsets.UTF_8));
        assertThat(array.status()).isEqualTo(400);
        assertThat(array.bodyText()).contains("not a JSON object");

        AdmissionHandler.Reply v1beta1 = handler.handle(
                "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"a\"}}"
                        .getBytes(StandardCharsets.UTF_8));
        assertThat(v1beta1.status()).isEqualTo(400);
        assertThat(v1beta1.bodyText()).contains("admission.k8s.io/v1beta1");

        AdmissionHandler.Reply noUid =
                handler.handle("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}"
                        .getBytes(StandardCharsets.UTF_8));
        assertThat(noUid.status()).isEqualTo(400);
        assertThat(noUid.bodyText()).contains("request.uid");
    }

    @Test
    void reviewWhoseObjectIsNotAPodIsDeniedNotCrashed() throws Exception {
        ObjectNode review = (ObjectNode) JSON.readTree(review("u-15", "CREATE", Map.of()));
        ((ObjectNode) review.get("request")).put("object", "a string, not a Pod");
        JsonNode response = respond(review.toString().getBytes(StandardCharsets.UTF_8));
        assertThat(response.path("uid").asText()).isEqualTo("u-15");
        assertThat(response.path("allowed").asBoolean()).isFalse();
        assertThat(response.at("/status/code").asInt()).isEqualTo(400);
        assertThat(response.at("/status/message").asText()).contains("not a Pod");

        ObjectNode badSpec = (ObjectNode) JSON.readTree(review("u-16", "CREATE", Map.of()));
        ((ObjectNode) badSpec.get("request"))
                .set(
                        "object",
                        JSON.readTree(
                                "{\"metadata\":{\"labels\":{\"pggat.dev/pgpool\":\"orders\"}},\"spec\":{\"containers\":7}}"));
        JsonNode bad = respond(badSpec.toString().getBytes(StandardCharsets.UTF_8));
        assertThat(bad.path("allowed").asBoolean()).isFalse();
        assertThat(bad.at("/status/message").asText()).contains("not a Pod");

        ObjectNode missing = (ObjectNode) JSON.readTree(review("u-17", "CREATE", Map.of()));
        ((ObjectNode) missing.get("request")).remove("object");
        assertThat(respond(missing.toString().getBytes(StandardCharsets.UTF_8))
                        .at("/status/message")
                        .asText())
                .contains("request.object is missing");
    }

    @Test
    void configMapRecordsTheSecretKeysFeedingTheConfig() {
        assertThat(configMap(POOL).getMetadata().getAnnotations().get(PoolerResources.SECRET_ENV_ANNOTATION))
                .matches("PGGAT_SECRET_[A-Z0-9_]+=orders-db/password");
    }
}
