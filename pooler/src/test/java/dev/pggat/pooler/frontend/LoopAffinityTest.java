package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.testing.PoolerFixture;
import java.sql.Connection;
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

/**
 * One thread per transaction: a server granted to a client on another event loop moves to the client's loop, so
 * none of its messages is handed across threads. Two event loops (the fixture's), one server (pool size 1), so
 * that clients on both loops must share it.
 */
class LoopAffinityTest {
    static PoolerFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = PoolerFixture.start(1, "timeouts:\n  queryWait: 20s\n");
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    private static FrontendContext context() {
        return fx.pooler.frontend();
    }

    /** Connects and returns the connection with the session the pooler made for it. */
    private static Object[] connect() throws SQLException {
        Set<ClientSession> before = new HashSet<>(context().sessions());
        Connection c = fx.connect("appdb", "md5_user");
        Set<ClientSession> after = new HashSet<>(context().sessions());
        after.removeAll(before);
        assertThat(after).as("one new session").hasSize(1);
        return new Object[] {c, after.iterator().next()};
    }

    private static int pid(Connection c) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    @Test
    void aServerGrantedAcrossLoopsMovesToTheClientsLoopAndNoMessageCrosses() throws Exception {
        List<Connection> open = new ArrayList<>();
        try {
            Object[] a = connect();
            open.add((Connection) a[0]);
            Object[] b = connect();
            open.add((Connection) b[0]);
            // Accepted connections are spread over the loops in turn; take a third if two landed on one loop.
            if (((ClientSession) a[1]).loop == ((ClientSession) b[1]).loop) {
                b = connect();
                open.add((Connection) b[0]);
            }
            Connection ca = (Connection) a[0];
            Connection cb = (Connection) b[0];
            ClientSession sa = (ClientSession) a[1];
            ClientSession sb = (ClientSession) b[1];
            assertThat(sa.loop).isNotSameAs(sb.loop);

            int first = pid(ca);
            long handedBefore = context().serverFramesHandedOverTotal.sum();
            long movesBefore = context().serverMovesTotal.sum();
            // The pool's one server sits idle on a's loop; b gets it, in a transaction that stays open.
            cb.setAutoCommit(false);
            assertThat(pid(cb)).as("the pool has one server").isEqualTo(first);
            ServerConnection s = sb.server;
            assertThat(s).as("b holds the server inside its transaction").isNotNull();
            assertThat(s.eventLoop()).as("the server runs on b's loop").isSameAs(sb.loop);
            assertThat(pid(cb)).isEqualTo(first);
            cb.commit();
            cb.setAutoCommit(true);
            assertThat(context().serverMovesTotal.sum() - movesBefore).isEqualTo(1);
            assertThat(context().serverFramesHandedOverTotal.sum() - handedBefore)
                    .as("no server message handed across threads")
                    .isZero();
            List<ServerConnection> servers = sb.checkout.pool.servers();
            assertThat(servers).hasSize(1);
            assertThat(servers.get(0).eventLoop())
                    .as("it stays on b's loop after the release")
                    .isSameAs(sb.loop);

            // Without moving (the measurement switch), the same grant hands every server message across.
            context().moveServers = false;
            try {
                assertThat(pid(ca)).isEqualTo(first);
                assertThat(context().serverFramesHandedOverTotal.sum() - handedBefore)
                        .as("RowDescription, DataRow, CommandComplete, ReadyForQuery at least")
                        .isGreaterThanOrEqualTo(4);
                assertThat(servers.get(0).eventLoop()).isSameAs(sb.loop);
            } finally {
                context().moveServers = true;
            }
        } finally {
            for (Connection c : open) {
                c.close();
            }
        }
    }

    @Test
    void clientsOnBothLoopsSharingOneServerGetTheirOwnAnswers() throws Exception {
        int clients = 6;
        int rounds = 150;
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        long movesBefore = context().serverMovesTotal.sum();
        try {
            List<Future<Integer>> results = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                int id = i;
                results.add(pool.submit(() -> {
                    int ok = 0;
                    try (Connection c = fx.connect("appdb", "md5_user");
                            Statement st = c.createStatement()) {
                        for (int j = 0; j < rounds; j++) {
                            String tag = id + ":" + j;
                            try (ResultSet rs =
                                    st.executeQuery("SELECT '" + tag + "', g FROM generate_series(1, 3) g")) {
                                int rows = 0;
                                while (rs.next()) {
                                    assertThat(rs.getString(1)).isEqualTo(tag);
                                    rows++;
                                }
                                assertThat(rows).isEqualTo(3);
                            }
                            ok++;
                        }
                    }
                    return ok;
                }));
            }
            for (Future<Integer> f : results) {
                assertThat(f.get(120, TimeUnit.SECONDS)).isEqualTo(rounds);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(context().serverMovesTotal.sum() - movesBefore)
                .as("clients on both loops took turns with the one server")
                .isPositive();
        try (Connection c = fx.connect("appdb", "md5_user")) {
            pid(c);
        }
    }
}
