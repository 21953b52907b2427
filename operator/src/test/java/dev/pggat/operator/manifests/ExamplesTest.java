package dev.pggat.operator.manifests;

import static dev.pggat.operator.manifests.StrictManifests.documents;
import static dev.pggat.operator.manifests.StrictManifests.repo;
import static dev.pggat.operator.manifests.StrictManifests.typed;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pggat.crds.v1alpha1.Consistency;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.TlsMode;
import dev.pggat.operator.model.Credentials;
import dev.pggat.operator.model.PoolerConfig;
import dev.pggat.operator.model.PoolerDatabase;
import dev.pggat.operator.model.PoolerResources;
import dev.pggat.operator.model.SpecValidation;
import dev.pggat.operator.model.Topologies;
import dev.pggat.operator.model.Topology;
import dev.pggat.operator.webhook.SidecarInjector;
import dev.pggat.pooler.config.ClientTlsSettings;
import dev.pggat.pooler.config.ConfigException;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.RoutingConfig;
import dev.pggat.pooler.config.TlsPolicy;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Every Kubernetes example parses into its typed model with no unknown keys, and says what its comment says. */
class ExamplesTest {
    /** The pooler's own configuration file, not a Kubernetes manifest; the pooler module's tests load it. */
    static final String POOLER_CONFIG = "pggat.yaml";

    /** Argo CD's Application, only the keys the example uses; any other key fails. */
    record Application(String apiVersion, String kind, ObjectMeta metadata, AppSpec spec) {}

    record AppSpec(
            String project,
            AppSource source,
            AppDestination destination,
            SyncPolicy syncPolicy,
            List<IgnoreDifference> ignoreDifferences) {}

    record AppSource(String repoURL, String targetRevision, String path) {}

    record AppDestination(String server, String namespace) {}

    record SyncPolicy(Automated automated, List<String> syncOptions) {}

    record Automated(Boolean prune, Boolean selfHeal) {}

    record IgnoreDifference(String group, String kind, String name, List<String> jsonPointers) {}

    static Map<String, List<Object>> examples() throws IOException {
        Path dir = repo().resolve("examples");
        Map<String, List<Object>> out = new LinkedHashMap<>();
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml"))
                    .filter(p -> !p.getFileName().toString().equals(POOLER_CONFIG))
                    .sorted()
                    .collect(Collectors.toList());
        }
        for (Path f : files) {
            List<Object> objects = new ArrayList<>();
            List<JsonNode> docs = documents(f);
            assertThat(docs).as(f + " holds at least one object").isNotEmpty();
            for (int i = 0; i < docs.size(); i++) {
                JsonNode d = docs.get(i);
                String where = "examples/" + f.getFileName() + " document " + (i + 1);
                if ("argoproj.io/v1alpha1".equals(d.path("apiVersion").asText())
                        && "Application".equals(d.path("kind").asText())) {
                    Application app = StrictManifests.STRICT.treeToValue(d, Application.class);
                    StrictManifests.assertNoUnknownFields(d.get("metadata"), app.metadata(), where + " metadata");
                    objects.add(app);
                } else {
                    objects.add(typed(d, where));
                }
            }
            out.put(f.getFileName().toString(), objects);
        }
        return out;
    }

    static <T> List<T> all(Class<T> type) throws IOException {
        return examples().values().stream()
                .flatMap(List::stream)
                .filter(type::isInstance)
                .map(type::cast)
                .collect(Collectors.toList());
    }

    static PgPool pool(String file) throws IOException {
        return examples().get(file).stream()
                .filter(PgPool.class::isInstance)
                .map(PgPool.class::cast)
                .findFirst()
                .orElseThrow(() -> new AssertionError(file + " has no PgPool"));
    }

    @Test
    void everyKubernetesExampleParsesIntoItsTypedModelWithNoUnknownKeys() throws IOException {
        Map<String, List<Object>> ex = examples();
        assertThat(ex.keySet())
                .contains(
                        "cnpg.yaml",
                        "zalando.yaml",
                        "static.yaml",
                        "sidecar.yaml",
                        "read-write-split.yaml",
                        "tls.yaml",
                        "argocd.yaml");
        for (Object o : ex.values().stream().flatMap(List::stream).toList()) {
            if (o instanceof HasMetadata h) {
                assertThat(h.getMetadata().getName()).isNotBlank();
            }
        }
    }

    @Test
    void everyExamplePgPoolPassesTheOperatorsOwnSpecChecks() throws IOException {
        List<PgPool> pools = all(PgPool.class);
        assertThat(pools).hasSizeGreaterThanOrEqualTo(6);
        for (PgPool p : pools) {
            SpecValidation.check(p.getSpec());
            assertThat(p.getMetadata().getNamespace())
                    .as(p.getMetadata().getName())
                    .isNotBlank();
        }
    }

    @Test
    void clusterExamplesNameTheirClusterKind() throws IOException {
        assertThat(pool("cnpg.yaml").getSpec().cluster.cnpg.name).isEqualTo("pg-main");
        assertThat(pool("zalando.yaml").getSpec().cluster.zalando.name).isEqualTo("acid-main");
        assertThat(pool("static.yaml").getSpec().cluster.staticCluster.endpoints)
                .hasSize(2);
        // The static example ships the Secret its user's password comes from.
        var secretName = pool("static.yaml").getSpec().databases.get(0).users.get(0).passwordSecretRef.name;
        assertThat(examples().get("static.yaml")).anySatisfy(o -> assertThat(o)
                .isInstanceOfSatisfying(
                        io.fabric8.kubernetes.api.model.Secret.class,
                        s -> assertThat(s.getMetadata().getName()).isEqualTo(secretName)));
    }

    @Test
    void readWriteSplitExampleAsksForReadYourWrites() throws IOException {
        PgPool p = pool("read-write-split.yaml");
        assertThat(p.getSpec().routing.readWriteSplit).isTrue();
        assertThat(p.getSpec().routing.consistency).isEqualTo(Consistency.READ_YOUR_WRITES);
    }

    /**
     * The pooler configuration the operator writes for an example PgPool, loaded by the pooler itself. Clusters run
     * by another operator get a made-up primary and replica, and the credentials their Secrets would give.
     */
    static dev.pggat.pooler.config.PoolerConfig poolerConfigOf(PgPool p) throws ConfigException {
        PgPoolSpec spec = p.getSpec();
        SpecValidation.check(spec);
        Topology topology;
        List<PoolerDatabase> dbs;
        if (spec.cluster.staticCluster != null) {
            topology = Topologies.ofStatic(spec.cluster.staticCluster);
        } else {
            topology = new Topology(
                    new dev.pggat.pooler.config.Endpoint(
                            "10.0.0.1", 5432, dev.pggat.pooler.config.Endpoint.Role.PRIMARY, "pg-1", null, 100),
                    List.of(new dev.pggat.pooler.config.Endpoint(
                            "10.0.0.2", 5432, dev.pggat.pooler.config.Endpoint.Role.REPLICA, "pg-2", null, 100)));
        }
        if (spec.databases != null && !spec.databases.isEmpty()) {
            dbs = Credentials.ofSpec(spec.databases);
        } else {
            dbs = List.of(new PoolerDatabase(
                    "app", "app", List.of(new PoolerDatabase.PoolerUser("app", "app-secret", "password"))));
        }
        PoolerConfig config = PoolerConfig.render(spec, topology, dbs);
        Map<String, String> env = new HashMap<>();
        config.secretEnv().forEach(e -> env.put(e.variable(), "example-password"));
        return ConfigLoader.parse(config.yaml(), PoolerConfig.FILE_NAME, env);
    }

    @Test
    void everyExamplePgPoolYieldsAConfigurationThePoolerLoads() throws Exception {
        for (PgPool p : all(PgPool.class)) {
            assertThat(poolerConfigOf(p).databases())
                    .as(p.getMetadata().getName())
                    .isNotEmpty();
        }
    }

    @Test
    void readWriteSplitExampleMakesThePoolerSplitWithReadYourWrites() throws Exception {
        PgPool p = pool("read-write-split.yaml");
        var loaded = poolerConfigOf(p);
        assertThat(loaded.databases().values()).isNotEmpty().allSatisfy(db -> {
            RoutingConfig r = db.routing();
            assertThat(r.readWriteSplit()).isTrue();
            assertThat(r.consistency()).isEqualTo(RoutingConfig.Consistency.READ_YOUR_WRITES);
            assertThat(r.maxReplicaLag())
                    .isEqualTo(java.time.Duration.parse(
                            "PT" + p.getSpec().routing.maxReplicaLag.toUpperCase(java.util.Locale.ROOT)));
            assertThat(r.maxReplicaLagBytes()).isEqualTo(p.getSpec().routing.maxReplicaLagBytes);
        });
        // The other examples leave routing alone, and so send every query to the primary.
        assertThat(poolerConfigOf(pool("cnpg.yaml")).databases().values())
                .allSatisfy(db -> assertThat(db.routing().readWriteSplit()).isFalse());
    }

    @Test
    void tlsExampleMakesThePoolerRequireTlsWithTheMountedSecret() throws Exception {
        PgPool p = pool("tls.yaml");
        ClientTlsSettings tls = poolerConfigOf(p).security().tls();
        assertThat(tls.policy()).isEqualTo(TlsPolicy.REQUIRE);
        assertThat(tls.certFile()).isEqualTo(Path.of(PoolerConfig.TLS_DIR, PoolerConfig.TLS_CERT_KEY));
        assertThat(tls.keyFile()).isEqualTo(Path.of(PoolerConfig.TLS_DIR, PoolerConfig.TLS_KEY_KEY));
        assertThat(PoolerResources.tlsSecretName(p)).isEqualTo(p.getSpec().tls.secretRef.name);
        // Without spec.tls the pooler stays plain text.
        assertThat(poolerConfigOf(pool("cnpg.yaml")).security().tls().policy()).isEqualTo(TlsPolicy.DISABLE);
    }

    @Test
    void tlsExampleRequiresTlsWithAUserSecret() throws IOException {
        PgPool p = pool("tls.yaml");
        assertThat(p.getSpec().tls.mode).isEqualTo(TlsMode.REQUIRE);
        assertThat(p.getSpec().tls.secretRef.name).isNotBlank();
    }

    @Test
    void sidecarExampleLabelsItsPodTemplateWithAPgPoolThatAllowsIt() throws IOException {
        PgPool p = pool("sidecar.yaml");
        Deployment app = examples().get("sidecar.yaml").stream()
                .filter(Deployment.class::isInstance)
                .map(Deployment.class::cast)
                .findFirst()
                .orElseThrow();
        Map<String, String> labels = app.getSpec().getTemplate().getMetadata().getLabels();
        assertThat(labels)
                .containsEntry(SidecarInjector.POOL_LABEL, p.getMetadata().getName());
        assertThat(app.getMetadata().getNamespace()).isEqualTo(p.getMetadata().getNamespace());
        assertThat(p.getSpec().sidecar.enabled).isTrue();
        assertThat(labels).containsAllEntriesOf(p.getSpec().sidecar.selector.getMatchLabels());
        assertThat(p.getSpec().deployment.enabled).isFalse();
        // The app talks to the sidecar on loopback.
        assertThat(app.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv())
                .anySatisfy(e -> {
                    assertThat(e.getName()).isEqualTo("PGHOST");
                    assertThat(e.getValue()).isEqualTo(SidecarInjector.LISTEN_HOST);
                });
    }

    @Test
    void argoCdExampleCarriesTheRepositorysHealthCheckAndInstallsDeploy() throws IOException {
        List<Object> argo = examples().get("argocd.yaml");
        ConfigMap cm = argo.stream()
                .filter(ConfigMap.class::isInstance)
                .map(ConfigMap.class::cast)
                .findFirst()
                .orElseThrow();
        assertThat(cm.getMetadata().getName()).isEqualTo("argocd-cm");
        assertThat(cm.getData().get("resource.customizations.health.pggat.dev_PgPool"))
                .as("the health check in examples/argocd.yaml is argocd/health.lua, byte for byte")
                .isEqualTo(Files.readString(repo().resolve("argocd/health.lua")));
        Application app = argo.stream()
                .filter(Application.class::isInstance)
                .map(Application.class::cast)
                .findFirst()
                .orElseThrow();
        assertThat(app.spec().source().path()).isEqualTo("deploy");
        assertThat(Files.isRegularFile(
                        repo().resolve(app.spec().source().path()).resolve("kustomization.yaml")))
                .isTrue();
        assertThat(app.spec().ignoreDifferences())
                .anySatisfy(d -> assertThat(d.jsonPointers()).contains("/webhooks/0/clientConfig/caBundle"));
    }
}
