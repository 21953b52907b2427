package dev.pggat.pooler.listen;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.testing.PoolerFixture;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.util.PSQLException;

/**
 * LISTEN in transaction mode through the relay: one listening server connection per (database, user) instead of
 * a pinned server per listening client, against a real PostgreSQL.
 */
class ListenRelayTest {
    private static final int POOL = 2;
    /** Only this class uses md5_user, so its rows in pg_stat_activity are this pooler's. */
    private static final String USER = "md5_user";

    static PoolerFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = PoolerFixture.start(POOL, "timeouts:\n  queryWait: 20s\n");
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    @AfterEach
    void relayIsLeftWithoutChannels() throws Exception {
        // Each test closes its clients: their subscriptions go with them.
        waitFor("no channel left on the relay", () -> fx.pooler.frontend().listenRelays().relays().stream()
                .allMatch(r -> r.channels() == 0 && r.clients() == 0));
    }

    private static ListenRelay relay() {
        return fx.pooler.frontend().listenRelays().relays().stream()
                .filter(r -> r.user().equals(USER) && r.database().equals("appdb"))
                .findFirst()
                .orElseThrow();
    }

    private static Connection client(String... props) throws SQLException {
        return fx.connect("appdb", USER, USER + "-secret", props);
    }

    private static void execute(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    private static int backendPid(Connection c) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    /** Notifications the client gets within {@code millis}, as channel:payload, stopping once it has {@code n}. */
    private static List<String> received(Connection c, int n, long millis) throws SQLException {
        List<String> got = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (got.size() < n) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (left <= 0) {
                break;
            }
            PGNotification[] batch = c.unwrap(PGConnection.class).getNotifications((int) left);
            if (batch != null) {
                for (PGNotification x : batch) {
                    got.add(x.getName() + ":" + x.getParameter());
                }
            }
        }
        return got;
    }

    private static List<String> serverQueries() throws SQLException {
        List<String> out = new ArrayList<>();
        try (Connection c = fx.superuser();
                PreparedStatement ps = c.prepareStatement("SELECT query FROM pg_stat_activity"
                        + " WHERE usename = ? AND datname = 'appdb' AND backend_type = 'client backend'")) {
            ps.setString(1, USER);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
            }
        }
        return out;
    }

    private static int relayBackendPid(String channelSql) throws SQLException {
        try (Connection c = fx.superuser();
                PreparedStatement ps =
                        c.prepareStatement("SELECT pid FROM pg_stat_activity WHERE usename = ? AND query = ?")) {
            ps.setString(1, USER);
            ps.setString(2, channelSql);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getInt(1) : 0;
            }
        }
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

    private static void waitFor(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("waiting for: " + what).isLessThan(deadline);
            Thread.sleep(20);
        }
    }

    @Test
    void hundredListenersOnAPoolOfTwoAllGetANotificationWithItsPayload() throws Exception {
        List<Connection> listeners = new ArrayList<>();
        long pinnedBefore = fx.pooler.frontend().pins().getOrDefault("listen", 0L);
        long relayedBefore = fx.pooler.frontend().listenRelays().relays().stream()
                .mapToLong(ListenRelay::notificationsRelayed)
                .sum();
        try {
            for (int i = 0; i < 100; i++) {
                // Half use the extended protocol (pgjdbc's default), half the simple Query protocol.
                Connection c = i % 2 == 0 ? client() : client("preferQueryMode", "simple");
                execute(c, i % 3 == 0 ? "LISTEN Relay_Many" : "listen \"relay_many\";");
                listeners.add(c);
            }
            assertThat(relay().clients()).isEqualTo(100);
            assertThat(relay().channels()).isEqualTo(1);
            assertThat(relay().connections()).isEqualTo(1);

            try (Connection notifier = client()) {
                execute(notifier, "NOTIFY relay_many, 'payload for all'");
                for (Connection c : listeners) {
                    assertThat(received(c, 1, 5000)).containsExactly("relay_many:payload for all");
                }
                List<String> queries = serverQueries();
                assertThat(queries)
                        .as("server connections: the relay and at most the pool's")
                        .hasSizeLessThanOrEqualTo(POOL + 1)
                        .containsOnlyOnce("LISTEN \"relay_many\"");
            }
            assertThat(relay().notificationsRelayed() - relayedBefore).isEqualTo(100);
            String labels = "{database=\"appdb\",user=\"" + USER + "\"}";
            assertThat(metrics())
                    .contains("pggat_listen_relay_clients" + labels + " 100.0")
                    .contains("pggat_listen_relay_channels" + labels + " 1.0")
                    .contains("pggat_listen_relay_connections" + labels + " 1.0")
                    .contains("pggat_listen_relay_notifications_total" + labels)
                    .contains("pggat_listen_relay_reconnects_total" + labels);
            assertThat(fx.pooler.frontend().pins().getOrDefault("listen", 0L))
                    .as("clients pinned by LISTEN")
                    .isEqualTo(pinnedBefore);
        } finally {
            for (Connection c : listeners) {
                c.close();
            }
        }
    }

    @Test
    void notificationSentDuringAListenersTransactionArrivesAfterItsCommit() throws Exception {
        try (Connection listener = client();
                Connection notifier = client()) {
            execute(listener, "LISTEN relay_tx");
            listener.setAutoCommit(false);
            execute(listener, "SELECT 1");
            execute(notifier, "NOTIFY relay_tx, 'during'");
            Thread.sleep(300);
            execute(listener, "SELECT 2");
            assertThat(received(listener, 1, 300)).as("inside the transaction").isEmpty();
            listener.commit();
            assertThat(received(listener, 1, 5000)).containsExactly("relay_tx:during");
            listener.setAutoCommit(true);
            execute(notifier, "NOTIFY relay_tx, 'while idle'");
            assertThat(received(listener, 1, 5000)).containsExactly("relay_tx:while idle");
        }
    }

    @Test
    void unlistenStopsDeliveryOfThatChannelAndUnlistenStarOfAll() throws Exception {
        try (Connection listener = client();
                Connection notifier = client()) {
            execute(listener, "LISTEN relay_a");
            execute(listener, "LISTEN relay_b");
            execute(listener, "UNLISTEN relay_a");
            execute(notifier, "NOTIFY relay_a, 'a'");
            execute(notifier, "NOTIFY relay_b, 'b'");
            assertThat(received(listener, 2, 1000)).containsExactly("relay_b:b");
            execute(listener, "UNLISTEN *");
            execute(notifier, "NOTIFY relay_b, 'b again'");
            assertThat(received(listener, 1, 500)).isEmpty();
            waitFor("the relay stops listening", () -> relay().channels() == 0);
        }
    }

    @Test
    void quotedChannelNamesKeepTheirCaseAndUnquotedOnesAreFolded() throws Exception {
        try (Connection folded = client();
                Connection quoted = client();
                Connection notifier = client()) {
            execute(folded, "LISTEN MixedCase");
            execute(quoted, "LISTEN \"MixedCase\"");
            execute(notifier, "NOTIFY \"MixedCase\", 'quoted'");
            execute(notifier, "NOTIFY mixedcase, 'folded'");
            assertThat(received(folded, 2, 1000)).containsExactly("mixedcase:folded");
            assertThat(received(quoted, 2, 1000)).containsExactly("MixedCase:quoted");
        }
    }

    @Test
    void relayKilledWithPgTerminateBackendReconnectsAndListensAgain() throws Exception {
        try (Connection listener = client();
                Connection notifier = client()) {
            execute(listener, "LISTEN relay_kill");
            int before = relayBackendPid("LISTEN \"relay_kill\"");
            assertThat(before).isNotZero();
            long reconnects = relay().reconnects();
            try (Connection su = fx.superuser();
                    Statement s = su.createStatement()) {
                s.execute("SELECT pg_terminate_backend(" + before + ")");
            }
            waitFor("the relay connects again", () -> relay().reconnects() > reconnects);
            // Notifications sent while the relay was away are lost: keep sending until one gets through.
            List<String> got = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (got.isEmpty() && System.nanoTime() < deadline) {
                execute(notifier, "NOTIFY relay_kill, 'after'");
                got = received(listener, 1, 200);
            }
            assertThat(got).startsWith("relay_kill:after");
            int after = relayBackendPid("LISTEN \"relay_kill\"");
            assertThat(after).isNotZero().isNotEqualTo(before);
            assertThat(received(listener, 10, 300)).allMatch(n -> n.equals("relay_kill:after"));
            execute(listener, "SELECT 1"); // the client itself never noticed
        }
    }

    @Test
    void clientsThatLeaveUnsubscribeAndTheLastOneLetsTheRelayConnectionClose() throws Exception {
        Connection a = client();
        Connection b = client();
        execute(a, "LISTEN relay_leave");
        execute(b, "LISTEN relay_leave");
        execute(b, "LISTEN relay_leave_too");
        assertThat(relay().clients()).isEqualTo(2);
        assertThat(relay().channels()).isEqualTo(2);
        b.close();
        waitFor("b unsubscribed", () -> relay().clients() == 1 && relay().channels() == 1);
        try (Connection notifier = client()) {
            execute(notifier, "NOTIFY relay_leave, 'still here'");
            assertThat(received(a, 1, 5000)).containsExactly("relay_leave:still here");
        }
        a.close();
        waitFor("a unsubscribed", () -> relay().clients() == 0 && relay().channels() == 0);
        waitFor("the relay connection closed after its linger", () -> relay().connections() == 0);
        waitFor("the relay's server is gone", () -> {
            try {
                return serverQueries().stream().noneMatch(q -> q.contains("LISTEN"));
            } catch (SQLException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    @Test
    void discardAllEndsTheClientsSubscriptions() throws Exception {
        try (Connection listener = client();
                Connection notifier = client()) {
            execute(listener, "LISTEN relay_discard");
            execute(listener, "DISCARD ALL");
            waitFor("the relay stops listening", () -> relay().channels() == 0);
            execute(notifier, "NOTIFY relay_discard, 'x'");
            assertThat(received(listener, 1, 500)).isEmpty();
        }
    }

    private static long listenPins() {
        return fx.pooler.frontend().pins().getOrDefault("listen", 0L);
    }

    /** Rows of this user's server connections: query text and state, as "state: query". */
    private static List<String> serverSessions() throws SQLException {
        List<String> out = new ArrayList<>();
        try (Connection c = fx.superuser();
                PreparedStatement ps = c.prepareStatement("SELECT state || ': ' || query FROM pg_stat_activity"
                        + " WHERE usename = ? AND datname = 'appdb' AND backend_type = 'client backend'")) {
            ps.setString(1, USER);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
            }
        }
        return out;
    }

    @Test
    void listenInATransactionTakesEffectAtCommitWithoutPinningAServer() throws Exception {
        // Extended protocol (pgjdbc sends BEGIN in the LISTEN's own batch) and simple protocol (BEGIN ahead of it).
        for (String mode : List.of("extended", "simple")) {
            String channel = "relay_commit_" + mode;
            long pinnedBefore = listenPins();
            try (Connection listener = client("preferQueryMode", mode);
                    Connection notifier = client()) {
                listener.setAutoCommit(false);
                execute(listener, "LISTEN " + channel);
                execute(listener, "SELECT 1");
                assertThat(relay().channelNames()).as(mode + ": before COMMIT").doesNotContain(channel);
                execute(notifier, "NOTIFY " + channel + ", 'before commit'");
                listener.commit();
                // The COMMIT returned: the relay listens already, so a NOTIFY sent now is delivered.
                execute(notifier, "NOTIFY " + channel + ", 'after commit'");
                assertThat(received(listener, 1, 3000)).as(mode).containsExactly(channel + ":after commit");
                assertThat(listenPins()).as(mode + ": clients pinned by LISTEN").isEqualTo(pinnedBefore);
                assertThat(serverSessions())
                        .as(mode + ": the client's LISTEN never reached a server, and no server stays in its"
                                + " transaction")
                        .noneMatch(q -> q.endsWith("LISTEN " + channel))
                        .noneMatch(q -> q.startsWith("idle in transaction"));
                execute(listener, "SELECT 2");
                listener.commit();
                execute(notifier, "NOTIFY " + channel + ", 'later'");
                assertThat(received(listener, 1, 3000)).as(mode).containsExactly(channel + ":later");
            }
        }
    }

    @Test
    void listenInATransactionThatRollsBackIsNeverDelivered() throws Exception {
        long pinnedBefore = listenPins();
        try (Connection listener = client();
                Connection notifier = client()) {
            listener.setAutoCommit(false);
            execute(listener, "LISTEN relay_rolled_back");
            listener.rollback();
            // A failed transaction's COMMIT is a rollback too.
            execute(listener, "LISTEN relay_failed_commit");
            assertThatThrownBy(() -> execute(listener, "SELECT 1/0")).isInstanceOf(PSQLException.class);
            listener.commit(); // the server answers ROLLBACK
            listener.setAutoCommit(true);
            execute(notifier, "NOTIFY relay_rolled_back, 'x'");
            execute(notifier, "NOTIFY relay_failed_commit, 'y'");
            assertThat(received(listener, 1, 500)).isEmpty();
            assertThat(relay().channelNames()).doesNotContain("relay_rolled_back", "relay_failed_commit");
            assertThat(listenPins()).isEqualTo(pinnedBefore);
        }
    }

    @Test
    void unlistenInATransactionThatRollsBackKeepsTheSubscription() throws Exception {
        try (Connection listener = client();
                Connection notifier = client()) {
            execute(listener, "LISTEN relay_kept");
            listener.setAutoCommit(false);
            execute(listener, "UNLISTEN relay_kept");
            listener.rollback();
            execute(notifier, "NOTIFY relay_kept, 'still listening'");
            assertThat(received(listener, 1, 3000)).containsExactly("relay_kept:still listening");
            execute(listener, "UNLISTEN *");
            listener.commit();
            execute(notifier, "NOTIFY relay_kept, 'after unlisten'");
            assertThat(received(listener, 1, 500)).isEmpty();
        }
    }

    @Test
    void listenBeforeASavepointSurvivesARollbackToIt() throws Exception {
        long pinnedBefore = listenPins();
        try (Connection listener = client();
                Connection notifier = client()) {
            listener.setAutoCommit(false);
            execute(listener, "LISTEN relay_savepoint");
            java.sql.Savepoint sp = listener.setSavepoint("sp");
            assertThatThrownBy(() -> execute(listener, "SELECT 1/0")).isInstanceOf(PSQLException.class);
            listener.rollback(sp);
            listener.commit();
            execute(notifier, "NOTIFY relay_savepoint, 'kept'");
            assertThat(received(listener, 1, 3000)).containsExactly("relay_savepoint:kept");
            assertThat(listenPins()).isEqualTo(pinnedBefore);
        }
    }

    @Test
    void listenInAnAbortedTransactionGets25P02AndPinsNothing() throws Exception {
        long pinnedBefore = listenPins();
        try (Connection listener = client("preferQueryMode", "simple")) {
            listener.setAutoCommit(false);
            assertThatThrownBy(() -> execute(listener, "SELECT 1/0")).isInstanceOf(PSQLException.class);
            assertThatThrownBy(() -> execute(listener, "LISTEN relay_aborted"))
                    .isInstanceOf(PSQLException.class)
                    .satisfies(
                            e -> assertThat(((PSQLException) e).getSQLState()).isEqualTo("25P02"));
            listener.rollback();
            assertThat(listenPins()).isEqualTo(pinnedBefore);
        }
    }

    @Test
    void listenInAMultiStatementQueryStillPinsTheClientAndDelivers() throws Exception {
        long pinnedBefore = listenPins();
        try (Connection listener = client("preferQueryMode", "simple");
                Connection notifier = client()) {
            execute(listener, "LISTEN relay_multi; SELECT 1");
            assertThat(listenPins()).isEqualTo(pinnedBefore + 1);
            int pid = backendPid(listener);
            execute(notifier, "NOTIFY relay_multi, 'pinned'");
            assertThat(received(listener, 1, 5000)).containsExactly("relay_multi:pinned");
            assertThat(backendPid(listener)).as("still on its own server").isEqualTo(pid);
        }
    }

    @Test
    void aClientListeningToTooManyChannelsGets53400AndStaysUsable() throws Exception {
        String yaml =
                PoolerFixture.config(fx.cluster, POOL, "").replace("pools:\n", "pools:\n  listenRelayMaxChannels: 2\n");
        try (PoolerFixture small = PoolerFixture.startYaml(yaml);
                Connection c = small.connect("appdb", "plain_user", "plain_user-secret")) {
            execute(c, "LISTEN relay_cap_1");
            execute(c, "LISTEN relay_cap_2");
            execute(c, "LISTEN relay_cap_1");
            assertThatThrownBy(() -> execute(c, "LISTEN relay_cap_3"))
                    .isInstanceOf(PSQLException.class)
                    .hasMessageContaining("pools.listenRelayMaxChannels")
                    .satisfies(
                            e -> assertThat(((PSQLException) e).getSQLState()).isEqualTo("53400"));
            execute(c, "UNLISTEN relay_cap_2");
            execute(c, "LISTEN relay_cap_3");
            try (Connection notifier = small.connect("appdb", "plain_user", "plain_user-secret")) {
                execute(notifier, "NOTIFY relay_cap_3, 'fits again'");
            }
            assertThat(received(c, 1, 5000)).containsExactly("relay_cap_3:fits again");
        }
    }

    @Test
    void aCommittedListenTheRelayCannotTakeWarnsAndLeavesTheClientUnsubscribed() throws Exception {
        String yaml =
                PoolerFixture.config(fx.cluster, POOL, "").replace("pools:\n", "pools:\n  listenRelayMaxChannels: 1\n");
        try (PoolerFixture small = PoolerFixture.startYaml(yaml);
                Connection c = small.connect("appdb", "plain_user", "plain_user-secret");
                Connection notifier = small.connect("appdb", "plain_user", "plain_user-secret")) {
            execute(c, "LISTEN relay_warn_1");
            c.setAutoCommit(false);
            execute(c, "LISTEN relay_warn_2");
            c.commit();
            java.sql.SQLWarning w = c.getWarnings();
            assertThat(w == null ? "no warning" : w.getSQLState()).isEqualTo("53400");
            assertThat(w.getMessage()).contains("relay_warn_2").contains("pools.listenRelayMaxChannels");
            c.setAutoCommit(true);
            execute(notifier, "NOTIFY relay_warn_2, 'not subscribed'");
            execute(notifier, "NOTIFY relay_warn_1, 'subscribed'");
            assertThat(received(c, 2, 1000)).containsExactly("relay_warn_1:subscribed");
        }
    }

    @Test
    void aListenWhoseRelayCannotConnectGetsTheServersErrorAndTheClientStaysUsable() throws Exception {
        String user = "plain_user";
        try (PoolerFixture one = PoolerFixture.startYaml(PoolerFixture.config(fx.cluster, 1, ""));
                Connection su = fx.superuser();
                Statement admin = su.createStatement()) {
            waitFor("no server connection of " + user + " left by earlier tests", () -> {
                try (ResultSet rs =
                        admin.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE usename = '" + user + "'")) {
                    rs.next();
                    return rs.getInt(1) == 0;
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            admin.execute("ALTER ROLE " + user + " CONNECTION LIMIT 1");
            try (Connection holder = one.connect("appdb", user, user + "-secret");
                    Connection listener = one.connect("appdb", user, user + "-secret")) {
                // The holder's transaction keeps the role's only connection: the relay cannot log in.
                holder.setAutoCommit(false);
                execute(holder, "SELECT 1");
                assertThatThrownBy(() -> execute(listener, "LISTEN relay_refused"))
                        .isInstanceOf(PSQLException.class)
                        .satisfies(e ->
                                assertThat(((PSQLException) e).getSQLState()).isEqualTo("53300"));
                holder.commit();
                holder.close();
                admin.execute("ALTER ROLE " + user + " CONNECTION LIMIT -1");
                execute(listener, "SELECT 1");
                execute(listener, "LISTEN relay_refused");
                try (Connection notifier = one.connect("appdb", user, user + "-secret")) {
                    execute(notifier, "NOTIFY relay_refused, 'now listened'");
                }
                assertThat(received(listener, 1, 5000)).containsExactly("relay_refused:now listened");
            }
        } finally {
            try (Connection su = fx.superuser();
                    Statement admin = su.createStatement()) {
                admin.execute("ALTER ROLE " + user + " CONNECTION LIMIT -1");
            }
        }
    }

    @Test
    void withTheRelaySwitchedOffListenPinsTheClientAsBefore() throws Exception {
        String yaml = PoolerFixture.config(fx.cluster, POOL, "").replace("pools:\n", "pools:\n  listenRelay: false\n");
        try (PoolerFixture off = PoolerFixture.startYaml(yaml);
                Connection listener = off.connect("appdb", "plain_user", "plain_user-secret");
                Connection notifier = off.connect("appdb", "plain_user", "plain_user-secret")) {
            assertThat(off.pooler.frontend().listenRelays()).isNull();
            execute(listener, "LISTEN relay_off");
            assertThat(off.pooler.frontend().pins()).containsEntry("listen", 1L);
            execute(notifier, "NOTIFY relay_off, 'pinned'");
            assertThat(received(listener, 1, 5000)).containsExactly("relay_off:pinned");
        }
    }
}
