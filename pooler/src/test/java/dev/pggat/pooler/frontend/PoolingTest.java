package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.testing.PoolerFixture;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Transaction and session pooling through the pooler with pgjdbc against a real PostgreSQL. */
class PoolingTest {
    static PoolerFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = PoolerFixture.start(3, "timeouts:\n  queryWait: 2s\n");
        try (Connection c = fx.superuser();
                Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS pooling_items");
            s.execute("CREATE TABLE pooling_items (id int PRIMARY KEY, note text)");
            s.execute("GRANT ALL ON pooling_items TO scram_user, md5_user, plain_user, trust_user");
        }
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    private static int backendPid(Connection c) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static int serversOf(String user) throws SQLException {
        try (Connection c = fx.superuser();
                PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM pg_stat_activity WHERE usename = ?")) {
            ps.setString(1, user);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    @Test
    void runsSimpleAndExtendedQueriesAndRecoversFromErrors() throws Exception {
        try (Connection c = fx.connect("appdb", "scram_user", "scram_user-secret", "prepareThreshold", "0")) {
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT 1 + 1, 'x' || 'y'")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(2);
                assertThat(rs.getString(2)).isEqualTo("xy");
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT ?::int * 10, ?::text")) {
                ps.setInt(1, 7);
                ps.setString(2, "seven");
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    assertThat(rs.getInt(1)).isEqualTo(70);
                    assertThat(rs.getString(2)).isEqualTo("seven");
                }
            }
            assertThatThrownBy(() -> c.createStatement().execute("SELECT 1/0"))
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("22012"));
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT 42")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(42);
            }
        }
    }

    @Test
    void transactionModeSharesFewServersAmongManyClients() throws Exception {
        int clients = 12;
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        List<Future<Integer>> results = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            results.add(pool.submit(() -> {
                int sum = 0;
                try (Connection c = fx.connect("appdb", "md5_user")) {
                    for (int j = 0; j < 20; j++) {
                        try (Statement s = c.createStatement();
                                ResultSet rs = s.executeQuery("SELECT 1")) {
                            rs.next();
                            sum += rs.getInt(1);
                        }
                    }
                }
                return sum;
            }));
        }
        for (Future<Integer> f : results) {
            assertThat(f.get(60, TimeUnit.SECONDS)).isEqualTo(20);
        }
        pool.shutdown();
        assertThat(serversOf("md5_user")).isBetween(1, 3);
    }

    @Test
    void transactionKeepsItsServerAndRollbackIsHonoured() throws Exception {
        try (Connection c = fx.connect("appdb", "plain_user")) {
            c.setAutoCommit(false);
            int pid = backendPid(c);
            c.createStatement().execute("INSERT INTO pooling_items VALUES (1, 'rolled back')");
            assertThat(backendPid(c)).isEqualTo(pid);
            c.rollback();
            c.setAutoCommit(true);
            try (ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM pooling_items WHERE id = 1")) {
                rs.next();
                assertThat(rs.getInt(1)).isZero();
            }
        }
    }

    @Test
    void sessionModeKeepsOneServerAndResetsItForTheNextClient() throws Exception {
        int pid;
        try (Connection c = fx.connect("appdb_session", "trust_user", null)) {
            pid = backendPid(c);
            c.createStatement().execute("SET work_mem = '7MB'");
            c.createStatement().execute("CREATE TEMP TABLE session_scratch (x int)");
            for (int i = 0; i < 5; i++) {
                assertThat(backendPid(c)).isEqualTo(pid);
            }
        }
        // The next session-mode client gets a server that was reset with DISCARD ALL.
        Set<String> workMems = new HashSet<>();
        for (int i = 0; i < 3; i++) {
            try (Connection c = fx.connect("appdb_session", "trust_user", null);
                    ResultSet rs = c.createStatement().executeQuery("SHOW work_mem")) {
                rs.next();
                workMems.add(rs.getString(1));
                try (ResultSet t = c.createStatement()
                        .executeQuery("SELECT count(*) FROM pg_class WHERE relname = 'session_scratch'"
                                + " AND relnamespace = pg_my_temp_schema()")) {
                    t.next();
                    assertThat(t.getInt(1)).isZero();
                }
            }
        }
        assertThat(workMems).doesNotContain("7MB");
    }

    @Test
    void waitingClientsQueueAndGetAClearErrorWhenTheWaitExpires() throws Exception {
        // Fill the pool (3 servers) with open transactions, then a fourth client must wait and time out.
        List<Connection> holders = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                Connection h = fx.connect("appdb", "scram_user");
                h.setAutoCommit(false);
                backendPid(h);
                holders.add(h);
            }
            long start = System.nanoTime();
            try (Connection c = fx.connect("appdb", "scram_user")) {
                assertThatThrownBy(() -> backendPid(c)).isInstanceOfSatisfying(SQLException.class, e -> {
                    assertThat(e.getSQLState()).isEqualTo("53300");
                    assertThat(e.getMessage()).contains("no server connection available", "queryWait");
                });
            }
            long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertThat(waitedMs).isGreaterThanOrEqualTo(1900);
            // A queued client that gets a server in time is served in FIFO order once a holder commits.
            try (Connection c = fx.connect("appdb", "scram_user")) {
                Future<Integer> waiting = Executors.newSingleThreadExecutor().submit(() -> backendPid(c));
                Thread.sleep(300);
                assertThat(waiting.isDone()).isFalse();
                holders.get(0).commit();
                assertThat(waiting.get(5, TimeUnit.SECONDS)).isPositive();
            }
        } finally {
            for (Connection h : holders) {
                h.close();
            }
        }
    }
}
