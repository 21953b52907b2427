package dev.pggat.operator.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.Consistency;
import dev.pggat.crds.v1alpha1.DatabaseSpec;
import dev.pggat.crds.v1alpha1.EndpointRole;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.PoolSpec;
import dev.pggat.crds.v1alpha1.PoolTimeouts;
import dev.pggat.crds.v1alpha1.RoutingSpec;
import dev.pggat.crds.v1alpha1.SecretKeyRef;
import dev.pggat.crds.v1alpha1.StaticCluster;
import dev.pggat.crds.v1alpha1.StaticEndpoint;
import dev.pggat.crds.v1alpha1.TlsMode;
import dev.pggat.crds.v1alpha1.TlsSecretRef;
import dev.pggat.crds.v1alpha1.TlsSpec;
import dev.pggat.crds.v1alpha1.UserSpec;
import dev.pggat.pooler.config.ConfigException;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.DatabaseConfig;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.config.RoutingConfig;
import dev.pggat.pooler.config.TlsPolicy;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** spec.tls and spec.routing as the pooler reads them: each generated file goes through the pooler's own loader. */
class TlsAndRoutingConfigTest {
    private static PgPool pool(Consumer<PgPoolSpec> customize) {
        PgPool pool = new PgPool();
        pool.setMetadata(new ObjectMetaBuilder()
                .withName("shop")
                .withNamespace("prod")
                .withUid("uid-1")
                .build());
        PgPoolSpec spec = new PgPoolSpec();
        spec.cluster = new ClusterRef();
        spec.cluster.staticCluster = new StaticCluster();
        StaticEndpoint replica = new StaticEndpoint("db-b", 5433, EndpointRole.REPLICA);
        replica.name = "db-b";
        replica.zone = "eu-west-1b";
        replica.weight = 250;
        spec.cluster.staticCluster.endpoints = List.of(new StaticEndpoint("db-a", null, null), replica);
        spec.databases = List.of(
                new DatabaseSpec("shop", List.of(new UserSpec("alice", new SecretKeyRef("shop-users", "alice")))),
                new DatabaseSpec("audit", List.of(new UserSpec("bob", new SecretKeyRef("shop-users", "bob")))));
        customize.accept(spec);
        pool.setSpec(spec);
        return pool;
    }

    private static PoolerConfig render(PgPool pool) {
        SpecValidation.check(pool.getSpec());
        return PoolerConfig.render(
                pool.getSpec(),
                Topologies.ofStatic(pool.getSpec().cluster.staticCluster),
                Credentials.ofSpec(pool.getSpec().databases));
    }

    /** The file as a pooler pod loads it, with its Secret-fed variables set. */
    private static dev.pggat.pooler.config.PoolerConfig load(PoolerConfig config, Map<String, String> extraEnv)
            throws ConfigException {
        Map<String, String> env = new HashMap<>(extraEnv);
        for (PoolerConfig.SecretEnv e : config.secretEnv()) {
            env.put(e.variable(), "pw-" + e.secretKey());
        }
        return ConfigLoader.parse(config.yaml(), PoolerConfig.FILE_NAME, env);
    }

    private static TlsSpec tls(TlsMode mode, String secret, Boolean selfSigned) {
        TlsSpec t = new TlsSpec();
        t.mode = mode;
        if (secret != null) {
            t.secretRef = new TlsSecretRef();
            t.secretRef.name = secret;
        }
        t.selfSigned = selfSigned;
        return t;
    }

    @Test
    @SuppressWarnings("unchecked")
    void routesByApplicationNameAndUserWithParameterRewritesReachThePooler() throws Exception {
        PgPool pool = pool(spec -> {
            dev.pggat.crds.v1alpha1.RouteSpec refuse = new dev.pggat.crds.v1alpha1.RouteSpec();
            refuse.name = "no-legacy";
            refuse.match = new dev.pggat.crds.v1alpha1.RouteSpec.RouteMatchSpec();
            refuse.match.applicationName = "legacy-*";
            refuse.error = new dev.pggat.crds.v1alpha1.RouteSpec.RouteErrorSpec();
            refuse.error.sqlstate = "08004";
            refuse.error.message = "legacy clients are retired";
            dev.pggat.crds.v1alpha1.RouteSpec reporting = new dev.pggat.crds.v1alpha1.RouteSpec();
            reporting.name = "reporting";
            reporting.match = new dev.pggat.crds.v1alpha1.RouteSpec.RouteMatchSpec();
            reporting.match.applicationName = "reporting-*";
            reporting.match.user = "alice";
            reporting.database = "audit";
            reporting.setParameters = Map.of("statement_timeout", "30s");
            reporting.defaultParameters = Map.of("search_path", "reports");
            reporting.dropParameters = List.of("options");
            spec.routes = List.of(refuse, reporting);
        });
        var loaded = load(render(pool), Map.of());
        assertThat(loaded.routes()).extracting(r -> r.name()).containsExactly("no-legacy", "reporting");
        var no = loaded.routes().get(0);
        assertThat(no.error())
                .isEqualTo(new dev.pggat.pooler.config.RouteConfig.Error("08004", "legacy clients are" + " retired"));
        var r = loaded.routes().get(1);
        assertThat(r.backend()).isEqualTo("audit");
        var client = new dev.pggat.pooler.config.RouteMatcher.Client(
                "shop", "alice", Map.of("application_name", "reporting-q1"), false, null, null);
        assertThat(r.match().matches(client, new List[1])).isTrue();
        assertThat(r.match()
                        .matches(
                                new dev.pggat.pooler.config.RouteMatcher.Client(
                                        "shop", "bob", Map.of("application_name", "reporting-q1"), false, null, null),
                                new List[1]))
                .isFalse();
        var rw = dev.pggat.pooler.config.RouteRewrite.Mode.class;
        assertThat(r.rewrite().parameters().get("statement_timeout").mode()).isEqualTo(rw.getEnumConstants()[0]);
        assertThat(r.rewrite().applyTo(Map.of("statement_timeout", "1s")))
                .containsEntry("statement_timeout", "30s")
                .containsEntry("search_path", "reports");
        assertThat(r.rewrite().dropFrom(Map.of("options", "-c x=y"))).isEmpty();

        // A PgPool without routes renders no routes section: v1alpha1 specs keep their files.
        assertThat(render(pool(spec -> {})).yaml()).doesNotContain("routes:");

        PgPool bad = pool(spec -> {
            dev.pggat.crds.v1alpha1.RouteSpec r2 = new dev.pggat.crds.v1alpha1.RouteSpec();
            r2.name = "nowhere";
            r2.database = "missing";
            spec.routes = List.of(r2);
        });
        assertThatThrownBy(() -> render(bad))
                .hasMessageContaining("routes[0].backend: names no database under databases (value 'missing'");
    }

    @Test
    void poolTimeoutsCapsAndReserveReachThePooler() throws Exception {
        PgPool pool = pool(spec -> {
            spec.pool = new PoolSpec();
            spec.pool.timeouts = new PoolTimeouts();
            spec.pool.timeouts.clientIdle = "10m";
            spec.pool.timeouts.idleInTransaction = "30s";
            spec.pool.timeouts.query = "2m";
            spec.pool.maxDatabaseConnections = 40;
            spec.pool.reservePoolSize = 5;
            spec.pool.reservePoolTimeout = "3s";
            spec.pool.preparedStatementCacheSize = 200;
        });
        var loaded = load(render(pool), Map.of());
        assertThat(loaded.timeouts().clientIdle()).isEqualTo(Duration.ofMinutes(10));
        assertThat(loaded.timeouts().idleInTransaction()).isEqualTo(Duration.ofSeconds(30));
        assertThat(loaded.timeouts().query()).isEqualTo(Duration.ofMinutes(2));
        var limits = loaded.databases().get("shop").limits();
        assertThat(limits.maxDatabaseConnections()).isEqualTo(40);
        assertThat(limits.reservePoolSize()).isEqualTo(5);
        assertThat(limits.reservePoolTimeout()).isEqualTo(Duration.ofSeconds(3));
        assertThat(limits.preparedStatementCacheSize()).isEqualTo(200);

        PgPool bad = pool(spec -> {
            spec.pool = new PoolSpec();
            spec.pool.preparedStatementCacheSize = 0;
        });
        assertThatThrownBy(() -> render(bad))
                .hasMessageContaining("spec.pool.preparedStatementCacheSize is 0; it must be at least 1");
    }

    @Test
    void routingSpecBecomesTheRoutingOfEveryDatabaseThePoolerLoads() throws Exception {
        PgPool pool = pool(s -> {
            s.routing = new RoutingSpec();
            s.routing.readWriteSplit = true;
            s.routing.consistency = Consistency.READ_YOUR_WRITES;
            s.routing.maxReplicaLag = "5s";
            s.routing.maxReplicaLagBytes = 3L * 1024 * 1024 * 1024;
        });
        var loaded = load(render(pool), Map.of());
        assertThat(loaded.databases()).containsOnlyKeys("shop", "audit");
        for (DatabaseConfig db : loaded.databases().values()) {
            RoutingConfig r = db.routing();
            assertThat(r.readWriteSplit()).as(db.name()).isTrue();
            assertThat(r.consistency()).as(db.name()).isEqualTo(RoutingConfig.Consistency.READ_YOUR_WRITES);
            assertThat(r.maxReplicaLag()).as(db.name()).isEqualTo(Duration.ofSeconds(5));
            // Above 2GB: the pooler's lag limit is not bound by its 2GB size limit.
            assertThat(r.maxReplicaLagBytes()).as(db.name()).isEqualTo(3L * 1024 * 1024 * 1024);
        }
    }

    @Test
    void pgPoolWithoutRoutingSendsEverythingToThePrimaryAlthoughThePoolerWouldSplitByDefault() throws Exception {
        assertThat(RoutingConfig.DEFAULT.readWriteSplit())
                .as("the pooler's own default, which the CRD's must override")
                .isTrue();
        var loaded = load(render(pool(s -> {})), Map.of());
        assertThat(loaded.databases().values())
                .allSatisfy(db -> assertThat(db.routing().readWriteSplit()).isFalse());

        var splitOnly = load(
                render(pool(s -> {
                    s.routing = new RoutingSpec();
                    s.routing.readWriteSplit = true;
                })),
                Map.of());
        RoutingConfig r = splitOnly.databases().get("shop").routing();
        assertThat(r.readWriteSplit()).isTrue();
        // Unset fields keep the defaults the CRD documents.
        assertThat(r.consistency()).isEqualTo(RoutingConfig.Consistency.EVENTUAL);
        assertThat(r.maxReplicaLag()).isEqualTo(Duration.ofSeconds(10));
        assertThat(r.maxReplicaLagBytes()).isEqualTo(16L * 1024 * 1024);
    }

    @Test
    void staticEndpointNamesZonesAndWeightsReachTheConfigurationFile() throws Exception {
        var loaded = load(render(pool(s -> {})), Map.of());
        assertThat(loaded.databases().get("shop").endpoints())
                .containsExactly(
                        new Endpoint("db-a", 5432, Endpoint.Role.PRIMARY, "db-a:5432", null, 100),
                        new Endpoint("db-b", 5433, Endpoint.Role.REPLICA, "db-b", "eu-west-1b", 250));
    }

    @Test
    void tlsSecretBecomesCertAndKeyFilesInTheDirectoryWherePodsMountIt() throws Exception {
        PoolerConfig config = render(pool(s -> s.tls = tls(TlsMode.REQUIRE, "shop-tls", null)));
        var inPod = load(config, Map.of()).security().tls();
        assertThat(inPod.policy()).isEqualTo(TlsPolicy.REQUIRE);
        assertThat(inPod.certFile()).isEqualTo(Path.of(PoolerConfig.TLS_DIR, "tls.crt"));
        assertThat(inPod.keyFile()).isEqualTo(Path.of(PoolerConfig.TLS_DIR, "tls.key"));

        var elsewhere = load(config, Map.of(PoolerConfig.TLS_DIR_VARIABLE, "/srv/certs"))
                .security()
                .tls();
        assertThat(elsewhere.certFile()).isEqualTo(Path.of("/srv/certs/tls.crt"));
    }

    @Test
    void selfSignedTlsLeavesTheCertificateToThePooler() throws Exception {
        var t = load(render(pool(s -> s.tls = tls(null, null, true))), Map.of())
                .security()
                .tls();
        assertThat(t.policy()).as("the CRD's default mode").isEqualTo(TlsPolicy.PREFER);
        assertThat(t.certFile()).isNull();
        assertThat(t.enabled())
                .as("prefer without files: the pooler makes a certificate")
                .isTrue();
    }

    @Test
    void withoutSpecTlsThePoolerServesNoTls() throws Exception {
        var t = load(render(pool(s -> {})), Map.of()).security().tls();
        assertThat(t.policy()).isEqualTo(TlsPolicy.DISABLE);
        assertThat(t.enabled()).isFalse();
    }

    @Test
    void tlsCombinationsThatWouldServeNoOrAnotherCertificateAreRejectedNamingTheField() {
        Map<TlsSpec, String> bad = new java.util.LinkedHashMap<>();
        bad.put(tls(TlsMode.REQUIRE, null, null), "spec.tls.mode is require but no certificate");
        bad.put(tls(null, null, false), "spec.tls.mode is prefer (the default) but no certificate");
        bad.put(tls(TlsMode.DISABLE, "shop-tls", null), "spec.tls.mode is disable");
        bad.put(tls(TlsMode.DISABLE, null, true), "but spec.tls.selfSigned is set");
        bad.put(tls(TlsMode.ALLOW, null, true), "spec.tls.mode is allow");
        bad.put(tls(TlsMode.PREFER, "shop-tls", true), "spec.tls.secretRef and spec.tls.selfSigned");
        bad.put(tls(TlsMode.REQUIRE, " ", null), "spec.tls.secretRef.name is required");
        bad.forEach((t, message) -> assertThatThrownBy(
                        () -> SpecValidation.check(pool(s -> s.tls = t).getSpec()))
                .isInstanceOfSatisfying(Problem.class, p -> assertThat(p.kind()).isEqualTo(Problem.Kind.INVALID))
                .hasMessageContaining(message));
    }

    @Test
    void routingValuesThePoolerWouldRefuseAreRejectedNamingTheField() {
        assertThatThrownBy(() -> SpecValidation.check(pool(s -> {
                            s.routing = new RoutingSpec();
                            s.routing.maxReplicaLag = "9000h";
                        })
                        .getSpec()))
                .isInstanceOf(Problem.class)
                .hasMessageContaining("spec.routing.maxReplicaLag is \"9000h\"; accepted: at most 365 days");
        assertThatThrownBy(() -> SpecValidation.check(pool(s -> {
                            s.routing = new RoutingSpec();
                            s.routing.maxReplicaLagBytes = -1L;
                        })
                        .getSpec()))
                .isInstanceOf(Problem.class)
                .hasMessageContaining("spec.routing.maxReplicaLagBytes is -1");
        assertThatThrownBy(
                        () -> SpecValidation.check(pool(s -> s.cluster.staticCluster.endpoints.get(1).weight = 20_000)
                                .getSpec()))
                .isInstanceOf(Problem.class)
                .hasMessageContaining("spec.cluster.static.endpoints[1].weight is 20000");
    }

    @Test
    void aSpecThePoolerWouldRefuseStallsTheRenderWithThePoolersOwnMessage() {
        String longName = "d".repeat(64);
        PgPool pool = pool(s -> s.databases = List.of(
                new DatabaseSpec(longName, List.of(new UserSpec("alice", new SecretKeyRef("shop-users", "a"))))));
        assertThatThrownBy(() -> render(pool))
                .isInstanceOfSatisfying(Problem.class, p -> assertThat(p.kind()).isEqualTo(Problem.Kind.INVALID))
                .hasMessageContaining("the pooler would refuse the configuration")
                .hasMessageContaining("pggat.yaml: databases." + longName);
    }

    @Test
    void deploymentMountsTheTlsSecretWhereTheConfigurationLooksGroupReadableOnly() {
        PgPool pool = pool(s -> s.tls = tls(TlsMode.REQUIRE, "shop-tls", null));
        Deployment d = PoolerResources.deployment(pool, render(pool), "pggat:test");
        PodSpec podSpec = d.getSpec().getTemplate().getSpec();
        Volume v = podSpec.getVolumes().stream()
                .filter(x ->
                        x.getSecret() != null && "shop-tls".equals(x.getSecret().getSecretName()))
                .findFirst()
                .orElseThrow();
        assertThat(v.getSecret().getItems())
                .extracting(i -> i.getKey() + "=" + i.getPath())
                .containsExactly("tls.crt=tls.crt", "tls.key=tls.key");
        assertThat(v.getSecret().getDefaultMode()).isEqualTo(0440);
        assertThat(podSpec.getSecurityContext().getFsGroup()).isEqualTo(65532L);
        VolumeMount m = podSpec.getContainers().get(0).getVolumeMounts().stream()
                .filter(x -> x.getName().equals(v.getName()))
                .findFirst()
                .orElseThrow();
        assertThat(m.getMountPath()).isEqualTo(PoolerConfig.TLS_DIR);
        // A subPath mount would never see a rotated Secret.
        assertThat(m.getSubPath()).isNull();
        assertThat(m.getReadOnly()).isTrue();
    }

    @Test
    void selfSignedOrNoTlsMountsNoSecret() {
        for (TlsSpec t : new TlsSpec[] {null, tls(TlsMode.REQUIRE, null, true)}) {
            PgPool pool = pool(s -> s.tls = t);
            PodSpec podSpec = PoolerResources.deployment(pool, render(pool), "pggat:test")
                    .getSpec()
                    .getTemplate()
                    .getSpec();
            assertThat(podSpec.getVolumes()).noneMatch(v -> v.getSecret() != null);
            assertThat(podSpec.getContainers().get(0).getVolumeMounts())
                    .noneMatch(m -> m.getMountPath().equals(PoolerConfig.TLS_DIR));
        }
    }

    @Test
    void changingTlsOrRoutingRollsThePoolerPods() {
        PgPool plain = pool(s -> {});
        PgPool withTls = pool(s -> s.tls = tls(TlsMode.REQUIRE, "shop-tls", null));
        PgPool split = pool(s -> {
            s.routing = new RoutingSpec();
            s.routing.readWriteSplit = true;
        });
        String a = render(plain).checksumWithoutEndpoints();
        assertThat(render(withTls).checksumWithoutEndpoints()).isNotEqualTo(a);
        assertThat(render(split).checksumWithoutEndpoints()).isNotEqualTo(a);
    }
}
