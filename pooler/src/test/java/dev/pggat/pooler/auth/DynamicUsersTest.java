package dev.pggat.pooler.auth;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.testing.TestPostgres;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
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
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Users not listed in the configuration: a database without {@code users} takes any user its credential sources
 * know (the auth query against {@code pg_authid}, or a credential file), makes a pool for it on first login, caps
 * how many, and removes idle ones. Against the shared PostgreSQL, whose roles keep their SCRAM or md5 verifiers.
 */
class DynamicUsersTest {
    private static final String SCRAM = TestPostgres.SCRAM_USER;
    private static final String MD5 = TestPostgres.MD5_USER;
    private static final String TRUST = TestPostgres.TRUST_USER;

    @TempDir
    static Path dir;

    static PostgresCluster pg;
    static Pooler pooler;

    @BeforeAll
    static void start() throws Exception {
        pg = TestPostgres.shared();
        String yaml = """
                listen: {host: 127.0.0.1, port: 0}
                admin: {host: 127.0.0.1, port: 0}
                timeouts: {serverIdle: 1s}
                auth: {maxFailedLogins: 0}
                credentials:
                  maxDynamicUsers: 2
                  authQuery:
                    user: postgres
                    password: %s
                    cacheTtl: 200ms
                    negativeCacheTtl: 200ms
                databases:
                  appdb:
                    mode: transaction
                    endpoints: [{host: 127.0.0.1, port: %d}]
                """.formatted(
                TestPostgres.password(TestPostgres.SUPERUSER), pg.primary().port());
        pooler = new Pooler(ConfigLoader.parse(yaml, "dynamic.yaml", Map.of()), 2).start();
    }

    @AfterAll
    static void stop() {
        if (pooler != null) {
            pooler.close();
        }
    }

    static Connection connect(Pooler p, String user, String password) throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", user);
        props.setProperty("password", password);
        props.setProperty("assumeMinServerVersion", "12");
        props.setProperty("connectTimeout", "10");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + p.port() + "/appdb", props);
    }

    static String one(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement();
                ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    static SQLException refused(Pooler p, String user, String password) {
        try (Connection c = connect(p, user, password)) {
            throw new AssertionError("login of " + user + " was expected to fail");
        } catch (SQLException e) {
            return e;
        }
    }

    static Router.Database appdb() {
        return pooler.router().database("appdb");
    }

    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(50);
        }
    }

    /** Both logins run transactions on the pool made for them; the pool is removed once they leave. */
    @Test
    void scramAndMd5UsersUnknownToTheConfigLogInThroughTheAuthQueryAndRunTransactions() throws Exception {
        await("earlier tests' dynamic users are gone", () -> appdb().dynamicUserCount() == 0);
        try (Connection scram = connect(pooler, SCRAM, TestPostgres.password(SCRAM));
                Connection md5 = connect(pooler, MD5, TestPostgres.password(MD5))) {
            for (Connection c : new Connection[] {scram, md5}) {
                c.setAutoCommit(false);
                one(c, "SELECT 1");
                assertThat(one(c, "SELECT txid_current_if_assigned() IS NULL")).isEqualTo("t");
                c.commit();
                c.setAutoCommit(true);
            }
            assertThat(one(scram, "SELECT current_user")).isEqualTo(SCRAM);
            assertThat(one(md5, "SELECT current_user")).isEqualTo(MD5);
            assertThat(appdb().user(SCRAM).dynamic()).isTrue();
            assertThat(appdb().user(MD5).dynamic()).isTrue();
            assertThat(appdb().user(SCRAM)
                            .pools()
                            .values()
                            .iterator()
                            .next()
                            .settings()
                            .mode())
                    .isEqualTo(dev.pggat.pooler.pool.PoolSettings.PoolMode.TRANSACTION);
            String metrics = metrics();
            assertThat(metrics).contains("pggat_dynamic_users{database=\"appdb\"} 2.0");
            assertThat(metrics).contains("pggat_client_auth_total{method=\"scram-sha-256\",result=\"ok\"}");
            assertThat(metrics).contains("pggat_client_auth_total{method=\"md5\",result=\"ok\"}");
            assertThat(metrics).contains("pggat_auth_query_queries_total");
        }
        // Clients gone, servers idle: after serverIdle the pools go.
        await("the idle dynamic users are removed", () -> appdb().dynamicUserCount() == 0);
        assertThat(appdb().user(SCRAM)).isNull();
        assertThat(metrics())
                .containsPattern("pggat_dynamic_user_events_total\\{database=\"appdb\",event=\"removed\"} [1-9]");
        // And a later login makes a new one.
        try (Connection again = connect(pooler, SCRAM, TestPostgres.password(SCRAM))) {
            assertThat(one(again, "SELECT current_user")).isEqualTo(SCRAM);
        }
    }

    @Test
    void psqlLogsInAsAnUnlistedUser() throws Exception {
        ProcessBuilder pb = new ProcessBuilder(
                psql(),
                "-X",
                "-At",
                "-c",
                "SELECT current_user",
                "host=127.0.0.1 port=" + pooler.port() + " dbname=appdb user=" + MD5 + " sslmode=disable");
        pb.environment().put("PGPASSWORD", TestPostgres.password(MD5));
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out.strip()).isEqualTo(MD5);
    }

    @Test
    void wrongPasswordAndUnknownUserFailAlikeWith28P01() {
        SQLException wrong = refused(pooler, SCRAM, "not-the-password");
        SQLException unknown = refused(pooler, "nobody_in_postgres", "whatever");
        assertThat(wrong.getSQLState()).isEqualTo("28P01");
        assertThat(unknown.getSQLState()).isEqualTo("28P01");
        assertThat(wrong.getMessage()).contains("password authentication failed for user \"" + SCRAM + "\"");
        assertThat(unknown.getMessage()).contains("password authentication failed for user \"nobody_in_postgres\"");
        assertThat(appdb().user("nobody_in_postgres")).isNull();
    }

    @Test
    void aUserThatLeavesTheSourceCannotLogInAgain() throws Exception {
        String role = "dyn_leaver";
        try (Connection su = TestPostgres.connect(pg.primary(), "appdb", TestPostgres.SUPERUSER);
                Statement st = su.createStatement()) {
            st.execute("DROP ROLE IF EXISTS " + role);
            st.execute("CREATE ROLE " + role + " LOGIN PASSWORD '" + role + "-pw'");
            try (Connection c = connect(pooler, role, role + "-pw")) {
                assertThat(one(c, "SELECT current_user")).isEqualTo(role);
            }
            // The default auth query only returns roles that can log in.
            st.execute("ALTER ROLE " + role + " NOLOGIN");
            Thread.sleep(300); // past cacheTtl
            assertThat(refused(pooler, role, role + "-pw").getSQLState()).isEqualTo("28P01");
        }
    }

    @Test
    void theDynamicUserCapRefusesOneMoreUserWith53300UntilOneIsRemoved() throws Exception {
        await("earlier tests' dynamic users are gone", () -> appdb().dynamicUserCount() == 0);
        try (Connection a = connect(pooler, SCRAM, TestPostgres.password(SCRAM));
                Connection b = connect(pooler, MD5, TestPostgres.password(MD5))) {
            SQLException e = refused(pooler, TRUST, TestPostgres.password(TRUST));
            assertThat(e.getSQLState()).isEqualTo("53300");
            assertThat(e.getMessage())
                    .contains("too many users for database \"appdb\"")
                    .contains("credentials.maxDynamicUsers");
            assertThat(one(a, "SELECT 1")).isEqualTo("1");
            assertThat(one(b, "SELECT 1")).isEqualTo("1");
        }
        await("the idle dynamic users are removed", () -> appdb().dynamicUserCount() == 0);
        try (Connection c = connect(pooler, TRUST, TestPostgres.password(TRUST))) {
            assertThat(one(c, "SELECT current_user")).isEqualTo(TRUST);
        }
        assertThat(metrics())
                .containsPattern("pggat_dynamic_user_events_total\\{database=\"appdb\",event=\"refused\"} [1-9]");
    }

    @Test
    void aUserAddedToACredentialFileAtRuntimeLogsInWithoutRestart() throws Exception {
        String role = "dyn_file_user";
        String password = role + "-pw";
        Path users = Files.createDirectories(dir.resolve("users"));
        String yaml = """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                auth: {maxFailedLogins: 0}
                credentials:
                  directory: %s
                  reloadInterval: 100ms
                databases:
                  appdb:
                    endpoints: [{host: 127.0.0.1, port: %d}]
                """.formatted(users, pg.primary().port());
        try (Connection su = TestPostgres.connect(pg.primary(), "appdb", TestPostgres.SUPERUSER);
                Statement st = su.createStatement();
                Pooler files = new Pooler(ConfigLoader.parse(yaml, "files.yaml", Map.of()), 1).start()) {
            st.execute("DROP ROLE IF EXISTS " + role);
            st.execute("CREATE ROLE " + role + " LOGIN PASSWORD '" + password + "'");
            assertThat(refused(files, role, password).getSQLState()).isEqualTo("28P01");

            Path tmp = users.resolve("..tmp");
            Files.writeString(tmp, password + "\n");
            Files.move(tmp, users.resolve(role), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            String who = null;
            while (who == null) {
                try (Connection c = connect(files, role, password)) {
                    who = one(c, "SELECT current_user");
                } catch (SQLException e) {
                    if (System.nanoTime() > deadline) {
                        throw new AssertionError("the user added to the directory never logged in", e);
                    }
                    Thread.sleep(100);
                }
            }
            assertThat(who).isEqualTo(role);

            Files.delete(users.resolve(role));
            deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            String state = null;
            while (!"28P01".equals(state)) {
                try (Connection c = connect(files, role, password)) {
                    if (System.nanoTime() > deadline) {
                        throw new AssertionError("the user removed from the directory can still log in");
                    }
                    Thread.sleep(100);
                } catch (SQLException e) {
                    state = e.getSQLState();
                }
            }
        }
    }

    @Test
    void dynamicUsersWithoutACredentialSourceAreAConfigurationError() {
        String yaml = """
                databases:
                  app:
                    dynamicUsers: true
                    endpoints: [{host: 127.0.0.1}]
                    users:
                      alice: {password: alice-pw}
                  other:
                    endpoints: [{host: 127.0.0.1}]
                """;
        try {
            ConfigLoader.parse(yaml, "bad.yaml", Map.of());
            throw new AssertionError("expected a configuration error");
        } catch (dev.pggat.pooler.config.ConfigException e) {
            assertThat(String.join("\n", e.problems()))
                    .contains("databases.app.dynamicUsers: needs a credential source")
                    .contains("credentials.authQuery")
                    .contains("databases.other.users: at least one user is required");
        }
    }

    static String metrics() throws IOException, InterruptedException {
        HttpResponse<String> r = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + pooler.adminPort() + "/metrics"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        return r.body();
    }

    /** psql from PATH, else from pg_config --bindir. */
    static String psql() throws IOException, InterruptedException {
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, "psql"))) {
                return Path.of(d, "psql").toString();
            }
        }
        Process p = new ProcessBuilder("pg_config", "--bindir").start();
        String bin = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        p.waitFor();
        Path psql = Path.of(bin, "psql");
        if (!Files.isExecutable(psql)) {
            throw new AssertionError("psql is needed for this test: install a PostgreSQL client (psql on PATH)");
        }
        return psql.toString();
    }
}
