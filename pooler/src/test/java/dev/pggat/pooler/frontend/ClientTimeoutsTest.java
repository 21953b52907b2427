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
    /**
     * For the tests that a timeout must not end: timeouts well above any pause a busy machine puts between a
     * client's messages, and the waits that must not count (on the server, between messages) well above them.
     * With fx's 300 ms a descheduled client thread was taken for an idle one.
     */
    static PoolerFixture relaxed;

    @BeforeAll
    static void start() throws Exception {
        fx = PoolerFixture.start(2, """
                timeouts:
                  clientIdle: 1500ms
                  idleInTransaction: 300ms
                  query: 300ms
                """);
        relaxed = PoolerFixture.start(2, """
                timeouts:
                  clientIdle: 3s
                  idleInTransaction: 2s
                  query: 0s
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
        relaxed.close();
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

    /**
     * Reads up to the first ErrorResponse. Callers check which error it is before anything else: a check of its
     * timing alone would report an unrelated error (one a busy or half-upgraded server sent at once, say) as a
     * timer that fired early.
     */
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

    private static int tableLocks() throws SQLException {
        return count("SELECT count(*) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation"
                + " WHERE r.relname = 'timeouts_locked'");
    }

    @ParameterizedTest
    @ValueSource(strings = {"appdb", "appdb_session"})
    void idleClientIsClosedWith57P05AndItsServerStaysUsable(String database) throws Exception {
        try (RawClient c = new RawClient("127.0.0.1", fx.port())) {
            c.login("trust_user", database, null);
            // Timed from before the client's last message: the pooler's clock starts later, so however slow the
            // machine, a correct pooler cannot end the session before clientIdle (1.5 s) has passed here.
            long t0 = System.nanoTime();
            c.send(RawClient.query("SELECT 1"));
            c.readUntilReady();
            RawClient.Msg err = fatalError(c);
            assertThat(err.field('S')).isEqualTo("FATAL");
            assertThat(err.field('C')).isEqualTo("57P05");
            assertThat(err.field('M')).isEqualTo("terminating connection due to idle-session timeout");
            assertThat(millisSince(t0)).isGreaterThanOrEqualTo(1500L);
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
        try (RawClient c = new RawClient("127.0.0.1", relaxed.port())) {
            c.login("trust_user", "appdb", null);
            // 4 s in all, more than clientIdle (3 s), but never more than about 0.5 s without a message.
            for (int i = 0; i < 8; i++) {
                Thread.sleep(500);
                c.send(RawClient.query("SELECT " + i));
                assertThat(c.readUntilReady()).extracting(RawClient.Msg::type).doesNotContain('E');
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"appdb", "appdb_session"})
    void clientIdleInTransactionGets25P03AndItsLocksAreReleased(String database) throws Exception {
        try (RawClient c = new RawClient("127.0.0.1", fx.port())) {
            c.login("trust_user", database, null);
            long t0 = System.nanoTime();
            c.send(RawClient.query("BEGIN; LOCK TABLE timeouts_locked IN ACCESS EXCLUSIVE MODE"));
            // The server's own word that the lock is held. (Looking it up in pg_locks from another connection
            // raced the 300 ms timeout on a busy machine: the lock could be gone before that connection was up.)
            assertThat(c.readUntilReady())
                    .extracting(m -> m.type() == 'C' ? m.text().replace("\0", "") : String.valueOf(m.type()))
                    .containsExactly("BEGIN", "LOCK TABLE", "Z");
            RawClient.Msg err = fatalError(c);
            assertThat(err.field('S')).isEqualTo("FATAL");
            assertThat(err.field('C')).isEqualTo("25P03");
            assertThat(err.field('M')).isEqualTo("terminating connection due to idle-in-transaction timeout");
            assertThat(millisSince(t0)).isGreaterThanOrEqualTo(300L);
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
        try (Connection c = relaxed.connect("appdb", "scram_user")) {
            c.setAutoCommit(false);
            Statement s = c.createStatement();
            s.execute("LOCK TABLE timeouts_locked IN ACCESS EXCLUSIVE MODE");
            // Each statement keeps the server busy longer than idleInTransaction (2 s), and the client answers at
            // once: the waits on the server must not count, although the transaction lasts 5 s.
            for (int i = 0; i < 2; i++) {
                s.execute("SELECT pg_sleep(2.5)");
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
            // Canceled, not finished: well before the 20 s the statement would run (a bound only a broken timer
            // misses, however busy the machine), and not before the 300 ms timeout.
            assertThat(millisSince(t0)).isBetween(300L, 15_000L);
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
        try (RawClient c = new RawClient("127.0.0.1", fx.port())) {
            c.login("trust_user", "appdb", null);
            long t0 = System.nanoTime();
            c.send(RawClient.query(stubborn));
            RawClient.Msg err = fatalError(c);
            assertThat(err.field('S')).isEqualTo("FATAL");
            assertThat(err.field('C')).isEqualTo("57014");
            assertThat(err.field('M')).contains("did not stop a statement past the statement timeout");
            // Not before the query timeout (300 ms) plus the cancel's grace (500 ms at least). No upper bound is
            // needed: the statement never ends by itself, so without the pooler no error would come at all.
            assertThat(millisSince(t0)).isGreaterThanOrEqualTo(800L);
            try {
                assertThat(c.closedByServer()).isTrue();
            } catch (EOFException e) {
                // closed: what is expected
            }
            // Others carry on. (Connected only now: one connected before sat idle through all of the above,
            // which on a busy machine outlasted clientIdle.)
            try (Connection bystander = fx.connect("appdb", "scram_user");
                    ResultSet rs = bystander.createStatement().executeQuery("SELECT 9")) {
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
