package dev.pggat.operator.stream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.EndpointRole;
import dev.pggat.crds.v1alpha1.NamedRef;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.StaticCluster;
import dev.pggat.crds.v1alpha1.StaticEndpoint;
import dev.pggat.operator.model.Topologies;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.routing.EndpointSet;
import dev.pggat.pooler.stream.Envelope;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SnapshotsTest {
    private static Pod pod(String name, Map<String, String> labels, String ip, String phase) {
        return new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace("shop")
                .withLabels(labels)
                .endMetadata()
                .withNewStatus()
                .withPhase(phase)
                .withPodIP(ip)
                .endStatus()
                .build();
    }

    private static GenericKubernetesResource cluster(String name, Map<String, Object> status) {
        return new GenericKubernetesResourceBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace("shop")
                .endMetadata()
                .withAdditionalProperties(status == null ? Map.of() : Map.of("status", status))
                .build();
    }

    private static PgPool pool(ClusterRef ref) {
        PgPool p = new PgPool();
        p.setMetadata(
                new ObjectMetaBuilder().withName("orders").withNamespace("shop").build());
        p.setSpec(new PgPoolSpec());
        p.getSpec().cluster = ref;
        return p;
    }

    /** The endpoint set the stream sends, computed with the same rules as the ConfigMap and status. */
    private static List<EndpointSet.Member> cnpg(GenericKubernetesResource cluster, List<Pod> pods) {
        return EndpointSet.fromConfig(0, Topologies.ofCnpg(cluster, pods).endpoints())
                .endpoints();
    }

    private static List<EndpointSet.Member> zalando(GenericKubernetesResource cluster, List<Pod> pods) {
        return EndpointSet.fromConfig(0, Topologies.ofZalando(cluster, pods).endpoints())
                .endpoints();
    }

    private static List<String> roles(List<EndpointSet.Member> members) {
        return members.stream()
                .map(m -> m.name() + "=" + m.role().yamlName())
                .sorted()
                .toList();
    }

    private final List<Pod> cnpgPods = List.of(
            pod("pg-1", Map.of("cnpg.io/cluster", "pg"), "10.0.0.1", "Running"),
            pod("pg-2", Map.of("cnpg.io/cluster", "pg"), "10.0.0.2", "Running"),
            pod("pg-3", Map.of("cnpg.io/cluster", "pg"), "10.0.0.3", "Running"),
            pod("other-1", Map.of("cnpg.io/cluster", "other"), "10.0.0.9", "Running"));

    @Test
    void cnpgPrimaryIsCurrentPrimaryOnlyWhileTargetPrimaryAgrees() {
        var settled = cnpg(cluster("pg", Map.of("currentPrimary", "pg-2", "targetPrimary", "pg-2")), cnpgPods);
        assertThat(roles(settled)).containsExactly("pg-1=replica", "pg-2=primary", "pg-3=replica");
        var moving = cnpg(cluster("pg", Map.of("currentPrimary", "pg-2", "targetPrimary", "pg-3")), cnpgPods);
        assertThat(roles(moving)).containsExactly("pg-1=replica", "pg-2=replica", "pg-3=replica");
    }

    @Test
    void cnpgMembersCarryThePortOfTheContainerPortNamedPostgresql() {
        Pod primary = new PodBuilder(cnpgPods.get(0))
                .withNewSpec()
                .addNewContainer()
                .withName("postgres")
                .addNewPort()
                .withName("metrics")
                .withContainerPort(9187)
                .endPort()
                .addNewPort()
                .withName("postgresql")
                .withContainerPort(6543)
                .endPort()
                .endContainer()
                .endSpec()
                .build();
        var members = cnpg(
                cluster("pg", Map.of("currentPrimary", "pg-1", "targetPrimary", "pg-1")),
                List.of(primary, cnpgPods.get(1)));
        assertThat(members)
                .extracting(m -> m.name() + "=" + m.role().yamlName() + "@" + m.host() + ":" + m.port())
                .containsExactly("pg-1=primary@10.0.0.1:6543", "pg-2=replica@10.0.0.2:5432");
    }

    @Test
    void cnpgUnhealthyInstancesAndPodsWithoutAnAddressTakeNoTraffic() {
        List<Pod> pods = List.of(
                cnpgPods.get(0),
                cnpgPods.get(1),
                pod("pg-3", Map.of("cnpg.io/cluster", "pg"), null, "Pending"),
                pod("pg-4", Map.of("cnpg.io/cluster", "pg"), "10.0.0.4", "Running"));
        var members = cnpg(
                cluster(
                        "pg",
                        Map.of(
                                "currentPrimary", "pg-1",
                                "targetPrimary", "pg-1",
                                "instancesStatus",
                                        Map.of("healthy", List.of("pg-1", "pg-3"), "failed", List.of("pg-2")))),
                pods);
        assertThat(roles(members)).containsExactly("pg-1=primary", "pg-4=replica");
    }

    @Test
    void cnpgWithoutStatusFallsBackToTheRoleLabelAndTwoPrimaryLabelsMeanNone() {
        List<Pod> labelled = List.of(
                pod("pg-1", Map.of("cnpg.io/cluster", "pg", "cnpg.io/instanceRole", "replica"), "10.0.0.1", "Running"),
                pod("pg-2", Map.of("cnpg.io/cluster", "pg", "role", "primary"), "10.0.0.2", "Running"));
        assertThat(roles(cnpg(cluster("pg", null), labelled))).containsExactly("pg-1=replica", "pg-2=primary");
        List<Pod> twice = List.of(
                pod("pg-1", Map.of("cnpg.io/cluster", "pg", "cnpg.io/instanceRole", "primary"), "10.0.0.1", "Running"),
                pod("pg-2", Map.of("cnpg.io/cluster", "pg", "cnpg.io/instanceRole", "primary"), "10.0.0.2", "Running"));
        assertThat(roles(cnpg(cluster("pg", null), twice))).containsExactly("pg-1=replica", "pg-2=replica");
    }

    @Test
    void zalandoFollowsSpiloRoleAndTwoPrimariesMeanNoWritablePrimary() {
        List<Pod> pods = List.of(
                pod("acid-0", Map.of("cluster-name", "acid", "spilo-role", "master"), "10.0.1.1", "Running"),
                pod("acid-1", Map.of("cluster-name", "acid", "spilo-role", "replica"), "10.0.1.2", "Running"),
                pod("acid-2", Map.of("cluster-name", "acid"), "10.0.1.3", "Running"));
        assertThat(roles(zalando(cluster("acid", null), pods))).containsExactly("acid-0=primary", "acid-1=replica");
        List<Pod> split = List.of(
                pod("acid-0", Map.of("cluster-name", "acid", "spilo-role", "master"), "10.0.1.1", "Running"),
                pod("acid-1", Map.of("cluster-name", "acid", "spilo-role", "primary"), "10.0.1.2", "Running"));
        assertThat(roles(zalando(cluster("acid", null), split))).containsExactly("acid-0=replica", "acid-1=replica");
    }

    @Test
    void staticClusterComesFromTheSpecAndAMissingClusterGivesNoEndpoints() {
        ClusterRef ref = new ClusterRef();
        ref.staticCluster = new StaticCluster();
        StaticEndpoint primary = new StaticEndpoint();
        primary.host = "db.example";
        StaticEndpoint replica = new StaticEndpoint();
        replica.host = "db-ro.example";
        replica.role = EndpointRole.REPLICA;
        replica.zone = "eu-1b";
        ref.staticCluster.endpoints = List.of(primary, replica);
        Envelope e = Snapshots.of(pool(ref), null, List.of(), List.of());
        assertThat(e.pool()).isEqualTo("shop/orders");
        assertThat(e.endpoints().primary().host()).isEqualTo("db.example");
        assertThat(e.endpoints().replicas()).singleElement().satisfies(m -> assertThat(m.zone())
                .isEqualTo("eu-1b"));

        ClusterRef cnpg = new ClusterRef();
        cnpg.cnpg = new NamedRef("pg");
        assertThat(Snapshots.of(pool(cnpg), null, cnpgPods, List.of()).endpoints())
                .as("the Cluster is not in the cache: the poolers keep what they have")
                .isNull();
    }

    @Test
    void peersAreThePoolerPodsWithAnAddressAndAValidInstanceId() {
        Pod a = pod("orders-pggat-a", Map.of(), "10.2.0.1", "Running");
        a.getMetadata().setAnnotations(new HashMap<>(Map.of(Snapshots.INSTANCE_ID_ANNOTATION, "3")));
        Pod noId = pod("orders-pggat-b", Map.of(), "10.2.0.2", "Running");
        Pod badId = pod("orders-pggat-c", Map.of(), "10.2.0.3", "Running");
        badId.getMetadata().setAnnotations(Map.of(Snapshots.INSTANCE_ID_ANNOTATION, "127"));
        Pod noIp = pod("orders-pggat-d", Map.of(), null, "Pending");
        noIp.getMetadata().setAnnotations(Map.of(Snapshots.INSTANCE_ID_ANNOTATION, "4"));
        Pod dupe = pod("orders-pggat-e", Map.of(), "10.2.0.5", "Running");
        dupe.getMetadata().setAnnotations(Map.of(Snapshots.INSTANCE_ID_ANNOTATION, "3"));
        assertThat(Snapshots.peers(List.of(dupe, noIp, badId, noId, a)))
                .containsExactly(new Envelope.Peer("orders-pggat-a", "10.2.0.1", 6432, 3));
    }

    @Test
    void hubVersionsGrowWithTheClockAndAboveWhatASubscriberHolds() {
        Clock clock = Clock.fixed(Instant.ofEpochMilli(1_000_000), ZoneOffset.UTC);
        EndpointHub hub = new EndpointHub(clock);
        Envelope one = new Envelope(
                "shop/orders", new EndpointSet(0, List.of(EndpointSet.Member.primary("10.0.0.1", 5432))), List.of());
        Envelope two = new Envelope(
                "shop/orders",
                new EndpointSet(
                        0, List.of(new EndpointSet.Member(null, "10.0.0.2", 5432, Endpoint.Role.PRIMARY, null, 100))),
                List.of());
        hub.update("shop/orders", one);
        EndpointHub.PoolStream s = hub.stream("shop/orders");
        assertThat(s.current().envelope().endpoints().version()).isEqualTo(1_000_000);
        long seq = s.current().seq();
        hub.update("shop/orders", one);
        assertThat(s.current().seq()).as("unchanged content is not sent again").isEqualTo(seq);
        hub.update("shop/orders", two);
        assertThat(s.current().envelope().endpoints().version())
                .as("the clock stood still; the version still grows")
                .isEqualTo(1_000_001);
        s.raiseAbove(5_000_000);
        assertThat(s.current().envelope().endpoints().version()).isEqualTo(5_000_001);
        assertThat(s.current().envelope().endpoints().primary().host()).isEqualTo("10.0.0.2");
        s.raiseAbove(10);
        assertThat(s.current().envelope().endpoints().version()).isEqualTo(5_000_001);
        Envelope peersOnly =
                new Envelope("shop/orders", two.endpoints(), List.of(new Envelope.Peer("p", "10.2.0.1", 6432, 0)));
        hub.update("shop/orders", peersOnly);
        assertThat(s.current().envelope().peers()).hasSize(1);
        assertThat(s.current().envelope().endpoints().version())
                .as("a peer change keeps the endpoint-set version")
                .isEqualTo(5_000_001);
        hub.remove("shop/orders");
        assertThat(s.ended()).isTrue();
        assertThat(hub.stream("shop/orders")).isNull();
    }
}
