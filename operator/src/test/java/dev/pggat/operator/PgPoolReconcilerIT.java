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

class PgPoolReconcilerIT {
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

    private PgPool awaitReady(String name) {
        return await("PgPool " + name + " Ready=True at its current generation", WAIT, () -> {
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
        assertThat(container.getEnv()).singleElement().satisfies(e -> {
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
        api.markRolledOut("orders-pggat");
        PgPool ready = awaitReady("orders");
        assertThat(ready.getStatus().primary).isEqualTo("pg-1");
        assertThat(ready.getStatus().replicas).containsExactly("pg-2", "pg-3");
        assertThat(ready.getStatus().endpointSetVersion).isEqualTo(1L);
        assertThat(ready.getStatus().podsAtVersion).isEqualTo(2);
        assertThat(ready.getStatus().condition(PgPoolStatus.STALLED).status).isEqualTo("False");
        assertThat(ready.getStatus().condition(PgPoolStatus.RECONCILING).status).isEqualTo("False");
    }
}
