package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.testing.PoolerFixture;
import dev.pggat.pooler.testing.RawClient;
import java.io.EOFException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * timeouts.clientIdle, idleInTransaction and query against real PostgreSQL: what the client sees, and that the
 * server is left clean (no open transaction, no lock, no running query) while other clients carry on.
 */
class ClientTimeoutsTest {
    static PoolerFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = PoolerFixture.start(2, """
                timeouts:
                  clientIdle: 1500ms
                  idleInTransaction: 300ms
                  query: 300ms
                """);
        try (Connection c = fx.superuser();
                Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS timeouts_locked");
            s.execute("CREATE TABLE timeouts_locked (id int)");
            s.execute("GRANT ALL ON timeouts_locked TO trust_user, scram_user");
        }
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    private static int count(String sql) throws SQLException {
        try (Connection c = fx.superuser();
                ResultSet rs = c.createStatement().executeQuery(sql)) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static void eventually(String what, Callable<Boolean> check) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!check.call()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(50);
        }
    }

    /** Reads up to the error the pooler sends before it closes the connection. */
    private static RawClient.Msg fatalError(RawClient c) throws Exception {
        while (true) {
            RawClient.Msg m = c.read();
            if (m.type() == 'E') {
                return m;
            }
        }
    }

    private static long millisSince(long t0) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }

    private static int openTransactions() throws SQLException {
        return count("SELECT count(*) FROM pg_stat_activity WHERE usename IN ('trust_user', 'scram_user')"
                + " AND state LIKE 'idle in transaction%'");
    }

    private static final String TABLE_LOCKS =
            "SELECT count(*) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation WHERE r.relname = 'timeouts_locked'";

    private static int tableLocks() throws SQLException {
        return count(TABLE_LOCKS);
    }

    @ParameterizedTest
    @ValueSource(strings = {"appdb", "appdb_session"})
    void idleClientIsClosedWith57P05AndItsServerStaysUsable(String database) throws Exception {
        try (RawClient c = new RawClient("127.0.0.1", fx.port())) {
            c.login("trust_user", database, null);
            c.send(RawClient.query("SELECT 1"));
            c.readUntilReady();
            long t0 = System.nanoTime();
            RawClient.Msg err = fatalError(c);
            assertThat(millisSince(t0)).isBetween(1400L, 4000L);
            assertThat(err.field('S')).isEqualTo("FATAL");
            assertThat(err.field('C')).isEqualTo("57P05");
            assertThat(err.field('M')).isEqualTo("terminating connection due to idle-session timeout");
            assertThat(c.closedByServer()).isTrue();
        }
        assertThat(openTransactions()).isZero();
        try (Connection again = fx.connect(database, "trust_user", null);
                ResultSet rs = again.createStatement().executeQuery("SELECT 2")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(2);
        }
    }

    @Test
    void clientThatKeepsSendingIsNotIdle() throws Exception {
        try (RawClient c = new RawClient("127.0.0.1", fx.port())) {
            c.login("trust_user", "appdb", null);
            // 2 s in all, more than clientIdle, but never 1.5 s without a message.
            for (int i = 0; i < 8; i++) {
                Thread.sleep(250);
                c.send(RawClient.query("SELECT " + i));
                assertThat(c.readUntilReady()).extracting(RawClient.Msg::type).doesNotContain('E');
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"appdb", "appdb_session"})
    void clientIdleInTransactionGets25P03AndItsLocksAreReleased(String database) throws Exception {
        // The lock is looked at through a connection opened beforehand: opening one takes longer than the 300 ms
        // the transaction has on a busy machine.
        try (RawClient c = new RawClient("127.0.0.1", fx.port());
                Connection watcher = fx.superuser();
                java.sql.PreparedStatement locks = watcher.prepareStatement(TABLE_LOCKS)) {
            c.login("trust_user", database, null);
            c.send(RawClient.query("BEGIN; LOCK TABLE timeouts_locked IN ACCESS EXCLUSIVE MODE"));
            c.readUntilReady();
            long t0 = System.nanoTime();
            try (ResultSet rs = locks.executeQuery()) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(1);
            }
            RawClient.Msg err = fatalError(c);
            assertThat(millisSince(t0)).isBetween(200L, 3000L);
            assertThat(err.field('S')).isEqualTo("FATAL");
            assertThat(err.field('C')).isEqualTo("25P03");
            assertThat(err.field('M')).isEqualTo("terminating connection due to idle-in-transaction timeout");
            assertThat(c.closedByServer()).isTrue();
        }
        eventually("the lock is released", () -> tableLocks() == 0);
        eventually("no transaction stays open", () -> openTransactions() == 0);
        try (Connection other = fx.connect(database, "scram_user")) {
            other.setAutoCommit(false);
            other.createStatement().execute("LOCK TABLE timeouts_locked IN ACCESS EXCLUSIVE MODE NOWAIT");
            other.rollback();
        }
    }

    @Test
    void aTransactionWaitingOnTheServerIsNotIdleInTransaction() throws Exception {
        try (Connection c = fx.connect("appdb", "scram_user")) {
            c.setAutoCommit(false);
            Statement s = c.createStatement();
            s.execute("LOCK TABLE timeouts_locked IN ACCESS EXCLUSIVE MODE");
            // Each statement returns within the query timeout, and the client answers at once: no timeout applies
            // although the transaction lasts longer than both.
            for (int i = 0; i < 4; i++) {
                s.execute("SELECT pg_sleep(0.2)");
            }
            c.commit();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"appdb", "appdb_session"})
    void longQueryIsCanceledWith57014AndTheSessionGoesOn(String database) throws Exception {
        try (Connection c = fx.connect(database, "scram_user");
                Statement s = c.createStatement()) {
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> s.execute("SELECT pg_sleep(20)")).isInstanceOfSatisfying(SQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("57014");
                assertThat(e.getMessage()).contains("canceling statement due to statement timeout");
            });
            assertThat(millisSince(t0)).isBetween(250L, 3000L);
            try (ResultSet rs = s.executeQuery("SELECT 7")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(7);
            }
            // Inside a transaction, as with statement_timeout: the transaction is aborted, the session is not.
            c.setAutoCommit(false);
            assertThatThrownBy(() -> s.execute("SELECT pg_sleep(20)"))
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("57014"));
            c.rollback();
            try (ResultSet rs = s.executeQuery("SELECT 8")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(8);
            }
            c.commit();
        }
        eventually(
                "no query keeps running",
                () -> count("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(20)%'"
                                + " AND state <> 'idle'")
                        == 0);
        assertThat(openTransactions()).isZero();
    }

    @Test
    void serverThatIgnoresTheCancelIsClosedAndTheClientGetsFatal() throws Exception {
        // The block swallows query_canceled, so the cancel cannot stop it; once the pooler closes the connection,
        // the backend notices the lost client within client_connection_check_interval and exits.
        String stubborn = "SET client_connection_check_interval = '100ms'; DO $$ BEGIN LOOP BEGIN"
                + " PERFORM pg_sleep(10); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$";
        try (RawClient c = new RawClient("127.0.0.1", fx.port());
                Connection bystander = fx.connect("appdb", "scram_user")) {
            // The query goes right behind the startup packet: with a pause between login and query, a test thread
            // held up for clientIdle (1500 ms) on a busy machine would rightly be closed as idle instead.
            long t0 = System.nanoTime();
            c.send(RawClient.startup(196608, java.util.Map.of("user", "trust_user", "database", "appdb")));
            c.send(RawClient.query(stubborn));
            RawClient.Msg err = fatalError(c);
            assertThat(err.field('S')).isEqualTo("FATAL");
            assertThat(err.field('C')).isEqualTo("57014");
            assertThat(err.field('M')).contains("did not stop a statement past the statement timeout");
            // query (300 ms) plus the cancel's grace (500 ms at least)
            assertThat(millisSince(t0)).isBetween(700L, 4000L);
            try {
                assertThat(c.closedByServer()).isTrue();
            } catch (EOFException e) {
                // closed: what is expected
            }
            try (ResultSet rs = bystander.createStatement().executeQuery("SELECT 9")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(9);
            }
        }
        eventually(
                "the backend has exited",
                () -> count("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%EXCEPTION WHEN query_canceled%'"
                                + " AND pid <> pg_backend_pid()")
                        == 0);
        assertThat(fx.pooler.frontend().timeouts.queryCancelUnanswered.sum()).isEqualTo(1);
    }
}
