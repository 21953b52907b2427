package dev.pggat.pooler.tracing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.testing.PoolerFixture;
import dev.pggat.pooler.testing.TestPostgres;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Packet traces switched on at run time through the console and the admin endpoint, following real pgjdbc sessions
 * through a real pooler in front of a real PostgreSQL. Lines are written before a message is passed on, so a trace
 * file holds every message of a call once the driver call returns.
 */
class PacketTraceTest {
    private static final String CONSOLE_ADMIN = "trust_user";
    private static final String TOKEN = "3f1c9a7e5b2d8f4a6c0e1b3d5f7a9c2e";
    private static final String BIND_VALUE = "bind-value-4711";

    private static PoolerFixture fx;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() throws Exception {
        String yaml = PoolerFixture.config(TestPostgres.shared(), 4, "");
        String admin = "admin:\n  host: 127.0.0.1\n  port: 0\n";
        assertThat(yaml).contains(admin);
        yaml = yaml.replace(
                admin,
                admin + "  token: " + TOKEN + "\n  users: [" + CONSOLE_ADMIN + "]\n" + "  statsUsers: [md5_user]\n");
        fx = PoolerFixture.startYaml(yaml);
    }

    @AfterAll
    static void stop() {
        if (fx != null) {
            fx.close();
        }
    }

    @AfterEach
    void traceOff() throws Exception {
        console("TRACE OFF");
    }

    private static Connection consoleConnection(String user, String password) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", user);
        if (password != null) {
            p.setProperty("password", password);
        }
        p.setProperty("preferQueryMode", "simple");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + fx.port() + "/pgbouncer", p);
    }

    private static void console(String command) throws SQLException {
        try (Connection c = consoleConnection(CONSOLE_ADMIN, null);
                Statement st = c.createStatement()) {
            st.execute(command);
        }
    }

    /** One unnamed prepared statement with a bind value: Parse, Bind, Describe, Execute, Sync. */
    private static void preparedQuery(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT length(?::text)")) {
            ps.setString(1, BIND_VALUE);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).isEqualTo(BIND_VALUE.length());
            }
        }
    }

    private List<String> lines(Path file) throws Exception {
        return Files.readAllLines(file, StandardCharsets.UTF_8);
    }

    private static boolean has(List<String> lines, String direction, String message) {
        return lines.stream().anyMatch(l -> l.contains(" " + direction + " " + message + " "));
    }

    @Test
    void tracingAUserShowsTheSessionsMessagesButNoPasswordOrBindValue() throws Exception {
        Path file = dir.resolve("plain_user.trace");
        console("TRACE USER plain_user TO FILE '" + file + "'");

        // Cleartext password authentication: the PasswordMessage carries the password itself.
        try (Connection c = fx.connect("appdb", "plain_user")) {
            preparedQuery(c);
        }
        console("TRACE OFF");

        List<String> lines = lines(file);
        String all = String.join("\n", lines);
        assertThat(has(lines, "client->pooler", "PasswordMessage/SASLResponse"))
                .as(all)
                .isTrue();
        for (String m : List.of("Parse", "Bind", "Execute", "Sync")) {
            assertThat(has(lines, "client->pooler", m))
                    .as("client %s in\n%s", m, all)
                    .isTrue();
            assertThat(has(lines, "pooler->server", m))
                    .as("server %s in\n%s", m, all)
                    .isTrue();
        }
        assertThat(has(lines, "server->pooler", "ReadyForQuery")).as(all).isTrue();
        assertThat(has(lines, "pooler->client", "ReadyForQuery")).as(all).isTrue();
        assertThat(has(lines, "pooler->client", "DataRow")).as(all).isTrue();
        assertThat(all).contains("sql=\"SELECT length($1::text)\"");
        assertThat(all).contains("parameters=1");
        assertThat(all).doesNotContain("plain_user-secret").doesNotContain(BIND_VALUE);
        assertThat(all).doesNotContain("key=" + "-").contains("(body not shown)");
    }

    @Test
    void scramExchangeShowsOnlyMessageKinds() throws Exception {
        Path file = dir.resolve("scram.trace");
        console("TRACE USER scram_user TO FILE '" + file + "'");
        try (Connection c = fx.connect("appdb", "scram_user")) {
            preparedQuery(c);
        }
        console("TRACE OFF");
        String all = String.join("\n", lines(file));
        assertThat(all).contains("PasswordMessage/SASLResponse").contains("Authentication 'R'");
        // Neither the password nor anything of the SCRAM exchange (mechanism, nonces, proof).
        assertThat(all)
                .doesNotContain("scram_user-secret")
                .doesNotContain("SCRAM-SHA-256")
                .doesNotContain("n,,n=")
                .doesNotContain(",r=")
                .doesNotContain("c=biws")
                .doesNotContain(",p=")
                .doesNotContain("v=");
    }

    @Test
    void withValuesShowsBindValuesAndACountBoundStopsTheTrace() throws Exception {
        Path file = dir.resolve("values.trace");
        try (Connection c = fx.connect("appdb", "md5_user")) {
            // A client that is already logged in is followed from its next message, by id or by address.
            console("TRACE DATABASE appdb WITH VALUES TO FILE '" + file + "'");
            preparedQuery(c);
            console("TRACE OFF");
        }
        assertThat(String.join("\n", lines(file))).contains("values=['" + BIND_VALUE + "']");

        Path bounded = dir.resolve("bounded.trace");
        try (Connection c = fx.connect("appdb", "md5_user")) {
            console("TRACE DATABASE appdb FOR 3 MESSAGES TO FILE '" + bounded + "'");
            preparedQuery(c);
            preparedQuery(c);
        }
        assertThat(lines(bounded)).hasSize(3);
    }

    @Test
    void consoleRefusesStatsUsersAndBadCommands() throws Exception {
        try (Connection c = consoleConnection("md5_user", "md5_user-secret");
                Statement st = c.createStatement()) {
            assertThatThrownBy(() -> st.execute("TRACE USER alice"))
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("42501"));
            // SHOW TRACES is a SHOW: stats users may look.
            st.execute("SHOW TRACES");
        }
        try (Connection c = consoleConnection(CONSOLE_ADMIN, null);
                Statement st = c.createStatement()) {
            assertThatThrownBy(() -> st.execute("TRACE USER alice FOR 1000000 MESSAGES"))
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("22023"));
            assertThatThrownBy(() -> st.execute("TRACE USER alice FOR 7200s"))
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("22023"));
            assertThatThrownBy(() -> st.execute("TRACE EVERYONE"))
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("42601"));
            Path existing = Files.writeString(dir.resolve("existing"), "keep me");
            assertThatThrownBy(() -> st.execute("TRACE USER alice TO FILE '" + existing + "'"))
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("22023"));
            assertThat(Files.readString(existing)).isEqualTo("keep me");

            try (ResultSet rs = st.executeQuery("TRACE USER alice FOR 30s")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString("kind")).isEqualTo("user");
                assertThat(rs.getString("target")).isEqualTo("alice");
            }
            try (ResultSet rs = st.executeQuery("SHOW TRACES")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString("target")).isEqualTo("alice");
                assertThat(rs.getLong("max_messages")).isEqualTo(PacketTrace.DEFAULT_MESSAGES);
            }
        }
    }

    @Test
    void adminEndpointStartsListsAndStopsTraces() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        URI uri = URI.create("http://127.0.0.1:" + fx.pooler.adminPort() + "/trace");
        Path file = dir.resolve("admin.trace");

        HttpResponse<String> unauthorized = http.send(
                HttpRequest.newBuilder(uri)
                        .POST(HttpRequest.BodyPublishers.ofString("USER md5_user"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(unauthorized.statusCode()).isEqualTo(401);

        HttpResponse<String> started = http.send(
                HttpRequest.newBuilder(uri)
                        .header("Authorization", "Bearer " + TOKEN)
                        .POST(HttpRequest.BodyPublishers.ofString("USER md5_user TO FILE '" + file + "'"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(started.statusCode()).as(started.body()).isEqualTo(200);
        assertThat(started.body()).startsWith("started trace ");

        HttpResponse<String> listed = http.send(
                HttpRequest.newBuilder(uri)
                        .header("Authorization", "Bearer " + TOKEN)
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(listed.body()).contains("user md5_user");

        try (Connection c = fx.connect("appdb", "md5_user")) {
            preparedQuery(c);
        }
        HttpResponse<String> bad = http.send(
                HttpRequest.newBuilder(uri)
                        .header("Authorization", "Bearer " + TOKEN)
                        .POST(HttpRequest.BodyPublishers.ofString("USER"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(bad.statusCode()).isEqualTo(400);
        HttpResponse<String> off = http.send(
                HttpRequest.newBuilder(uri)
                        .header("Authorization", "Bearer " + TOKEN)
                        .POST(HttpRequest.BodyPublishers.ofString("OFF"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(off.body()).contains("stopped 1");
        List<String> lines = lines(file);
        assertThat(has(lines, "client->pooler", "Bind")).isTrue();
        assertThat(String.join("\n", lines)).doesNotContain("md5_user-secret");
    }
}
