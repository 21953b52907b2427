package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.Admin;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.DatabaseConfig;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.routing.ReplicaRoutingTest.Setup;
import dev.pggat.pooler.testing.TestPostgres;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Query-latency-based replica choice against a real primary and two streaming replicas, each reached through a TCP
 * proxy (so that both pay the same for the extra hops); one proxy can hold every chunk it forwards for a while: while
 * it does, that replica's measured round trips grow and its share of the reads falls; once it stops, the share comes
 * back.
 *
 * <p>Shares, not timings, are asserted, with margins wide enough for a busy machine: the delayed replica gets about
 * one read in twenty or fewer while delayed (asserted: under a quarter) and about half once its latency average
 * has recovered (asserted: over a quarter, in some window within a minute and a half).
 */
class LatencyRoutingTest {
    /** Held per chunk and direction: a round trip through the proxy takes at least twice this. */
    private static final int DELAY_MILLIS = 40;

    private static PostgresCluster cluster;
    private static DelayProxy proxy;
    /** The other replica goes through a proxy too, never delayed: both then pay the same for the hops. */
    private static DelayProxy otherProxy;

    private static Pooler pooler;
    private static int delayedPort;
    private static int otherPort;

    @BeforeAll
    static void start() throws Exception {
        cluster = TestPostgres.replicated();
        PostgresCluster.Node delayed = cluster.replicas().get(0);
        PostgresCluster.Node other = cluster.replicas().get(1);
        delayedPort = delayed.port();
        otherPort = other.port();
        proxy = new DelayProxy(delayed.port());
        otherProxy = new DelayProxy(other.port());
        String yaml = """
                listen:
                  host: 127.0.0.1
                  port: 0
                pools:
                  maxServerConnections: 10
                databases:
                  %s:
                    endpoints:
                      - host: 127.0.0.1
                        port: %d
                        role: primary
                      - host: 127.0.0.1
                        port: %d
                        role: replica
                      - host: 127.0.0.1
                        port: %d
                        role: replica
                    users:
                      %s:
                        password: %s
                        auth: scram-sha-256
                """.formatted(
                        Setup.DB,
                        cluster.primary().port(),
                        proxy.port(),
                        otherProxy.port(),
                        Setup.USER,
                        TestPostgres.password(Setup.USER));
        PoolerConfig parsed = ConfigLoader.parse(yaml, "latency-routing-test.yaml", Map.of());
        DatabaseConfig db = parsed.databases().get(Setup.DB).withRouting(Setup.eventual());
        PoolerConfig config =
                parsed.withAdmin(new Admin(false, "127.0.0.1", 0, null)).withDatabases(Map.of(Setup.DB, db));
        pooler = new Pooler(config, 2).start();
        Setup.await(
                "every endpoint up with its configured role",
                () -> database().states().stream()
                        .allMatch(s -> s.health() == EndpointState.Health.UP
                                && s.observedRole() == s.member().role()),
                java.time.Duration.ofSeconds(30));
    }

    @AfterAll
    static void stop() throws IOException {
        if (pooler != null) {
            pooler.close();
        }
        if (proxy != null) {
            proxy.close();
        }
        if (otherProxy != null) {
            otherProxy.close();
        }
    }

    private static Router.Database database() {
        return pooler.router().database(Setup.DB);
    }

    private static EndpointState delayedState() {
        return database().states().stream()
                .filter(s -> s.member().port() == proxy.port())
                .findFirst()
                .orElseThrow();
    }

    private static Connection connect() throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", Setup.USER);
        p.setProperty("password", TestPostgres.password(Setup.USER));
        p.setProperty("assumeMinServerVersion", "12");
        p.setProperty("connectTimeout", "10");
        p.setProperty("socketTimeout", "60");
        p.setProperty("prepareThreshold", "0");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + pooler.port() + "/" + Setup.DB, p);
    }

    /** Runs {@code reads} autocommit reads and counts them by the port of the node that ran each. */
    private static Map<Integer, Integer> reads(Statement st, int reads) throws SQLException {
        Map<Integer, Integer> ports = new TreeMap<>();
        for (int i = 0; i < reads; i++) {
            try (ResultSet rs = st.executeQuery("SELECT inet_server_port()")) {
                assertThat(rs.next()).isTrue();
                ports.merge(rs.getInt(1), 1, Integer::sum);
            }
        }
        assertThat(ports.keySet()).as("reads go to replicas only: " + ports).isSubsetOf(delayedPort, otherPort);
        return ports;
    }

    private static double delayedShare(Map<Integer, Integer> ports) {
        int all = ports.values().stream().mapToInt(Integer::intValue).sum();
        return ports.getOrDefault(delayedPort, 0) / (double) all;
    }

    private static String describe(String phase, Map<Integer, Integer> ports) {
        EndpointState d = delayedState();
        EndpointState o = database().states().stream()
                .filter(s -> s.member().port() == otherProxy.port())
                .findFirst()
                .orElseThrow();
        return String.format(
                "%s: delayed replica %d of %d reads (%.0f%%); round-trip averages %.2f ms delayed, %.2f ms other;"
                        + " probe averages %.2f ms, %.2f ms",
                phase,
                ports.getOrDefault(delayedPort, 0),
                ports.values().stream().mapToInt(Integer::intValue).sum(),
                100 * delayedShare(ports),
                d.roundTripNanos() / 1e6,
                o.roundTripNanos() / 1e6,
                d.ewmaLatencyNanos() / 1e6,
                o.ewmaLatencyNanos() / 1e6);
    }

    @Test
    void aDelayedReplicasShareOfReadsFallsWhileTheDelayLastsAndComesBackAfter() throws Exception {
        try (Connection c = connect();
                Statement st = c.createStatement()) {
            Map<Integer, Integer> before = reads(st, 400);
            System.out.println(describe("before the delay", before));
            assertThat(delayedShare(before))
                    .as(describe("before the delay", before))
                    .isGreaterThan(0.25);

            proxy.delayMillis = DELAY_MILLIS;
            try {
                // The average adapts as reads measure the replica: keep reading until it shows the delay.
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (delayedState().roundTripNanos() < DELAY_MILLIS * 1_000_000.0) {
                    assertThat(System.nanoTime())
                            .as("the delayed replica's round-trip average reached " + DELAY_MILLIS + " ms")
                            .isLessThan(deadline);
                    reads(st, 20);
                }
                Map<Integer, Integer> delayed = reads(st, 300);
                System.out.println(describe("while delayed", delayed));
                assertThat(delayedShare(delayed))
                        .as(describe("while delayed", delayed))
                        .isLessThan(0.25);
                assertThat(delayed.getOrDefault(otherPort, 0)).isGreaterThan(225);
            } finally {
                proxy.delayMillis = 0;
            }

            long deadline = System.nanoTime() + 90_000_000_000L;
            Map<Integer, Integer> after;
            int windows = 0;
            do {
                after = reads(st, 200);
                windows++;
                System.out.println(describe("after the delay, window " + windows, after));
            } while (delayedShare(after) <= 0.25 && System.nanoTime() < deadline);
            System.out.println(describe("after the delay (window " + windows + ")", after));
            assertThat(delayedShare(after))
                    .as(describe("after the delay, within 90 s", after))
                    .isGreaterThan(0.25);
        }
    }

    /**
     * Forwards TCP connections to one port on localhost, holding each chunk read for {@link #delayMillis} before
     * writing it on (in both directions). Blocking sockets with two threads per connection: a test tool.
     */
    static final class DelayProxy implements AutoCloseable {
        volatile int delayMillis;
        private final int target;
        private final ServerSocket server;
        private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
        /** Each connection's two sockets (client side, server side), in the order they were accepted. */
        private final List<Socket[]> connections = new java.util.concurrent.CopyOnWriteArrayList<>();

        DelayProxy(int target) throws IOException {
            this.target = target;
            this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            Thread accept = new Thread(this::accept, "delay-proxy-accept");
            accept.setDaemon(true);
            accept.start();
        }

        int port() {
            return server.getLocalPort();
        }

        private void accept() {
            while (!server.isClosed()) {
                try {
                    Socket client = server.accept();
                    Socket upstream = new Socket(InetAddress.getLoopbackAddress(), target);
                    client.setTcpNoDelay(true);
                    upstream.setTcpNoDelay(true);
                    sockets.addAll(List.of(client, upstream));
                    connections.add(new Socket[] {client, upstream});
                    pump(client, upstream, "up");
                    pump(upstream, client, "down");
                } catch (IOException e) {
                    if (!server.isClosed()) {
                        System.err.println("delay proxy: " + e);
                    }
                }
            }
        }

        private void pump(Socket from, Socket to, String direction) {
            Thread t = new Thread(
                    () -> {
                        byte[] buf = new byte[16384];
                        try (InputStream in = from.getInputStream();
                                OutputStream out = to.getOutputStream()) {
                            int n;
                            while ((n = in.read(buf)) > 0) {
                                int d = delayMillis;
                                if (d > 0) {
                                    Thread.sleep(d);
                                }
                                out.write(buf, 0, n);
                                out.flush();
                            }
                        } catch (IOException | InterruptedException e) {
                            // The other side closed: close both.
                        } finally {
                            closeQuietly(from);
                            closeQuietly(to);
                        }
                    },
                    "delay-proxy-" + direction);
            t.setDaemon(true);
            t.start();
        }

        /**
         * Closes every connection but the first accepted (a pooler's probe connection, made as it starts), without
         * a word to either side: to each it looks like a network failure or a crashed peer.
         */
        void dropAllButFirst() {
            for (int i = 1; i < connections.size(); i++) {
                for (Socket s : connections.get(i)) {
                    closeQuietly(s);
                }
            }
        }

        private void closeQuietly(Socket s) {
            sockets.remove(s);
            try {
                s.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
            for (Socket s : List.copyOf(sockets)) {
                closeQuietly(s);
            }
        }
    }
}
