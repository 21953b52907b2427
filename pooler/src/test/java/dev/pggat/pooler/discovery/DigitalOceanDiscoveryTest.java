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
import dev.pggat.pooler.testing.TestPostgres;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * DigitalOcean discovery against a local server that answers like the API v2 (its documented JSON, a bearer token
 * from a file), whose clusters' connection hosts and ports are real PostgreSQL servers: a primary and two streaming
 * replicas. The pooler lists no users: a client logs in with a user and password the API gives. One story, in
 * order: the first set (clusters on two pages, one of them another engine, one without the tag), a replica not
 * online, removed and added again, the API failing with 429 and 500, and a replica promoted to a cluster of its own
 * after the old cluster went offline; after each step a client through pggat reaches the right server.
 */
class DigitalOceanDiscoveryTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TOKEN = "dop_v1_" + "0123456789abcdef".repeat(4);
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final String USER = TestPostgres.SCRAM_USER;

    private static PostgresCluster pg;
    private static FakeApi api;
    private static Pooler pooler;
    private static Path dir;
    /** Clusters by id, and each cluster's replicas; changed by the test. */
    private static final Map<String, ObjectNode> clusters = new LinkedHashMap<>();

    private static final Map<String, List<ObjectNode>> replicas = new LinkedHashMap<>();

    @BeforeAll
    static void start() throws Exception {
        pg = TestPostgres.startOwn(2);
        try (Connection c = TestPostgres.connect(pg.primary(), TestPostgres.DATABASE, USER);
                Statement st = c.createStatement()) {
            st.execute("CREATE TABLE do_writes (x int)");
        }
        clusters.put("c-other", cluster("c-other", "cache", "redis", 6379, "prod"));
        clusters.put(
                "c-orders", cluster("c-orders", "orders", "pg", pg.primary().port(), "prod"));
        clusters.put("c-staging", cluster("c-staging", "staging", "pg", 1, "staging"));
        replicas.put(
                "c-orders",
                new ArrayList<>(List.of(
                        replica("orders-replica-1", pg.replicas().get(0).port()),
                        replica("orders-replica-2", pg.replicas().get(1).port()))));
        api = new FakeApi(DigitalOceanDiscoveryTest::answer);
        dir = Files.createTempDirectory("do-test");
        Path tokenFile = dir.resolve("token");
        Files.writeString(tokenFile, TOKEN + "\n", StandardCharsets.UTF_8);
        String yaml = """
                listen:
                  host: 127.0.0.1
                  port: 0
                admin:
                  host: 127.0.0.1
                  port: 0
                routing:
                  primaryWait: 20s
                discovery:
                  do:
                    interval: 300ms
                    backoffMax: 2s
                    digitalOcean:
                      baseUrl: %s
                      tokenFile: %s
                      tag: prod
                      network: public
                databases:
                  appdb:
                    discovery: do
                """.formatted(api.baseUrl(), tokenFile);
        pooler = new Pooler(ConfigLoader.parse(yaml, "do-test.yaml", Map.of()), 2).start();
    }

    @AfterAll
    static void stop() throws IOException {
        if (pooler != null) {
            pooler.close();
        }
        if (api != null) {
            api.close();
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
    void followsClustersAndReplicasThroughStatusChangesFailuresAndPromotion() throws Exception {
        DiscoveryRunner runner = pooler.discovery().runner("appdb");
        int primary = pg.primary().port();
        int r1 = pg.replicas().get(0).port();
        int r2 = pg.replicas().get(1).port();

        awaitSet("orders with both replicas", "orders", Set.of("orders-replica-1", "orders-replica-2"));
        assertThat(db().endpoints().primary().zone()).isEqualTo("fra1");
        assertThat(api.requests).as("clusters listed page by page").anyMatch(r -> r.contains("page=2"));
        assertThat(api.requests)
                .as("only clusters with the tag")
                .allMatch(r -> !r.startsWith("GET /v2/databases?") || r.contains("tag_name=prod"));
        checkServers(primary, Set.of(r1, r2));

        // A replica that is not online is left out.
        setReplicaStatus("orders-replica-2", "migrating");
        awaitSet("orders-replica-2 left out", "orders", Set.of("orders-replica-1"));
        checkServers(primary, Set.of(r1));

        // Removed, then added again.
        setReplicaStatus("orders-replica-2", "online");
        ObjectNode removed;
        synchronized (clusters) {
            removed = replicas.get("c-orders").remove(1);
        }
        awaitSet("orders-replica-2 removed", "orders", Set.of("orders-replica-1"));
        synchronized (clusters) {
            replicas.get("c-orders").add(removed);
        }
        awaitSet("orders-replica-2 back", "orders", Set.of("orders-replica-1", "orders-replica-2"));
        checkServers(primary, Set.of(r1, r2));

        // The API fails: the last good set stays, and so does service.
        double before = runner.lastSuccessSeconds();
        long versionBefore = db().endpoints().version();
        api.failNext(429, 500);
        await("the injected failures to be answered", () -> api.pendingFailures() == 0);
        // The fake API has sent the failures; the runner counts each once it has read the answer, which on a busy
        // machine can come a moment after the last one was sent.
        await(
                "both failures to be counted",
                () -> runner.errors().keySet().containsAll(List.of("http_429", "http_5xx")));
        assertThat(runner.errors()).containsKeys("http_429", "http_5xx");
        assertThat(db().endpoints().version()).isEqualTo(versionBefore);
        checkServers(primary, Set.of(r1, r2));
        await("a successful look after the failures", () -> runner.lastSuccessSeconds() > before);
        String metrics = scrape();
        assertThat(metrics)
                .contains("pggat_discovery_errors_total{kind=\"digitalOcean\",reason=\"http_5xx\",source=\"do\"}")
                .doesNotContain(TOKEN)
                .doesNotContain(TestPostgres.password(USER));

        // The primary's cluster goes offline and replica 1 is promoted to a cluster of its own.
        pg.primary().stop();
        pg.replicas().get(0).promote();
        synchronized (clusters) {
            clusters.get("c-orders").put("status", "offline");
            replicas.get("c-orders").remove(0);
            clusters.put("c-promoted", cluster("c-promoted", "orders-replica-1", "pg", r1, "prod"));
            replicas.put("c-promoted", new ArrayList<>());
        }
        awaitSet("the promoted cluster", "orders-replica-1", Set.of());
        checkServers(r1, Set.of(r1));
    }

    /** A write lands on {@code writePort}; 30 reads land only on {@code readPorts}, and on each of them. */
    private static void checkServers(int writePort, Set<Integer> readPorts) throws Exception {
        // Reads go to a replica once the health probes (logging in as a user the API lists) confirm it.
        await("probes to confirm every endpoint's role", () -> db().states().stream()
                .allMatch(s -> s.observedRole() == s.member().role()));
        try (Connection c = pooled();
                Statement st = c.createStatement()) {
            try (ResultSet rs = st.executeQuery("INSERT INTO do_writes VALUES (1) RETURNING inet_server_port()")) {
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

    private static void awaitSet(String what, String primary, Set<String> replicaNames) throws InterruptedException {
        await(what, () -> {
            EndpointSet s = db().endpoints();
            return s.primary() != null
                    && s.primary().name().equals(primary)
                    && s.replicas().stream()
                            .map(EndpointSet.Member::name)
                            .collect(Collectors.toSet())
                            .equals(replicaNames);
        });
    }

    private static Router.Database db() {
        return pooler.router().database("appdb");
    }

    /** Logs in as a user the pooler's configuration does not list: only the API named it and its password. */
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

    // ---- the fake API v2

    private static final Pattern REPLICAS = Pattern.compile("/v2/databases/([^/]+)/replicas");

    private static FakeApi.Answer answer(String method, URI uri, String authorization, String body) {
        if (!("Bearer " + TOKEN).equals(authorization)) {
            return new FakeApi.Answer(401, "{\"id\":\"Unauthorized\",\"message\":\"Unable to authenticate you\"}");
        }
        String path = uri.getPath();
        Matcher m = REPLICAS.matcher(path);
        if (m.matches()) {
            ObjectNode r = JSON.createObjectNode();
            ArrayNode list = r.putArray("replicas");
            synchronized (clusters) {
                replicas.getOrDefault(m.group(1), List.of()).forEach(x -> list.add(x.deepCopy()));
            }
            return FakeApi.Answer.ok(r.toString());
        }
        if (path.equals("/v2/databases")) {
            String query = uri.getQuery() == null ? "" : uri.getQuery();
            Matcher tag = Pattern.compile("tag_name=([^&]+)").matcher(query);
            String wanted = tag.find() ? tag.group(1) : null;
            List<ObjectNode> all;
            synchronized (clusters) {
                all = clusters.values().stream()
                        .filter(c -> wanted == null || c.path("tags").toString().contains("\"" + wanted + "\""))
                        .map(ObjectNode::deepCopy)
                        .toList();
            }
            // One cluster a page, as with per_page=1.
            Matcher page = Pattern.compile("(?:^|&)page=(\\d+)").matcher(query);
            int n = page.find() ? Integer.parseInt(page.group(1)) : 1;
            ObjectNode r = JSON.createObjectNode();
            ArrayNode items = r.putArray("databases");
            if (n <= all.size()) {
                items.add(all.get(n - 1));
            }
            ObjectNode pages = r.putObject("links").putObject("pages");
            if (n < all.size()) {
                pages.put(
                        "next",
                        api.baseUrl() + "/v2/databases?page=" + (n + 1) + "&per_page=1"
                                + (wanted == null ? "" : "&tag_name=" + wanted));
                pages.put("last", api.baseUrl() + "/v2/databases?page=" + all.size() + "&per_page=1");
            }
            r.putObject("meta").put("total", all.size());
            return FakeApi.Answer.ok(r.toString());
        }
        return new FakeApi.Answer(
                404, "{\"id\":\"not_found\",\"message\":\"The resource you requested could not be found.\"}");
    }

    private static ObjectNode cluster(String id, String name, String engine, int port, String tag) {
        ObjectNode c = JSON.createObjectNode()
                .put("id", id)
                .put("name", name)
                .put("engine", engine)
                .put("version", "16")
                .put("num_nodes", 1)
                .put("size", "db-s-1vcpu-1gb")
                .put("region", "fra1")
                .put("status", "online")
                .put("created_at", "2026-11-01T10:00:00Z");
        connection(c.putObject("connection"), "127.0.0.1", port);
        connection(c.putObject("private_connection"), "10.110.0.9", port);
        // The health probes log in as the first user listed with a password; the test servers have no doadmin.
        ArrayNode users = c.putArray("users");
        users.addObject().put("name", USER).put("role", "normal").put("password", TestPostgres.password(USER));
        users.addObject().put("name", "doadmin").put("role", "primary").put("password", "doadmin-pw-from-api");
        c.putArray("db_names").add("defaultdb").add("appdb");
        c.putArray("tags").add(tag);
        return c;
    }

    private static ObjectNode replica(String name, int port) {
        ObjectNode r = JSON.createObjectNode()
                .put("id", name + "-id")
                .put("name", name)
                .put("region", "fra1")
                .put("status", "online")
                .put("size", "db-s-1vcpu-1gb")
                .put("created_at", "2026-11-01T10:00:00Z");
        connection(r.putObject("connection"), "127.0.0.1", port);
        connection(r.putObject("private_connection"), "10.110.0.10", port);
        r.putArray("tags");
        return r;
    }

    private static void connection(ObjectNode conn, String host, int port) {
        conn.put("protocol", "postgresql")
                .put("uri", "postgresql://doadmin:redacted@" + host + ":" + port + "/defaultdb?sslmode=require")
                .put("database", "defaultdb")
                .put("host", host)
                .put("port", port)
                .put("user", "doadmin")
                .put("password", "doadmin-pw-from-api")
                .put("ssl", true);
    }

    private static void setReplicaStatus(String name, String status) {
        synchronized (clusters) {
            for (List<ObjectNode> list : replicas.values()) {
                for (ObjectNode r : list) {
                    if (r.path("name").asText().equals(name)) {
                        r.put("status", status);
                    }
                }
            }
        }
    }
}
