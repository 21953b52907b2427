package dev.pggat.pooler.console;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.testing.PoolerFixture;
import dev.pggat.pooler.testing.RawClient;
import dev.pggat.pooler.testing.TestPostgres;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Prepared-statement cache figures, round trips and routing decisions through a real pooler in front of a real
 * PostgreSQL: a known sequence of protocol messages (one server connection, a cache of two statements) gives known
 * counts, and the console and /metrics say the same.
 */
class StatementCacheStatsTest {
    private static final String ADMIN = "scram_user";
    private static final String USER = "trust_user";
    private static PoolerFixture fx;

    @BeforeAll
    static void start() throws Exception {
        String yaml = PoolerFixture.config(TestPostgres.shared(), 1, "")
                .replace("pools:\n", "pools:\n  preparedStatementCacheSize: 2\n");
        String admin = "admin:\n  host: 127.0.0.1\n  port: 0\n";
        assertThat(yaml).contains(admin);
        fx = PoolerFixture.startYaml(yaml.replace(admin, admin + "  users: [" + ADMIN + "]\n"));
    }

    @AfterAll
    static void stop() {
        if (fx != null) {
            fx.close();
        }
    }

    private static byte[] cstrings(String... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (String p : parts) {
            out.writeBytes(p.getBytes(StandardCharsets.UTF_8));
            out.write(0);
        }
        return out.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static byte[] parse(String name, String sql) {
        return RawClient.message('P', concat(cstrings(name, sql), new byte[] {0, 0}));
    }

    private static byte[] bindExecuteSync(String name) {
        return concat(
                RawClient.message('B', concat(cstrings("", name), new byte[] {0, 0, 0, 0, 0, 0})),
                RawClient.message('E', concat(cstrings(""), new byte[] {0, 0, 0, 0})),
                sync());
    }

    private static byte[] sync() {
        return RawClient.message('S', new byte[0]);
    }

    private static void assertNoError(List<RawClient.Msg> msgs) {
        assertThat(msgs).noneMatch(m -> m.type() == 'E');
        assertThat(msgs.get(msgs.size() - 1).type()).isEqualTo('Z');
    }

    private static Connection console() throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", ADMIN);
        p.setProperty("password", ADMIN + "-secret");
        p.setProperty("preferQueryMode", "simple");
        p.setProperty("sslmode", "disable");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + fx.port() + "/pgbouncer", p);
    }

    /** The row of a console command for appdb and the test's user, by column name. */
    private static Map<String, String> row(Connection console, String command, String database, String user)
            throws SQLException {
        try (Statement st = console.createStatement();
                ResultSet rs = st.executeQuery(command)) {
            while (rs.next()) {
                if (rs.getString("database").equals(database)
                        && (user == null || rs.getString("user").equals(user))) {
                    Map<String, String> m = new LinkedHashMap<>();
                    for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
                        m.put(rs.getMetaData().getColumnName(i), rs.getString(i));
                    }
                    return m;
                }
            }
        }
        throw new AssertionError("no " + command + " row for " + database + "/" + user);
    }

    private static long number(Map<String, String> row, String column) {
        return Long.parseLong(row.get(column));
    }

    private static String metrics() throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + fx.pooler.adminPort() + "/metrics"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        return r.body();
    }

    private static double sample(String metrics, String name, String labels) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name + "{" + labels + "}") + " (\\S+)$")
                .matcher(metrics);
        assertThat(m.find()).as(name + "{" + labels + "} in /metrics").isTrue();
        return Double.parseDouble(m.group(1));
    }

    @Test
    void statementCacheHitsMissesAndEvictionsFollowAKnownSequenceOfMessages() throws Exception {
        String endpoint = "127.0.0.1:" + fx.cluster.primary().port();
        String nonce = Long.toString(System.nanoTime());
        int executions = 5;
        try (Connection console = console();
                RawClient client = new RawClient("127.0.0.1", fx.port())) {
            Map<String, String> cacheBefore = row(console, "SHOW STATEMENT_CACHE", "appdb", USER);
            Map<String, String> endpointBefore = row(console, "SHOW ENDPOINTS", "appdb", null);
            assertNoError(client.login(USER, "appdb", null));

            // A statement no server has: a miss, prepared on the one server.
            client.send(concat(parse("s1", "SELECT 1 /* " + nonce + " a */"), sync()));
            assertNoError(client.readUntilReady());
            // Executed again and again on that server: a hit each time.
            for (int i = 0; i < executions; i++) {
                client.send(bindExecuteSync("s1"));
                assertNoError(client.readUntilReady());
            }
            // Two more: misses, and the cache of two closes the least recently used one.
            client.send(concat(parse("s2", "SELECT 2 /* " + nonce + " b */"), sync()));
            assertNoError(client.readUntilReady());
            client.send(concat(parse("s3", "SELECT 3 /* " + nonce + " c */"), sync()));
            assertNoError(client.readUntilReady());

            Map<String, String> cache = row(console, "SHOW STATEMENT_CACHE", "appdb", USER);
            assertThat(number(cache, "hits") - number(cacheBefore, "hits")).isEqualTo(executions);
            assertThat(number(cache, "misses") - number(cacheBefore, "misses")).isEqualTo(3);
            assertThat(number(cache, "evictions") - number(cacheBefore, "evictions"))
                    .isEqualTo(1);
            assertThat(number(cache, "server_parse_count") - number(cacheBefore, "server_parse_count"))
                    .isEqualTo(3);
            assertThat(number(cache, "cached")).isEqualTo(2);

            // Every Sync was at least one round trip on the endpoint (the pooler's own queries add theirs).
            Map<String, String> ep = row(console, "SHOW ENDPOINTS", "appdb", null);
            long roundTrips = number(ep, "round_trips");
            assertThat(roundTrips - number(endpointBefore, "round_trips")).isGreaterThanOrEqualTo(executions + 3);

            String m = metrics();
            String pool = "database=\"appdb\",endpoint=\"" + endpoint + "\",user=\"" + USER + "\"";
            assertThat(sample(m, "pggat_server_statement_cache_hits_total", pool))
                    .isEqualTo(number(cache, "hits"));
            assertThat(sample(m, "pggat_server_statement_cache_misses_total", pool))
                    .isEqualTo(number(cache, "misses"));
            assertThat(sample(m, "pggat_server_statement_cache_evictions_total", pool))
                    .isEqualTo(number(cache, "evictions"));
            assertThat(sample(
                            m,
                            "pggat_endpoint_round_trip_duration_seconds_count",
                            "database=\"appdb\",endpoint=\"" + endpoint + "\""))
                    .isGreaterThanOrEqualTo(roundTrips);
        }
    }

    /** The decisions of SHOW ROUTING for one database, after checking the layout. */
    private static Map<String, Long> decisions(Connection console, String database) throws SQLException {
        Map<String, Long> m = new LinkedHashMap<>();
        try (Statement st = console.createStatement();
                ResultSet rs = st.executeQuery("SHOW ROUTING")) {
            assertThat(rs.getMetaData().getColumnCount()).isEqualTo(3);
            assertThat(rs.getMetaData().getColumnName(1)).isEqualTo("database");
            assertThat(rs.getMetaData().getColumnName(2)).isEqualTo("decision");
            assertThat(rs.getMetaData().getColumnName(3)).isEqualTo("count");
            while (rs.next()) {
                if (rs.getString(1).equals(database)) {
                    m.put(rs.getString(2), rs.getLong(3));
                }
            }
        }
        return m;
    }

    @Test
    void routingDecisionsCountEachTransaction() throws Exception {
        int transactions = 7;
        try (Connection console = console();
                Connection app = fx.connect("appdb", "plain_user");
                Statement st = app.createStatement()) {
            st.execute("SELECT 0"); // whatever a new session does first happens before the baseline
            Map<String, Long> before = decisions(console, "appdb");
            for (int i = 1; i <= transactions; i++) {
                st.execute("SELECT " + i);
            }
            Map<String, Long> after = decisions(console, "appdb");
            // A database with one endpoint sends every transaction to it: primary:only, one per transaction.
            assertThat(after.get("primary:only") - before.getOrDefault("primary:only", 0L))
                    .as(before + " -> " + after)
                    .isEqualTo(transactions);
        }
    }
}
