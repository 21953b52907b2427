package dev.pggat.pooler.demo;

import static dev.pggat.pooler.testing.TestPostgres.DATABASE;
import static dev.pggat.pooler.testing.TestPostgres.MD5_USER;
import static dev.pggat.pooler.testing.TestPostgres.PLAIN_USER;
import static dev.pggat.pooler.testing.TestPostgres.SCRAM_USER;
import static dev.pggat.pooler.testing.TestPostgres.SUPERUSER;
import static dev.pggat.pooler.testing.TestPostgres.TRUST_USER;
import static dev.pggat.pooler.testing.TestPostgres.connect;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.testing.TestPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class PostgresClusterTest {

    @AfterAll
    static void reportStartupTimes() {
        System.out.printf(
                "TestPostgres startup: shared() %d ms, replicated() %d ms%n",
                TestPostgres.sharedStartMillis(), TestPostgres.replicatedStartMillis());
    }

    @Test
    void forcedSystemBinariesRunAsTheUnprivilegedUserAndSurviveKillAndRestart() throws Exception {
        PostgresBinaries bin = withSelection("system", PostgresBinaries::locate);
        assertThat(bin.embedded()).isFalse();

        Path baseDir;
        long postmasterPid;
        try (PostgresCluster cluster = PostgresCluster.builder()
                .binaries(bin)
                .superuserPassword("system-pw")
                .maxConnections(123)
                .setting("work_mem", "8MB")
                .bootstrapSql("CREATE TABLE crash_test(id int PRIMARY KEY)")
                .start()) {
            baseDir = cluster.baseDir();
            PostgresCluster.Node primary = cluster.primary();
            assertThat(primary.host()).isEqualTo("127.0.0.1");
            assertThat(primary.isRunning()).isTrue();
            try (Connection c = connect(primary, "postgres", SUPERUSER, "system-pw")) {
                assertThat(queryValue(c, "SHOW server_version")).startsWith(bin.version());
                assertThat(queryValue(c, "SHOW unix_socket_directories")).startsWith(baseDir.toString());
                assertThat(queryValue(c, "SHOW max_connections")).isEqualTo("123");
                assertThat(queryValue(c, "SHOW work_mem")).isEqualTo("8MB");
                assertThat(queryValue(c, "SHOW fsync")).isEqualTo("off");
                execute(c, "INSERT INTO crash_test VALUES (1)");
            }
            postmasterPid = PostgresCluster.postmasterPid(primary.dataDir()).orElseThrow();
            String expectedUser = ProcessRunner.currentUid() == 0 ? "postgres" : System.getProperty("user.name");
            assertThat(ProcessHandle.of(postmasterPid).orElseThrow().info().user())
                    .contains(expectedUser);

            primary.kill();
            assertThat(primary.isRunning()).isFalse();
            assertThat(ProcessRunner.isAlive(postmasterPid)).isFalse();
            assertThatThrownBy(() -> connect(primary, "postgres", SUPERUSER, "system-pw"))
                    .isInstanceOf(SQLException.class);

            primary.start();
            try (Connection c = connect(primary, "postgres", SUPERUSER, "system-pw")) {
                assertThat(queryValue(c, "SELECT count(*) FROM crash_test")).isEqualTo("1");
            }
            primary.stop();
            assertThat(primary.isRunning()).isFalse();
            primary.start();
            assertThat(primary.isRunning()).isTrue();
            postmasterPid = PostgresCluster.postmasterPid(primary.dataDir()).orElseThrow();
        }
        assertThat(ProcessRunner.isAlive(postmasterPid)).isFalse();
        assertThat(baseDir).doesNotExist();
    }

    @Test
    void forcedEmbeddedBinariesRunPostgres17WithAReplicaThatCanBePromoted() throws Exception {
        PostgresBinaries bin = withSelection("embedded", PostgresBinaries::locate);
        assertThat(bin.embedded()).isTrue();
        assertThat(bin.majorVersion()).isEqualTo(17);
        assertThat(bin.bindir()).startsWith(Path.of(System.getProperty("java.io.tmpdir")));

        try (PostgresCluster cluster = PostgresCluster.builder()
                .binaries(bin)
                .replicas(1)
                .bootstrapSql("CREATE TABLE items(id int PRIMARY KEY)")
                .start()) {
            PostgresCluster.Node primary = cluster.primary();
            PostgresCluster.Node replica = cluster.replicas().get(0);
            try (Connection c = connect(primary, "postgres", SUPERUSER, cluster.superuserPassword())) {
                assertThat(queryValue(c, "SHOW server_version")).startsWith("17.");
                assertThat(queryValue(c, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"))
                        .isEqualTo("1");
                execute(c, "INSERT INTO items VALUES (1)");
            }
            awaitValue(replica, cluster.superuserPassword(), "SELECT count(*) FROM items", "1");

            replica.promote();
            try (Connection c = connect(replica, "postgres", SUPERUSER, cluster.superuserPassword())) {
                assertThat(queryValue(c, "SELECT pg_is_in_recovery()")).isEqualTo("f");
                execute(c, "INSERT INTO items VALUES (2)");
                assertThat(queryValue(c, "SELECT count(*) FROM items")).isEqualTo("2");
            }
        }
    }

    @Test
    void eachFixtureUserLogsInOverTcpWithItsConfiguredAuthMethod() throws Exception {
        PostgresCluster cluster = TestPostgres.shared();
        PostgresCluster.Node primary = cluster.primary();
        for (String user : List.of(SCRAM_USER, MD5_USER, PLAIN_USER, TRUST_USER)) {
            try (Connection c = connect(primary, DATABASE, user)) {
                assertThat(queryValue(c, "SELECT current_user")).isEqualTo(user);
                String table = user + "_t_" + UUID.randomUUID().toString().replace("-", "");
                execute(c, "CREATE TABLE " + table + "(id int)");
                execute(c, "DROP TABLE " + table);
            }
        }
        try (Connection c = connect(primary, DATABASE, SUPERUSER)) {
            assertThat(queryValue(c, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
                    .isEqualTo("t");
            assertThat(authMethod(c, SCRAM_USER)).isEqualTo("scram-sha-256");
            assertThat(authMethod(c, MD5_USER)).isEqualTo("md5");
            assertThat(authMethod(c, PLAIN_USER)).isEqualTo("password");
            assertThat(authMethod(c, TRUST_USER)).isEqualTo("trust");
            assertThat(queryValue(c, "SELECT rolpassword FROM pg_authid WHERE rolname = '" + MD5_USER + "'"))
                    .matches("md5[0-9a-f]{32}");
            assertThat(queryValue(c, "SELECT rolpassword FROM pg_authid WHERE rolname = '" + SCRAM_USER + "'"))
                    .startsWith("SCRAM-SHA-256$");
        }
    }

    @Test
    void wrongPasswordsAreRejectedWith28P01ButTrustUserGetsIn() throws Exception {
        PostgresCluster.Node primary = TestPostgres.shared().primary();
        for (String user : List.of(SCRAM_USER, MD5_USER, PLAIN_USER, SUPERUSER)) {
            assertThatThrownBy(() -> connect(primary, DATABASE, user, "wrong-secret"))
                    .as(user)
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("28P01"));
        }
        try (Connection c = connect(primary, DATABASE, TRUST_USER, "wrong-secret")) {
            assertThat(queryValue(c, "SELECT current_user")).isEqualTo(TRUST_USER);
        }
    }

    @Test
    void replicatedClusterStreamsPrimaryWritesToBothReadOnlyReplicas() throws Exception {
        PostgresCluster cluster = TestPostgres.replicated();
        assertThat(cluster.replicas()).hasSize(2);
        String table = "stream_" + UUID.randomUUID().toString().replace("-", "");
        // Only the superuser (or pg_read_all_stats) sees the state of other sessions.
        try (Connection c = connect(cluster.primary(), DATABASE, SUPERUSER)) {
            assertThat(queryValue(
                            c,
                            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                                    + " AND application_name IN ('replica1', 'replica2')"))
                    .isEqualTo("2");
        }
        try (Connection c = connect(cluster.primary(), DATABASE, SCRAM_USER)) {
            execute(c, "CREATE TABLE " + table + "(v text)");
            execute(c, "INSERT INTO " + table + " VALUES ('written on the primary')");
        }
        for (PostgresCluster.Node replica : cluster.replicas()) {
            awaitValue(replica, DATABASE, SCRAM_USER, "SELECT max(v) FROM " + table, "written on the primary");
            try (Connection c = connect(replica, DATABASE, MD5_USER)) {
                assertThat(queryValue(c, "SELECT pg_is_in_recovery()")).isEqualTo("t");
                assertThatThrownBy(() -> execute(c, "CREATE TABLE nope(id int)"))
                        .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState())
                                .isEqualTo("25006"));
            }
        }
    }

    @Test
    void unknownBinariesSelectionIsRejectedNamingTheAcceptedValues() {
        assertThatThrownBy(() -> withSelection("newest", PostgresBinaries::locate))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(PostgresBinaries.SELECT_PROPERTY + "='newest'")
                .hasMessageContaining("'embedded' or 'system'");
    }

    @Test
    void startFailureReportsTheServerLogTailAndCleansUp() throws IOException {
        List<Path> before = leftoverDirs();
        assertThatThrownBy(() -> PostgresCluster.builder()
                        .setting("shared_buffers", "plenty")
                        .start())
                .isInstanceOf(IOException.class)
                .hasMessageContaining("postgres.log")
                .hasMessageContaining("invalid value for parameter \"shared_buffers\"");
        assertThat(leftoverDirs()).isSubsetOf(before);
    }

    @Test
    void bootstrapFailureNamesTheStatementByPositionWithoutItsText() {
        assertThatThrownBy(() -> PostgresCluster.builder()
                        .bootstrapSql("SELECT 1", "CREATE ROLE x PASSWORD 'hunter2' NOSUCHOPTION")
                        .start())
                .isInstanceOf(IOException.class)
                .hasMessageContaining("bootstrapSql[1]")
                .hasMessageContaining("42601")
                .hasMessageNotContaining("hunter2");
    }

    @Test
    void sweepStopsAndDeletesClustersOfJvmsThatAreGone() throws Exception {
        PostgresCluster cluster = PostgresCluster.builder().start();
        try {
            Path baseDir = cluster.baseDir();
            long postmasterPid =
                    PostgresCluster.postmasterPid(cluster.primary().dataDir()).orElseThrow();
            Process gone = new ProcessBuilder("true").start();
            gone.waitFor();
            // Pretend the cluster belongs to a JVM that was killed before its shutdown hook could run.
            Files.writeString(baseDir.resolve(PostgresCluster.OWNER_FILE), gone.pid() + " 0\n");

            PostgresCluster.sweepOrphans(baseDir.getParent());

            assertThat(ProcessRunner.isAlive(postmasterPid)).isFalse();
            assertThat(baseDir).doesNotExist();
            assertThat(TestPostgres.shared().primary().isRunning()).isTrue();
        } finally {
            cluster.close();
        }
    }

    /** Cluster dirs owned by this JVM; other JVMs may create their own meanwhile. */
    private static List<Path> leftoverDirs() throws IOException {
        String self = ProcessHandle.current().pid() + " ";
        List<Path> dirs = new ArrayList<>();
        try (var stream = Files.newDirectoryStream(Path.of(System.getProperty("java.io.tmpdir")), "pggat-pg-*")) {
            for (Path dir : stream) {
                Path owner = dir.resolve(PostgresCluster.OWNER_FILE);
                if (Files.exists(owner) && Files.readString(owner).startsWith(self)) {
                    dirs.add(dir);
                }
            }
        }
        return dirs;
    }

    private static <T> T withSelection(String value, Callable<T> action) throws Exception {
        String old = System.getProperty(PostgresBinaries.SELECT_PROPERTY);
        System.setProperty(PostgresBinaries.SELECT_PROPERTY, value);
        try {
            return action.call();
        } finally {
            if (old == null) {
                System.clearProperty(PostgresBinaries.SELECT_PROPERTY);
            } else {
                System.setProperty(PostgresBinaries.SELECT_PROPERTY, old);
            }
        }
    }

    private static String authMethod(Connection c, String user) throws SQLException {
        return queryValue(
                c,
                "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' AND '" + user
                        + "' = ANY(user_name) ORDER BY line_number LIMIT 1");
    }

    private static void awaitValue(PostgresCluster.Node node, String superuserPassword, String sql, String expected)
            throws Exception {
        awaitValue(node, "postgres", SUPERUSER, superuserPassword, sql, expected);
    }

    private static void awaitValue(PostgresCluster.Node node, String db, String user, String sql, String expected)
            throws Exception {
        awaitValue(node, db, user, TestPostgres.password(user), sql, expected);
    }

    private static void awaitValue(
            PostgresCluster.Node node, String db, String user, String password, String sql, String expected)
            throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        String last = null;
        while (System.nanoTime() < deadline) {
            try (Connection c = connect(node, db, user, password)) {
                last = queryValue(c, sql);
                if (expected.equals(last)) {
                    return;
                }
            } catch (SQLException e) {
                // The table may not have been replayed yet: 42P01 until it is.
                last = e.getSQLState() + " " + e.getMessage();
            }
            Thread.sleep(20);
        }
        throw new AssertionError(node + ": expected '" + expected + "' from " + sql + " within 15 s, last: " + last);
    }

    private static String queryValue(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            if (!rs.next()) {
                throw new AssertionError("no row from " + sql);
            }
            return rs.getString(1);
        }
    }

    private static void execute(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }
}
