package dev.pggat.pooler.stream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.routing.EndpointSet;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EndpointStreamClientTest {
    private final BlockingQueue<Envelope> received = new LinkedBlockingQueue<>();
    private ScriptedStreamServer server;
    private EndpointStreamClient client;

    @AfterEach
    void stop() {
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
    }

    static Envelope envelope(long version, String primaryHost) {
        return new Envelope(
                "shop/orders",
                new EndpointSet(
                        version,
                        List.of(
                                EndpointSet.Member.primary(primaryHost, 5432),
                                EndpointSet.Member.replica("10.0.0.9", 5432))),
                List.of(new Envelope.Peer("orders-pggat-a", "10.1.0.1", 6432, 0)));
    }

    private StreamSettings settings(Duration heartbeatTimeout) {
        return StreamSettings.of(server.url(), "t0ken", null, "orders-pggat-a")
                .withTimeouts(Duration.ofSeconds(2), heartbeatTimeout, Duration.ofMillis(50), Duration.ofMillis(400));
    }

    private Envelope next() throws InterruptedException {
        Envelope e = received.poll(10, TimeUnit.SECONDS);
        assertThat(e).as("a snapshot within 10 s").isNotNull();
        return e;
    }

    private void awaitRequests(int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (server.requests.size() < n && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(server.requests).hasSizeGreaterThanOrEqualTo(n);
    }

    @Test
    void appliesEverySnapshotInOrderAndSendsTheBearerTokenAndPodName() throws Exception {
        server = new ScriptedStreamServer(0);
        client = new EndpointStreamClient(settings(Duration.ofSeconds(10)), received::add).start();
        server.send(StreamProtocol.snapshotLine(envelope(5, "10.0.0.1")));
        server.send(StreamProtocol.heartbeatLine());
        server.send(StreamProtocol.snapshotLine(envelope(6, "10.0.0.2")));
        assertThat(next().endpoints().primary().host()).isEqualTo("10.0.0.1");
        assertThat(next().endpoints().primary().host()).isEqualTo("10.0.0.2");
        assertThat(client.awaitFirst(Duration.ZERO)).isTrue();
        assertThat(client.isConnected()).isTrue();
        assertThat(server.requests).hasSize(1);
        assertThat(server.requests.get(0).get("authorization")).containsExactly("Bearer t0ken");
        assertThat(server.requests.get(0).get("pggat-pod")).containsExactly("orders-pggat-a");
        assertThat(server.requests.get(0)).doesNotContainKey("pggat-last-version");
    }

    @Test
    void aLineLongerThanTheCapEndsTheConnectionAndTheNextAttemptIsServed() throws Exception {
        server = new ScriptedStreamServer(0);
        client = new EndpointStreamClient(settings(Duration.ofSeconds(10)), received::add)
                .withMaxLineBytes(64 * 1024)
                .start();
        server.send(StreamProtocol.snapshotLine(envelope(5, "10.0.0.1")));
        assertThat(next().endpoints().version()).isEqualTo(5);
        // No newline in sight: without a cap the client would buffer this for as long as it comes.
        server.send("{\"type\":\"snapshot\",\"pad\":\"" + "x".repeat(100 * 1024));
        awaitRequests(2);
        assertThat(client.disconnectsTotal.sum()).isGreaterThanOrEqualTo(1);
        assertThat(server.requests.get(1).get("pggat-last-version")).containsExactly("5");
        server.send(StreamProtocol.snapshotLine(envelope(6, "10.0.0.2")));
        assertThat(next().endpoints().version()).isEqualTo(6);
        assertThat(received).isEmpty();
    }

    @Test
    void ofAHugeRefusalBodyOnlyTheStartIsReadAndTheClientRetries() throws Exception {
        server = new ScriptedStreamServer(0);
        server.status = 503;
        server.errorBodyBytes = 256L * 1024 * 1024;
        client = new EndpointStreamClient(settings(Duration.ofSeconds(10)), received::add).start();
        awaitRequests(2);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (server.errorBodiesCut.get() < 1 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(server.errorBodiesCut.get())
                .as("refusal bodies the client stopped reading")
                .isPositive();
        assertThat(server.errorBodiesWritten.get()).isZero();
        server.errorBodyBytes = 0;
        server.status = 200;
        server.send(StreamProtocol.snapshotLine(envelope(7, "10.0.0.3")));
        assertThat(next().endpoints().version()).isEqualTo(7);
    }

    @Test
    void aStreamOpenLongerThanTheConnectTimeoutIsNotCutOff() throws Exception {
        server = new ScriptedStreamServer(0);
        client = new EndpointStreamClient(settings(Duration.ofSeconds(10)), received::add).start();
        server.send(StreamProtocol.snapshotLine(envelope(1, "10.0.0.1")));
        next();
        // The connect timeout is 2 s; it must not apply to the body.
        Thread.sleep(3000);
        server.send(StreamProtocol.snapshotLine(envelope(2, "10.0.0.2")));
        assertThat(next().endpoints().version()).isEqualTo(2);
        assertThat(server.requests).hasSize(1);
    }

    @Test
    void resubscribesAfterTheStreamEndsSendingTheVersionItHolds() throws Exception {
        server = new ScriptedStreamServer(0);
        client = new EndpointStreamClient(settings(Duration.ofSeconds(10)), received::add).start();
        server.send(StreamProtocol.snapshotLine(envelope(41, "10.0.0.1")));
        next();
        server.endResponse();
        server.send(StreamProtocol.snapshotLine(envelope(42, "10.0.0.2")));
        assertThat(next().endpoints().version()).isEqualTo(42);
        assertThat(server.requests).hasSize(2);
        assertThat(server.requests.get(1).get("pggat-last-version")).containsExactly("41");
        assertThat(client.subscriptionsTotal.sum()).isEqualTo(2);
    }

    @Test
    void keepsTheLastSnapshotWhileTheOperatorIsDownAndResubscribesWhenItIsBack() throws Exception {
        server = new ScriptedStreamServer(0);
        int port = server.port();
        client = new EndpointStreamClient(settings(Duration.ofSeconds(10)), received::add).start();
        server.send(StreamProtocol.snapshotLine(envelope(7, "10.0.0.1")));
        next();
        server.endResponse();
        server.close();
        Thread.sleep(1500);
        assertThat(client.last().endpoints().version()).isEqualTo(7);
        assertThat(client.isConnected()).isFalse();
        assertThat(received).as("nothing applied while the operator is down").isEmpty();
        long failedBefore = client.disconnectsTotal.sum();
        assertThat(failedBefore).as("several attempts failed while down").isGreaterThan(2);

        server = new ScriptedStreamServer(port);
        server.send(StreamProtocol.snapshotLine(envelope(8, "10.0.0.3")));
        assertThat(next().endpoints().primary().host()).isEqualTo("10.0.0.3");
        assertThat(client.isConnected()).isTrue();
    }

    @Test
    void aSilentConnectionIsGivenUpAfterTheHeartbeatTimeout() throws Exception {
        server = new ScriptedStreamServer(0);
        client = new EndpointStreamClient(settings(Duration.ofMillis(600)), received::add).start();
        server.send(StreamProtocol.snapshotLine(envelope(1, "10.0.0.1")));
        next();
        // No heartbeat follows: the client must open a new connection on its own.
        awaitRequests(2);
        server.send(StreamProtocol.snapshotLine(envelope(2, "10.0.0.2")));
        assertThat(next().endpoints().version()).isEqualTo(2);
    }

    @Test
    void heartbeatsKeepAnOtherwiseQuietConnectionOpen() throws Exception {
        server = new ScriptedStreamServer(0);
        client = new EndpointStreamClient(settings(Duration.ofMillis(800)), received::add).start();
        server.send(StreamProtocol.snapshotLine(envelope(1, "10.0.0.1")));
        next();
        for (int i = 0; i < 8; i++) {
            Thread.sleep(250);
            server.send(StreamProtocol.heartbeatLine());
        }
        assertThat(server.requests).hasSize(1);
        assertThat(client.isConnected()).isTrue();
    }

    @Test
    void refusedSubscriptionIsRetriedWithGrowingDelaysAndAppliesNothing() throws Exception {
        server = new ScriptedStreamServer(0);
        server.status = 401;
        client = new EndpointStreamClient(settings(Duration.ofSeconds(10)), received::add).start();
        Thread.sleep(2000);
        int attempts = server.requests.size();
        // 50, 100, 200, 400, 400... ms with jitter between half and all of each: at least 4, at most ~20 in 2 s.
        assertThat(attempts).isBetween(4, 20);
        assertThat(received).isEmpty();
        assertThat(client.awaitFirst(Duration.ZERO)).isFalse();
        server.status = 200;
        server.send(StreamProtocol.snapshotLine(envelope(3, "10.0.0.1")));
        assertThat(next().endpoints().version()).isEqualTo(3);
    }

    @Test
    void readsTheTokenFileAgainForEveryConnection(@TempDir Path dir) throws Exception {
        server = new ScriptedStreamServer(0);
        Path token = dir.resolve("token");
        Files.writeString(token, "first\n");
        StreamSettings s = StreamSettings.of(server.url(), null, token, null)
                .withTimeouts(
                        Duration.ofSeconds(1), Duration.ofSeconds(10), Duration.ofMillis(50), Duration.ofMillis(100));
        client = new EndpointStreamClient(s, received::add).start();
        server.send(StreamProtocol.snapshotLine(envelope(1, "10.0.0.1")));
        next();
        Files.writeString(token, "second\n");
        server.endResponse();
        server.send(StreamProtocol.snapshotLine(envelope(2, "10.0.0.1")));
        next();
        assertThat(server.requests.get(0).get("authorization")).containsExactly("Bearer first");
        assertThat(server.requests.get(1).get("authorization")).containsExactly("Bearer second");
    }

    @Test
    void aMalformedLineEndsTheConnectionAndTheNextOneIsUsed() throws Exception {
        server = new ScriptedStreamServer(0);
        client = new EndpointStreamClient(settings(Duration.ofSeconds(10)), received::add).start();
        server.send(StreamProtocol.snapshotLine(envelope(1, "10.0.0.1")));
        next();
        server.send("{\"type\":\"snapshot\",\"envelope\":{\"pool\":\"shop/orders\",\"endpoints\":{\"version\":2,"
                + "\"endpoints\":[]}}}\n");
        awaitRequests(2);
        server.send(StreamProtocol.snapshotLine(envelope(3, "10.0.0.3")));
        Envelope e = next();
        assertThat(e.endpoints().version())
                .as("the bad snapshot (no endpoints) is never applied")
                .isEqualTo(3);
        assertThat(server.requests).hasSize(2);
    }
}
