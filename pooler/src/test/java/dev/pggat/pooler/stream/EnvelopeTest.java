package dev.pggat.pooler.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.frontend.CancelRegistry;
import dev.pggat.pooler.routing.EndpointSet;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class EnvelopeTest {
    @Test
    void roundTripsThroughTheStreamLine() {
        Envelope e = EndpointStreamClientTest.envelope(9, "10.0.0.1");
        Envelope back = StreamProtocol.parseLine(StreamProtocol.snapshotLine(e).trim());
        assertThat(back).isEqualTo(e);
        assertThat(StreamProtocol.parseLine(StreamProtocol.heartbeatLine())).isNull();
    }

    @Test
    void anEndpointSetWithoutPrimaryAndAnEnvelopeWithoutEndpointsAreAccepted() {
        Envelope noPrimary = Envelope.fromJson("{\"pool\":\"a/b\",\"endpoints\":{\"version\":3,\"endpoints\":["
                + "{\"host\":\"10.0.0.1\",\"role\":\"replica\"},{\"host\":\"10.0.0.2\",\"role\":\"replica\"}]},"
                + "\"peers\":[]}");
        assertThat(noPrimary.endpoints().primary()).isNull();
        assertThat(noPrimary.endpoints().replicas()).hasSize(2);
        Envelope none = Envelope.fromJson("{\"pool\":\"a/b\",\"peers\":[]}");
        assertThat(none.endpoints()).isNull();
    }

    @Test
    void ignoresKeysAndLineTypesFromANewerOperator() {
        Envelope e = Envelope.fromJson("{\"pool\":\"a/b\",\"future\":1,\"peers\":[{\"name\":\"p\",\"host\":\"h\","
                + "\"port\":6432,\"instanceId\":4,\"zone\":\"z\"}]}");
        assertThat(e.instanceIdOf("p")).hasValue(4);
        assertThat(StreamProtocol.parseLine("{\"type\":\"goodbye\"}")).isNull();
    }

    @Test
    void rejectsPeersThatCannotBeRoutedNamingTheField() {
        assertThatThrownBy(
                        () -> Envelope.fromJson(
                                "{\"pool\":\"a/b\",\"peers\":[{\"name\":\"p\",\"host\":\"h\",\"port\":6432,\"instanceId\":127}]}"))
                .hasMessageContaining("peers[0]")
                .hasMessageContaining("instanceId 127")
                .hasMessageContaining("0 to 126");
        assertThatThrownBy(() -> Envelope.fromJson("{\"pool\":\"a/b\",\"peers\":["
                        + "{\"name\":\"p\",\"host\":\"h\",\"port\":6432,\"instanceId\":1},"
                        + "{\"name\":\"q\",\"host\":\"i\",\"port\":6432,\"instanceId\":1}]}"))
                .hasMessageContaining("instanceId 1 appears twice");
        assertThatThrownBy(() -> Envelope.fromJson(
                        "{\"pool\":\"a/b\",\"peers\":[{\"name\":\"p\",\"port\":1," + "\"instanceId\":1}]}"))
                .hasMessageContaining("peers[0].host");
        assertThatThrownBy(() -> StreamProtocol.parseLine("not json")).hasMessageContaining("not valid JSON");
    }

    @Test
    void withVersionRestampsOnlyTheVersion() {
        Envelope e = EndpointStreamClientTest.envelope(9, "10.0.0.1");
        Envelope r = e.withVersion(100);
        assertThat(r.endpoints().version()).isEqualTo(100);
        assertThat(r.endpoints().endpoints()).isEqualTo(e.endpoints().endpoints());
        assertThat(r.peers()).isEqualTo(e.peers());
    }

    @Test
    void applierSetsOwnInstanceIdPeersAndTheSetOfEveryDatabase() {
        CancelRegistry cancels = new CancelRegistry(0);
        List<String> applied = new ArrayList<>();
        EnvelopeApplier applier = new EnvelopeApplier(
                () -> List.of("app", "app_ro"),
                (db, set) -> applied.add(
                        db + "@" + set.version() + ":" + set.primary().host()),
                cancels,
                "orders-pggat-b");
        assertThat(cancels.instance())
                .as("keys issued before the operator names this pod are never claimed by another")
                .isEqualTo(CancelRegistry.UNASSIGNED);
        Envelope e = new Envelope(
                "shop/orders",
                new EndpointSet(
                        12,
                        List.of(new EndpointSet.Member("pg-1", "10.0.0.1", 5432, Endpoint.Role.PRIMARY, null, 100))),
                List.of(
                        new Envelope.Peer("orders-pggat-a", "10.1.0.1", 6432, 0),
                        new Envelope.Peer("orders-pggat-b", "10.1.0.2", 6432, 1)));
        applier.accept(e);
        assertThat(cancels.instance()).isEqualTo(1);
        assertThat(cancels.peers())
                .isEqualTo(Map.of(
                        0, InetSocketAddress.createUnresolved("10.1.0.1", 6432),
                        1, InetSocketAddress.createUnresolved("10.1.0.2", 6432)));
        assertThat(applied).containsExactly("app@12:10.0.0.1", "app_ro@12:10.0.0.1");

        applier.accept(new Envelope("shop/orders", null, List.of()));
        assertThat(applied).as("no endpoints known: keep what the pooler has").hasSize(2);
        assertThat(cancels.peers()).isEmpty();
        assertThat(cancels.instance()).as("an id once given stays").isEqualTo(1);
    }

    @Test
    void settingsFromTheEnvironmentNameTheVariableAndNeverTheToken() {
        assertThat(StreamSettings.fromEnvironment(Map.of())).isEmpty();
        StreamSettings s = StreamSettings.fromEnvironment(Map.of(
                        "PGGAT_STREAM_URL", "http://op.pggat-system.svc:8090" + StreamProtocol.path("shop", "orders"),
                        "PGGAT_STREAM_TOKEN", "very-secret",
                        "HOSTNAME", "orders-pggat-x"))
                .orElseThrow();
        assertThat(s.url())
                .isEqualTo(URI.create("http://op.pggat-system.svc:8090/v1/namespaces/shop/pgpools/orders/stream"));
        assertThat(s.podName()).isEqualTo("orders-pggat-x");
        assertThat(s.toString()).doesNotContain("very-secret");
        assertThat(StreamSettings.fromEnvironment(Map.of("PGGAT_STREAM_URL", "http://op:8090/x"))
                        .orElseThrow()
                        .tokenFile())
                .as("no token named: the projected ServiceAccount token")
                .isEqualTo(java.nio.file.Path.of("/var/run/secrets/pggat.dev/serviceaccount/token"));
        assertThatThrownBy(() -> StreamSettings.fromEnvironment(
                        Map.of("PGGAT_STREAM_URL", "ftp://op/x", "PGGAT_STREAM_TOKEN", "very-secret")))
                .hasMessageContaining("PGGAT_STREAM_URL")
                .hasMessageContaining("http:// or https://")
                .hasMessageNotContaining("very-secret");
    }
}
