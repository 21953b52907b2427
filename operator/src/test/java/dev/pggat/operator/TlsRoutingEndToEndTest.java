package dev.pggat.operator;

import static dev.pggat.operator.MockApi.NS;
import static dev.pggat.operator.MockApi.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.Consistency;
import dev.pggat.crds.v1alpha1.DatabaseSpec;
import dev.pggat.crds.v1alpha1.EndpointRole;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.RoutingSpec;
import dev.pggat.crds.v1alpha1.SecretKeyRef;
import dev.pggat.crds.v1alpha1.StaticCluster;
import dev.pggat.crds.v1alpha1.StaticEndpoint;
import dev.pggat.crds.v1alpha1.TlsMode;
import dev.pggat.crds.v1alpha1.TlsSecretRef;
import dev.pggat.crds.v1alpha1.TlsSpec;
import dev.pggat.crds.v1alpha1.UserSpec;
import dev.pggat.operator.model.PoolerResources;
import dev.pggat.operator.webhook.WebhookPki;
import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.Admin;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.Listen;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.routing.EndpointState;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.KeyToPath;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A PgPool with spec.tls and spec.routing, reconciled by the in-process operator; a real pooler runs the ConfigMap
 * it wrote, with the files and variables its Deployment's pod would get, in front of a real primary and replica.
 */
class TlsRoutingEndToEndTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final String DB = "app";
    private static final String USER = "app";
    private static final String POOL = "orders";
    private static final String TLS_SECRET = "orders-tls";

    private final String password = secret();
    private PostgresCluster cluster;
    private MockApi api;
    private Pooler pooler;

    @TempDir
    Path dir;

    @AfterEach
    void stop() {
        if (pooler != null) {
            pooler.close();
        }
        if (api != null) {
            api.close();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void tlsRequiredReadsOnTheReplicaWritesOnThePrimaryAndAClientReadsItsOwnWrites() throws Exception {
        cluster = PostgresCluster.builder()
                .replicas(1)
                .superuserPassword(secret())
                .bootstrapSql(
                        "CREATE ROLE " + USER + " LOGIN PASSWORD '" + password + "'",
                        "CREATE DATABASE " + DB + " OWNER " + USER,
                        "\\c " + DB,
                        "CREATE TABLE notes (id int PRIMARY KEY); GRANT ALL ON notes TO " + USER)
                .start();
        PostgresCluster.Node primary = cluster.primary();
        PostgresCluster.Node replica = cluster.replicas().get(0);

        api = new MockApi();
        api.secret("orders-db", Map.of("password", password));
        api.startOperator();
        api.create(pgPool(primary, replica));

        // The Secret is not there yet: the PgPool says so instead of leaving pods in ContainerCreating.
        String missing = await("a condition naming the missing TLS Secret", WAIT, () -> {
            PgPool p = api.get(POOL);
            return p.getStatus() == null
                    ? null
                    : p.getStatus().conditions.stream()
                            .filter(c -> "TlsSecretNotFound".equals(c.reason))
                            .findFirst()
                            .map(c -> c.message)
                            .orElse(null);
        });
        assertThat(missing).contains("Secret " + TLS_SECRET + " (spec.tls.secretRef) does not exist");
        WebhookPki.Identity ca = WebhookPki.newCa("pggat test CA", Instant.now());
        WebhookPki.Identity serving =
                WebhookPki.newServing(ca, List.of(POOL + "." + NS + ".svc", "localhost"), Instant.now());
        api.client
                .resource(new io.fabric8.kubernetes.api.model.SecretBuilder()
                        .withNewMetadata()
                        .withName(TLS_SECRET)
                        .withNamespace(NS)
                        .endMetadata()
                        .withType("kubernetes.io/tls")
                        .withData(Map.of(
                                "tls.crt", base64(WebhookPki.pemChain(serving.chain())),
                                "tls.key", base64(WebhookPki.pem(serving.key()))))
                        .build())
                .create();
        ConfigMap configMap = await("the pooler ConfigMap", WAIT, () -> api.client
                .configMaps()
                .inNamespace(NS)
                .withName(POOL + "-pggat")
                .get());
        Deployment deployment = await("the pooler Deployment", WAIT, () -> api.client
                .apps()
                .deployments()
                .inNamespace(NS)
                .withName(POOL + "-pggat")
                .get());

        PoolerConfig config = ConfigLoader.parse(
                        configMap.getData().get("pggat.yaml"), "pggat.yaml", podEnvironment(deployment))
                // A pod has the ports to itself; a test on a shared machine takes free ones.
                .withListen(new Listen("127.0.0.1", 0))
                .withAdmin(new Admin(false, "127.0.0.1", 0, null));
        pooler = new Pooler(config);
        pooler.start();
        await(
                "both servers probed up in their roles",
                WAIT,
                () -> pooler.router().database(DB).states().stream()
                                .allMatch(s -> s.health() == EndpointState.Health.UP
                                        && s.observedRole() == s.member().role())
                        ? true
                        : null);

        Path root = dir.resolve("ca.crt");
        Files.writeString(root, WebhookPki.pem(ca.chain().get(0)));
        assertThatThrownBy(() -> connect("disable", null).close())
                .as("mode require refuses plain-text clients")
                .isInstanceOfSatisfying(
                        SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("28000"));

        try (Connection writer = connect("verify-ca", root);
                Connection other = connect("verify-ca", root);
                Connection superuser = DriverManager.getConnection(
                        replica.jdbcUrl(DB), cluster.superuser(), cluster.superuserPassword());
                Statement su = superuser.createStatement()) {
            // verify-ca: the handshake succeeded with the Secret's certificate, checked against its CA.
            assertThat(serverOf(writer, "SELECT pg_is_in_recovery()::text")).isEqualTo(replica.port() + " true");

            // Replay stops, so a read of the replica cannot see a new write.
            su.execute("SELECT pg_wal_replay_pause()");
            assertThat(serverOf(writer, "INSERT INTO notes VALUES (42) RETURNING id::text"))
                    .isEqualTo(primary.port() + " 42");
            String count = "SELECT count(*)::text FROM notes WHERE id = 42";
            for (int i = 0; i < 20; i++) {
                assertThat(serverOf(writer, count))
                        .as("the writer's read right after its write, attempt " + i)
                        .isEqualTo(primary.port() + " 1");
            }
            assertThat(serverOf(other, count))
                    .as("a client that wrote nothing still reads the replica, which has not replayed the row")
                    .isEqualTo(replica.port() + " 0");

            su.execute("SELECT pg_wal_replay_resume()");
            await("the writer's reads back on the replica once it has replayed the write", WAIT, () -> {
                try {
                    return serverOf(writer, count).equals(replica.port() + " 1") ? true : null;
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
        }
    }

    private Connection connect(String sslmode, Path rootCert) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", USER);
        p.setProperty("password", password);
        p.setProperty("sslmode", sslmode);
        if (rootCert != null) {
            p.setProperty("sslrootcert", rootCert.toString());
        }
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + pooler.port() + "/" + DB, p);
    }

    /** The server port that ran the query, and its one value. */
    private static String serverOf(Connection c, String query) throws SQLException {
        String wrapped = query.startsWith("INSERT")
                ? query.replace("RETURNING ", "RETURNING inet_server_port()::text || ' ' || ")
                : query.replaceFirst("SELECT ", "SELECT inet_server_port()::text || ' ' || ");
        return at(c, wrapped);
    }

    private static String at(Connection c, String query) throws SQLException {
        try (Statement st = c.createStatement();
                ResultSet rs = st.executeQuery(query)) {
            assertThat(rs.next()).as(query).isTrue();
            return rs.getString(1);
        }
    }

    /**
     * What the kubelet gives the Deployment's pooler container: each Secret-fed variable from the mock API, and
     * the TLS Secret's items as files in a directory standing in for the mount.
     */
    private Map<String, String> podEnvironment(Deployment d) throws Exception {
        Container c = d.getSpec().getTemplate().getSpec().getContainers().get(0);
        Map<String, String> env = new HashMap<>();
        for (EnvVar e : c.getEnv()) {
            if (e.getValueFrom() != null && e.getValueFrom().getSecretKeyRef() != null) {
                env.put(
                        e.getName(),
                        plain(
                                secret(e.getValueFrom().getSecretKeyRef().getName()),
                                e.getValueFrom().getSecretKeyRef().getKey()));
            }
        }
        String mountPath = c.getVolumeMounts().stream()
                .filter(m -> m.getMountPath().equals(dev.pggat.operator.model.PoolerConfig.TLS_DIR))
                .findFirst()
                .orElseThrow()
                .getName();
        Volume v = d.getSpec().getTemplate().getSpec().getVolumes().stream()
                .filter(x -> x.getName().equals(mountPath))
                .findFirst()
                .orElseThrow();
        assertThat(v.getSecret().getSecretName()).isEqualTo(PoolerResources.tlsSecretName(api.get(POOL)));
        Path mount = Files.createDirectories(dir.resolve("tls"));
        for (KeyToPath item : v.getSecret().getItems()) {
            Files.writeString(
                    mount.resolve(item.getPath()), plain(secret(v.getSecret().getSecretName()), item.getKey()));
        }
        env.put(dev.pggat.operator.model.PoolerConfig.TLS_DIR_VARIABLE, mount.toString());
        return env;
    }

    private Secret secret(String name) {
        return api.client.secrets().inNamespace(NS).withName(name).get();
    }

    private static String plain(Secret s, String key) {
        if (s.getStringData() != null && s.getStringData().containsKey(key)) {
            return s.getStringData().get(key);
        }
        return new String(Base64.getDecoder().decode(s.getData().get(key)), StandardCharsets.UTF_8);
    }

    private static String base64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    private static PgPool pgPool(PostgresCluster.Node primary, PostgresCluster.Node replica) {
        PgPool pool = new PgPool();
        pool.setMetadata(new ObjectMetaBuilder().withName(POOL).build());
        PgPoolSpec spec = new PgPoolSpec();
        spec.cluster = new ClusterRef();
        spec.cluster.staticCluster = new StaticCluster();
        spec.cluster.staticCluster.endpoints = List.of(
                new StaticEndpoint(primary.host(), primary.port(), EndpointRole.PRIMARY),
                new StaticEndpoint(replica.host(), replica.port(), EndpointRole.REPLICA));
        spec.databases =
                List.of(new DatabaseSpec(DB, List.of(new UserSpec(USER, new SecretKeyRef("orders-db", "password")))));
        spec.routing = new RoutingSpec();
        spec.routing.readWriteSplit = true;
        spec.routing.consistency = Consistency.READ_YOUR_WRITES;
        // Replay is paused on purpose below; a time limit would take the replica out of reads.
        spec.routing.maxReplicaLag = "1h";
        spec.tls = new TlsSpec();
        spec.tls.mode = TlsMode.REQUIRE;
        spec.tls.secretRef = new TlsSecretRef();
        spec.tls.secretRef.name = TLS_SECRET;
        pool.setSpec(spec);
        return pool;
    }

    private static String secret() {
        byte[] b = new byte[16];
        new SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }
}
