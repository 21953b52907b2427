package dev.pggat.operator;

import static dev.pggat.operator.MockApi.NS;
import static dev.pggat.operator.MockApi.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.DatabaseSpec;
import dev.pggat.crds.v1alpha1.EndpointRole;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.PgPoolStatus;
import dev.pggat.crds.v1alpha1.SecretKeyRef;
import dev.pggat.crds.v1alpha1.SidecarSpec;
import dev.pggat.crds.v1alpha1.StaticCluster;
import dev.pggat.crds.v1alpha1.StaticEndpoint;
import dev.pggat.crds.v1alpha1.UserSpec;
import dev.pggat.operator.model.PoolerResources;
import dev.pggat.operator.stream.EndpointHub;
import dev.pggat.operator.stream.EndpointStreamServer;
import dev.pggat.operator.stream.StreamAuth;
import dev.pggat.operator.stream.StreamTokens;
import dev.pggat.operator.webhook.ClientLookup;
import dev.pggat.operator.webhook.Decision;
import dev.pggat.operator.webhook.SidecarInjector;
import dev.pggat.operator.webhook.SidecarSettings;
import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.stream.EndpointStreamClient;
import dev.pggat.pooler.stream.EnvelopeApplier;
import dev.pggat.pooler.stream.StreamProtocol;
import dev.pggat.pooler.stream.StreamSettings;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.fabric8.zjsonpatch.JsonPatch;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * status.endpointSetVersion, status.podsAtVersion and status.sidecarsAtVersion against real poolers: one subscribed
 * to the operator's stream, one running from its configuration alone, and one standing in for a sidecar the webhook
 * injected, all reachable through the admin port their Pod objects declare.
 */
class StatusVersionTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final String POOL = "orders";
    private static final String PASSWORD = "not-a-real-password";

    private MockApi api;
    private EndpointStreamServer stream;
    private final List<AutoCloseable> closing = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
        if (stream != null) {
            stream.close();
        }
        if (api != null) {
            api.close();
        }
    }

    @Test
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void statusFollowsTheStreamVersionAndCountsOnlyPodsThatAppliedIt() throws Exception {
        String streamBase = startOperatorWithStream();
        api.create(staticPool("10.0.0.1"));

        Pooler subscribed = pooler();
        subscribe(subscribed, streamBase, "orders-pggat-a");
        poolerPod("orders-pggat-a", subscribed.adminPort());

        long first = awaitStatus(
                        "1 of 1 pods at the stream's version",
                        s -> s.pods != null
                                && s.pods == 1
                                && s.podsAtVersion == 1
                                && s.endpointSetVersion == servedVersion())
                .endpointSetVersion;
        assertThat(first)
                .as("the stream's version (milliseconds), not the configuration counter")
                .isGreaterThan(1_000_000L);

        // A pod that never subscribed routes by its configuration file: counted, not at the version.
        Pooler unsubscribed = pooler();
        poolerPod("orders-pggat-b", unsubscribed.adminPort());
        awaitStatus("1 of 2 pods at the version", s -> s.pods == 2 && s.podsAtVersion == 1);

        PgPool pool = api.get(POOL);
        pool.getSpec().cluster.staticCluster.endpoints.get(0).host = "10.0.0.2";
        api.client.resource(pool).update();
        PgPoolStatus moved = awaitStatus(
                "the new version, caught up by the subscribed pod",
                s -> s.endpointSetVersion > first
                        && s.endpointSetVersion == servedVersion()
                        && s.podsAtVersion == 1
                        && s.pods == 2);
        assertThat(subscribed.router().database("app").endpoints().primary().host())
                .isEqualTo("10.0.0.2");
        assertThat(unsubscribed.router().database("app").endpoints().primary().host())
                .as("the pod counted as behind is behind")
                .isEqualTo("10.0.0.1");

        // The lagging pod subscribes late and catches up; nothing but the operator's re-asking can notice.
        subscribe(unsubscribed, streamBase, "orders-pggat-b");
        awaitStatus(
                "2 of 2 pods at the version",
                s -> s.podsAtVersion == 2 && s.pods == 2 && s.endpointSetVersion == servedVersion());
        System.out.println("status versions: " + first + " -> " + moved.endpointSetVersion);
    }

    @Test
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void injectedSidecarIsCountedAtVersionThenBehindThenCaughtUp() throws Exception {
        String streamBase = startOperatorWithStream();
        PgPool created = staticPool("10.0.0.1");
        created.getSpec().sidecar = new SidecarSpec();
        created.getSpec().sidecar.enabled = true;
        api.create(created);

        Pooler sidecar = pooler();
        EndpointStreamClient following = subscribe(sidecar, streamBase, "checkout-1");
        injectedAppPod("checkout-1", sidecar.adminPort());

        long first = awaitStatus(
                        "the sidecar counted at the stream's version, apart from the pooler pods",
                        s -> s.sidecars != null
                                && s.sidecars == 1
                                && s.sidecarsAtVersion == 1
                                && s.pods == 0
                                && s.endpointSetVersion == servedVersion())
                .endpointSetVersion;

        // The sidecar loses its stream: it keeps routing by what it had while the servers move.
        following.close();
        PgPool pool = api.get(POOL);
        pool.getSpec().cluster.staticCluster.endpoints.get(0).host = "10.0.0.2";
        api.client.resource(pool).update();
        awaitStatus(
                "the sidecar counted as behind the new version",
                s -> s.endpointSetVersion > first
                        && s.endpointSetVersion == servedVersion()
                        && s.sidecars == 1
                        && s.sidecarsAtVersion == 0);
        assertThat(sidecar.router().database("app").endpoints().primary().host())
                .as("the sidecar counted as behind is behind")
                .isEqualTo("10.0.0.1");

        subscribe(sidecar, streamBase, "checkout-1");
        awaitStatus(
                "the sidecar caught up",
                s -> s.sidecars == 1 && s.sidecarsAtVersion == 1 && s.endpointSetVersion == servedVersion());
        assertThat(sidecar.router().database("app").endpoints().primary().host())
                .isEqualTo("10.0.0.2");
    }

    /** @return the stream's base URL */
    private String startOperatorWithStream() throws Exception {
        api = new MockApi();
        api.secret("app-password", Map.of("password", PASSWORD));
        stream = EndpointStreamServer.start(
                api.client,
                Set.of(),
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                Duration.ofMillis(300),
                Clock.systemUTC());
        String streamBase = "http://127.0.0.1:" + stream.port();
        api.startOperator(
                new PggatOperator.Options(streamBase, stream.hub(), null, StreamAuth.TOKEN, Duration.ofMillis(200)));
        return streamBase;
    }

    /**
     * An application pod as the webhook admits it, its sidecar's {@code pggat-admin} port pointing at an in-process
     * pooler. The application has a port named {@code admin} of its own where nothing listens: asking that one
     * instead would count the sidecar as behind.
     */
    private void injectedAppPod(String name, int sidecarAdminPort) throws Exception {
        Pod app = new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace(NS)
                .withLabels(Map.of("app", "checkout", SidecarInjector.POOL_LABEL, POOL))
                .endMetadata()
                .withNewSpec()
                .addNewContainer()
                .withName("app")
                .withImage("registry.test/checkout:1")
                .addNewPort()
                .withName("admin")
                .withContainerPort(1)
                .endPort()
                .endContainer()
                .endSpec()
                .build();
        SidecarInjector injector = new SidecarInjector(new SidecarSettings(MockApi.IMAGE, "http://unused/{pgpool}"));
        Decision decision = await("the webhook's decision once the PgPool has its ConfigMap", WAIT, () -> {
            Decision d = injector.decide(app, NS, new ClientLookup(api.client));
            return d.patches() ? d : null;
        });
        KubernetesSerialization serialization = new KubernetesSerialization();
        Pod injected = serialization.convertValue(
                JsonPatch.apply(decision.patch(), serialization.convertValue(app, JsonNode.class)), Pod.class);
        assertThat(injected.getMetadata().getLabels()).containsEntry(SidecarInjector.SIDECAR_OF_LABEL, POOL);
        // The in-process pooler's port stands in for the fixed 9930 of a real pod.
        injected.getSpec().getInitContainers().stream()
                .filter(c -> c.getName().equals(SidecarInjector.CONTAINER))
                .flatMap(c -> c.getPorts().stream())
                .filter(p -> SidecarInjector.ADMIN_PORT_NAME.equals(p.getName()))
                .forEach(p -> p.setContainerPort(sidecarAdminPort));
        injected.setStatus(new PodStatusBuilder()
                .withPhase("Running")
                .withPodIP("127.0.0.1")
                .build());
        api.client.resource(injected).create();
    }

    private long servedVersion() {
        EndpointHub.PoolStream s = stream.hub().stream(NS + "/" + POOL);
        return s == null || s.current() == null
                ? -1
                : s.current().envelope().endpoints().version();
    }

    private PgPoolStatus awaitStatus(String what, java.util.function.Predicate<PgPoolStatus> p) {
        return await(what, WAIT, () -> {
            PgPool pool = api.get(POOL);
            PgPoolStatus s = pool == null ? null : pool.getStatus();
            return s != null && s.podsAtVersion != null && s.pods != null && s.endpointSetVersion != null && p.test(s)
                    ? s
                    : null;
        });
    }

    /** A real pooler whose admin port answers GET /endpoints; its bootstrap endpoint is the first one. */
    private Pooler pooler() throws Exception {
        String yaml = """
                listen:
                  host: 127.0.0.1
                  port: 0
                admin:
                  enabled: true
                  host: 127.0.0.1
                  port: 0
                databases:
                  app:
                    endpoints:
                      - host: 10.0.0.1
                        port: 5432
                        role: primary
                    users:
                      app:
                        password: ${APP_PASSWORD}
                """;
        PoolerConfig config = ConfigLoader.parse(yaml, "status-version.yaml", Map.of("APP_PASSWORD", PASSWORD));
        Pooler p = new Pooler(config);
        closing.add(p);
        p.start();
        return p;
    }

    private EndpointStreamClient subscribe(Pooler pooler, String streamBase, String podName) {
        StreamSettings settings = StreamSettings.of(
                        java.net.URI.create(streamBase + StreamProtocol.path(NS, POOL)), token(), null, podName)
                .withTimeouts(
                        Duration.ofSeconds(2), Duration.ofSeconds(3), Duration.ofMillis(100), Duration.ofSeconds(1));
        EndpointStreamClient client = new EndpointStreamClient(
                        settings,
                        new EnvelopeApplier(
                                () -> List.of("app"), pooler::applyEndpointSet, pooler.cancelRegistry(), podName))
                .start();
        closing.add(client);
        return client;
    }

    private String token() {
        Secret s = await("Secret " + StreamTokens.secretName(POOL), WAIT, () -> api.client
                .secrets()
                .inNamespace(NS)
                .withName(StreamTokens.secretName(POOL))
                .get());
        return new String(Base64.getDecoder().decode(s.getData().get(StreamTokens.KEY)), StandardCharsets.UTF_8);
    }

    /** The Pod object a pooler pod would have, pointing at an in-process pooler through its admin port. */
    private void poolerPod(String name, int adminPort) {
        PgPool pool = api.get(POOL);
        api.client
                .resource(new PodBuilder()
                        .withNewMetadata()
                        .withName(name)
                        .withNamespace(NS)
                        .withLabels(PoolerResources.labels(pool))
                        .endMetadata()
                        .withNewSpec()
                        .addNewContainer()
                        .withName("pggat")
                        .withImage(MockApi.IMAGE)
                        .addNewPort()
                        .withName("postgres")
                        .withContainerPort(6432)
                        .endPort()
                        .addNewPort()
                        .withName("admin")
                        .withContainerPort(adminPort)
                        .endPort()
                        .endContainer()
                        .endSpec()
                        .withNewStatus()
                        .withPhase("Running")
                        .withPodIP("127.0.0.1")
                        .endStatus()
                        .build())
                .create();
    }

    private static PgPool staticPool(String host) {
        PgPool pool = new PgPool();
        pool.setMetadata(new ObjectMetaBuilder().withName(POOL).build());
        PgPoolSpec spec = new PgPoolSpec();
        spec.cluster = new ClusterRef();
        spec.cluster.staticCluster = new StaticCluster();
        StaticEndpoint e = new StaticEndpoint(host, 5432, EndpointRole.PRIMARY);
        e.name = "db";
        spec.cluster.staticCluster.endpoints.add(e);
        spec.databases.add(
                new DatabaseSpec("app", List.of(new UserSpec("app", new SecretKeyRef("app-password", "password")))));
        pool.setSpec(spec);
        return pool;
    }
}
