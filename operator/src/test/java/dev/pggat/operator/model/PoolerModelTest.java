package dev.pggat.operator.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.DatabaseSpec;
import dev.pggat.crds.v1alpha1.DeploymentSpec;
import dev.pggat.crds.v1alpha1.EndpointRole;
import dev.pggat.crds.v1alpha1.NamedRef;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.PgPoolStatus;
import dev.pggat.crds.v1alpha1.PoolSpec;
import dev.pggat.crds.v1alpha1.PoolTimeouts;
import dev.pggat.crds.v1alpha1.SecretKeyRef;
import dev.pggat.crds.v1alpha1.StaticCluster;
import dev.pggat.crds.v1alpha1.StaticEndpoint;
import dev.pggat.crds.v1alpha1.UserSpec;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PoolerModelTest {
    private static JsonNode yaml(String text) throws IOException {
        return new ObjectMapper(new YAMLFactory()).readTree(text);
    }

    private static PgPool staticPool(StaticEndpoint... endpoints) {
        PgPool pool = new PgPool();
        pool.setMetadata(new ObjectMetaBuilder()
                .withName("shop")
                .withNamespace("prod")
                .withUid("uid-1")
                .withGeneration(3L)
                .build());
        PgPoolSpec spec = new PgPoolSpec();
        spec.cluster = new ClusterRef();
        spec.cluster.staticCluster = new StaticCluster();
        spec.cluster.staticCluster.endpoints = List.of(endpoints);
        spec.databases = List.of(new DatabaseSpec(
                "shop",
                List.of(
                        new UserSpec("alice", new SecretKeyRef("shop-users", "alice")),
                        new UserSpec("bob", new SecretKeyRef("shop-users", "bob")))));
        pool.setSpec(spec);
        return pool;
    }

    private static Pod pod(String name, Map<String, String> labels, String ip) {
        return new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .withLabels(labels)
                .endMetadata()
                .withNewStatus()
                .withPhase("Running")
                .withPodIP(ip)
                .endStatus()
                .build();
    }

    private static GenericKubernetesResource cnpg(String name, Map<String, Object> status) {
        return new GenericKubernetesResourceBuilder()
                .withNewMetadata()
                .withName(name)
                .endMetadata()
                .withAdditionalProperties(Map.of("status", status))
                .build();
    }

    @Test
    void configReferencesPasswordsThroughEnvironmentVariablesOnePerSecretKey() throws IOException {
        PgPool pool = staticPool(new StaticEndpoint("db-a", null, null));
        PoolerConfig config = PoolerConfig.render(
                pool.getSpec(),
                Topologies.ofStatic(pool.getSpec().cluster.staticCluster),
                Credentials.ofSpec(pool.getSpec().databases));
        JsonNode users = yaml(config.yaml()).at("/databases/shop/users");
        assertThat(users.at("/alice/password").asText()).isEqualTo("${PGGAT_SECRET_SHOP_USERS_ALICE}");
        assertThat(users.at("/bob/password").asText()).isEqualTo("${PGGAT_SECRET_SHOP_USERS_BOB}");
        assertThat(config.secretEnv())
                .containsExactly(
                        new PoolerConfig.SecretEnv("PGGAT_SECRET_SHOP_USERS_ALICE", "shop-users", "alice"),
                        new PoolerConfig.SecretEnv("PGGAT_SECRET_SHOP_USERS_BOB", "shop-users", "bob"));
    }

    @Test
    void secretKeysThatSanitiseToTheSameNameGetDistinctVariables() {
        PgPool pool = staticPool(new StaticEndpoint("db-a", null, null));
        pool.getSpec().databases = List.of(new DatabaseSpec(
                "shop",
                List.of(
                        new UserSpec("a", new SecretKeyRef("s-x", "p")),
                        new UserSpec("b", new SecretKeyRef("s.x", "p")))));
        PoolerConfig config = PoolerConfig.render(
                pool.getSpec(),
                Topologies.ofStatic(pool.getSpec().cluster.staticCluster),
                Credentials.ofSpec(pool.getSpec().databases));
        assertThat(config.secretEnv())
                .extracting(PoolerConfig.SecretEnv::variable)
                .containsExactlyInAnyOrder("PGGAT_SECRET_S_X_P", "PGGAT_SECRET_S_X_P_2");
    }

    @Test
    void configCarriesPoolSettingsAndTimeoutsInThePoolerSchema() throws IOException {
        PgPool pool = staticPool(
                new StaticEndpoint("db-a", 5433, EndpointRole.PRIMARY),
                new StaticEndpoint("db-b", null, EndpointRole.REPLICA));
        pool.getSpec().pool = new PoolSpec();
        pool.getSpec().pool.mode = dev.pggat.crds.v1alpha1.PoolMode.SESSION;
        pool.getSpec().pool.maxServerConnections = 9;
        pool.getSpec().pool.timeouts = new PoolTimeouts();
        pool.getSpec().pool.timeouts.queryWait = "0";
        pool.getSpec().pool.timeouts.serverIdle = "5m";
        JsonNode root = yaml(PoolerConfig.render(
                        pool.getSpec(),
                        Topologies.ofStatic(pool.getSpec().cluster.staticCluster),
                        Credentials.ofSpec(pool.getSpec().databases))
                .yaml());
        assertThat(root.at("/listen/port").asInt()).isEqualTo(6432);
        assertThat(root.at("/admin/port").asInt()).isEqualTo(9930);
        assertThat(root.at("/admin/host").asText()).isEqualTo("0.0.0.0");
        assertThat(root.at("/pools/mode").asText()).isEqualTo("session");
        assertThat(root.at("/pools/maxServerConnections").asInt()).isEqualTo(9);
        assertThat(root.at("/pools").has("minServerConnections")).isFalse();
        assertThat(root.at("/timeouts/queryWait").asText()).isEqualTo("0");
        assertThat(root.at("/timeouts/serverIdle").asText()).isEqualTo("5m");
        assertThat(root.at("/timeouts").has("serverLifetime")).isFalse();
        JsonNode endpoints = root.at("/databases/shop/endpoints");
        assertThat(endpoints.get(0).at("/host").asText()).isEqualTo("db-a");
        assertThat(endpoints.get(0).at("/port").asInt()).isEqualTo(5433);
        assertThat(endpoints.get(1).at("/role").asText()).isEqualTo("replica");
        assertThat(endpoints.get(1).at("/port").asInt()).isEqualTo(5432);
    }

    @Test
    void staticClusterWithTwoPrimariesIsRejectedNamingTheSecondEndpoint() {
        assertThatThrownBy(() -> Topologies.ofStatic(
                        staticPool(new StaticEndpoint("db-a", null, null), new StaticEndpoint("db-b", null, null))
                                .getSpec()
                                .cluster
                                .staticCluster))
                .isInstanceOfSatisfying(Problem.class, p -> assertThat(p.kind()).isEqualTo(Problem.Kind.INVALID))
                .hasMessageContaining("spec.cluster.static.endpoints[1]")
                .hasMessageContaining("role: replica");
    }

    @Test
    void cnpgPrimaryFollowsStatusCurrentPrimaryNotThePodLabel() {
        GenericKubernetesResource cluster = cnpg("pg", Map.of("currentPrimary", "pg-2"));
        List<Pod> pods = List.of(
                pod("pg-1", Map.of("cnpg.io/cluster", "pg", "cnpg.io/instanceRole", "primary"), "10.0.0.1"),
                pod("pg-2", Map.of("cnpg.io/cluster", "pg", "cnpg.io/instanceRole", "replica"), "10.0.0.2"));
        Topology t = Topologies.ofCnpg(cluster, pods);
        assertThat(t.primary().host()).isEqualTo("10.0.0.2");
        assertThat(t.replicaNames()).containsExactly("pg-1");
    }

    private static Pod withPorts(Pod pod, io.fabric8.kubernetes.api.model.ContainerPort... ports) {
        return new PodBuilder(pod)
                .withNewSpec()
                .addNewContainer()
                .withName("postgres")
                .withPorts(ports)
                .endContainer()
                .endSpec()
                .build();
    }

    private static io.fabric8.kubernetes.api.model.ContainerPort port(String name, int port) {
        return new io.fabric8.kubernetes.api.model.ContainerPortBuilder()
                .withName(name)
                .withContainerPort(port)
                .build();
    }

    @Test
    void cnpgEndpointsTakeThePortFromTheContainerPortNamedPostgresqlOrTheFirstOne() {
        GenericKubernetesResource cluster = cnpg("pg", Map.of("currentPrimary", "pg-1"));
        Map<String, String> labels = Map.of("cnpg.io/cluster", "pg");
        List<Pod> pods = List.of(
                // As CloudNativePG declares it, after a metrics port.
                withPorts(pod("pg-1", labels, "10.0.0.1"), port("metrics", 9187), port("postgresql", 6543)),
                withPorts(pod("pg-2", labels, "10.0.0.2"), port(null, 7000), port(null, 7001)),
                pod("pg-3", labels, "10.0.0.3"),
                // Spilo's unnamed Patroni port comes before PostgreSQL's.
                withPorts(pod("pg-4", labels, "10.0.0.4"), port(null, 8008), port(null, 5432), port(null, 8080)));
        Topology t = Topologies.ofCnpg(cluster, pods);
        assertThat(t.primary().port()).isEqualTo(6543);
        assertThat(t.replicas())
                .extracting(e -> e.name() + ":" + e.port())
                .containsExactly("pg-2:7000", "pg-3:5432", "pg-4:5432");
    }

    @Test
    void cnpgWithoutCurrentPrimaryFallsBackToRoleLabelsIncludingTheLegacyOne() {
        GenericKubernetesResource cluster = cnpg("pg", Map.of());
        List<Pod> pods = List.of(
                pod("pg-1", Map.of("cnpg.io/cluster", "pg", "role", "replica"), "10.0.0.1"),
                pod("pg-2", Map.of("cnpg.io/cluster", "pg", "role", "primary"), "10.0.0.2"));
        assertThat(Topologies.ofCnpg(cluster, pods).primary().name()).isEqualTo("pg-2");
    }

    @Test
    void cnpgSkipsFailedInstancesPodsWithoutIpAndOtherClustersPods() {
        GenericKubernetesResource cluster =
                cnpg("pg", Map.of("currentPrimary", "pg-1", "instancesStatus", Map.of("failed", List.of("pg-3"))));
        List<Pod> pods = List.of(
                pod("pg-1", Map.of("cnpg.io/cluster", "pg"), "10.0.0.1"),
                pod("pg-2", Map.of("cnpg.io/cluster", "pg"), null),
                pod("pg-3", Map.of("cnpg.io/cluster", "pg"), "10.0.0.3"),
                pod("pg-4", Map.of("cnpg.io/cluster", "pg"), "10.0.0.4"),
                pod("other-1", Map.of("cnpg.io/cluster", "other"), "10.0.9.1"));
        Topology t = Topologies.ofCnpg(cluster, pods);
        assertThat(t.primary().name()).isEqualTo("pg-1");
        assertThat(t.replicaNames()).containsExactly("pg-4");
    }

    @Test
    void cnpgWithoutARunningPrimaryHasNoPrimaryRatherThanTheOldOne() {
        GenericKubernetesResource cluster = cnpg("pg", Map.of("currentPrimary", "pg-1"));
        Topology t = Topologies.ofCnpg(
                cluster,
                List.of(
                        pod("pg-1", Map.of("cnpg.io/cluster", "pg"), null),
                        pod("pg-2", Map.of("cnpg.io/cluster", "pg"), "10.0.0.2")));
        assertThat(t.hasPrimary()).isFalse();
        assertThat(t.replicaNames()).containsExactly("pg-2");
    }

    @Test
    void cnpgFailoverPendingOrSwitchoverInFlightHasNoPrimaryAndTheFileNamesTheReadWriteService() {
        Map<String, String> labels = Map.of("cnpg.io/cluster", "pg");
        List<Pod> pods = List.of(pod("pg-1", labels, "10.0.0.1"), pod("pg-2", labels, "10.0.0.2"));
        for (String target : List.of("pending", "pg-2")) {
            Topology t = Topologies.ofCnpg(cnpg("pg", Map.of("currentPrimary", "pg-1", "targetPrimary", target)), pods);
            assertThat(t.hasPrimary()).as("targetPrimary %s", target).isFalse();
            assertThat(t.replicaNames()).containsExactly("pg-1", "pg-2");
        }
        var standIn = Topologies.readWriteService(ClusterKinds.CNPG, "pg", "shop", 5432);
        assertThat(standIn.host()).isEqualTo("pg-rw.shop.svc");
        assertThat(standIn.role()).isEqualTo(dev.pggat.pooler.config.Endpoint.Role.PRIMARY);
    }

    @Test
    void zalandoTreatsMasterAndPrimaryLabelsAsPrimaryAndDemotesTwo() {
        GenericKubernetesResource cluster = cnpg("acid", Map.of());
        Topology t = Topologies.ofZalando(
                cluster,
                List.of(
                        pod("acid-0", Map.of("cluster-name", "acid", "spilo-role", "replica"), "10.0.0.1"),
                        pod("acid-1", Map.of("cluster-name", "acid", "spilo-role", "master"), "10.0.0.2")));
        assertThat(t.primary().name()).isEqualTo("acid-1");
        Topology two = Topologies.ofZalando(
                cluster,
                List.of(
                        pod("acid-0", Map.of("cluster-name", "acid", "spilo-role", "primary"), "10.0.0.1"),
                        pod("acid-1", Map.of("cluster-name", "acid", "spilo-role", "master"), "10.0.0.2")));
        // A failover in flight: both serve reads, writes wait until one remains.
        assertThat(two.hasPrimary()).isFalse();
        assertThat(two.replicaNames()).containsExactly("acid-0", "acid-1");
    }

    @Test
    void cnpgAppSecretGivesDatabaseAndUserWithoutDecodingThePassword() {
        Secret secret = new SecretBuilder()
                .withNewMetadata()
                .withName("pg-app")
                .endMetadata()
                .withData(Map.of(
                        "username", b64("app_user"),
                        "dbname", b64("appdb"),
                        "password", "bm90LWEtdmFsaWQtYmFzZTY0IQ=="))
                .build();
        assertThat(Credentials.ofCnpgAppSecret("pg", secret))
                .containsExactly(new PoolerDatabase(
                        "appdb", "appdb", List.of(new PoolerDatabase.PoolerUser("app_user", "pg-app", "password"))));
    }

    @Test
    void zalandoSecretNamesTurnUnderscoresIntoDashes() {
        assertThat(Credentials.zalandoSecretName("acid-main", "billing_owner"))
                .isEqualTo("billing-owner.acid-main.credentials.postgresql.acid.zalan.do");
    }

    @Test
    void checksumChangesWithTheConfigAndOnlyThen() {
        PgPool pool = staticPool(new StaticEndpoint("db-a", null, null));
        Topology topology = Topologies.ofStatic(pool.getSpec().cluster.staticCluster);
        List<PoolerDatabase> dbs = Credentials.ofSpec(pool.getSpec().databases);
        String first = PoolerConfig.render(pool.getSpec(), topology, dbs).checksum();
        assertThat(PoolerConfig.render(pool.getSpec(), topology, dbs).checksum())
                .isEqualTo(first);
        pool.getSpec().pool = new PoolSpec();
        pool.getSpec().pool.maxServerConnections = 3;
        assertThat(PoolerConfig.render(pool.getSpec(), topology, dbs).checksum())
                .isNotEqualTo(first);
    }

    @Test
    void deploymentRunsThePoolerWithProbesChecksumAndOwnerReference() {
        PgPool pool = staticPool(new StaticEndpoint("db-a", null, null));
        PoolerConfig config = PoolerConfig.render(
                pool.getSpec(),
                Topologies.ofStatic(pool.getSpec().cluster.staticCluster),
                Credentials.ofSpec(pool.getSpec().databases));
        Deployment d = PoolerResources.deployment(pool, config, "ghcr.io/pggat/pggat:1.2.3");
        var c = d.getSpec().getTemplate().getSpec().getContainers().get(0);
        assertThat(d.getMetadata().getName()).isEqualTo("shop-pggat");
        // No ServiceAccount token the pooler does not need; the stream's projected token is mounted explicitly.
        assertThat(d.getSpec().getTemplate().getSpec().getAutomountServiceAccountToken())
                .isFalse();
        Deployment projected = PoolerResources.deployment(
                pool, config, "img", "http://op:8090/s", dev.pggat.operator.stream.StreamAuth.SERVICE_ACCOUNT);
        assertThat(projected.getSpec().getTemplate().getSpec().getAutomountServiceAccountToken())
                .isFalse();
        assertThat(projected.getSpec().getTemplate().getSpec().getVolumes())
                .anySatisfy(v -> assertThat(v.getProjected()).isNotNull());
        assertThat(c.getImage()).isEqualTo("ghcr.io/pggat/pggat:1.2.3");
        assertThat(c.getCommand()).containsExactly("pggat", "pooler", "--config", "/etc/pggat/pggat.yaml");
        assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
        assertThat(c.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
        assertThat(c.getPorts()).extracting(p -> p.getContainerPort()).containsExactly(6432, 9930);
        assertThat(d.getSpec().getTemplate().getMetadata().getAnnotations())
                .containsEntry(PoolerResources.CHECKSUM_ANNOTATION, config.checksum());
        assertThat(d.getSpec().getSelector().getMatchLabels())
                .isEqualTo(d.getSpec().getTemplate().getMetadata().getLabels().entrySet().stream()
                        .filter(e -> d.getSpec().getSelector().getMatchLabels().containsKey(e.getKey()))
                        .collect(java.util.stream.Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue)));
        assertThat(d.getMetadata().getOwnerReferences()).singleElement().satisfies(r -> {
            assertThat(r.getUid()).isEqualTo("uid-1");
            assertThat(r.getController()).isTrue();
            assertThat(r.getKind()).isEqualTo("PgPool");
        });

        pool.getSpec().deployment = new DeploymentSpec();
        pool.getSpec().deployment.image = "mirror.example/pggat:dev";
        pool.getSpec().deployment.replicas = 5;
        Deployment custom = PoolerResources.deployment(pool, config, "ghcr.io/pggat/pggat:1.2.3");
        assertThat(custom.getSpec()
                        .getTemplate()
                        .getSpec()
                        .getContainers()
                        .get(0)
                        .getImage())
                .isEqualTo("mirror.example/pggat:dev");
        assertThat(custom.getSpec().getReplicas()).isEqualTo(5);

        // The sidecar memory profile, and resources from the measurements unless the PgPool names its own.
        assertThat(c.getEnv())
                .contains(new io.fabric8.kubernetes.api.model.EnvVar("JAVA_OPTS", PoolerJvm.OPTIONS, null));
        assertThat(c.getResources()).isEqualTo(PoolerJvm.deploymentResources());
        pool.getSpec().deployment.resources = new io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder()
                .addToLimits("memory", new io.fabric8.kubernetes.api.model.Quantity("1Gi"))
                .build();
        assertThat(PoolerResources.deployment(pool, config, "ghcr.io/pggat/pggat:1.2.3")
                        .getSpec()
                        .getTemplate()
                        .getSpec()
                        .getContainers()
                        .get(0)
                        .getResources())
                .isEqualTo(pool.getSpec().deployment.resources);
    }

    @Test
    void serviceMapsPort5432ToThePoolerAndPdbNeverBlocksASingleReplica() {
        PgPool pool = staticPool(new StaticEndpoint("db-a", null, null));
        var svc = PoolerResources.service(pool);
        assertThat(svc.getMetadata().getName()).isEqualTo("shop");
        assertThat(svc.getSpec().getType()).isEqualTo("ClusterIP");
        assertThat(svc.getSpec().getPorts().get(0).getPort()).isEqualTo(5432);
        assertThat(svc.getSpec().getPorts().get(0).getTargetPort().getStrVal()).isEqualTo("postgres");
        assertThat(PoolerResources.podDisruptionBudget(pool)
                        .getSpec()
                        .getMinAvailable()
                        .getIntVal())
                .isEqualTo(1);
        pool.getSpec().deployment = new DeploymentSpec();
        pool.getSpec().deployment.replicas = 1;
        assertThat(PoolerResources.podDisruptionBudget(pool)
                        .getSpec()
                        .getMinAvailable()
                        .getIntVal())
                .isEqualTo(0);
    }

    @Test
    void endpointSetVersionGrowsOnlyWhenEndpointsChange() {
        PgPool pool = staticPool(new StaticEndpoint("db-a", null, null));
        Topology one = Topologies.ofStatic(pool.getSpec().cluster.staticCluster);
        PoolerConfig config = PoolerConfig.render(pool.getSpec(), one, Credentials.ofSpec(pool.getSpec().databases));
        // The stream's scheme: at least the wall clock in ms, and at least one more than before.
        long now = 1_700_000_000_000L;
        long first = PoolerResources.nextEndpointSetVersion(null, one, now);
        assertThat(first).isEqualTo(now);
        ConfigMap v1 = PoolerResources.configMap(pool, config, one, first);
        assertThat(PoolerResources.nextEndpointSetVersion(v1, one, now + 5000)).isEqualTo(first);
        Topology two = new Topology(
                one.primary(),
                List.of(new dev.pggat.pooler.config.Endpoint(
                        "db-r", 5432, dev.pggat.pooler.config.Endpoint.Role.REPLICA, "r", null, 100)));
        assertThat(PoolerResources.nextEndpointSetVersion(v1, two, now + 5000)).isEqualTo(now + 5000);
        // A clock behind the stored version still moves it forward.
        assertThat(PoolerResources.nextEndpointSetVersion(v1, two, now - 60_000))
                .isEqualTo(first + 1);
    }

    @Test
    void statusKeepsTransitionTimeWhileAConditionHoldsAndMovesItOnChange() {
        Instant t0 = Instant.parse("2026-01-01T00:00:00Z");
        Instant t1 = Instant.parse("2026-01-01T00:05:00Z");
        PgPoolStatus rolling =
                StatusModel.next(null, 1, StatusModel.Outcome.progressing("RollingOut", "1 of 2"), null, null, 1, t0);
        assertThat(rolling.condition(PgPoolStatus.READY).status).isEqualTo("False");
        assertThat(rolling.condition(PgPoolStatus.RECONCILING).status).isEqualTo("True");
        PgPoolStatus ready = StatusModel.next(rolling, 1, StatusModel.Outcome.ready("ok"), null, null, 2, t1);
        assertThat(ready.condition(PgPoolStatus.READY).lastTransitionTime).isEqualTo("2026-01-01T00:05:00Z");
        // Stalled stayed False throughout, so its time is the first one.
        assertThat(ready.condition(PgPoolStatus.STALLED).lastTransitionTime).isEqualTo("2026-01-01T00:00:00Z");
        assertThat(ready.observedGeneration).isEqualTo(1L);
        assertThat(StatusModel.next(ready, 1, StatusModel.Outcome.ready("ok"), null, null, 2, t1))
                .isEqualTo(ready);
    }

    @Test
    void rolloutIsReadyOnlyWhenTheControllerReportsEveryReplicaUpdatedAndAvailable() {
        Deployment d = new DeploymentBuilder()
                .withNewMetadata()
                .withGeneration(4L)
                .endMetadata()
                .withNewStatus()
                .withObservedGeneration(3L)
                .withReplicas(2)
                .withUpdatedReplicas(2)
                .withAvailableReplicas(2)
                .endStatus()
                .build();
        assertThat(StatusModel.rollout(d, 2).state()).isEqualTo(StatusModel.Outcome.State.PROGRESSING);
        d.getStatus().setObservedGeneration(4L);
        d.getStatus().setUpdatedReplicas(1);
        d.getStatus().setReplicas(3);
        assertThat(StatusModel.rollout(d, 2).message()).contains("1 of 2");
        d.getStatus().setUpdatedReplicas(2);
        d.getStatus().setReplicas(2);
        assertThat(StatusModel.rollout(d, 2).state()).isEqualTo(StatusModel.Outcome.State.READY);
    }

    @Test
    void specValidationNamesKeyValueAndWhatIsAccepted() {
        PgPool pool = staticPool(new StaticEndpoint("db-a", null, null));
        pool.getSpec().pool = new PoolSpec();
        pool.getSpec().pool.timeouts = new PoolTimeouts();
        pool.getSpec().pool.timeouts.serverIdle = "10 minutes";
        assertThatThrownBy(() -> SpecValidation.check(pool.getSpec()))
                .hasMessageContaining("spec.pool.timeouts.serverIdle")
                .hasMessageContaining("10 minutes")
                .hasMessageContaining("30s");
        pool.getSpec().pool.timeouts.serverIdle = "10m";
        pool.getSpec().pool.minServerConnections = 30;
        assertThatThrownBy(() -> SpecValidation.check(pool.getSpec()))
                .hasMessageContaining("spec.pool.minServerConnections is 30");
        pool.getSpec().pool.minServerConnections = 2;
        SpecValidation.check(pool.getSpec());
        pool.getSpec().cluster.cnpg = new NamedRef("pg");
        assertThatThrownBy(() -> SpecValidation.check(pool.getSpec())).hasMessageContaining("exactly one");
        pool.getSpec().cluster.cnpg = null;
        pool.getSpec().databases = new ArrayList<>();
        assertThatThrownBy(() -> SpecValidation.check(pool.getSpec())).hasMessageContaining("spec.databases");
    }

    private static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
}
