package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.testing.PoolerFixture;
import dev.pggat.pooler.testing.RoundRobinRelay;
import java.io.DataOutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.postgresql.PGConnection;

/** Two pooler replicas in one JVM, as two pods behind one Service: a cancel that lands on the wrong one. */
class PeerCancelTest {
    private PoolerFixture a;
    private PoolerFixture b;

    @BeforeEach
    void start() throws Exception {
        a = PoolerFixture.start(4, "");
        b = PoolerFixture.start(4, "");
        a.pooler.cancelRegistry().setInstance(1);
        b.pooler.cancelRegistry().setInstance(2);
    }

    @AfterEach
    void stop() {
        if (a != null) {
            a.close();
        }
        if (b != null) {
            b.close();
        }
    }

    private static InetSocketAddress address(PoolerFixture f) {
        return InetSocketAddress.createUnresolved("127.0.0.1", f.port());
    }

    private void peerBoth() {
        Map<Integer, InetSocketAddress> peers = Map.of(1, address(a), 2, address(b));
        a.pooler.cancelRegistry().setPeers(peers);
        b.pooler.cancelRegistry().setPeers(peers);
    }

    private static Connection connect(int port) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", "scram_user");
        p.setProperty("password", "scram_user-secret");
        p.setProperty("assumeMinServerVersion", "12");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/appdb", p);
    }

    private static void sendCancel(int port, int processId, int secretKey) throws Exception {
        try (Socket s = new Socket("127.0.0.1", port)) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            out.writeInt(16);
            out.writeInt(80877102);
            out.writeInt(processId);
            out.writeInt(secretKey);
            out.flush();
        }
    }

    @Test
    void statementCancelThatLandsOnTheOtherPoolerStillCancelsPgSleep() throws Exception {
        peerBoth();
        try (RoundRobinRelay service = new RoundRobinRelay(List.of(
                        new InetSocketAddress("127.0.0.1", a.port()), new InetSocketAddress("127.0.0.1", b.port())));
                Connection c = connect(service.port());
                Statement s = c.createStatement()) {
            assertThat(c.unwrap(PGConnection.class).getBackendPID() >>> 24)
                    .as("the session is on pooler A, whose keys carry instance id 1")
                    .isEqualTo(1);
            CompletableFuture<Void> cancel = CompletableFuture.runAsync(() -> {
                try {
                    Thread.sleep(500);
                    // The relay sends this second connection to pooler B.
                    s.cancel();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            long start = System.nanoTime();
            assertThatThrownBy(() -> s.execute("SELECT pg_sleep(20)"))
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("57014"));
            assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start))
                    .isLessThan(10);
            cancel.get(5, TimeUnit.SECONDS);
            assertThat(b.pooler.cancelRegistry().forwardedTotal.sum()).isEqualTo(1);
            assertThat(a.pooler.cancelRegistry().forwardedTotal.sum()).isZero();
            try (ResultSet rs = s.executeQuery("SELECT 8")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(8);
            }
        }
    }

    @Test
    void cancelForAnInstanceWithNoKnownPeerIsDroppedAndTheQueryRunsToTheEnd() throws Exception {
        // B knows no peers: it cannot tell where instance 1 runs.
        a.pooler.cancelRegistry().setPeers(Map.of(2, address(b)));
        try (RoundRobinRelay service = new RoundRobinRelay(List.of(
                        new InetSocketAddress("127.0.0.1", a.port()), new InetSocketAddress("127.0.0.1", b.port())));
                Connection c = connect(service.port());
                Statement s = c.createStatement()) {
            CompletableFuture<Void> cancel = CompletableFuture.runAsync(() -> {
                try {
                    Thread.sleep(300);
                    s.cancel();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            try (ResultSet rs = s.executeQuery("SELECT pg_sleep(1.5), 7")) {
                rs.next();
                assertThat(rs.getInt(2)).isEqualTo(7);
            }
            cancel.get(5, TimeUnit.SECONDS);
            assertThat(b.pooler.cancelRegistry().forwardedTotal.sum()).isZero();
        }
    }

    @Test
    void poolersWhosePeerListsDisagreeForwardAKeyOnlyOnceEach() throws Exception {
        // Each believes instance 3 is the other one, as while an id moves between pods.
        a.pooler.cancelRegistry().setPeers(Map.of(3, address(b)));
        b.pooler.cancelRegistry().setPeers(Map.of(3, address(a)));
        sendCancel(a.port(), (3 << 24) | 42, 12345);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (b.pooler.cancelRegistry().forwardedTotal.sum() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        Thread.sleep(300);
        assertThat(a.pooler.cancelRegistry().forwardedTotal.sum()).isEqualTo(1);
        assertThat(b.pooler.cancelRegistry().forwardedTotal.sum()).isEqualTo(1);
    }

    @Test
    void cancelForThisPoolersOwnInstanceIsNeverForwarded() throws Exception {
        a.pooler.cancelRegistry().setPeers(Map.of(2, address(b)));
        sendCancel(a.port(), (1 << 24) | 999_999, 1);
        Thread.sleep(300);
        assertThat(a.pooler.cancelRegistry().forwardedTotal.sum()).isZero();
    }

    @Test
    void rejectsPeerIdsOutsideZeroTo126() {
        assertThatThrownBy(() -> a.pooler.cancelRegistry().setPeers(Map.of(127, address(b))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("0-126");
        assertThatThrownBy(() -> a.pooler.cancelRegistry().setInstance(128))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("0-127");
    }
}
