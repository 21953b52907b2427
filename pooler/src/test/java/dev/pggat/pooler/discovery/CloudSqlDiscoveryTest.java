package dev.pggat.pooler.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.routing.EndpointSet;
import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.testing.FakeApi;
import dev.pggat.pooler.testing.RoundRobinRelay;
import dev.pggat.pooler.testing.TestPostgres;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Cloud SQL discovery against a local server that answers like the Cloud SQL Admin API (the JSON it documents,
 * through Google's own client, with a service account's OAuth token), whose instances' private addresses lead to
 * real PostgreSQL servers (a primary and two streaming replicas, one relay per instance address on 127.0.0.2-4).
 * One story, in order: the first set, a replica in MAINTENANCE, removed and added again, the API failing with 429
 * and 500, and a replica promoted after its primary failed; after each step a client through pggat reaches the
 * right server.
 */
class CloudSqlDiscoveryTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PROJECT = "test-project";
    private static final String TOKEN = "ya29.test-token";
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final String USER = TestPostgres.SCRAM_USER;

    private static PostgresCluster pg;
    private static final List<RoundRobinRelay> relays = new ArrayList<>();
    private static FakeApi api;
    private static Pooler pooler;
    private static Path dir;
    /** The instances as the API lists them, by name; changed by the test. */
    private static final Map<String, ObjectNode> instances = new LinkedHashMap<>();

    private static int primaryPort;
    private static int replica1Port;
    private static int replica2Port;

    @BeforeAll
    static void start() throws Exception {
        pg = TestPostgres.startOwn(2);
        primaryPort = pg.primary().port();
        replica1Port = pg.replicas().get(0).port();
        replica2Port = pg.replicas().get(1).port();
        try (Connection c = TestPostgres.connect(pg.primary(), TestPostgres.DATABASE, USER);
                Statement st = c.createStatement()) {
            st.execute("CREATE TABLE cloudsql_writes (x int)");
        }
        // Cloud SQL instances all listen on one port, each at its own address.
        int port = sharedFreePort("127.0.0.2", "127.0.0.3", "127.0.0.4");
        relays.add(relay("127.0.0.2", port, primaryPort));
        relays.add(relay("127.0.0.3", port, replica1Port));
        relays.add(relay("127.0.0.4", port, replica2Port));

        instances.put("orders", instance("orders", "POSTGRES_16", "CLOUD_SQL_INSTANCE", null, "127.0.0.2", "test"));
        instances.get("orders").putArray("replicaNames").add("orders-r1").add("orders-r2");
        instances.put(
                "orders-r1",
                instance("orders-r1", "POSTGRES_16", "READ_REPLICA_INSTANCE", "orders", "127.0.0.3", "test"));
        instances.put(
                "orders-r2",
                instance("orders-r2", "POSTGRES_16", "READ_REPLICA_INSTANCE", "orders", "127.0.0.4", "test"));
        // Left out: another engine, and a PostgreSQL instance without the label.
        instances.put("legacy", instance("legacy", "MYSQL_8_0", "CLOUD_SQL_INSTANCE", null, "127.0.0.9", "test"));
        instances.put("billing", instance("billing", "POSTGRES_15", "CLOUD_SQL_INSTANCE", null, "127.0.0.8", "other"));

        api = new FakeApi(CloudSqlDiscoveryTest::answer);
        dir = Files.createTempDirectory("cloudsql-test");
        Path key = dir.resolve("service-account.json");
        Files.writeString(key, serviceAccount(api.baseUrl() + "/token"), StandardCharsets.UTF_8);
        String yaml = """
                listen:
                  host: 127.0.0.1
                  port: 0
                admin:
                  host: 127.0.0.1
                  port: 0
                routing:
                  primaryWait: 20s
                  probeInterval: 200ms
                discovery:
                  gcp:
                    interval: 300ms
                    backoffMax: 2s
                    cloudSql:
                      project: %s
                      labels:
                        env: test
                      ipType: PRIVATE
                      rootUrl: %s/
                      credentialsFile: %s
                      port: %d
                databases:
                  appdb:
                    discovery: gcp
                    users:
                      %s:
                        password: %s
                """.formatted(PROJECT, api.baseUrl(), key, port, USER, TestPostgres.password(USER));
        pooler = new Pooler(ConfigLoader.parse(yaml, "cloudsql-test.yaml", Map.of()), 2).start();
    }

    @AfterAll
    static void stop() throws IOException {
        if (pooler != null) {
            pooler.close();
        }
        if (api != null) {
            api.close();
        }
        for (RoundRobinRelay r : relays) {
            r.close();
        }
        if (pg != null) {
            pg.close();
        }
        if (dir != null) {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder())
                        .forEach(f -> f.toFile().delete());
            }
        }
    }

    @Test
    void followsInstancesThroughMaintenanceRemovalFailuresAndPromotion() throws Exception {
        DiscoveryRunner runner = pooler.discovery().runner("appdb");

        // The first set: the primary and both replicas, each at its own address, zone from the API.
        awaitSet("orders primary, both replicas", "orders", Set.of("orders-r1", "orders-r2"));
        EndpointSet set = db().endpoints();
        assertThat(set.primary().host()).isEqualTo("127.0.0.2");
        assertThat(set.member("orders-r1").host()).isEqualTo("127.0.0.3");
        assertThat(set.member("orders-r2").host()).isEqualTo("127.0.0.4");
        assertThat(set.primary().zone()).isEqualTo("europe-west1-b");
        assertThat(api.requests).as("instances listed page by page").anyMatch(r -> r.contains("pageToken=page2"));
        assertThat(db().users()).as("users listed by the API").containsKey("reporting");
        checkServers(primaryPort, Set.of(replica1Port, replica2Port));

        // A replica in maintenance is left out.
        setState("orders-r2", "MAINTENANCE");
        awaitSet("orders-r2 left out in MAINTENANCE", "orders", Set.of("orders-r1"));
        checkServers(primaryPort, Set.of(replica1Port));

        // Removed, then added again.
        setState("orders-r2", "RUNNABLE");
        ObjectNode removed;
        synchronized (instances) {
            removed = instances.remove("orders-r2");
            ((ArrayNode) instances.get("orders").get("replicaNames"))
                    .removeAll()
                    .add("orders-r1");
        }
        Thread.sleep(1000);
        awaitSet("orders-r2 still gone", "orders", Set.of("orders-r1"));
        synchronized (instances) {
            instances.put("orders-r2", removed);
            ((ArrayNode) instances.get("orders").get("replicaNames")).add("orders-r2");
        }
        awaitSet("orders-r2 back", "orders", Set.of("orders-r1", "orders-r2"));
        checkServers(primaryPort, Set.of(replica1Port, replica2Port));

        // The API fails: the last good set stays, and so does service.
        double before = runner.lastSuccessSeconds();
        long versionBefore = db().endpoints().version();
        api.failNext(429, 500, 500);
        await("the injected failures to be answered", () -> api.pendingFailures() == 0);
        // Sent is not yet counted: the runner counts a failure once it has read the answer.
        await(
                "the failures to be counted",
                () -> runner.errors().keySet().containsAll(List.of("http_429", "http_5xx")));
        Map<String, Long> errors = runner.errors();
        assertThat(errors).containsKeys("http_429", "http_5xx");
        assertThat(db().endpoints().version())
                .as("no set applied from a failure")
                .isEqualTo(versionBefore);
        checkServers(primaryPort, Set.of(replica1Port, replica2Port));
        await("a successful look after the failures", () -> runner.lastSuccessSeconds() > before);
        String metrics = scrape();
        assertThat(metrics)
                .contains("pggat_discovery_errors_total{kind=\"cloudSql\",reason=\"http_429\",source=\"gcp\"}")
                .contains("pggat_discovery_endpoints{database=\"appdb\",role=\"replica\",source=\"gcp\"} 2.0")
                .doesNotContain(TOKEN);

        // The primary fails and orders-r1 is promoted: the database follows to the new primary.
        pg.primary().stop();
        pg.replicas().get(0).promote();
        synchronized (instances) {
            instances.get("orders").put("state", "FAILED");
            ObjectNode r1 = instances.get("orders-r1");
            r1.put("instanceType", "CLOUD_SQL_INSTANCE");
            r1.remove("masterInstanceName");
            ((ArrayNode) instances.get("orders").get("replicaNames"))
                    .removeAll()
                    .add("orders-r2");
        }
        awaitSet("orders-r1 promoted", "orders-r1", Set.of());
        checkServers(replica1Port, Set.of(replica1Port));
    }

    // ---- checks through pggat

    /** A write lands on {@code writePort}; 30 reads land only on {@code readPorts}, and on each of them. */
    private static void checkServers(int writePort, Set<Integer> readPorts) throws Exception {
        await("probes to confirm every endpoint's role", () -> db().states().stream()
                .allMatch(s -> s.observedRole() == s.member().role()));
        try (Connection c = pooled();
                Statement st = c.createStatement()) {
            try (ResultSet rs =
                    st.executeQuery("INSERT INTO cloudsql_writes VALUES (1) RETURNING inet_server_port()")) {
                rs.next();
                assertThat(rs.getInt(1)).as("the server a write reached").isEqualTo(writePort);
            }
            Set<Integer> seen = new TreeSet<>();
            for (int i = 0; i < 30; i++) {
                try (ResultSet rs = st.executeQuery("SELECT inet_server_port()")) {
                    rs.next();
                    seen.add(rs.getInt(1));
                }
            }
            assertThat(seen).as("the servers reads reached").isEqualTo(new TreeSet<>(readPorts));
        }
    }

    private static void awaitSet(String what, String primary, Set<String> replicas) throws InterruptedException {
        await(what, () -> {
            EndpointSet s = db().endpoints();
            return s.primary() != null
                    && s.primary().name().equals(primary)
                    && s.replicas().stream()
                            .map(EndpointSet.Member::name)
                            .collect(java.util.stream.Collectors.toSet())
                            .equals(replicas);
        });
    }

    private static Router.Database db() {
        return pooler.router().database("appdb");
    }

    private static Connection pooled() throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", USER);
        p.setProperty("password", TestPostgres.password(USER));
        p.setProperty("assumeMinServerVersion", "12");
        p.setProperty("prepareThreshold", "0");
        p.setProperty("socketTimeout", "60");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + pooler.port() + "/appdb", p);
    }

    private static String scrape() throws Exception {
        var http = java.net.http.HttpClient.newHttpClient();
        return http.send(
                        java.net.http.HttpRequest.newBuilder(
                                        URI.create("http://127.0.0.1:" + pooler.adminPort() + "/metrics"))
                                .build(),
                        java.net.http.HttpResponse.BodyHandlers.ofString())
                .body();
    }

    private static void await(String what, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what + "; endpoint set "
                        + db().endpoints().toJson() + "; discovery errors "
                        + pooler.discovery().runner("appdb").errors());
            }
            Thread.sleep(50);
        }
    }

    // ---- the fake Admin API

    private static final Pattern INSTANCE_PATH =
            Pattern.compile(".*/v1/projects/([^/]+)/instances/([^/]+)/(databases|users)");
    private static final Pattern LIST_PATH = Pattern.compile(".*/v1/projects/([^/]+)/instances");

    private static FakeApi.Answer answer(String method, URI uri, String authorization, String body) {
        String path = uri.getPath();
        if (path.equals("/token")) {
            // The OAuth token endpoint: a JWT bearer grant signed with the service account's key.
            if (!body.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")) {
                return new FakeApi.Answer(400, "{\"error\":\"unsupported_grant_type\"}");
            }
            return FakeApi.Answer.ok(
                    "{\"access_token\":\"" + TOKEN + "\",\"expires_in\":3600,\"token_type\":\"Bearer\"}");
        }
        if (!("Bearer " + TOKEN).equals(authorization)) {
            return new FakeApi.Answer(
                    401, "{\"error\":{\"code\":401,\"message\":\"Request had invalid authentication credentials.\"}}");
        }
        Matcher m = INSTANCE_PATH.matcher(path);
        if (m.matches() && m.group(1).equals(PROJECT)) {
            if (m.group(3).equals("databases")) {
                return FakeApi.Answer.ok("{\"kind\":\"sql#databasesList\",\"items\":["
                        + "{\"kind\":\"sql#database\",\"name\":\"postgres\",\"instance\":\"" + m.group(2) + "\"},"
                        + "{\"kind\":\"sql#database\",\"name\":\"appdb\",\"instance\":\"" + m.group(2) + "\"}]}");
            }
            return FakeApi.Answer.ok(
                    "{\"kind\":\"sql#usersList\",\"items\":["
                            + "{\"kind\":\"sql#user\",\"name\":\"postgres\",\"type\":\"BUILT_IN\"},"
                            + "{\"kind\":\"sql#user\",\"name\":\"" + USER + "\",\"type\":\"BUILT_IN\"},"
                            + "{\"kind\":\"sql#user\",\"name\":\"reporting\",\"type\":\"BUILT_IN\"},"
                            + "{\"kind\":\"sql#user\",\"name\":\"sa@test-project.iam\",\"type\":\"CLOUD_IAM_SERVICE_ACCOUNT\"}]}");
        }
        m = LIST_PATH.matcher(path);
        if (m.matches() && m.group(1).equals(PROJECT)) {
            // Two instances a page, as the API pages with maxResults.
            List<ObjectNode> all;
            synchronized (instances) {
                all = instances.values().stream().map(ObjectNode::deepCopy).toList();
            }
            String query = uri.getQuery() == null ? "" : uri.getQuery();
            Matcher page = Pattern.compile("pageToken=page(\\d+)").matcher(query);
            int n = page.find() ? Integer.parseInt(page.group(1)) : 1;
            ObjectNode r = JSON.createObjectNode().put("kind", "sql#instancesList");
            ArrayNode items = r.putArray("items");
            for (int i = (n - 1) * 2; i < Math.min(all.size(), n * 2); i++) {
                items.add(all.get(i));
            }
            if (n * 2 < all.size()) {
                r.put("nextPageToken", "page" + (n + 1));
            }
            return FakeApi.Answer.ok(r.toString());
        }
        return new FakeApi.Answer(404, "{\"error\":{\"code\":404,\"message\":\"not found: " + path + "\"}}");
    }

    private static ObjectNode instance(
            String name, String version, String type, String master, String privateIp, String env) {
        ObjectNode i = JSON.createObjectNode()
                .put("kind", "sql#instance")
                .put("name", name)
                .put("project", PROJECT)
                .put("connectionName", PROJECT + ":europe-west1:" + name)
                .put("databaseVersion", version)
                .put("state", "RUNNABLE")
                .put("instanceType", type)
                .put("region", "europe-west1")
                .put("gceZone", "europe-west1-b")
                .put("backendType", "SECOND_GEN");
        if (master != null) {
            i.put("masterInstanceName", PROJECT + ":" + master);
        }
        ArrayNode ips = i.putArray("ipAddresses");
        ips.addObject()
                .put("type", "PRIMARY")
                .put("ipAddress", "203.0.113." + (10 + privateIp.charAt(privateIp.length() - 1)));
        ips.addObject().put("type", "PRIVATE").put("ipAddress", privateIp);
        i.putObject("settings")
                .put("tier", "db-custom-1-3840")
                .putObject("userLabels")
                .put("env", env);
        return i;
    }

    private static void setState(String name, String state) {
        synchronized (instances) {
            instances.get(name).put("state", state);
        }
    }

    private static String serviceAccount(String tokenUri) throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        String pem = "-----BEGIN PRIVATE KEY-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
                        .encodeToString(g.generateKeyPair().getPrivate().getEncoded())
                + "\n-----END PRIVATE KEY-----\n";
        ObjectNode sa = JSON.createObjectNode()
                .put("type", "service_account")
                .put("project_id", PROJECT)
                .put("private_key_id", "test-key")
                .put("private_key", pem)
                .put("client_email", "pggat@" + PROJECT + ".iam.gserviceaccount.com")
                .put("client_id", "1234567890")
                .put("token_uri", tokenUri);
        return sa.toString();
    }

    private static RoundRobinRelay relay(String host, int port, int target) throws IOException {
        return new RoundRobinRelay(
                new InetSocketAddress(InetAddress.getByName(host), port),
                List.of(new InetSocketAddress(InetAddress.getLoopbackAddress(), target)));
    }

    /** A port free on every one of the addresses. */
    private static int sharedFreePort(String... hosts) throws IOException {
        for (int attempt = 0; attempt < 50; attempt++) {
            int port;
            try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(hosts[0]))) {
                port = s.getLocalPort();
            }
            boolean free = true;
            for (String h : hosts) {
                try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getByName(h))) {
                    // free here
                } catch (IOException e) {
                    free = false;
                    break;
                }
            }
            if (free) {
                return port;
            }
        }
        throw new IOException("no port free on all of " + List.of(hosts));
    }
}
