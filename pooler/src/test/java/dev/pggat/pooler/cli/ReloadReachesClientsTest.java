package dev.pggat.pooler.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.config.TracingConfig;
import dev.pggat.pooler.testing.TestPostgres;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a reload changes reaches new logins and, where it can, connected clients at their next transaction: client
 * TLS turned on and off, the {@code tls: true} matcher with a real TLS client, route changes (another backend, an
 * error route, no route at all), timeouts, tracing settings, credential sources. Two real PostgreSQL servers told
 * apart by {@code inet_server_port()}, pgjdbc clients.
 */
class ReloadReachesClientsTest {
    private static int portA;
    private static int portB;

    @BeforeAll
    static void servers() throws Exception {
        portA = TestPostgres.shared().primary().port();
        portB = TestPostgres.replicated().primary().port();
    }

    private static PoolerConfig config(String yaml) throws Exception {
        return ConfigLoader.parse(yaml, "reload-test.yaml", Map.of());
    }

    /** Two databases on two servers, scram_user and plain_user in both; {@code extra} goes before them. */
    private static String yaml(String extra) {
        return """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                %3$s
                databases:
                  appdb:
                    endpoints: [{host: 127.0.0.1, port: %1$d}]
                    users:
                      scram_user: {password: scram_user-secret}
                      plain_user: {password: plain_user-secret}
                  other:
                    serverDatabase: appdb
                    endpoints: [{host: 127.0.0.1, port: %2$d}]
                    users:
                      scram_user: {password: scram_user-secret}
                      plain_user: {password: plain_user-secret}
                  sessdb:
                    serverDatabase: appdb
                    mode: session
                    endpoints: [{host: 127.0.0.1, port: %1$d}]
                    users:
                      scram_user: {password: scram_user-secret}
                """.formatted(portA, portB, extra);
    }

    private static Connection connect(Pooler pooler, String database, String user, Map<String, String> extra)
            throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", TestPostgres.password(user));
        p.setProperty("assumeMinServerVersion", "12");
        p.setProperty("connectTimeout", "20");
        p.setProperty("socketTimeout", "60");
        p.setProperty("sslmode", "disable");
        extra.forEach(p::setProperty);
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + pooler.port() + "/" + database, p);
    }

    /** pgjdbc with sslmode=require: encrypted, the pooler's generated certificate taken without verification. */
    private static final Map<String, String> TLS =
            Map.of("sslmode", "require", "sslfactory", "org.postgresql.ssl.NonValidatingFactory");

    private static String one(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static int serverPort(Connection c) throws SQLException {
        return Integer.parseInt(one(c, "SELECT inet_server_port()"));
    }

    private static SQLException refused(Pooler pooler, String database, Map<String, String> extra) {
        try (Connection c = connect(pooler, database, "scram_user", extra)) {
            one(c, "SELECT 1");
        } catch (SQLException e) {
            return e;
        }
        throw new AssertionError("the login was not refused");
    }

    @Test
    void clientTlsTurnsOnAndOffForNewLoginsWhileConnectedClientsKeepTheirs() throws Exception {
        try (Pooler pooler = new Pooler(config(yaml("")), 2).start();
                Connection plain = connect(pooler, "appdb", "scram_user", Map.of())) {
            assertThat(refused(pooler, "appdb", TLS).getMessage()).contains("does not support SSL");

            Pooler.Reloaded on = pooler.reload(config(yaml("tls: {mode: require, selfSignedNames: [localhost]}")));
            assertThat(on.needRestart()).isEmpty();
            assertThat(pooler.security().clientTls()).isPresent();
            // New logins: TLS required now.
            try (Connection tls = connect(pooler, "appdb", "scram_user", TLS)) {
                assertThat(serverPort(tls)).isEqualTo(portA);
                assertThat(pooler.frontend().clientInfos())
                        .anyMatch(i -> i.tls() != null && i.tls().startsWith("TLS"));
                assertThat(refused(pooler, "appdb", Map.of()).getSQLState()).isEqualTo("28000");
                // The client connected in the clear before keeps its connection.
                assertThat(serverPort(plain)).isEqualTo(portA);

                Pooler.Reloaded off = pooler.reload(config(yaml("")));
                assertThat(off.needRestart()).isEmpty();
                assertThat(pooler.security().clientTls()).isEmpty();
                assertThat(refused(pooler, "appdb", TLS).getMessage()).contains("does not support SSL");
                try (Connection again = connect(pooler, "appdb", "scram_user", Map.of())) {
                    assertThat(serverPort(again)).isEqualTo(portA);
                }
                // The TLS client keeps its encrypted connection.
                assertThat(serverPort(tls)).isEqualTo(portA);
            }
        }
    }

    @Test
    void theTlsMatcherSendsTlsClientsAndPlainClientsToTheirBackends() throws Exception {
        String routes = """
                tls: {mode: prefer, selfSignedNames: [localhost]}
                routes:
                  - name: encrypted
                    match: {all: [{database: appdb}, {tls: true}]}
                    backend: other
                """;
        try (Pooler pooler = new Pooler(config(yaml(routes)), 2).start();
                Connection tls = connect(pooler, "appdb", "scram_user", TLS);
                Connection plain = connect(pooler, "appdb", "scram_user", Map.of())) {
            assertThat(serverPort(tls)).isEqualTo(portB);
            assertThat(serverPort(plain)).isEqualTo(portA);
            assertThat(pooler.router().routes().entries().get(0).matchedTotal().sum())
                    .isEqualTo(1);
        }
    }

    @Test
    void aRouteChangeReachesConnectedTransactionModeClientsAtTheirNextTransaction() throws Exception {
        String before = """
                routes:
                  - name: alias
                    match: {database: alias}
                    backend: other
                """;
        String after = """
                routes:
                  - name: blocked
                    match: {parameter: {application_name: "blocked-*"}}
                    error: {sqlstate: 28000, message: "blocked applications may not connect"}
                  - name: reporting
                    match: {parameter: {application_name: "reporting-*"}}
                    backend: other
                """;
        try (Pooler pooler = new Pooler(config(yaml(before)), 2).start();
                Connection reporting =
                        connect(pooler, "appdb", "scram_user", Map.of("ApplicationName", "reporting-1"));
                Connection inTx = connect(pooler, "appdb", "scram_user", Map.of("ApplicationName", "reporting-2"));
                Connection blocked = connect(pooler, "appdb", "scram_user", Map.of("ApplicationName", "blocked-1"));
                Connection alias = connect(pooler, "alias", "scram_user", Map.of());
                Connection session = connect(pooler, "sessdb", "scram_user", Map.of("ApplicationName", "reporting-3"));
                Connection untouched = connect(pooler, "appdb", "plain_user", Map.of())) {
            // Server-prepared at once: after the move the statement is prepared again on the new server.
            reporting.unwrap(org.postgresql.PGConnection.class).setPrepareThreshold(1);
            PreparedStatement ps = reporting.prepareStatement("SELECT inet_server_port() + ?");
            assertThat(portPlus(ps, 0)).isEqualTo(portA);
            assertThat(portPlus(ps, 0)).isEqualTo(portA);
            assertThat(serverPort(blocked)).isEqualTo(portA);
            assertThat(serverPort(alias)).isEqualTo(portB);
            assertThat(serverPort(session)).isEqualTo(portA);
            inTx.setAutoCommit(false);
            assertThat(serverPort(inTx)).isEqualTo(portA);

            Pooler.Reloaded r = pooler.reload(config(yaml(after)));
            assertThat(r.applied()).anyMatch(line -> line.startsWith("routes replaced"));

            // A transaction open across the reload finishes where it is; the next one moves.
            assertThat(serverPort(inTx)).isEqualTo(portA);
            inTx.commit();
            assertThat(serverPort(inTx)).isEqualTo(portB);
            // Another backend: the next transaction, and the prepared statement, run there.
            assertThat(portPlus(ps, 0)).isEqualTo(portB);
            assertThat(portPlus(ps, 1)).isEqualTo(portB + 1);
            // An error route: its SQLSTATE and message at the next query.
            assertThatThrownBy(() -> serverPort(blocked)).isInstanceOfSatisfying(SQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("28000");
                assertThat(e.getMessage()).contains("blocked applications may not connect");
            });
            // Nothing takes the client any more: as for a removed database.
            assertThatThrownBy(() -> serverPort(alias)).isInstanceOfSatisfying(SQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("3D000");
                assertThat(e.getMessage()).contains("database \"alias\" does not exist");
            });
            // Session mode keeps its server until it disconnects; clients no route changed stay.
            assertThat(serverPort(session)).isEqualTo(portA);
            assertThat(serverPort(untouched)).isEqualTo(portA);
            // New logins go by the new routes.
            try (Connection fresh = connect(pooler, "sessdb", "scram_user", Map.of("ApplicationName", "reporting-4"))) {
                assertThat(serverPort(fresh)).isEqualTo(portB);
            }
        }
    }

    private static int portPlus(PreparedStatement ps, int n) throws SQLException {
        ps.setInt(1, n);
        try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getInt(1);
        }
    }

    @Test
    void timeoutsReachConnectedClientsAtTheirNextTransaction() throws Exception {
        try (Pooler pooler = new Pooler(config(yaml("")), 2).start();
                Connection c = connect(pooler, "appdb", "scram_user", Map.of())) {
            assertThat(one(c, "SELECT pg_sleep(1.5)::text")).isEmpty();
            pooler.reload(config(yaml("timeouts: {query: 500ms}")));
            assertThatThrownBy(() -> one(c, "SELECT pg_sleep(10)")).isInstanceOfSatisfying(SQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("57014");
                assertThat(e.getMessage()).contains("statement timeout");
            });
            pooler.reload(config(yaml("")));
            assertThat(one(c, "SELECT pg_sleep(1.5)::text")).isEmpty();
        }
    }

    @Test
    void aTracingChangeReachesConnectedClientsAtTheirNextTransaction() throws Exception {
        InMemorySpanExporter exporter = InMemorySpanExporter.create();
        AttributeKey<String> text = AttributeKey.stringKey("db.query.text");
        try (OpenTelemetrySdk sdk = OpenTelemetrySdk.builder()
                        .setTracerProvider(SdkTracerProvider.builder()
                                .addSpanProcessor(SimpleSpanProcessor.create(exporter))
                                .build())
                        .build();
                Pooler pooler = new Pooler(config(yaml("")), 2)
                        .tracing(sdk, new TracingConfig(true, 1.0, false))
                        .start();
                Connection c = connect(pooler, "appdb", "scram_user", Map.of())) {
            assertThat(one(c, "SELECT 'before'")).isEqualTo("before");
            assertThat(texts(exporter.getFinishedSpanItems(), text)).isEmpty();
            exporter.reset();

            Pooler.Reloaded r = pooler.reload(config(yaml("tracing: {enabled: true, includeSqlText: true}")));
            assertThat(r.needRestart()).isEmpty();
            assertThat(pooler.config().tracing().includeSqlText()).isTrue();
            assertThat(one(c, "SELECT 'after'")).isEqualTo("after");
            assertThat(texts(exporter.getFinishedSpanItems(), text)).contains("SELECT 'after'");
        }
    }

    private static List<String> texts(List<SpanData> spans, AttributeKey<String> key) {
        return spans.stream()
                .map(s -> s.getAttributes().get(key))
                .filter(v -> v != null)
                .toList();
    }

    @Test
    void aChangedCredentialSourceTakesNewLogins(@TempDir Path dir) throws Exception {
        Path first = Files.createDirectories(dir.resolve("first"));
        Path second = Files.createDirectories(dir.resolve("second"));
        Files.writeString(first.resolve("scram_user"), TestPostgres.password("scram_user") + "\n");
        Files.writeString(second.resolve("plain_user"), TestPostgres.password("plain_user") + "\n");
        String yaml = """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                auth: {maxFailedLogins: 0}
                credentials: {directory: %s}
                databases:
                  appdb:
                    endpoints: [{host: 127.0.0.1, port: %d}]
                """;
        try (Pooler pooler = new Pooler(config(yaml.formatted(first, portA)), 2).start();
                Connection scram = connect(pooler, "appdb", "scram_user", Map.of())) {
            assertThat(one(scram, "SELECT current_user")).isEqualTo("scram_user");
            assertThatThrownBy(() ->
                            connect(pooler, "appdb", "plain_user", Map.of()).close())
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("28P01"));

            Pooler.Reloaded r = pooler.reload(config(yaml.formatted(second, portA)));
            assertThat(r.needRestart()).isEmpty();
            try (Connection plain = connect(pooler, "appdb", "plain_user", Map.of())) {
                assertThat(one(plain, "SELECT current_user")).isEqualTo("plain_user");
            }
            assertThatThrownBy(() ->
                            connect(pooler, "appdb", "scram_user", Map.of()).close())
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("28P01"));
            // The client logged in before keeps its session.
            assertThat(one(scram, "SELECT current_user")).isEqualTo("scram_user");
        }
    }

    @Test
    void aClientTlsFileThatCannotBeLoadedFailsTheReloadWithNothingChanged(@TempDir Path dir) throws Exception {
        PoolerConfig before = config(yaml(""));
        Path garbage = Files.writeString(dir.resolve("garbage.pem"), "not a certificate\n");
        try (Pooler pooler = new Pooler(before, 2).start()) {
            PoolerConfig broken =
                    config(yaml("tls: {mode: require, certFile: %1$s, keyFile: %1$s}".formatted(garbage)));
            assertThatThrownBy(() -> pooler.reload(broken)).isInstanceOf(java.io.IOException.class);
            assertThat(pooler.config()).isEqualTo(before);
            assertThat(pooler.security().clientTls()).isEmpty();
            try (Connection c = connect(pooler, "appdb", "scram_user", Map.of())) {
                assertThat(serverPort(c)).isEqualTo(portA);
            }
        }
    }

    /** A Patroni REST API stand-in: {@code GET /cluster} answers one running leader at {@code port}; counts asks. */
    private static com.sun.net.httpserver.HttpServer patroni(int port, java.util.concurrent.atomic.AtomicInteger asked)
            throws java.io.IOException {
        com.sun.net.httpserver.HttpServer http =
                com.sun.net.httpserver.HttpServer.create(new java.net.InetSocketAddress("127.0.0.1", 0), 0);
        byte[] body = ("{\"members\": [{\"name\": \"pg-" + port + "\", \"role\": \"leader\", \"state\": \"running\","
                        + " \"host\": \"127.0.0.1\", \"port\": " + port + ", \"timeline\": 1}]}")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8);
        http.createContext("/cluster", ex -> {
            asked.incrementAndGet();
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ex.sendResponseHeaders(200, body.length);
            try (var out = ex.getResponseBody()) {
                out.write(body);
            }
        });
        http.start();
        return http;
    }

    @Test
    void aChangedDiscoverySectionStopsTheOldSourcesAndStartsTheNewOnes() throws Exception {
        var askedA = new java.util.concurrent.atomic.AtomicInteger();
        var askedB = new java.util.concurrent.atomic.AtomicInteger();
        com.sun.net.httpserver.HttpServer a = patroni(portA, askedA);
        com.sun.net.httpserver.HttpServer b = patroni(portB, askedB);
        String yaml = """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                discovery:
                  %1$s:
                    patroni: {members: ["http://127.0.0.1:%2$d"]}
                    interval: 250ms
                databases:
                  ha:
                    serverDatabase: appdb
                    discovery: %1$s
                    users:
                      scram_user: {password: scram_user-secret}
                """;
        try (Pooler pooler =
                new Pooler(config(yaml.formatted("first", a.getAddress().getPort())), 2).start()) {
            int port = awaitPort(pooler, portA);
            assertThat(port).isEqualTo(portA);
            try (Connection c = connect(pooler, "ha", "scram_user", Map.of())) {
                assertThat(serverPort(c)).isEqualTo(portA);
                Pooler.Reloaded r = pooler.reload(
                        config(yaml.formatted("second", b.getAddress().getPort())));
                assertThat(r.needRestart()).isEmpty();
                assertThat(pooler.discovery().runners())
                        .extracting(x -> x.name())
                        .containsExactly("second");
                int stopped = askedA.get();
                // The new source's leader takes the connected client's next transactions.
                long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MINUTES.toNanos(1);
                while (serverPort(c) != portB && System.nanoTime() < deadline) {
                    Thread.sleep(100);
                }
                assertThat(serverPort(c)).isEqualTo(portB);
                assertThat(askedB.get()).isPositive();
                // The old source is asked no more (several of its intervals later).
                Thread.sleep(1000);
                assertThat(askedA.get()).isEqualTo(stopped);
            }
        } finally {
            a.stop(0);
            b.stop(0);
        }
    }

    /** Logs in to {@code ha} until its discovered primary serves (bounded), and returns the server's port. */
    private static int awaitPort(Pooler pooler, int expected) throws Exception {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MINUTES.toNanos(1);
        SQLException last = null;
        while (System.nanoTime() < deadline) {
            try (Connection c = connect(pooler, "ha", "scram_user", Map.of())) {
                int port = serverPort(c);
                if (port == expected) {
                    return port;
                }
            } catch (SQLException e) {
                last = e;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("the discovered primary never served", last);
    }

    @Test
    void listenRelaySettingsApplyToLoginsAndListensAfterTheReload() throws Exception {
        try (Pooler pooler = new Pooler(config(yaml("pools: {listenRelay: false}")), 2).start();
                Connection before = connect(pooler, "appdb", "scram_user", Map.of())) {
            assertThat(pooler.frontend().listenRelays()).isNull();
            Pooler.Reloaded r = pooler.reload(config(yaml("pools: {listenRelay: true, listenRelayMaxChannels: 1}")));
            assertThat(r.needRestart()).isEmpty();
            assertThat(pooler.frontend().listenRelays()).isNotNull();
            try (Connection after = connect(pooler, "appdb", "scram_user", Map.of());
                    Statement st = after.createStatement()) {
                st.execute("LISTEN reload_a");
                // Through the relay: one relay for the user, listening to the channel.
                assertThat(pooler.frontend().listenRelays().relays())
                        .anySatisfy(relay -> assertThat(relay.channels()).isEqualTo(1));
                assertThatThrownBy(() -> st.execute("LISTEN reload_b"))
                        .isInstanceOfSatisfying(SQLException.class, e -> {
                            assertThat(e.getSQLState()).isEqualTo("53400");
                            assertThat(e.getMessage()).contains("pools.listenRelayMaxChannels");
                        });
            }
            // The client logged in before the reload still works (its LISTEN goes to a server as before).
            try (Statement st = before.createStatement()) {
                st.execute("LISTEN reload_c");
                assertThat(one(before, "SELECT 1")).isEqualTo("1");
            }
        }
    }
}
