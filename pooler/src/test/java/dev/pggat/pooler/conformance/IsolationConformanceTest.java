package dev.pggat.pooler.conformance;

import static dev.pggat.pooler.conformance.Jdbc.attempt;
import static dev.pggat.pooler.conformance.Jdbc.execute;
import static dev.pggat.pooler.conformance.Jdbc.query;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.testing.RawClient;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

/**
 * What one client does must not reach another: session settings, advisory locks of a killed client,
 * notifications, and cancel requests, each compared with the same scenario directly against PostgreSQL.
 */
class IsolationConformanceTest {
    private static final String USER = "scram_user";
    private static final int TRANSACTION_POOL = 2;
    private static final int SESSION_POOL = 8;

    static ConformanceFixture fx;
    static final Conformance conformance = new Conformance();

    @BeforeAll
    static void start() throws Exception {
        fx = ConformanceFixture.start(TRANSACTION_POOL, SESSION_POOL);
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    // ------------------------------------------------------------------ SET of parameters the server does not report

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void searchPathSetByOneClientIsNotSeenByAnother(Target target) throws Exception {
        conformance.check("search_path", target, this::searchPath);
    }

    @Test
    void searchPathSetByOneClientIsNotSeenByAnotherInTransactionMode() throws Exception {
        conformance.check("search_path", Target.TRANSACTION, this::searchPath);
    }

    private List<String> searchPath(Target t) throws Exception {
        fx.directly(
                USER,
                "DROP SCHEMA IF EXISTS conf_sp CASCADE",
                "CREATE SCHEMA conf_sp",
                "CREATE TABLE conf_sp.conf_sp_marker (v text)",
                "INSERT INTO conf_sp.conf_sp_marker VALUES ('found through search_path')");
        String show = "SELECT current_setting('search_path') AS search_path,"
                + " current_setting('statement_timeout') AS statement_timeout";
        List<String> out = new ArrayList<>();
        try (Connection a = fx.jdbc(t, USER, "prepareThreshold", "0");
                Connection b = fx.jdbc(t, USER, "prepareThreshold", "0")) {
            out.add("b before: " + query(b, show));
            out.add("a: " + execute(a, "SET search_path = conf_sp, public"));
            out.add("a: " + execute(a, "SET statement_timeout = '4321ms'"));
            for (int i = 0; i < 3; i++) {
                out.add("a: " + query(a, show));
                out.add("b: " + query(b, show));
                out.add("a: " + query(a, "SELECT v FROM conf_sp_marker"));
                out.add("b: " + query(b, "SELECT v FROM conf_sp_marker"));
            }
            a.setAutoCommit(false);
            out.add("a in transaction: " + execute(a, "SET LOCAL search_path = public"));
            out.add("a in transaction: " + query(a, show));
            a.commit();
            a.setAutoCommit(true);
            out.add("a after commit: " + query(a, show));
            out.add("a: " + execute(a, "RESET search_path"));
            out.add("a after reset: " + query(a, show));
            out.add("a: " + execute(a, "SET search_path = conf_sp"));
        }
        try (Connection c = fx.jdbc(t, USER, "prepareThreshold", "0")) {
            out.add("next client: " + query(c, show));
        }
        return out;
    }

    // ------------------------------------------------------------------ advisory locks of a killed client

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = Target.class,
            names = {"TRANSACTION", "SESSION"})
    void advisoryLocksOfAClientKilledInATransactionAreReleased(Target target) throws Exception {
        conformance.check(
                "advisory lock in transaction",
                target,
                t -> advisoryLockOfKilledClient(
                        t, "BEGIN; SELECT pg_advisory_lock(4242); SELECT pg_advisory_xact_lock(4243)"));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void sessionAdvisoryLockOfAClientKilledWhileIdleIsReleased(Target target) throws Exception {
        conformance.check(
                "advisory lock while idle",
                target,
                t -> advisoryLockOfKilledClient(t, "SELECT pg_advisory_lock(4242)"));
    }

    @Test
    void sessionAdvisoryLockOfAClientKilledWhileIdleIsReleasedInTransactionMode() throws Exception {
        conformance.check(
                "advisory lock while idle",
                Target.TRANSACTION,
                t -> advisoryLockOfKilledClient(t, "SELECT pg_advisory_lock(4242)"));
    }

    private List<String> advisoryLockOfKilledClient(Target t, String takeLocks) throws Exception {
        releaseAdvisoryLocks();
        List<String> out = new ArrayList<>();
        Endpoint e = fx.endpoint(t, "trust_user");
        try (RawClient c = new RawClient(e.host(), e.port())) {
            List<RawClient.Msg> login = c.login(e.user(), e.database(), null);
            out.add("login: " + login.get(login.size() - 1).type());
            c.send(RawClient.query(takeLocks));
            List<RawClient.Msg> reply = c.readUntilReady();
            out.add("locks taken, transaction status "
                    + (char) reply.get(reply.size() - 1).body()[0]);
            out.add("advisory locks held: " + advisoryLocks());
            c.socket.setSoLinger(true, 0); // a reset, as when the client's process is killed
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        int held;
        while ((held = advisoryLocks()) > 0 && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        out.add("advisory locks held 5s after the kill: " + held);
        try (Connection c = fx.jdbc(t, USER, "prepareThreshold", "0")) {
            out.add("another client: " + query(c, "SELECT pg_try_advisory_lock(4242) AS got"));
            out.add("another client: " + query(c, "SELECT pg_advisory_unlock(4242) AS unlocked"));
        }
        releaseAdvisoryLocks();
        return out;
    }

    /** Ends whatever session still holds the scenario's locks, so that one failure does not block later scenarios. */
    private static void releaseAdvisoryLocks() throws SQLException {
        try (Connection c = fx.superuser();
                Statement s = c.createStatement()) {
            s.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                    + " AND classid = 0 AND objid IN (4242, 4243)");
        }
    }

    private static int advisoryLocks() throws SQLException {
        try (Connection c = fx.superuser();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                        + " AND classid = 0 AND objid IN (4242, 4243) AND granted")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    // ------------------------------------------------------------------ LISTEN / NOTIFY

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void listenerReceivesNotifications(Target target) throws Exception {
        conformance.check("listen", target, this::listen);
    }

    @Test
    void listenerReceivesNotificationsInTransactionMode() throws Exception {
        conformance.check("listen", Target.TRANSACTION, this::listen);
    }

    private List<String> listen(Target t) throws Exception {
        List<String> out = new ArrayList<>();
        try (Connection listener = fx.jdbc(t, USER, "prepareThreshold", "0");
                Connection notifier = fx.jdbc(t, USER, "prepareThreshold", "0")) {
            out.add("listen: " + execute(listener, "LISTEN conf_channel"));
            out.add("notify: " + execute(notifier, "NOTIFY conf_channel, 'one'"));
            out.add("notify: " + query(notifier, "SELECT pg_notify('conf_channel', 'two') AS sent"));
            out.add("received: " + notifications(listener, 2, 5000));
            // Notifications also arrive while the listener is busy with its own queries.
            out.add("notify: " + execute(notifier, "NOTIFY conf_channel, 'three'"));
            out.add("listener query: " + query(listener, "SELECT 'busy' AS b"));
            out.add("received: " + notifications(listener, 1, 5000));
            // Held while the listener is inside a transaction, delivered when it commits.
            listener.setAutoCommit(false);
            out.add("listener in transaction: " + query(listener, "SELECT 'in transaction' AS t"));
            out.add("notify: " + execute(notifier, "NOTIFY conf_channel, 'during transaction'"));
            out.add("listener in transaction: " + query(listener, "SELECT 'still in transaction' AS t"));
            out.add("received in transaction: " + notifications(listener, 1, 300));
            listener.commit();
            listener.setAutoCommit(true);
            out.add("received after commit: " + notifications(listener, 1, 5000));
            // Channel names: unquoted ones are folded to lower case, quoted ones kept.
            out.add("listen: " + execute(listener, "LISTEN Conf_Folded"));
            out.add("listen: " + execute(listener, "LISTEN \"Conf_Quoted\""));
            out.add("notify: " + execute(notifier, "NOTIFY conf_folded, 'folded'"));
            out.add("notify: " + execute(notifier, "NOTIFY \"Conf_Quoted\", 'quoted'"));
            out.add("notify: " + execute(notifier, "NOTIFY conf_quoted, 'not quoted'"));
            out.add("received: " + notifications(listener, 3, 1000));
            out.add("unlisten: " + execute(listener, "UNLISTEN conf_channel"));
            out.add("notify: " + execute(notifier, "NOTIFY conf_channel, 'after unlisten of it'"));
            out.add("notify: " + execute(notifier, "NOTIFY conf_folded, 'still listened'"));
            out.add("received: " + notifications(listener, 2, 1000));
            out.add("unlisten: " + execute(listener, "UNLISTEN *"));
            // What the pooler does not recognise goes to a server, which reports the error.
            out.add("listen: " + execute(listener, "LISTEN conf_channel extra"));
            out.add("notify: " + execute(notifier, "NOTIFY conf_folded, 'four'"));
            out.add("received after unlisten: " + notifications(listener, 1, 500));
        }
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void listenInsideATransactionTakesEffectAtCommit(Target target) throws Exception {
        conformance.check("listen in transaction", target, this::listenInTransaction);
    }

    @Test
    void listenInsideATransactionTakesEffectAtCommitInTransactionMode() throws Exception {
        conformance.check("listen in transaction", Target.TRANSACTION, this::listenInTransaction);
    }

    private List<String> listenInTransaction(Target t) throws Exception {
        List<String> out = new ArrayList<>();
        for (String mode : List.of("extended", "simple")) {
            try (Connection listener = fx.jdbc(t, USER, "prepareThreshold", "0", "preferQueryMode", mode);
                    Connection notifier = fx.jdbc(t, USER, "prepareThreshold", "0")) {
                out.add("mode " + mode);
                listener.setAutoCommit(false);
                out.add("listen: " + execute(listener, "LISTEN conf_tx"));
                out.add("notify: " + execute(notifier, "NOTIFY conf_tx, 'before commit'"));
                out.add("received in transaction: " + notifications(listener, 1, 300));
                listener.commit();
                out.add("notify: " + execute(notifier, "NOTIFY conf_tx, 'after commit'"));
                // Had 'before commit' come through, it would be the first one here.
                out.add("received after commit: " + notifications(listener, 1, 3000));
                // Rolled back: the LISTEN never happened, and neither did the UNLISTEN.
                out.add("listen: " + execute(listener, "LISTEN conf_tx_rolled_back"));
                out.add("unlisten: " + execute(listener, "UNLISTEN conf_tx"));
                listener.rollback();
                out.add("notify: " + execute(notifier, "NOTIFY conf_tx_rolled_back, 'not listened'"));
                out.add("notify: " + execute(notifier, "NOTIFY conf_tx, 'still listened'"));
                out.add("received after rollback: " + notifications(listener, 1, 3000));
                // In a failed transaction the server refuses it; a failed transaction's COMMIT rolls back.
                out.add("listen: " + execute(listener, "LISTEN conf_tx_failed"));
                out.add("failing query: " + query(listener, "SELECT 1/0 AS x"));
                out.add("listen in failed transaction: " + execute(listener, "LISTEN conf_tx_failed_too"));
                listener.commit();
                out.add("notify: " + execute(notifier, "NOTIFY conf_tx_failed, 'a'"));
                out.add("notify: " + execute(notifier, "NOTIFY conf_tx_failed_too, 'b'"));
                out.add("received after failed commit: " + notifications(listener, 1, 500));
                // A LISTEN before a savepoint survives a rollback to it.
                out.add("listen: " + execute(listener, "LISTEN conf_tx_savepoint"));
                java.sql.Savepoint sp = listener.setSavepoint("sp");
                out.add("failing query: " + query(listener, "SELECT 1/0 AS x"));
                listener.rollback(sp);
                listener.commit();
                out.add("notify: " + execute(notifier, "NOTIFY conf_tx_savepoint, 'kept'"));
                out.add("received after savepoint: " + notifications(listener, 1, 3000));
                out.add("unlisten: " + execute(listener, "UNLISTEN *"));
                listener.commit();
                out.add("notify: " + execute(notifier, "NOTIFY conf_tx, 'after unlisten'"));
                out.add("received after unlisten: " + notifications(listener, 1, 500));
            }
        }
        return out;
    }

    private static String notifications(Connection c, int expected, long timeoutMillis) throws SQLException {
        List<String> got = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (got.size() < expected) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (left <= 0) {
                break;
            }
            PGNotification[] batch = c.unwrap(PGConnection.class).getNotifications((int) left);
            if (batch != null) {
                for (PGNotification n : batch) {
                    got.add(n.getName() + ":" + n.getParameter());
                }
            }
        }
        return got.isEmpty() ? "nothing" : String.join(", ", got);
    }

    // ------------------------------------------------------------------ cancel while waiting for a server

    @Test
    void queryCanceledWhileRunningDirectlyEndsAtOnce() throws Exception {
        assertThat(conformance.check("cancel while queued", Target.DIRECT, this::cancelWhileQueued))
                .containsExactly(
                        "SELECT pg_sleep(3): ERROR 57014",
                        "ended within 2s of being sent",
                        "next query: s:text=after cancel");
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = Target.class,
            names = {"TRANSACTION", "SESSION"})
    void queryCanceledWhileWaitingForAServerEndsAtOnce(Target target) throws Exception {
        conformance.check("cancel while queued", target, this::cancelWhileQueued);
    }

    /**
     * Every server of the pool is busy, so the client's query waits in pggat's queue; directly it would run. Either
     * way the client cancels it after half a second and must get 57014 at once, not when a server frees up.
     */
    private List<String> cancelWhileQueued(Target t) throws Exception {
        List<String> out = new ArrayList<>();
        List<Connection> holders = new ArrayList<>();
        // Logged in before the pool is full: only its query is to wait.
        try (Connection c = fx.jdbc(t, USER, "prepareThreshold", "0");
                Statement s = c.createStatement()) {
            int hold = t == Target.DIRECT ? 0 : fx.poolSize(t);
            for (int i = 0; i < hold; i++) {
                Connection h = fx.jdbc(t, USER, "prepareThreshold", "0");
                holders.add(h);
                h.setAutoCommit(false);
                query(h, "SELECT 1");
            }
            // The holders leave after 2.5 s (closing, since session mode keeps a server until then), so that a
            // queued query that ignored the cancel still ends.
            CompletableFuture<Void> letGo = CompletableFuture.runAsync(() -> {
                try {
                    Thread.sleep(2500);
                    closeAll(holders);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            CompletableFuture<Void> canceller = CompletableFuture.runAsync(() -> {
                try {
                    Thread.sleep(500);
                    s.cancel();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            long start = System.nanoTime();
            String r = attempt(() -> {
                s.execute("SELECT pg_sleep(3)");
                return "completed";
            });
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            canceller.join();
            letGo.join();
            out.add("SELECT pg_sleep(3): " + r);
            out.add(ms < 2000 ? "ended within 2s of being sent" : "ended after " + ms / 1000 + "s");
            out.add("next query: " + query(c, "SELECT 'after cancel' AS s"));
        } finally {
            closeAll(holders);
        }
        return out;
    }

    private static synchronized void closeAll(List<Connection> connections) throws SQLException {
        for (Connection c : connections) {
            c.close();
        }
    }

    // ------------------------------------------------------------------ cancel while the server changes hands

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void cancelsOfOneClientNeverCancelAnotherClientsQuery(Target target) throws Exception {
        conformance.check("cancel during reassignment", target, this::cancelDuringReassignment);
    }

    @Test
    void cancelsOfOneClientNeverCancelAnotherClientsQueryInTransactionMode() throws Exception {
        conformance.check("cancel during reassignment", Target.TRANSACTION, this::cancelDuringReassignment);
    }

    /**
     * One client runs short queries while it keeps sending cancel requests; another runs short sleeps. In
     * transaction mode both share one server, which changes hands after every query, so a cancel that pggat
     * forwards late lands on the other client's query. PostgreSQL never cancels a query of another session.
     */
    private List<String> cancelDuringReassignment(Target t) throws Exception {
        List<String> out = new ArrayList<>();
        List<Connection> holders = new ArrayList<>();
        try {
            int hold = t == Target.TRANSACTION ? fx.poolSize(t) - 1 : 0;
            for (int i = 0; i < hold; i++) {
                Connection h = fx.jdbc(t, USER, "prepareThreshold", "0");
                h.setAutoCommit(false);
                query(h, "SELECT 1");
                holders.add(h);
            }
            try (Connection a = fx.jdbc(t, USER, "prepareThreshold", "0");
                    Connection b = fx.jdbc(t, USER, "prepareThreshold", "0")) {
                AtomicBoolean done = new AtomicBoolean();
                AtomicInteger cancelsSent = new AtomicInteger();
                CompletableFuture<Void> canceller = CompletableFuture.runAsync(() -> {
                    try {
                        while (!done.get()) {
                            a.unwrap(org.postgresql.core.BaseConnection.class).cancelQuery();
                            cancelsSent.incrementAndGet();
                            Thread.sleep(3);
                        }
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
                CompletableFuture<Integer> busy = CompletableFuture.supplyAsync(() -> {
                    int n = 0;
                    while (!done.get()) {
                        query(a, "SELECT 1");
                        n++;
                    }
                    return n;
                });
                int canceled = 0;
                List<String> otherErrors = new ArrayList<>();
                for (int i = 0; i < 100; i++) {
                    String r = query(b, "SELECT pg_sleep(0.02) AS slept");
                    if (r.equals("ERROR 57014")) {
                        canceled++;
                    } else if (r.startsWith("ERROR")) {
                        otherErrors.add(r);
                    }
                }
                done.set(true);
                canceller.get(30, TimeUnit.SECONDS);
                int busyQueries = busy.get(30, TimeUnit.SECONDS);
                assertThat(cancelsSent.get()).as("cancel requests sent").isGreaterThan(20);
                assertThat(busyQueries).as("queries of the canceling client").isGreaterThan(20);
                out.add("queries of the other client canceled: " + canceled + " of 100");
                out.add("other errors of the other client: " + otherErrors);
                out.add("next query of the canceling client: " + query(a, "SELECT 'still usable' AS s"));
            }
        } finally {
            for (Connection h : holders) {
                h.close();
            }
        }
        return out;
    }
}
