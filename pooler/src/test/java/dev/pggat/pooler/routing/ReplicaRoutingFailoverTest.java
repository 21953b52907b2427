package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.config.RoutingConfig;
import dev.pggat.pooler.config.Timeouts;
import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.routing.ReplicaRoutingTest.Setup;
import dev.pggat.pooler.testing.TestPostgres;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Servers going away under a running pooler: a replica stopped while clients read, and failovers (a replica
 * promoted, the old primary stopped) followed through an endpoint set pushed to the admin API or found by the
 * pooler's own role checks. Promotions use private clusters (primary + 1 replica), not the shared one.
 */
class ReplicaRoutingFailoverTest {
    private static PostgresCluster pushCluster;
    private static PostgresCluster inBandCluster;
    private static PostgresCluster outageCluster;
    /** Made before any failover: building the first HttpClient takes long enough to distort the timings. */
    private static HttpClient http;

    @BeforeAll
    static void startPrivateClusters() throws Exception {
        http = HttpClient.newHttpClient();
        // Started side by side: each spends most of its time copying the primary's data directory.
        CompletableFuture<PostgresCluster> a =
                CompletableFuture.supplyAsync(ReplicaRoutingFailoverTest::privateCluster);
        CompletableFuture<PostgresCluster> b =
                CompletableFuture.supplyAsync(ReplicaRoutingFailoverTest::privateCluster);
        CompletableFuture<PostgresCluster> c =
                CompletableFuture.supplyAsync(ReplicaRoutingFailoverTest::privateCluster);
        pushCluster = a.get();
        inBandCluster = b.get();
        outageCluster = c.get();
    }

    @AfterAll
    static void stopPrivateClusters() {
        if (pushCluster != null) {
            pushCluster.close();
        }
        if (inBandCluster != null) {
            inBandCluster.close();
        }
        if (outageCluster != null) {
            outageCluster.close();
        }
    }

    private static PostgresCluster privateCluster() {
        try {
            return PostgresCluster.builder()
                    .replicas(1)
                    .superuserPassword(TestPostgres.password(TestPostgres.SUPERUSER))
                    .bootstrapSql(
                            "CREATE ROLE " + Setup.USER + " LOGIN PASSWORD '" + TestPostgres.password(Setup.USER)
                                    + "'; CREATE ROLE " + Setup.PLAIN_USER + " LOGIN PASSWORD '"
                                    + TestPostgres.password(Setup.PLAIN_USER) + "'",
                            "CREATE DATABASE " + Setup.DB + " OWNER " + Setup.USER,
                            "\\c " + Setup.DB,
                            "CREATE TABLE rr_fo (id bigserial PRIMARY KEY, port int NOT NULL);"
                                    + " GRANT ALL ON rr_fo TO PUBLIC; GRANT ALL ON SEQUENCE rr_fo_id_seq TO PUBLIC")
                    .start();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    // ------------------------------------------------------------------ a replica stops under load

    @Test
    void stoppingAReplicaUnderLoadFailsOnlyTransactionsInFlightOnIt() throws Exception {
        PostgresCluster cluster = TestPostgres.replicated();
        PostgresCluster.Node victim = cluster.replicas().get(1);
        try (Setup setup = Setup.start(cluster, Setup.eventual())) {
            setup.awaitAllUp();
            List<Reader> readers = new ArrayList<>();
            long stopBegan;
            long stopEnded;
            try {
                for (int i = 0; i < 4; i++) {
                    readers.add(new Reader(setup, "reader-" + i));
                }
                Thread.sleep(1000);
                stopBegan = System.nanoTime();
                victim.stop();
                stopEnded = System.nanoTime();
                Thread.sleep(2500);
            } finally {
                for (Reader r : readers) {
                    r.close();
                }
                victim.start();
            }
            int before = 0;
            int onVictimBefore = 0;
            int after = 0;
            long slowestAfter = 0;
            List<String> inFlightFailures = new ArrayList<>();
            List<String> newFailures = new ArrayList<>();
            for (Reader r : readers) {
                for (Tx tx : r.done) {
                    if (tx.start < stopEnded) {
                        before++;
                        onVictimBefore += tx.port == victim.port() ? 1 : 0;
                        if (tx.error != null) {
                            inFlightFailures.add(tx.error);
                        }
                    } else {
                        after++;
                        slowestAfter = Math.max(slowestAfter, tx.end - tx.start);
                        if (tx.error != null) {
                            newFailures.add("started " + (tx.start - stopEnded) / 1_000_000 + " ms after the stop: "
                                    + tx.error);
                        }
                    }
                }
            }
            System.out.printf(
                    "replica stop (took %d ms): %d transactions before (%d on the stopped replica, %d failed),"
                            + " %d after (%d failed, slowest %d ms)%n",
                    (stopEnded - stopBegan) / 1_000_000,
                    before,
                    onVictimBefore,
                    inFlightFailures.size(),
                    after,
                    newFailures.size(),
                    slowestAfter / 1_000_000);
            assertThat(onVictimBefore)
                    .as("the stopped replica had a share of the reads")
                    .isGreaterThan(0);
            // Failures are expected only for transactions that began before the replica was gone: running on it,
            // or sent to it while it shut down (57P01 from its backends, then the client's broken socket).
            System.out.println("failures of transactions begun before the stop completed: " + inFlightFailures);
            assertThat(newFailures)
                    .as("transactions started after the replica stopped")
                    .isEmpty();
            // A read sent to the stopped replica would fail (its pool cannot connect), which newFailures shows; how
            // slow the slowest read was depends on the machine and is printed only.
            assertThat(after).isGreaterThan(20);
        } finally {
            Setup.awaitReplayed(cluster);
        }
    }

    private record Tx(long start, long end, int port, String error) {}

    /** A client running short reads in a loop; after an error it logs in again and goes on. */
    private static final class Reader implements AutoCloseable {
        final List<Tx> done = new ArrayList<>();
        private final Thread thread;
        private volatile boolean stop;

        Reader(Setup setup, String name) {
            thread = new Thread(
                    () -> {
                        Connection c = null;
                        while (!stop) {
                            long t = System.nanoTime();
                            try {
                                if (c == null) {
                                    c = setup.connect("socketTimeout", "10");
                                }
                                try (Statement st = c.createStatement();
                                        ResultSet rs = st.executeQuery("SELECT inet_server_port(), pg_sleep(0.005)")) {
                                    rs.next();
                                    done.add(new Tx(t, System.nanoTime(), rs.getInt(1), null));
                                }
                            } catch (SQLException e) {
                                done.add(new Tx(t, System.nanoTime(), -1, e.getSQLState() + " " + e.getMessage()));
                                closeQuietly(c);
                                c = null;
                            }
                        }
                        closeQuietly(c);
                    },
                    name);
            thread.start();
        }

        @Override
        public void close() throws InterruptedException {
            stop = true;
            thread.join(30_000);
        }
    }

    private static void closeQuietly(Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (SQLException e) {
                // Already broken; nothing to give back.
            }
        }
    }

    // ------------------------------------------------------------------ failover

    @Test
    void failoverWithAnEndpointSetPushedThroughTheAdminApiMovesWritesToThePromotedServer() throws Exception {
        PostgresCluster cluster = pushCluster;
        PostgresCluster.Node newPrimary = cluster.replicas().get(0);
        try (Setup setup = Setup.start(cluster, Setup.eventual());
                Writer writer = new Writer(setup)) {
            setup.awaitAllUp();
            writer.awaitSuccessAfter(System.nanoTime(), Duration.ofSeconds(10));
            cluster.primary().stop();
            long down = System.nanoTime();
            newPrimary.promote();
            long promoted = System.nanoTime();
            String set = "{\"version\": 2, \"endpoints\": [{\"host\": \"127.0.0.1\", \"port\": " + newPrimary.port()
                    + ", \"role\": \"primary\"}]}";
            HttpResponse<String> r = put(setup, set, Setup.TOKEN);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            long pushed = System.nanoTime();
            long firstWrite = writer.awaitSuccessAfter(down, Duration.ofSeconds(20));
            System.out.printf(
                    "failover with push: time to first successful write: %d ms (after the promotion; %d ms after"
                            + " the old primary stopped, %d ms after the push)%n",
                    (firstWrite - promoted) / 1_000_000,
                    (firstWrite - down) / 1_000_000,
                    (firstWrite - pushed) / 1_000_000);
            assertThat(setup.database().endpoints().version()).isEqualTo(2);
            assertThat(put(setup, set.replace("\"version\": 2", "\"version\": 3"), "wrong-token")
                            .statusCode())
                    .isEqualTo(401);
            assertThat(put(setup, set, Setup.TOKEN).statusCode())
                    .as("a stale version")
                    .isEqualTo(409);
            assertThat(writer.lastPort()).isEqualTo(newPrimary.port());
        }
    }

    /**
     * No push, and a probe interval (60 s) longer than writes may wait for a primary (30 s): only the probe rounds
     * that failures start (the old primary's connections closing, its connects refused, writes waiting for a
     * primary) can find the promoted replica before the waiting writes fail. Without them the first write after
     * the promotion would fail with "no writable primary".
     */
    @Test
    void failoverWithoutAPushIsFoundByProbesThatFailuresStartNotByTheInterval() throws Exception {
        PostgresCluster cluster = inBandCluster;
        PostgresCluster.Node newPrimary = cluster.replicas().get(0);
        RoutingConfig routing = new RoutingConfig(
                true,
                RoutingConfig.Consistency.EVENTUAL,
                Duration.ZERO,
                0,
                RoutingConfig.ReplicaFallback.PRIMARY,
                Duration.ofSeconds(60),
                Duration.ofSeconds(30),
                List.of(),
                false);
        try (Setup setup = Setup.start(cluster, routing);
                Writer writer = new Writer(setup)) {
            setup.awaitAllUp();
            writer.awaitSuccessAfter(System.nanoTime(), Duration.ofSeconds(10));
            long roundsBefore = setup.database().urgentProbeRounds();
            cluster.primary().stop();
            long down = System.nanoTime();
            newPrimary.promote();
            long promoted = System.nanoTime();
            // Within primaryWait of the promotion, so no write had to fail for lack of a primary; the interval's
            // own probe would come only after it.
            long firstWrite = writer.awaitSuccessAfter(promoted, Duration.ofSeconds(25));
            long rounds = setup.database().urgentProbeRounds() - roundsBefore;
            System.out.printf(
                    "failover without push (probe interval 60 s): first successful write %d ms after the promotion"
                            + " (%d ms after the old primary stopped), %d probe rounds started by failures; failed"
                            + " attempts meanwhile: %s%n",
                    (firstWrite - promoted) / 1_000_000, (firstWrite - down) / 1_000_000, rounds, writer.errors());
            assertThat(setup.database().endpoints().version())
                    .as("nobody pushed a set")
                    .isEqualTo(1);
            assertThat(setup.database().primary().name()).isEqualTo(Setup.name(newPrimary));
            assertThat(writer.lastPort()).isEqualTo(newPrimary.port());
            assertThat(rounds).as("probe rounds started by failures").isGreaterThan(0);
            assertThat(writer.errors())
                    .as("no write waited out primaryWait")
                    .noneMatch(e -> e.contains("no writable primary"));
        }
    }

    /**
     * A write sent in the gap between the primary going away and the next probe noticing it: pggat still takes
     * the old primary for up and routes the write there. Like any write that arrives while no writable primary
     * is known, it must end up on the promoted replica once that is found. The default probe interval (1 s)
     * makes the gap wide enough to hit every time; queryWait is cut to 5 s so that a write stuck on the dead
     * endpoint fails the test after 5 s instead of 30 s.
     */
    @Test
    void writeRoutedToTheStoppedPrimaryBeforeItsProbeNoticedMovesToThePromotedReplica() throws Exception {
        PostgresCluster cluster = outageCluster;
        PostgresCluster.Node oldPrimary = cluster.primary();
        PostgresCluster.Node newPrimary = cluster.replicas().get(0);
        RoutingConfig routing = new RoutingConfig(
                true,
                RoutingConfig.Consistency.EVENTUAL,
                Duration.ZERO,
                0,
                RoutingConfig.ReplicaFallback.PRIMARY,
                Duration.ofSeconds(1),
                Duration.ofSeconds(10),
                List.of(),
                false);
        Timeouts d = Timeouts.DEFAULT;
        Timeouts timeouts = new Timeouts(
                d.clientLogin(),
                Duration.ofSeconds(5),
                d.serverConnect(),
                d.serverConnectBackoffMax(),
                d.serverIdle(),
                d.serverLifetime(),
                d.shutdown());
        try (Setup setup = Setup.start(cluster, routing, timeouts);
                Connection c = setup.connect("socketTimeout", "20")) {
            setup.awaitAllUp();
            try (Statement st = c.createStatement()) {
                st.executeUpdate("INSERT INTO rr_fo (port) VALUES (inet_server_port())");
            }
            oldPrimary.stop();
            boolean stillUp = setup.state(oldPrimary).health() == EndpointState.Health.UP;
            CompletableFuture<String> write = CompletableFuture.supplyAsync(() -> {
                try (Statement st = c.createStatement();
                        ResultSet rs = st.executeQuery(
                                "INSERT INTO rr_fo (port) VALUES (inet_server_port()) RETURNING port")) {
                    rs.next();
                    return "committed on port " + rs.getInt(1);
                } catch (SQLException e) {
                    return "failed: " + e.getSQLState() + " " + e.getMessage();
                }
            });
            newPrimary.promote();
            long promoted = System.nanoTime();
            String result = write.get(30, java.util.concurrent.TimeUnit.SECONDS);
            long after = Setup.millisSince(promoted);
            System.out.printf(
                    "write sent while the pooler took the stopped primary for %s: %s, %d ms after the promotion%n",
                    stillUp ? "up" : "down (the probe was quicker)", result, after);
            // Stuck on the dead endpoint, the write would fail at queryWait (5 s) instead.
            assertThat(result).isEqualTo("committed on port " + newPrimary.port());
        }
    }

    private static HttpResponse<String> put(Setup setup, String json, String token) throws Exception {
        return http.send(
                HttpRequest.newBuilder(
                                URI.create("http://127.0.0.1:" + setup.pooler.adminPort() + "/endpoints/" + Setup.DB))
                        .header("Authorization", "Bearer " + token)
                        .PUT(HttpRequest.BodyPublishers.ofString(json))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** One client inserting rows in a loop; after an error it logs in again and goes on. */
    private static final class Writer implements AutoCloseable {
        private final List<long[]> successes = new ArrayList<>();
        private final List<String> errors = new ArrayList<>();
        private final Thread thread;
        private volatile boolean stop;
        private final AtomicReference<Throwable> unexpected = new AtomicReference<>();

        Writer(Setup setup) {
            thread = new Thread(
                    () -> {
                        Connection c = null;
                        try {
                            while (!stop) {
                                long t = System.nanoTime();
                                try {
                                    if (c == null) {
                                        c = setup.connect("socketTimeout", "30");
                                    }
                                    try (Statement st = c.createStatement();
                                            ResultSet rs = st.executeQuery("INSERT INTO rr_fo (port)"
                                                    + " VALUES (inet_server_port()) RETURNING port")) {
                                        rs.next();
                                        synchronized (successes) {
                                            successes.add(new long[] {t, System.nanoTime(), rs.getInt(1)});
                                        }
                                    }
                                } catch (SQLException e) {
                                    synchronized (successes) {
                                        errors.add(e.getSQLState() + " after " + (System.nanoTime() - t) / 1_000_000
                                                + " ms: " + e.getMessage());
                                    }
                                    closeQuietly(c);
                                    c = null;
                                    Thread.sleep(20);
                                }
                            }
                        } catch (Throwable t) {
                            unexpected.set(t);
                        } finally {
                            closeQuietly(c);
                        }
                    },
                    "writer");
            thread.start();
        }

        /** When the first write that began after {@code since} committed (System.nanoTime()). */
        long awaitSuccessAfter(long since, Duration timeout) throws InterruptedException {
            long[] found = new long[1];
            Setup.await(
                    "a successful write",
                    () -> {
                        if (unexpected.get() != null) {
                            throw new AssertionError(unexpected.get());
                        }
                        synchronized (successes) {
                            for (long[] s : successes) {
                                if (s[0] >= since) {
                                    found[0] = s[1];
                                    return true;
                                }
                            }
                        }
                        return false;
                    },
                    timeout);
            return found[0];
        }

        long lastPort() {
            synchronized (successes) {
                return successes.get(successes.size() - 1)[2];
            }
        }

        List<String> errors() {
            synchronized (successes) {
                return List.copyOf(errors);
            }
        }

        @Override
        public void close() throws InterruptedException {
            stop = true;
            thread.join(30_000);
        }
    }
}
