package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.config.RoutingConfig;
import dev.pggat.pooler.conformance.ExternalClients;
import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.routing.ReplicaRoutingTest.Setup;
import dev.pggat.pooler.testing.TestPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Servers that die under a loaded pooler in transaction mode, with real clients: reads whose replica died before
 * answering are sent again elsewhere (pgbench sees nothing), and a transaction whose server died fails with an
 * ERROR while its client stays connected. A private cluster (primary + 2 streaming replicas): its nodes are killed.
 */
class ServerLossUnderLoadTest {
    private static PostgresCluster cluster;

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = PostgresCluster.builder()
                .replicas(2)
                .superuserPassword(TestPostgres.password(TestPostgres.SUPERUSER))
                .bootstrapSql(
                        "CREATE ROLE " + Setup.USER + " LOGIN PASSWORD '" + TestPostgres.password(Setup.USER) + "';"
                                + " CREATE ROLE " + Setup.PLAIN_USER + " LOGIN PASSWORD '"
                                + TestPostgres.password(Setup.PLAIN_USER) + "'",
                        "CREATE DATABASE " + Setup.DB + " OWNER " + Setup.USER)
                .start();
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    private static Map<String, String> libpq(int port) {
        return Map.of(
                "PGHOST",
                "127.0.0.1",
                "PGPORT",
                Integer.toString(port),
                "PGUSER",
                Setup.USER,
                "PGPASSWORD",
                TestPostgres.password(Setup.USER),
                "PGDATABASE",
                Setup.DB,
                "PGCONNECT_TIMEOUT",
                "10");
    }

    @Test
    void aReplicaKilledUnderPgbenchSelectOnlyFailsNoTransactionAndAbortsNoClient() throws Exception {
        Path work = Files.createTempDirectory("pggat-server-loss");
        ExternalClients.Result init = ExternalClients.run(
                List.of(ExternalClients.postgresProgram("pgbench").toString(), "-i", "-s", "1", "-q"),
                libpq(cluster.primary().port()),
                work,
                Duration.ofMinutes(3));
        assertThat(init.exitCode()).as(init.stderr()).isZero();
        Setup.awaitReplayed(cluster);
        PostgresCluster.Node victim = cluster.replicas().get(1);
        try (Setup setup = Setup.start(cluster, Setup.eventual())) {
            setup.awaitAllUp();
            long retriedBefore = setup.database().retriedQueriesTotal.sum();
            long readsBefore = setup.decided("replica:reads");
            java.util.concurrent.atomic.AtomicBoolean pgbenchDone = new java.util.concurrent.atomic.AtomicBoolean();
            java.util.concurrent.atomic.AtomicBoolean stoppedUnderLoad =
                    new java.util.concurrent.atomic.AtomicBoolean();
            // The replica is stopped once pgbench is seen reading through pggat (not after a fixed delay, which a
            // busy machine could stretch past the run), and the test checks that pgbench was still running then.
            Thread killer = new Thread(
                    () -> {
                        try {
                            Setup.await(
                                    "pgbench reading through pggat",
                                    () -> setup.decided("replica:reads") - readsBefore >= 200 || pgbenchDone.get(),
                                    Duration.ofMinutes(2));
                            victim.stopImmediate();
                            stoppedUnderLoad.set(!pgbenchDone.get());
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    },
                    "replica-killer");
            killer.start();
            ExternalClients.Result run = ExternalClients.run(
                    List.of(
                            ExternalClients.postgresProgram("pgbench").toString(),
                            "-n",
                            "-S",
                            "-c",
                            "8",
                            "-j",
                            "2",
                            "-T",
                            "20",
                            "-M",
                            "simple"),
                    libpq(setup.pooler.port()),
                    work,
                    Duration.ofMinutes(3));
            pgbenchDone.set(true);
            killer.join(120_000);
            long retried = setup.database().retriedQueriesTotal.sum() - retriedBefore;
            String out = run.stdout();
            long done = number(out, "number of transactions actually processed: (\\d+)");
            long failed = number(out, "number of failed transactions: (\\d+)");
            System.out.printf(
                    "replica killed (immediate) under pgbench -S -c 8: exit %d, %d transactions, %d failed, %d reads"
                            + " retried elsewhere%n%s%n",
                    run.exitCode(), done, failed, retried, run.stderr());
            assertThat(victim.isRunning()).as("the replica was stopped").isFalse();
            assertThat(stoppedUnderLoad.get())
                    .as("the replica was stopped while pgbench still ran")
                    .isTrue();
            assertThat(run.exitCode())
                    .as("pgbench aborted no client: " + run.stderr())
                    .isZero();
            assertThat(failed).as("failed transactions").isZero();
            assertThat(done).isGreaterThan(0);
            assertThat(run.stderr()).doesNotContain("server connection closed");
        } finally {
            victim.start();
            Setup.awaitReplayed(cluster);
        }
    }

    /**
     * Mixed load (writers, and readers inside transactions) while the primary is killed and then started again:
     * transactions in flight on it fail with an ERROR (08006; their next statements 25P02 until ROLLBACK), every
     * client stays connected and commits again once the primary is back.
     */
    @Test
    void thePrimaryKilledUnderMixedLoadFailsOnlyTransactionsInFlightWithAnErrorAndDisconnectsNoClient()
            throws Exception {
        try (Statement st = java.sql.DriverManager.getConnection(
                        cluster.primary().jdbcUrl(Setup.DB), Setup.USER, TestPostgres.password(Setup.USER))
                .createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS loss_writes (id bigserial PRIMARY KEY, client int)");
        }
        Setup.awaitReplayed(cluster);
        RoutingConfig routing =
                Setup.routing(RoutingConfig.Consistency.EVENTUAL, Duration.ZERO, 0, Duration.ofSeconds(60));
        try (Setup setup = Setup.start(cluster, routing)) {
            setup.awaitAllUp();
            Map<String, AtomicInteger> errors = new ConcurrentHashMap<>();
            AtomicInteger commits = new AtomicInteger();
            AtomicInteger disconnects = new AtomicInteger();
            List<Thread> clients = new ArrayList<>();
            java.util.concurrent.atomic.AtomicBoolean backAgain = new java.util.concurrent.atomic.AtomicBoolean();
            AtomicInteger commitsAfter = new AtomicInteger();
            for (int i = 0; i < 6; i++) {
                int id = i;
                Thread t = new Thread(
                        () -> {
                            try (Connection c = setup.connect("socketTimeout", "90")) {
                                c.setAutoCommit(false);
                                while (!Thread.currentThread().isInterrupted()) {
                                    try (Statement s = c.createStatement()) {
                                        if (id % 2 == 0) {
                                            s.executeUpdate("INSERT INTO loss_writes (client) VALUES (" + id + ")");
                                            s.execute("SELECT pg_sleep(0.05)");
                                        } else {
                                            try (ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_class")) {
                                                rs.next();
                                            }
                                        }
                                        c.commit();
                                        commits.incrementAndGet();
                                        if (backAgain.get()) {
                                            commitsAfter.incrementAndGet();
                                        }
                                    } catch (SQLException e) {
                                        errors.computeIfAbsent(e.getSQLState(), k -> new AtomicInteger())
                                                .incrementAndGet();
                                        if (c.isClosed() || !c.isValid(30)) {
                                            disconnects.incrementAndGet();
                                            return;
                                        }
                                        c.rollback();
                                    }
                                }
                            } catch (SQLException e) {
                                disconnects.incrementAndGet();
                            }
                        },
                        "mixed-" + i);
                t.start();
                clients.add(t);
            }
            Setup.await("the clients to commit", () -> commits.get() >= 12, Duration.ofSeconds(90));
            // One more client holds a transaction open on the primary across the kill: its loss is certain.
            Connection holder = setup.connect("socketTimeout", "90");
            holder.setAutoCommit(false);
            try (Statement s = holder.createStatement()) {
                s.executeUpdate("INSERT INTO loss_writes (client) VALUES (99)");
            }
            int before = commits.get();
            cluster.primary().kill();
            // Immediate shutdown from here on would be the same to the pooler: the connections just end.
            Thread.sleep(1500);
            cluster.primary().start();
            backAgain.set(true);
            String holderCommit;
            try {
                holder.commit();
                holderCommit = "committed";
            } catch (SQLException e) {
                holderCommit = e.getSQLState();
            }
            holder.rollback();
            try (Statement s = holder.createStatement()) {
                s.executeUpdate("INSERT INTO loss_writes (client) VALUES (98)");
            }
            holder.commit();
            boolean holderConnected = holder.isValid(30);
            holder.close();
            Setup.await(
                    "every client to commit after the primary came back",
                    () -> commitsAfter.get() >= 12,
                    Duration.ofSeconds(90));
            for (Thread t : clients) {
                t.interrupt();
            }
            for (Thread t : clients) {
                t.join(60_000);
            }
            System.out.printf(
                    "primary killed under mixed load (6 clients, transaction mode): %d commits before the kill, %d"
                            + " after it came back, errors by SQLSTATE %s, %d clients disconnected, %d transactions"
                            + " told with an ERROR by the pooler%n",
                    before,
                    commitsAfter.get(),
                    errors,
                    disconnects.get(),
                    setup.database().serverLossErrorsTotal.sum());
            System.out.println("the transaction held open across the kill: COMMIT answered " + holderCommit
                    + "; the same connection committed again afterwards: " + holderConnected);
            // 08006, or the server's own last words told as an ERROR (57P01: a backend that saw its postmaster die).
            assertThat(holderCommit)
                    .as("a lost transaction is never reported committed")
                    .isIn("08006", "57P01");
            assertThat(holderConnected).isTrue();
            assertThat(disconnects.get()).as("clients disconnected").isZero();
            assertThat(errors.keySet())
                    .as("errors of the transactions in flight")
                    .isSubsetOf("08006", "25P02", "57P01");
        }
    }

    private static long number(String out, String regex) {
        Matcher m = Pattern.compile(regex).matcher(out);
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }
}
