package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.config.RoutingConfig;
import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.routing.ReplicaRoutingTest.Setup;
import dev.pggat.pooler.testing.TestPostgres;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Consistency and lag against a real primary and two streaming replicas whose WAL replay the tests pause: a
 * client reads its own writes with read-your-writes (and demonstrably does not with eventual), and a replica
 * that falls behind the lag limits stops getting reads within two probe intervals and gets them again once it
 * caught up.
 */
class ReplicaRoutingConsistencyTest {
    /** Room for the probe round trips and scheduling on a busy machine, on top of two probe intervals. */
    private static final long SLACK_MILLIS = 150;

    private static PostgresCluster cluster;
    private Setup setup;

    @BeforeAll
    static void createTables() throws Exception {
        cluster = TestPostgres.replicated();
        Setup.exec(
                cluster.primary(),
                "DROP TABLE IF EXISTS rr_ryw, rr_lag",
                "CREATE TABLE rr_ryw (id int PRIMARY KEY)",
                "CREATE TABLE rr_lag (id bigserial PRIMARY KEY, payload text)",
                "GRANT ALL ON rr_ryw, rr_lag TO PUBLIC",
                "GRANT ALL ON SEQUENCE rr_lag_id_seq TO PUBLIC");
        Setup.awaitReplayed(cluster);
    }

    @AfterEach
    void resumeReplayAndStop() throws Exception {
        for (PostgresCluster.Node r : cluster.replicas()) {
            try (Connection c = Setup.superuser(r);
                    Statement st = c.createStatement()) {
                st.execute("SELECT pg_wal_replay_resume()");
            }
        }
        if (setup != null) {
            setup.close();
        }
    }

    // ------------------------------------------------------------------ read-your-writes

    @Test
    void readYourWritesGivesZeroStaleReadsWhileReplayIsPausedOnAndOff() throws Exception {
        setup = Setup.start(
                cluster,
                Setup.routing(RoutingConfig.Consistency.READ_YOUR_WRITES, Duration.ZERO, 0, Duration.ofSeconds(10)));
        setup.awaitAllUp();
        try (Connection c = setup.connect()) {
            Result r = insertThenSelect(c, 1, 1000);
            System.out.printf(
                    "read-your-writes: %d stale of %d reads; reads on replicas %d, on the primary %d%n",
                    r.stale, r.reads, r.onReplicas, r.reads - r.onReplicas);
            assertThat(r.stale).isZero();
            // Reads went to the primary only while no replica had replayed the client's last write: once they
            // caught up (replay running again), the same client's reads of its own rows go to replicas.
            assertThat(setup.decided("primary:fallback")).isGreaterThan(0);
            long t0 = System.nanoTime();
            Setup.await(
                    "a read of the client's last write served by a replica",
                    () -> {
                        try {
                            return readOfLastRowRanOnAReplica(c, 1000);
                        } catch (SQLException e) {
                            throw new IllegalStateException(e);
                        }
                    },
                    Duration.ofSeconds(5));
            System.out.printf(
                    "read-your-writes: reads back on replicas %d ms after replay resumed%n", Setup.millisSince(t0));
        }
    }

    private boolean readOfLastRowRanOnAReplica(Connection c, int id) throws SQLException {
        try (Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT count(*), inet_server_port() FROM rr_ryw WHERE id = " + id)) {
            rs.next();
            assertThat(rs.getInt(1)).as("row %d is visible", id).isEqualTo(1);
            return rs.getInt(2) != cluster.primary().port();
        }
    }

    @Test
    void eventualConsistencyShowsStaleReadsUnderTheSameLoad() throws Exception {
        setup = Setup.start(cluster, Setup.eventual());
        setup.awaitAllUp();
        Result r;
        try (Connection c = setup.connect()) {
            r = insertThenSelect(c, 100_001, 1000);
        }
        System.out.printf("eventual: %d stale of %d reads; reads on replicas %d%n", r.stale, r.reads, r.onReplicas);
        // Proves the check above can fail: the same reads, without read-your-writes, miss fresh rows.
        assertThat(r.stale).isGreaterThan(0);
        assertThat(r.onReplicas).isEqualTo(r.reads);
    }

    private record Result(int reads, int stale, int onReplicas) {}

    /** One client: insert a row, read it back at once; replay on both replicas paused and resumed meanwhile. */
    private Result insertThenSelect(Connection c, int firstId, int count) throws Exception {
        int primaryPort = cluster.primary().port();
        int stale = 0;
        int onReplicas = 0;
        try (ReplayToggler toggler = new ReplayToggler(cluster.replicas());
                PreparedStatement insert = c.prepareStatement("INSERT INTO rr_ryw (id) VALUES (?)");
                PreparedStatement select =
                        c.prepareStatement("SELECT count(*), inet_server_port() FROM rr_ryw WHERE id = ?")) {
            for (int id = firstId; id < firstId + count; id++) {
                insert.setInt(1, id);
                assertThat(insert.executeUpdate()).isEqualTo(1);
                select.setInt(1, id);
                try (ResultSet rs = select.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    if (rs.getInt(1) == 0) {
                        stale++;
                    }
                    if (rs.getInt(2) != primaryPort) {
                        onReplicas++;
                    }
                }
            }
            toggler.check();
            assertThat(toggler.pauses).as("replay pauses during the run").isGreaterThan(3);
        }
        return new Result(count, stale, onReplicas);
    }

    /** Pauses WAL replay on the replicas for 120 ms, resumes it for 80 ms, over and over, until closed. */
    private static final class ReplayToggler implements AutoCloseable {
        private final Thread thread;
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private volatile boolean stop;
        volatile int pauses;

        ReplayToggler(List<PostgresCluster.Node> replicas) {
            thread = new Thread(
                    () -> {
                        List<Connection> conns = new ArrayList<>();
                        try {
                            for (PostgresCluster.Node r : replicas) {
                                conns.add(Setup.superuser(r));
                            }
                            while (!stop) {
                                for (Connection c : conns) {
                                    Setup.value(c, "SELECT pg_wal_replay_pause()");
                                }
                                pauses++;
                                Thread.sleep(120);
                                for (Connection c : conns) {
                                    Setup.value(c, "SELECT pg_wal_replay_resume()");
                                }
                                Thread.sleep(80);
                            }
                        } catch (Throwable t) {
                            failure.set(t);
                        } finally {
                            for (Connection c : conns) {
                                try (c) {
                                    Setup.value(c, "SELECT pg_wal_replay_resume()");
                                } catch (SQLException e) {
                                    failure.compareAndSet(null, e);
                                }
                            }
                        }
                    },
                    "replay-toggler");
            thread.setDaemon(true);
            thread.start();
        }

        void check() {
            if (failure.get() != null) {
                throw new AssertionError("pausing replay failed", failure.get());
            }
        }

        @Override
        public void close() throws InterruptedException {
            stop = true;
            thread.join(10_000);
        }
    }

    // ------------------------------------------------------------------ lag limits

    @Test
    void replicaOverTheByteLagLimitGetsNoReadsWithinTwoProbeIntervalsAndReturnsAfterResume() throws Exception {
        setup = Setup.start(
                cluster,
                Setup.routing(RoutingConfig.Consistency.EVENTUAL, Duration.ZERO, 1024 * 1024, Duration.ofSeconds(10)));
        setup.awaitAllUp();
        PostgresCluster.Node lagging = cluster.replicas().get(0);
        try (ReadRecorder reads = new ReadRecorder(setup);
                Connection su = Setup.superuser(lagging);
                Connection primary = Setup.direct(cluster.primary());
                Statement st = primary.createStatement()) {
            reads.awaitReadOn(lagging.port(), Duration.ofSeconds(10));
            pauseReplay(su);
            // About 4 MB of WAL that the paused replica receives but does not replay.
            st.executeUpdate("INSERT INTO rr_lag (payload) SELECT repeat(md5(g::text), 40)"
                    + " FROM generate_series(1, 3000) g");
            long overLimit = System.nanoTime();
            assertExcludedAndReadmitted(reads, lagging, overLimit, su);
        }
    }

    @Test
    void replicaOverTheTimeLagLimitGetsNoReadsWithinTwoProbeIntervalsAndReturnsAfterResume() throws Exception {
        setup = Setup.start(
                cluster,
                Setup.routing(RoutingConfig.Consistency.EVENTUAL, Duration.ofSeconds(1), 0, Duration.ofSeconds(10)));
        setup.awaitAllUp();
        PostgresCluster.Node lagging = cluster.replicas().get(1);
        try (ReadRecorder reads = new ReadRecorder(setup);
                Connection su = Setup.superuser(lagging);
                Connection primary = Setup.direct(cluster.primary());
                Statement st = primary.createStatement()) {
            reads.awaitReadOn(lagging.port(), Duration.ofSeconds(10));
            st.executeUpdate("INSERT INTO rr_lag (payload) VALUES ('before the pause')");
            Setup.awaitReplayed(cluster);
            pauseReplay(su);
            // The replica's replay delay is counted from the commit time of the last transaction it replayed.
            long lastReplayedMillis = Long.parseLong(Setup.value(
                    su, "SELECT floor(extract(epoch FROM pg_last_xact_replay_timestamp())" + " * 1000)::bigint"));
            st.executeUpdate("INSERT INTO rr_lag (payload) VALUES ('while paused')");
            long nowNanos = System.nanoTime();
            long overLimit =
                    Math.max(nowNanos, nowNanos + (lastReplayedMillis + 1000 - System.currentTimeMillis()) * 1_000_000);
            assertExcludedAndReadmitted(reads, lagging, overLimit, su);
        }
    }

    private static void pauseReplay(Connection su) throws Exception {
        Setup.value(su, "SELECT pg_wal_replay_pause()");
        Setup.await(
                "replay paused",
                () -> {
                    try {
                        return "paused".equals(Setup.value(su, "SELECT pg_get_wal_replay_pause_state()"));
                    } catch (SQLException e) {
                        throw new IllegalStateException(e);
                    }
                },
                Duration.ofSeconds(10));
    }

    private void assertExcludedAndReadmitted(
            ReadRecorder reads, PostgresCluster.Node lagging, long overLimitNanos, Connection su) throws Exception {
        long interval = Setup.PROBE.toMillis();
        // Keep reading well past the deadline, so that a late read on the lagging replica would show.
        long until = overLimitNanos + (2 * interval + SLACK_MILLIS + 1500) * 1_000_000;
        while (System.nanoTime() < until) {
            Thread.sleep(20);
        }
        reads.check();
        long last = reads.lastSentOn(lagging.port());
        long excludedAfter = (last - overLimitNanos) / 1_000_000;
        System.out.printf(
                "replica %s: last read sent %d ms after it exceeded the lag limit (probe interval %d ms); state %s%n",
                lagging.name(), excludedAfter, interval, setup.state(lagging));
        assertThat(excludedAfter).isLessThanOrEqualTo(2 * interval + SLACK_MILLIS);
        int otherPort = cluster.replicas().stream()
                .filter(n -> n != lagging)
                .findFirst()
                .orElseThrow()
                .port();
        assertThat(reads.countSince(otherPort, overLimitNanos + (2 * interval + SLACK_MILLIS) * 1_000_000))
                .as("the other replica serves the reads meanwhile")
                .isGreaterThan(0);

        Setup.value(su, "SELECT pg_wal_replay_resume()");
        long resumed = System.nanoTime();
        reads.awaitReadOnSince(lagging.port(), resumed, Duration.ofSeconds(5));
        System.out.printf(
                "replica %s: reads again %d ms after replay resumed%n",
                lagging.name(), (reads.firstSentOnSince(lagging.port(), resumed) - resumed) / 1_000_000);
        reads.check();
    }

    /** One client reading in a loop through the pooler, recording when each read was sent and where it ran. */
    private static final class ReadRecorder implements AutoCloseable {
        private final List<long[]> sent = new ArrayList<>();
        private final Thread thread;
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private volatile boolean stop;

        ReadRecorder(Setup setup) {
            thread = new Thread(
                    () -> {
                        try (Connection c = setup.connect();
                                Statement st = c.createStatement()) {
                            while (!stop) {
                                long t = System.nanoTime();
                                try (ResultSet rs = st.executeQuery("SELECT inet_server_port()")) {
                                    rs.next();
                                    synchronized (sent) {
                                        sent.add(new long[] {t, rs.getInt(1)});
                                    }
                                }
                                Thread.sleep(2);
                            }
                        } catch (Throwable t) {
                            failure.set(t);
                        }
                    },
                    "read-recorder");
            thread.setDaemon(true);
            thread.start();
        }

        void check() {
            if (failure.get() != null) {
                throw new AssertionError("a read failed", failure.get());
            }
        }

        long lastSentOn(int port) {
            synchronized (sent) {
                long last = Long.MIN_VALUE;
                for (long[] r : sent) {
                    if (r[1] == port) {
                        last = r[0];
                    }
                }
                return last;
            }
        }

        long firstSentOnSince(int port, long since) {
            synchronized (sent) {
                for (long[] r : sent) {
                    if (r[1] == port && r[0] >= since) {
                        return r[0];
                    }
                }
                return Long.MAX_VALUE;
            }
        }

        int countSince(int port, long since) {
            synchronized (sent) {
                return (int)
                        sent.stream().filter(r -> r[1] == port && r[0] >= since).count();
            }
        }

        void awaitReadOn(int port, Duration timeout) throws InterruptedException {
            awaitReadOnSince(port, System.nanoTime(), timeout);
        }

        void awaitReadOnSince(int port, long since, Duration timeout) throws InterruptedException {
            Setup.await(
                    "a read on port " + port,
                    () -> {
                        check();
                        return firstSentOnSince(port, since) != Long.MAX_VALUE;
                    },
                    timeout);
        }

        @Override
        public void close() throws InterruptedException {
            stop = true;
            thread.join(10_000);
        }
    }
}
