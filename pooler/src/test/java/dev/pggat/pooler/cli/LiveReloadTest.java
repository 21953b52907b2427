package dev.pggat.pooler.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.demo.PostgresBinaries;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.testing.TestPostgres;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every setting reloads while clients stay connected: under pgbench load, a reload that grows a pool, adds a
 * database and a user, changes a password and removes a route loses no transaction and applies each change; a
 * removed database's clients are told at their next query; an invalid file changes nothing.
 */
class LiveReloadTest {
    private static final String ROLE = "pggat_reload_" + ProcessHandle.current().pid();
    private static int port;

    @BeforeAll
    static void createRole() throws Exception {
        port = TestPostgres.shared().primary().port();
        try (Connection c = TestPostgres.connect(
                        TestPostgres.shared().primary(), TestPostgres.DATABASE, TestPostgres.SUPERUSER);
                Statement s = c.createStatement()) {
            s.execute("DROP ROLE IF EXISTS " + ROLE);
            s.execute("CREATE ROLE " + ROLE + " LOGIN PASSWORD 'first-secret'");
        }
    }

    @AfterAll
    static void dropRole() throws Exception {
        try (Connection c = TestPostgres.connect(
                        TestPostgres.shared().primary(), TestPostgres.DATABASE, TestPostgres.SUPERUSER);
                Statement s = c.createStatement()) {
            s.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + ROLE + "'");
            s.execute("DROP ROLE IF EXISTS " + ROLE);
        }
    }

    private static void setServerPassword(String password) throws SQLException {
        try (Connection c = TestPostgres.connect(
                        TestPostgres.shared().primary(), TestPostgres.DATABASE, TestPostgres.SUPERUSER);
                Statement s = c.createStatement()) {
            s.execute("ALTER ROLE " + ROLE + " PASSWORD '" + password + "'");
        }
    }

    /** The file before: one database, one user, a route for pgbench, pools of 4. */
    private String before() {
        return """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                routes:
                  - name: bench
                    match: {parameter: {application_name: "pgbench*"}}
                    backend: appdb
                databases:
                  appdb:
                    maxServerConnections: 4
                    endpoints: [{host: 127.0.0.1, port: %d}]
                    users:
                      %s: {password: first-secret}
                """.formatted(port, ROLE);
    }

    /**
     * The file after: pools of 6, the password changed, a user and a database added, the route gone and another
     * added, client TLS on, a query timeout, tracing on.
     */
    private String after() {
        return """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                tls: {mode: prefer, selfSignedNames: [localhost]}
                timeouts: {query: 45s}
                tracing: {enabled: true, includeSqlText: true}
                routes:
                  - name: reporting
                    match: {parameter: {application_name: "reporting-*"}}
                    backend: second
                databases:
                  appdb:
                    maxServerConnections: 6
                    endpoints: [{host: 127.0.0.1, port: %1$d}]
                    users:
                      %2$s: {password: second-secret}
                      scram_user: {password: scram_user-secret}
                  second:
                    serverDatabase: appdb
                    endpoints: [{host: 127.0.0.1, port: %1$d}]
                    users:
                      %2$s: {password: second-secret}
                """.formatted(port, ROLE);
    }

    private static Connection connect(Pooler pooler, String db, String user, String password) throws SQLException {
        return connect(pooler, db, user, password, Map.of());
    }

    private static Connection connect(Pooler pooler, String db, String user, String password, Map<String, String> extra)
            throws SQLException {
        Properties p = new Properties();
        extra.forEach(p::setProperty);
        p.setProperty("user", user);
        p.setProperty("password", password);
        p.setProperty("assumeMinServerVersion", "12");
        p.setProperty("connectTimeout", "20");
        p.setProperty("socketTimeout", "60");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + pooler.port() + "/" + db, p);
    }

    private static String one(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    @Test
    void aReloadUnderPgbenchLoadLosesNoTransactionAndAppliesEachChange(@TempDir Path dir) throws Exception {
        Path pgbench = PostgresBinaries.locate().bindir().resolve("pgbench");
        assertThat(pgbench)
                .as("pgbench is needed (apt-get install postgresql-client, or the PostgreSQL server package)")
                .isExecutable();
        Path file = dir.resolve("pggat.yaml");
        Files.writeString(file, before());
        PoolerConfig cfg = ConfigLoader.load(file, Map.of());
        Path script = dir.resolve("bench.sql");
        // A transaction of several statements, so that reloads land inside transactions too.
        Files.writeString(script, """
                \\set x random(1, 100000)
                BEGIN;
                SELECT :x;
                SELECT count(*) FROM pg_class WHERE oid > :x;
                SELECT pg_sleep(0.002);
                END;
                """);
        // Tracing from the file: the SDK sends its spans nowhere in a test.
        String exporter = System.getProperty("otel.traces.exporter");
        System.setProperty("otel.traces.exporter", "none");
        try (Pooler pooler = new Pooler(cfg, 2).start();
                ConfigReloader reloader = new ConfigReloader(file, Map.of(), pooler, cfg)) {
            ProcessBuilder pb = new ProcessBuilder(
                            pgbench.toString(),
                            "-n",
                            "-c",
                            "20",
                            "-j",
                            "2",
                            "-T",
                            "25",
                            "-f",
                            script.toString(),
                            "-h",
                            "127.0.0.1",
                            "-p",
                            String.valueOf(pooler.port()),
                            "-U",
                            ROLE,
                            "appdb")
                    .redirectOutput(dir.resolve("out.txt").toFile())
                    .redirectError(dir.resolve("err.txt").toFile());
            pb.environment().put("PGPASSWORD", "first-secret");
            pb.environment().put("PGAPPNAME", "pgbench");
            Process bench = pb.start();
            try {
                // Let every pgbench client log in (through the route) before the file changes.
                waitForClients(pooler, 20);
                Router.Database appdb = pooler.router().database("appdb");
                assertThat(appdb.users().get(ROLE).pools().values())
                        .allSatisfy(p ->
                                assertThat(p.settings().maxServerConnections()).isEqualTo(4));

                // An invalid file changes nothing, and says why.
                Files.writeString(file, after().replace("maxServerConnections: 6", "maxServerConnections: lots"));
                ConfigReloader.Outcome invalid = reloader.reload();
                assertThat(invalid.valid()).isFalse();
                assertThat(invalid.problems())
                        .anyMatch(p -> p.contains("databases.appdb.maxServerConnections: is not a decimal integer"));
                assertThat(pooler.router().routes().routes())
                        .extracting(r -> r.name())
                        .containsExactly("bench");
                assertThat(pooler.router().database("second")).isNull();
                assertThat(pooler.security().clientTls()).isEmpty();
                assertThat(pooler.frontend().tracing().enabled()).isFalse();

                setServerPassword("second-secret");
                Files.writeString(file, after());
                ConfigReloader.Outcome outcome = reloader.reload();
                assertThat(outcome.valid()).isTrue();
                assertThat(outcome.needRestart()).isEmpty();
                assertThat(outcome.applied())
                        .contains(
                                "databases.appdb.maxServerConnections",
                                "databases.appdb.users." + ROLE + ".password",
                                "databases.appdb.users.scram_user",
                                "databases.second",
                                "routes.bench",
                                "routes.reporting",
                                "tls.mode",
                                "timeouts.query",
                                "tracing.enabled",
                                "tracing.includeSqlText");

                // Each change is in use.
                assertThat(pooler.router().routes().routes())
                        .extracting(r -> r.name())
                        .containsExactly("reporting");
                // The new route takes a new login to its backend.
                try (Connection c =
                        connect(pooler, "appdb", ROLE, "second-secret", Map.of("ApplicationName", "reporting-1"))) {
                    assertThat(one(c, "SELECT current_user")).isEqualTo(ROLE);
                    Router.User there =
                            pooler.router().database("second").users().get(ROLE);
                    // Idle or, while its last transaction is being let go, still active: a client of that backend.
                    assertThat(java.util.Arrays.stream(Router.User.ClientState.values())
                                    .mapToInt(there::clients)
                                    .sum())
                            .isEqualTo(1);
                }
                assertThat(pooler.router()
                                .routes()
                                .entries()
                                .get(0)
                                .matchedTotal()
                                .sum())
                        .isEqualTo(1);
                try (Connection c = connect(
                        pooler,
                        "appdb",
                        "scram_user",
                        "scram_user-secret",
                        Map.of("sslmode", "require", "sslfactory", "org.postgresql.ssl.NonValidatingFactory"))) {
                    assertThat(one(c, "SELECT 1")).isEqualTo("1");
                    assertThat(pooler.frontend().clientInfos()).anyMatch(i -> i.tls() != null);
                }
                assertThat(appdb.settings().queryTimeout()).hasSeconds(45);
                assertThat(pooler.frontend().tracing().enabled()).isTrue();
                assertThat(pooler.frontend().tracing().config().includeSqlText())
                        .isTrue();
                assertThat(pooler.router().database("appdb")).isSameAs(appdb);
                assertThat(appdb.users().get(ROLE).pools().values())
                        .allSatisfy(p ->
                                assertThat(p.settings().maxServerConnections()).isEqualTo(6));
                try (Connection c = connect(pooler, "second", ROLE, "second-secret")) {
                    assertThat(one(c, "SELECT current_user")).isEqualTo(ROLE);
                }
                try (Connection c = connect(pooler, "appdb", "scram_user", "scram_user-secret")) {
                    assertThat(one(c, "SELECT current_user")).isEqualTo("scram_user");
                }
                assertThatThrownBy(() -> connect(pooler, "appdb", ROLE, "first-secret"))
                        .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState())
                                .isEqualTo("28P01"));
            } finally {
                if (!bench.waitFor(3, TimeUnit.MINUTES)) {
                    bench.destroyForcibly();
                }
            }
            String out = Files.readString(dir.resolve("out.txt"), StandardCharsets.UTF_8);
            String err = Files.readString(dir.resolve("err.txt"), StandardCharsets.UTF_8);
            System.out.println("pgbench through the reload:\n" + out);
            assertThat(bench.exitValue())
                    .as("pgbench exit code; stderr:\n%s\nstdout:\n%s", err, out)
                    .isZero();
            assertThat(out).contains("number of failed transactions: 0 ");
            assertThat(err).doesNotContain("aborted");
            Matcher processed = Pattern.compile("number of transactions actually processed: (\\d+)")
                    .matcher(out);
            assertThat(processed.find()).as(out).isTrue();
            assertThat(Long.parseLong(processed.group(1))).isPositive();
            // The servers pgbench used after the reload logged in with the new password: new pools exist.
            assertThat(pooler.router()
                            .database("appdb")
                            .users()
                            .get(ROLE)
                            .pools()
                            .values())
                    .allSatisfy(p -> assertThat(p.address().password()).isEqualTo("second-secret"));
        } finally {
            if (exporter == null) {
                System.clearProperty("otel.traces.exporter");
            } else {
                System.setProperty("otel.traces.exporter", exporter);
            }
        }
    }

    private static void waitForClients(Pooler pooler, int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (pooler.frontend().sessions().size() < n && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(pooler.frontend().sessions()).hasSize(n);
    }

    @Test
    void aRemovedDatabasesClientsAreToldAtTheirNextQuery(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("pggat.yaml");
        String two = """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                databases:
                  appdb:
                    endpoints: [{host: 127.0.0.1, port: %1$d}]
                    users: {scram_user: {password: scram_user-secret}}
                  gone:
                    serverDatabase: appdb
                    endpoints: [{host: 127.0.0.1, port: %1$d}]
                    users: {scram_user: {password: scram_user-secret}}
                """.formatted(port);
        Files.writeString(file, two);
        PoolerConfig cfg = ConfigLoader.load(file, Map.of());
        try (Pooler pooler = new Pooler(cfg, 2).start();
                ConfigReloader reloader = new ConfigReloader(file, Map.of(), pooler, cfg);
                Connection c = connect(pooler, "gone", "scram_user", "scram_user-secret");
                Connection stays = connect(pooler, "appdb", "scram_user", "scram_user-secret")) {
            c.setAutoCommit(false);
            assertThat(one(c, "SELECT 1")).isEqualTo("1");
            // In a transaction while the database goes: the transaction finishes on its server.
            Files.writeString(file, two.substring(0, two.indexOf("  gone:")));
            ConfigReloader.Outcome outcome = reloader.reload();
            assertThat(outcome.applied()).containsExactly("databases.gone");
            assertThat(one(c, "SELECT 2")).isEqualTo("2");
            c.commit();
            // The next transaction is told why, with an ErrorResponse.
            assertThatThrownBy(() -> one(c, "SELECT 3")).isInstanceOfSatisfying(SQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("3D000");
                assertThat(e.getMessage()).contains("database \"gone\" was removed");
            });
            assertThat(one(stays, "SELECT 4")).isEqualTo("4");
            assertThatThrownBy(() -> connect(pooler, "gone", "scram_user", "scram_user-secret"))
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("3D000"));
        }
    }

    @Test
    void onlyListenAndAdminNeedARestart(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("pggat.yaml");
        String yaml = """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                timeouts: {queryWait: 30s}
                databases:
                  appdb:
                    endpoints: [{host: 127.0.0.1, port: %d}]
                    users: {scram_user: {password: scram_user-secret}}
                """.formatted(port);
        Files.writeString(file, yaml);
        PoolerConfig cfg = ConfigLoader.load(file, Map.of());
        try (Pooler pooler = new Pooler(cfg, 2).start();
                ConfigReloader reloader = new ConfigReloader(file, Map.of(), pooler, cfg)) {
            Files.writeString(file, yaml.replace("port: 0}", "port: 1}").replace("queryWait: 30s", "queryWait: 45s"));
            ConfigReloader.Outcome outcome = reloader.reload();
            assertThat(outcome.needRestart()).containsExactly("listen.port");
            assertThat(outcome.applied()).containsExactly("timeouts.queryWait");
            for (Pool p : pooler.router().pools()) {
                assertThat(p.settings().queryWait()).hasSeconds(45);
            }
            // Still named while it stands.
            assertThat(reloader.reload().needRestart()).containsExactly("listen.port");
        }
    }
}
