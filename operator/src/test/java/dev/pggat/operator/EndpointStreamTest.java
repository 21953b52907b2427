package dev.pggat.operator;

import static dev.pggat.operator.MockApi.NS;
import static dev.pggat.operator.MockApi.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.NamedRef;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.operator.model.ClusterKinds;
import dev.pggat.operator.model.PoolerResources;
import dev.pggat.operator.stream.EndpointStreamServer;
import dev.pggat.operator.stream.Snapshots;
import dev.pggat.operator.stream.StreamTokens;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.frontend.CancelRegistry;
import dev.pggat.pooler.routing.EndpointSet;
import dev.pggat.pooler.stream.EndpointStreamClient;
import dev.pggat.pooler.stream.Envelope;
import dev.pggat.pooler.stream.EnvelopeApplier;
import dev.pggat.pooler.stream.StreamProtocol;
import dev.pggat.pooler.stream.StreamSettings;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The endpoint stream served from the in-process operator's informer caches, with the pooler's own subscriber. */
class EndpointStreamTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    private MockApi api;
    private EndpointStreamServer stream;
    private final List<EndpointStreamClient> clients = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        api = new MockApi();
    }

    @AfterEach
    void stop() {
        clients.forEach(EndpointStreamClient::close);
        if (stream != null) {
            stream.close();
        }
        api.close();
    }

    private void startStream(int port) throws Exception {
        stream = EndpointStreamServer.start(
                api.client,
                Set.of(),
                new InetSocketAddress(InetAddress.getLoopbackAddress(), port),
                Duration.ofMillis(300),
                Clock.systemUTC());
    }

    private String baseUrl() {
        return "http://127.0.0.1:" + stream.port();
    }

    private static PgPool cnpgPool(String name, String cluster) {
        PgPool pool = new PgPool();
        pool.setMetadata(new ObjectMetaBuilder().withName(name).build());
        PgPoolSpec spec = new PgPoolSpec();
        spec.cluster = new ClusterRef();
        spec.cluster.cnpg = new NamedRef(cluster);
        pool.setSpec(spec);
        return pool;
    }

    /** A CloudNativePG cluster pg with three running instances, pg-1 primary, and its app Secret. */
    private void cnpgCluster() {
        api.installCrd(ClusterKinds.CNPG);
        api.cnpgCluster("pg", "pg-1");
        api.pod("pg-1", Map.of("cnpg.io/cluster", "pg", "cnpg.io/instanceRole", "primary"), "10.1.0.1");
        api.pod("pg-2", Map.of("cnpg.io/cluster", "pg", "cnpg.io/instanceRole", "replica"), "10.1.0.2");
        api.pod("pg-3", Map.of("cnpg.io/cluster", "pg", "cnpg.io/instanceRole", "replica"), "10.1.0.3");
        api.secret("pg-app", Map.of("username", "app", "password", "s3cret-app", "dbname", "app"));
    }

    private String token(String pool) {
        Secret s = await("Secret " + StreamTokens.secretName(pool), WAIT, () -> api.client
                .secrets()
                .inNamespace(NS)
                .withName(StreamTokens.secretName(pool))
                .get());
        return new String(Base64.getDecoder().decode(s.getData().get(StreamTokens.KEY)), StandardCharsets.UTF_8);
    }

    private URI streamUri(String pool) {
        return URI.create(baseUrl() + StreamProtocol.path(NS, pool));
    }

    private BlockingQueue<Envelope> subscribe(String pool, String token) {
        BlockingQueue<Envelope> received = new LinkedBlockingQueue<>();
        StreamSettings settings = StreamSettings.of(streamUri(pool), token, null, "test-pooler")
                .withTimeouts(
                        Duration.ofSeconds(2), Duration.ofSeconds(2), Duration.ofMillis(50), Duration.ofMillis(500));
        clients.add(new EndpointStreamClient(settings, received::add).start());
        return received;
    }

    private static Envelope awaitEnvelope(BlockingQueue<Envelope> q, String what, Predicate<Envelope> p)
            throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        Envelope last = null;
        while (System.nanoTime() < deadline) {
            Envelope e = q.poll(100, TimeUnit.MILLISECONDS);
            if (e != null) {
                last = e;
                if (p.test(e)) {
                    return e;
                }
            }
        }
        throw new AssertionError(
                "no snapshot with " + what + " within " + WAIT + "; last: " + (last == null ? "none" : last.toJson()));
    }

    private static String primary(Envelope e) {
        return e.endpoints() == null || e.endpoints().primary() == null
                ? null
                : e.endpoints().primary().name();
    }

    private static List<String> replicas(Envelope e) {
        return e.endpoints().replicas().stream().map(EndpointSet.Member::name).toList();
    }

    @Test
    void aPoolerThatSubscribesLateGetsTheCurrentSnapshot() throws Exception {
        cnpgCluster();
        startStream(0);
        api.startOperator(baseUrl());
        api.create(cnpgPool("orders", "pg"));
        String token = token("orders");
        // The primary moves before any pooler subscribes.
        api.setCnpgPrimary("pg", "pg-2");
        await("the stream to see pg-2 as primary", WAIT, () -> {
            var s = stream.hub().stream(NS + "/orders");
            return s != null && "pg-2".equals(primary(s.current().envelope()));
        });

        Envelope first = awaitEnvelope(subscribe("orders", token), "any content", e -> true);
        assertThat(first.pool()).isEqualTo(NS + "/orders");
        assertThat(primary(first)).isEqualTo("pg-2");
        assertThat(first.endpoints().primary().host()).isEqualTo("10.1.0.2");
        assertThat(replicas(first)).containsExactly("pg-1", "pg-3");
        assertThat(first.endpoints().version())
                .as("versions start at the wall clock, above anything a restarted operator sent")
                .isGreaterThan(System.currentTimeMillis() - 60_000);
    }

    @Test
    void anUnauthenticatedSubscriberIsRefusedWith401() throws Exception {
        cnpgCluster();
        startStream(0);
        api.startOperator(baseUrl());
        api.create(cnpgPool("orders", "pg"));
        String token = token("orders");
        await("the PgPool's stream", WAIT, () -> stream.hub().stream(NS + "/orders") != null);
        HttpClient http = HttpClient.newHttpClient();

        HttpResponse<String> none =
                http.send(HttpRequest.newBuilder(streamUri("orders")).build(), HttpResponse.BodyHandlers.ofString());
        HttpResponse<String> wrong = http.send(
                HttpRequest.newBuilder(streamUri("orders"))
                        .header("Authorization", "Bearer " + token + "x")
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        HttpResponse<String> otherPool = http.send(
                HttpRequest.newBuilder(streamUri("billing"))
                        .header("Authorization", "Bearer " + token)
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        for (HttpResponse<String> r : List.of(none, wrong, otherPool)) {
            assertThat(r.statusCode()).isEqualTo(401);
            assertThat(r.headers().firstValue("WWW-Authenticate")).hasValue("Bearer");
            assertThat(r.body()).doesNotContain("10.1.0").doesNotContain(token);
        }

        BlockingQueue<Envelope> refused = subscribe("orders", "not-the-token");
        BlockingQueue<Envelope> accepted = subscribe("orders", token);
        awaitEnvelope(accepted, "a snapshot for the right token", e -> true);
        assertThat(refused.poll(1, TimeUnit.SECONDS)).isNull();
        assertThat(clients.get(0).disconnectsTotal.sum()).isGreaterThan(0);
    }

    private HttpResponse<String> getStream(String pool, String token, String heldVersion) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(streamUri(pool))
                .timeout(Duration.ofSeconds(5))
                .header("Authorization", "Bearer " + token);
        if (heldVersion != null) {
            b.header(StreamProtocol.LAST_VERSION_HEADER, heldVersion);
        }
        return HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aHeldVersionThatCannotBeExceededIsRefusedWith400AndAnInRangeOneIsExceeded() throws Exception {
        cnpgCluster();
        startStream(0);
        api.startOperator(baseUrl());
        api.create(cnpgPool("orders", "pg"));
        String token = token("orders");
        await("the PgPool's snapshot with a primary", WAIT, () -> {
            var s = stream.hub().stream(NS + "/orders");
            return s != null && primary(s.current().envelope()) != null;
        });
        for (String held : List.of(String.valueOf(Long.MAX_VALUE), "-1", "12abc", "99999999999999999999")) {
            HttpResponse<String> r = getStream("orders", token, held);
            assertThat(r.statusCode()).as(held).isEqualTo(400);
            assertThat(r.body()).contains(StreamProtocol.LAST_VERSION_HEADER);
        }
        long current = stream.hub().stream(NS + "/orders")
                .current()
                .envelope()
                .endpoints()
                .version();
        assertThat(current).as("refused headers moved nothing").isPositive().isLessThan(Long.MAX_VALUE / 2);

        long held = current + 1_000_000;
        HttpRequest request = HttpRequest.newBuilder(streamUri("orders"))
                .header("Authorization", "Bearer " + token)
                .header(StreamProtocol.LAST_VERSION_HEADER, Long.toString(held))
                .build();
        HttpResponse<java.util.stream.Stream<String>> lines =
                HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofLines());
        assertThat(lines.statusCode()).isEqualTo(200);
        Envelope first = StreamProtocol.parseLine(lines.body().findFirst().orElseThrow());
        lines.body().close();
        assertThat(first.endpoints().version()).isEqualTo(held + 1);
    }

    @Test
    void stalledConnectionsCostNoThreadAndDoNotDelayRealSubscribers() throws Exception {
        cnpgCluster();
        stream = EndpointStreamServer.start(
                api.client,
                Set.of(),
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                Duration.ofMillis(300),
                EndpointStreamServer.DEFAULT_MAX_SUBSCRIBERS,
                Clock.systemUTC(),
                null,
                Duration.ofMillis(500));
        api.startOperator(baseUrl());
        api.create(cnpgPool("orders", "pg"));
        String token = token("orders");
        List<java.net.Socket> stalled = new ArrayList<>();
        try {
            for (int i = 0; i < 64; i++) {
                java.net.Socket s = new java.net.Socket(InetAddress.getLoopbackAddress(), stream.port());
                s.setSoTimeout(5000);
                s.getOutputStream()
                        .write(("GET " + StreamProtocol.path(NS, "orders") + " HTTP/1.1\r\nHost: x\r\n")
                                .getBytes(StandardCharsets.US_ASCII));
                stalled.add(s);
            }
            long streamThreads = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().startsWith("pggat-stream-auth")
                            || t.getName().startsWith("pggat-stream-subscriber"))
                    .count();
            assertThat(streamThreads)
                    .as("threads serving requests before any request is whole")
                    .isZero();

            awaitEnvelope(subscribe("orders", token), "a snapshot while 64 connections stall", e -> true);
            HttpResponse<String> health = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(URI.create(baseUrl() + "/healthz"))
                                    .timeout(Duration.ofSeconds(2))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
            assertThat(health.statusCode()).isEqualTo(200);
            // Past the request timeout, every stalled connection has been closed without an answer.
            for (java.net.Socket s : stalled) {
                assertThat(s.getInputStream().read()).isEqualTo(-1);
            }
        } finally {
            for (java.net.Socket s : stalled) {
                s.close();
            }
        }
    }

    @Test
    void aSubscriberKeepsItsSnapshotWhileTheOperatorRestartsThenResubscribes() throws Exception {
        cnpgCluster();
        startStream(0);
        int port = stream.port();
        api.startOperator(baseUrl());
        api.create(cnpgPool("orders", "pg"));
        String token = token("orders");
        BlockingQueue<Envelope> received = subscribe("orders", token);
        Envelope before = awaitEnvelope(received, "pg-1 primary", e -> "pg-1".equals(primary(e)));
        EndpointStreamClient client = clients.get(0);

        stream.close();
        stream = null;
        api.stopOperator();
        // While no operator runs, the cluster fails over.
        api.setCnpgPrimary("pg", "pg-3");
        Thread.sleep(1000);
        assertThat(client.isConnected()).isFalse();
        assertThat(client.last()).isEqualTo(before);
        assertThat(received).as("nothing applied while the operator is away").isEmpty();

        startStream(port);
        api.startOperator(baseUrl());
        Envelope after = awaitEnvelope(received, "pg-3 primary", e -> "pg-3".equals(primary(e)));
        assertThat(after.endpoints().version()).isGreaterThan(before.endpoints().version());
        assertThat(client.subscriptionsTotal.sum()).isEqualTo(2);
        assertThat(client.isConnected()).isTrue();
    }

    @Test
    void aCnpgSwitchoverPublishesANoPrimaryWindowThenTheNewPrimary() throws Exception {
        cnpgCluster();
        startStream(0);
        api.startOperator(baseUrl());
        api.create(cnpgPool("orders", "pg"));
        BlockingQueue<Envelope> received = subscribe("orders", token("orders"));
        Envelope settled = awaitEnvelope(received, "pg-1 primary", e -> "pg-1".equals(primary(e)));
        assertThat(replicas(settled)).containsExactly("pg-2", "pg-3");

        api.setCnpgStatus("pg", "pg-1", "pg-2");
        Envelope window = awaitEnvelope(received, "no primary", e -> e.endpoints() != null && primary(e) == null);
        assertThat(window.endpoints().endpoints())
                .as("every instance still serves reads; none takes writes")
                .allMatch(m -> m.role() == Endpoint.Role.REPLICA)
                .extracting(EndpointSet.Member::name)
                .containsExactly("pg-1", "pg-2", "pg-3");
        assertThat(window.endpoints().version())
                .isGreaterThan(settled.endpoints().version());

        api.setCnpgStatus("pg", "pg-2", "pg-2");
        Envelope promoted = awaitEnvelope(received, "pg-2 primary", e -> "pg-2".equals(primary(e)));
        assertThat(promoted.endpoints().primary().host()).isEqualTo("10.1.0.2");
        assertThat(replicas(promoted)).containsExactly("pg-1", "pg-3");
        assertThat(promoted.endpoints().version())
                .isGreaterThan(window.endpoints().version());

        // CloudNativePG's failover marker: no writable primary until it picks one.
        api.setCnpgStatus("pg", "pg-2", "pending");
        awaitEnvelope(
                received, "no primary during a pending failover", e -> e.endpoints() != null && primary(e) == null);
    }

    @Test
    void poolerPodsGetInstanceIdsAndTheStreamEnvAndArePublishedAsPeers() throws Exception {
        cnpgCluster();
        startStream(0);
        api.startOperator(baseUrl());
        PgPool pool = api.create(cnpgPool("orders", "pg"));
        String token = token("orders");
        Deployment d = await("Deployment orders-pggat", WAIT, () -> api.client
                .apps()
                .deployments()
                .inNamespace(NS)
                .withName("orders-pggat")
                .get());
        var container = d.getSpec().getTemplate().getSpec().getContainers().get(0);
        Map<String, EnvVar> env = new HashMap<>();
        container.getEnv().forEach(e -> env.put(e.getName(), e));
        assertThat(env.get(StreamSettings.ENV_URL).getValue())
                .isEqualTo(baseUrl() + "/v1/namespaces/" + NS + "/pgpools/orders/stream");
        assertThat(env.get(StreamSettings.ENV_TOKEN_FILE).getValue()).isEqualTo("/var/run/pggat/stream/token");
        assertThat(env.get(StreamSettings.ENV_POD_NAME)
                        .getValueFrom()
                        .getFieldRef()
                        .getFieldPath())
                .isEqualTo("metadata.name");
        assertThat(d.getSpec().getTemplate().getSpec().getVolumes())
                .filteredOn(v -> v.getSecret() != null)
                .extracting(v -> v.getSecret().getSecretName())
                .containsExactly("orders-pggat-stream");

        // Play the ReplicaSet controller: two pods from the Deployment's template.
        Map<String, String> labels = PoolerResources.labels(pool);
        api.pod("orders-pggat-7f-b", labels, "10.2.0.2");
        api.pod("orders-pggat-7f-a", labels, "10.2.0.1");
        Pod a = await("an instance id on pod a", WAIT, () -> {
            Pod p = api.client
                    .pods()
                    .inNamespace(NS)
                    .withName("orders-pggat-7f-a")
                    .get();
            return Snapshots.instanceId(p) != null ? p : null;
        });
        Pod b = await("an instance id on pod b", WAIT, () -> {
            Pod p = api.client
                    .pods()
                    .inNamespace(NS)
                    .withName("orders-pggat-7f-b")
                    .get();
            return Snapshots.instanceId(p) != null ? p : null;
        });
        assertThat(Set.of(Snapshots.instanceId(a), Snapshots.instanceId(b))).isEqualTo(Set.of(0, 1));

        // The pooler's own wiring: its cancel registry learns its id and its peers from the stream.
        CancelRegistry cancels = new CancelRegistry(0);
        List<String> applied = new ArrayList<>();
        BlockingQueue<Envelope> received = new LinkedBlockingQueue<>();
        EnvelopeApplier applier =
                new EnvelopeApplier(() -> List.of("app"), (db, set) -> applied.add(db), cancels, "orders-pggat-7f-b");
        StreamSettings settings = StreamSettings.of(streamUri("orders"), token, null, "orders-pggat-7f-b");
        clients.add(new EndpointStreamClient(settings, e -> {
                    applier.accept(e);
                    received.add(e);
                })
                .start());
        Envelope e = awaitEnvelope(received, "both peers", x -> x.peers().size() == 2);
        assertThat(e.peers())
                .extracting(Envelope.Peer::name, Envelope.Peer::host, Envelope.Peer::port)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("orders-pggat-7f-a", "10.2.0.1", 6432),
                        org.assertj.core.groups.Tuple.tuple("orders-pggat-7f-b", "10.2.0.2", 6432));
        assertThat(cancels.instance()).isEqualTo(Snapshots.instanceId(b));
        assertThat(cancels.peers()).containsOnlyKeys(0, 1);
        assertThat(applied).contains("app");

        // A pod that goes away frees its id for the next one.
        api.client.pods().inNamespace(NS).withName("orders-pggat-7f-a").delete();
        api.pod("orders-pggat-7f-c", labels, "10.2.0.3");
        Pod c = await("an instance id on pod c", WAIT, () -> {
            Pod p = api.client
                    .pods()
                    .inNamespace(NS)
                    .withName("orders-pggat-7f-c")
                    .get();
            return Snapshots.instanceId(p) != null ? p : null;
        });
        assertThat(Snapshots.instanceId(c)).isEqualTo(Snapshots.instanceId(a));
        awaitEnvelope(received, "peers b and c", x -> x.peers().stream()
                .map(Envelope.Peer::name)
                .toList()
                .equals(List.of("orders-pggat-7f-b", "orders-pggat-7f-c")));
    }

    @Test
    void aFailoverRewritesTheBootstrapConfigButDoesNotRollStreamSubscribedPoolerPods() throws Exception {
        cnpgCluster();
        startStream(0);
        api.startOperator(baseUrl());
        api.create(cnpgPool("orders", "pg"));
        Deployment before = await("Deployment orders-pggat", WAIT, () -> api.client
                .apps()
                .deployments()
                .inNamespace(NS)
                .withName("orders-pggat")
                .get());
        String checksum =
                before.getSpec().getTemplate().getMetadata().getAnnotations().get(PoolerResources.CHECKSUM_ANNOTATION);

        api.setCnpgPrimary("pg", "pg-3");
        await("the ConfigMap to name pg-3's address as primary", WAIT, () -> {
            var cm = api.client
                    .configMaps()
                    .inNamespace(NS)
                    .withName("orders-pggat")
                    .get();
            return PgPoolReconcilerTest.endpoints(
                            PgPoolReconcilerTest.yaml(cm.getData().get("pggat.yaml"))
                                    .at("/databases/app"))
                    .contains("10.1.0.3:primary");
        });
        Deployment after = api.client
                .apps()
                .deployments()
                .inNamespace(NS)
                .withName("orders-pggat")
                .get();
        assertThat(after.getSpec()
                        .getTemplate()
                        .getMetadata()
                        .getAnnotations()
                        .get(PoolerResources.CHECKSUM_ANNOTATION))
                .isEqualTo(checksum);
    }

    @Test
    void deletingThePgPoolEndsItsStreamAndItsTokenSecret() throws Exception {
        cnpgCluster();
        startStream(0);
        api.startOperator(baseUrl());
        api.create(cnpgPool("orders", "pg"));
        String token = token("orders");
        BlockingQueue<Envelope> received = subscribe("orders", token);
        awaitEnvelope(received, "a snapshot", e -> true);
        EndpointStreamClient client = clients.get(0);

        api.client.resources(PgPool.class).inNamespace(NS).withName("orders").delete();
        await("the stream to end", WAIT, () -> !client.isConnected());
        await(
                "the token Secret to go",
                WAIT,
                () -> api.client
                                .secrets()
                                .inNamespace(NS)
                                .withName(StreamTokens.secretName("orders"))
                                .get()
                        == null);
        HttpResponse<String> r = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(streamUri("orders"))
                                .header("Authorization", "Bearer " + token)
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(401);
    }
}
