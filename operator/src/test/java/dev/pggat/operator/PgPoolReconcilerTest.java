package dev.pggat.operator;

import static dev.pggat.operator.MockApi.NS;
import static dev.pggat.operator.MockApi.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.NamedRef;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolCondition;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.PgPoolStatus;
import dev.pggat.crds.v1alpha1.PoolMode;
import dev.pggat.crds.v1alpha1.PoolSpec;
import dev.pggat.operator.model.ClusterKinds;
import dev.pggat.operator.model.PoolerResources;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class PgPoolReconcilerTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    private MockApi api;

    @BeforeEach
    void start() throws Exception {
        api = new MockApi();
    }

    @AfterEach
    void stop() {
        api.close();
    }

    private static PgPool pgPool(String name, ClusterRef cluster) {
        PgPool pool = new PgPool();
        pool.setMetadata(new ObjectMetaBuilder().withName(name).build());
        PgPoolSpec spec = new PgPoolSpec();
        spec.cluster = cluster;
        pool.setSpec(spec);
        return pool;
    }

    private static ClusterRef cnpg(String name) {
        ClusterRef ref = new ClusterRef();
        ref.cnpg = new NamedRef(name);
        return ref;
    }

    private static ClusterRef zalando(String name) {
        ClusterRef ref = new ClusterRef();
        ref.zalando = new NamedRef(name);
        return ref;
    }

    private void cnpgClusterWithThreePods(String name) {
        api.installCrd(ClusterKinds.CNPG);
        api.cnpgCluster(name, name + "-1");
        api.pod(name + "-1", Map.of("cnpg.io/cluster", name, "cnpg.io/instanceRole", "primary"), "10.1.0.1");
        api.pod(name + "-2", Map.of("cnpg.io/cluster", name, "cnpg.io/instanceRole", "replica"), "10.1.0.2");
        api.pod(name + "-3", Map.of("cnpg.io/cluster", name, "cnpg.io/instanceRole", "replica"), "10.1.0.3");
        api.secret(name + "-app", Map.of("username", "app", "password", "s3cret-app", "dbname", "app"));
    }

    static JsonNode yaml(String text) {
        try {
            return new ObjectMapper(new YAMLFactory()).readTree(text);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static List<String> endpoints(JsonNode database) {
        List<String> out = new ArrayList<>();
        database.at("/endpoints")
                .forEach(e ->
                        out.add(e.at("/host").asText() + ":" + e.at("/role").asText()));
        return out;
    }

    private ConfigMap configMap(String pool) {
        return api.client.configMaps().inNamespace(NS).withName(pool + "-pggat").get();
    }

    private Deployment deployment(String pool) {
        return api.client
                .apps()
                .deployments()
                .inNamespace(NS)
                .withName(pool + "-pggat")
                .get();
    }

    private PgPoolCondition condition(String pool, String type) {
        PgPool p = api.get(pool);
        return p == null || p.getStatus() == null ? null : p.getStatus().condition(type);
    }

    /**
     * Waits for Ready, playing the Deployment controller meanwhile: the mock replaces a Deployment's status when the
     * operator updates its spec, where a real controller would report the new rollout again.
     */
    private PgPool awaitReady(String name) {
        return await("PgPool " + name + " Ready=True at its current generation", WAIT, () -> {
            api.markRolledOutIfBehind(name + "-pggat");
            PgPool p = api.get(name);
            PgPoolCondition ready = p.getStatus() == null ? null : p.getStatus().condition(PgPoolStatus.READY);
            return ready != null
                            && "True".equals(ready.status)
                            && p.getMetadata().getGeneration().equals(p.getStatus().observedGeneration)
                    ? p
                    : null;
        });
    }

    @Test
    void cnpgPoolReconcilesIntoConfigMapDeploymentServiceAndPdbAndBecomesReady() {
        cnpgClusterWithThreePods("pg");
        api.startOperator();
        PgPool created = api.create(pgPool("orders", cnpg("pg")));

        ConfigMap cm = await("ConfigMap orders-pggat", WAIT, () -> configMap("orders"));
        String yaml = cm.getData().get("pggat.yaml");
        assertThat(yaml).doesNotContain("s3cret-app");
        JsonNode app = yaml(yaml).at("/databases/app");
        assertThat(app.at("/serverDatabase").asText()).isEqualTo("app");
        assertThat(endpoints(app)).containsExactly("10.1.0.1:primary", "10.1.0.2:replica", "10.1.0.3:replica");
        assertThat(app.at("/users/app/password").asText()).isEqualTo("${PGGAT_SECRET_PG_APP_PASSWORD}");
        assertThat(cm.getMetadata().getOwnerReferences()).singleElement().satisfies(r -> assertThat(r.getUid())
                .isEqualTo(created.getMetadata().getUid()));

        Deployment d = await("Deployment orders-pggat", WAIT, () -> deployment("orders"));
        var container = d.getSpec().getTemplate().getSpec().getContainers().get(0);
        assertThat(container.getImage()).isEqualTo(MockApi.IMAGE);
        assertThat(container.getCommand()).containsExactly("pggat", "pooler", "--config", "/etc/pggat/pggat.yaml");
        // The JVM's sidecar-sized settings, and one variable per Secret key the configuration refers to.
        assertThat(container.getEnv())
                .extracting(io.fabric8.kubernetes.api.model.EnvVar::getName)
                .contains("JAVA_OPTS");
        assertThat(container.getEnv())
                .filteredOn(e -> e.getValueFrom() != null)
                .singleElement()
                .satisfies(e -> {
                    assertThat(e.getName()).isEqualTo("PGGAT_SECRET_PG_APP_PASSWORD");
                    assertThat(e.getValueFrom().getSecretKeyRef().getName()).isEqualTo("pg-app");
                    assertThat(e.getValueFrom().getSecretKeyRef().getKey()).isEqualTo("password");
                });
        assertThat(container.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
        assertThat(container.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
        assertThat(d.getSpec().getReplicas()).isEqualTo(2);
        assertThat(d.getSpec().getTemplate().getMetadata().getAnnotations())
                .containsEntry(
                        PoolerResources.CHECKSUM_ANNOTATION,
                        cm.getMetadata().getAnnotations().get(PoolerResources.CHECKSUM_ANNOTATION));
        assertThat(d.getMetadata().getOwnerReferences()).hasSize(1);

        Service svc = await(
                "Service orders",
                WAIT,
                () -> api.client.services().inNamespace(NS).withName("orders").get());
        assertThat(svc.getSpec().getPorts()).singleElement().satisfies(p -> {
            assertThat(p.getPort()).isEqualTo(5432);
            assertThat(p.getTargetPort().getStrVal()).isEqualTo("postgres");
        });
        assertThat(svc.getMetadata().getOwnerReferences()).hasSize(1);
        PodDisruptionBudget pdb = await("PDB orders-pggat", WAIT, () -> api.client
                .policy()
                .v1()
                .podDisruptionBudget()
                .inNamespace(NS)
                .withName("orders-pggat")
                .get());
        assertThat(pdb.getSpec().getMinAvailable().getIntVal()).isEqualTo(1);
        assertThat(pdb.getMetadata().getOwnerReferences()).hasSize(1);

        await("Reconciling=True while pods roll out", WAIT, () -> {
            PgPoolCondition c = condition("orders", PgPoolStatus.RECONCILING);
            return c != null && "True".equals(c.status) && "RollingOut".equals(c.reason);
        });
        PgPool ready = awaitReady("orders");
        assertThat(ready.getStatus().primary).isEqualTo("pg-1");
        assertThat(ready.getStatus().replicas).containsExactly("pg-2", "pg-3");
        assertThat(ready.getStatus().endpointSetVersion).isPositive();
        assertThat(ready.getStatus().podsAtVersion).isEqualTo(2);
        assertThat(ready.getStatus().condition(PgPoolStatus.STALLED).status).isEqualTo("False");
        assertThat(ready.getStatus().condition(PgPoolStatus.RECONCILING).status).isEqualTo("False");
    }

    @Test
    void zalandoPoolTakesOwnerCredentialsAndSpiloRolesAndBecomesReady() {
        api.installCrd(ClusterKinds.ZALANDO);
        api.zalandoCluster("acid-main", Map.of("billing", "billing_owner"));
        api.pod("acid-main-0", Map.of("cluster-name", "acid-main", "spilo-role", "master"), "10.2.0.10");
        api.pod("acid-main-1", Map.of("cluster-name", "acid-main", "spilo-role", "replica"), "10.2.0.11");
        // Another cluster's pod in the namespace must not leak into this pool.
        api.pod("other-0", Map.of("cluster-name", "other", "spilo-role", "replica"), "10.2.9.9");
        api.secret(
                "billing-owner.acid-main.credentials.postgresql.acid.zalan.do",
                Map.of("username", "billing_owner", "password", "zz-secret"));
        api.startOperator();
        api.create(pgPool("billing", zalando("acid-main")));

        ConfigMap cm = await("ConfigMap billing-pggat", WAIT, () -> configMap("billing"));
        JsonNode db = yaml(cm.getData().get("pggat.yaml")).at("/databases/billing");
        assertThat(endpoints(db)).containsExactly("10.2.0.10:primary", "10.2.0.11:replica");
        assertThat(db.at("/users/billing_owner/password").asText())
                .startsWith("${PGGAT_SECRET_BILLING_OWNER_ACID_MAIN");
        Deployment d = await("Deployment billing-pggat", WAIT, () -> deployment("billing"));
        assertThat(d.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv())
                .filteredOn(e -> e.getValueFrom() != null)
                .singleElement()
                .satisfies(e -> assertThat(e.getValueFrom().getSecretKeyRef().getName())
                        .isEqualTo("billing-owner.acid-main.credentials.postgresql.acid.zalan.do"));
        PgPool ready = awaitReady("billing");
        assertThat(ready.getStatus().primary).isEqualTo("acid-main-0");
        assertThat(ready.getStatus().replicas).containsExactly("acid-main-1");
    }

    @Test
    void specChangeRollsTheDeploymentThroughTheChecksumAnnotation() {
        cnpgClusterWithThreePods("pg");
        api.startOperator();
        api.create(pgPool("orders", cnpg("pg")));
        Deployment before = await("Deployment orders-pggat", WAIT, () -> deployment("orders"));
        String checksumBefore =
                before.getSpec().getTemplate().getMetadata().getAnnotations().get(PoolerResources.CHECKSUM_ANNOTATION);
        awaitReady("orders");

        PgPool pool = api.get("orders");
        pool.getSpec().pool = new PoolSpec();
        pool.getSpec().pool.mode = PoolMode.SESSION;
        pool.getSpec().pool.maxServerConnections = 7;
        api.client.resource(pool).update();

        Deployment after = await("Deployment with a new checksum", WAIT, () -> {
            Deployment d = deployment("orders");
            String sum =
                    d.getSpec().getTemplate().getMetadata().getAnnotations().get(PoolerResources.CHECKSUM_ANNOTATION);
            return sum.equals(checksumBefore) ? null : d;
        });
        JsonNode pools = yaml(configMap("orders").getData().get("pggat.yaml")).at("/pools");
        assertThat(pools.at("/mode").asText()).isEqualTo("session");
        assertThat(pools.at("/maxServerConnections").asInt()).isEqualTo(7);
        assertThat(after.getSpec().getTemplate().getMetadata().getAnnotations())
                .containsEntry(
                        PoolerResources.CHECKSUM_ANNOTATION,
                        configMap("orders").getMetadata().getAnnotations().get(PoolerResources.CHECKSUM_ANNOTATION));
        PgPool updated = api.get("orders");
        assertThat(updated.getMetadata().getGeneration()).isGreaterThan(1L);
        PgPool ready = awaitReady("orders");
        assertThat(ready.getStatus().observedGeneration)
                .isEqualTo(updated.getMetadata().getGeneration());
    }

    @Test
    void cnpgCurrentPrimaryChangeRewritesConfigMapEndpointsAndBumpsEndpointSetVersion() {
        cnpgClusterWithThreePods("pg");
        api.startOperator();
        api.create(pgPool("orders", cnpg("pg")));
        await("ConfigMap with pg-1 as primary", WAIT, () -> endpoints(
                        yaml(configMap("orders").getData().get("pggat.yaml")).at("/databases/app"))
                .contains("10.1.0.1:primary"));
        long before = awaitReady("orders").getStatus().endpointSetVersion;

        // A switchover: CNPG moves status.currentPrimary first, pod labels follow later.
        api.setCnpgPrimary("pg", "pg-2");

        ConfigMap cm = await("ConfigMap with pg-2 as primary", WAIT, () -> {
            ConfigMap c = configMap("orders");
            return endpoints(yaml(c.getData().get("pggat.yaml")).at("/databases/app"))
                            .get(0)
                            .equals("10.1.0.2:primary")
                    ? c
                    : null;
        });
        assertThat(endpoints(yaml(cm.getData().get("pggat.yaml")).at("/databases/app")))
                .containsExactly("10.1.0.2:primary", "10.1.0.1:replica", "10.1.0.3:replica");
        long after =
                Long.parseLong(cm.getMetadata().getAnnotations().get(PoolerResources.ENDPOINT_SET_VERSION_ANNOTATION));
        assertThat(after).isGreaterThan(before);
        PgPool p = await("status naming pg-2 as primary", WAIT, () -> {
            PgPool x = api.get("orders");
            return "pg-2".equals(x.getStatus().primary) ? x : null;
        });
        assertThat(p.getStatus().replicas).containsExactly("pg-1", "pg-3");
        assertThat(p.getStatus().endpointSetVersion).isEqualTo(after);
    }

    @Test
    void deletingThePgPoolRemovesEverythingItCreated() {
        cnpgClusterWithThreePods("pg");
        api.startOperator();
        api.create(pgPool("orders", cnpg("pg")));
        await("PDB orders-pggat", WAIT, () -> api.client
                .policy()
                .v1()
                .podDisruptionBudget()
                .inNamespace(NS)
                .withName("orders-pggat")
                .get());
        assertThat(configMap("orders")).isNotNull();

        api.client.resources(PgPool.class).inNamespace(NS).withName("orders").delete();

        await("PgPool orders gone", WAIT, () -> api.get("orders") == null);
        assertThat(configMap("orders")).isNull();
        assertThat(deployment("orders")).isNull();
        assertThat(api.client.services().inNamespace(NS).withName("orders").get())
                .isNull();
        assertThat(api.client
                        .policy()
                        .v1()
                        .podDisruptionBudget()
                        .inNamespace(NS)
                        .withName("orders-pggat")
                        .get())
                .isNull();
        // The cluster's own objects are not the PgPool's to delete.
        assertThat(api.client.secrets().inNamespace(NS).withName("pg-app").get())
                .isNotNull();
    }

    @Test
    void operatorStartedWithoutClusterCrdsPicksUpCnpgOnceItsCrdIsInstalled() {
        api.startOperator();
        api.create(pgPool("orders", cnpg("pg")));
        PgPoolCondition waiting = await("Reconciling=True, reason CrdNotInstalled", WAIT, () -> {
            PgPoolCondition c = condition("orders", PgPoolStatus.RECONCILING);
            return c != null && "CrdNotInstalled".equals(c.reason) ? c : null;
        });
        assertThat(waiting.status).isEqualTo("True");
        assertThat(waiting.message).contains("clusters.postgresql.cnpg.io");
        assertThat(condition("orders", PgPoolStatus.READY).status).isEqualTo("False");
        assertThat(configMap("orders")).isNull();

        cnpgClusterWithThreePods("pg");

        await("ConfigMap orders-pggat", WAIT, () -> configMap("orders"));
        assertThat(awaitReady("orders").getStatus().primary).isEqualTo("pg-1");

        // The informer registered late must deliver Cluster changes like one registered at start-up.
        api.setCnpgPrimary("pg", "pg-3");
        await("status naming pg-3 as primary", WAIT, () -> "pg-3"
                .equals(api.get("orders").getStatus().primary));
    }

    @Test
    void invalidSpecStallsWithAMessageNamingTheKey() {
        api.startOperator();
        ClusterRef both = cnpg("pg");
        both.zalando = new NamedRef("acid");
        api.create(pgPool("broken", both));
        PgPoolCondition stalled = await("Stalled=True", WAIT, () -> {
            PgPoolCondition c = condition("broken", PgPoolStatus.STALLED);
            return c != null && "True".equals(c.status) ? c : null;
        });
        assertThat(stalled.message).contains("spec.cluster", "exactly one");
        assertThat(condition("broken", PgPoolStatus.READY).status).isEqualTo("False");
        assertThat(configMap("broken")).isNull();
    }
}
