package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.util.PSQLException;

/**
 * Reads that ran on the primary and lost their server before any of the reply reached the client are sent once
 * more, on another connection; writes never are. The server backend is ended with pg_terminate_backend while it
 * waits for a table lock the test holds, so the loss always comes before the reply (no timing involved), and the
 * retry completes once the test lets the lock go.
 */
class PrimaryReadRetryTest {
    private static PostgresCluster cluster;
    private Setup setup;

    @BeforeAll
    static void createTable() throws Exception {
        cluster = TestPostgres.replicated();
        Setup.exec(
                cluster.primary(),
                "DROP TABLE IF EXISTS retry_block",
                "CREATE TABLE retry_block (id int PRIMARY KEY, v int NOT NULL)",
                "INSERT INTO retry_block VALUES (1, 0)",
                "GRANT ALL ON retry_block TO PUBLIC");
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

    /** Reads not split (readWriteSplit: false), with or without routing.retryReads. */
    private static RoutingConfig primaryOnly(boolean retryReads) {
        RoutingConfig r = Setup.eventual();
        return new RoutingConfig(
                        false,
                        r.consistency(),
                        r.maxReplicaLag(),
                        r.maxReplicaLagBytes(),
                        r.replicaFallback(),
                        r.probeInterval(),
                        r.primaryWait(),
                        r.primaryFunctions(),
                        false)
                .withRetryReads(retryReads);
    }

    @Test
    void withRetryReadsAnExtendedReadWhoseBackendWasTerminatedGetsItsResultFromANewConnection() throws Exception {
        setup = Setup.start(cluster, primaryOnly(true));
        try (Connection c = setup.connect()) {
            assertReadRetried(c, "SELECT count(*) FROM retry_block", "1");
        }
    }

    @Test
    void withRetryReadsASimpleQueryReadIsRetriedToo() throws Exception {
        setup = Setup.start(cluster, primaryOnly(true));
        try (Connection c = setup.connect("preferQueryMode", "simple")) {
            assertReadRetried(c, "SELECT v FROM retry_block WHERE id = 1", "0");
        }
    }

    /**
     * psql sends the transaction's start and its first read in one Query: the completion of START TRANSACTION is
     * held back with the rest, so nothing of the transaction reached the client when its backend ended. (pgjdbc
     * sends BEGIN READ ONLY as a Query of its own, answered before the read: that read is not retried.)
     */
    @Test
    void aReadOnlyTransactionsFirstStatementIsRetriedForPsql() throws Exception {
        setup = Setup.start(cluster, primaryOnly(true));
        Path work = Files.createTempDirectory("pggat-retry");
        Map<String, String> env = Map.of(
                "PGHOST",
                "127.0.0.1",
                "PGPORT",
                Integer.toString(setup.pooler.port()),
                "PGUSER",
                Setup.USER,
                "PGPASSWORD",
                TestPostgres.password(Setup.USER),
                "PGDATABASE",
                Setup.DB,
                "PGCONNECT_TIMEOUT",
                "10");
        long retried = setup.database().retriedQueriesTotal.sum();
        String out = runWhileItsBackendIsTerminated(() -> {
            ExternalClients.Result r = ExternalClients.run(
                    List.of(
                            ExternalClients.postgresProgram("psql").toString(),
                            "-X",
                            "-A",
                            "-t",
                            "-v",
                            "ON_ERROR_STOP=1",
                            "-c",
                            "START TRANSACTION READ ONLY; SELECT count(*) FROM retry_block"),
                    env,
                    work,
                    Duration.ofMinutes(2));
            assertThat(r.exitCode()).as(r.stderr()).isZero();
            assertThat(r.stderr()).isEmpty();
            return r.stdout().strip();
        });
        // psql shows every statement's result: the transaction's start, then the read's row, each once.
        assertThat(out.lines().toList()).containsExactly("START TRANSACTION", "1");
        assertThat(setup.database().retriedQueriesTotal.sum() - retried)
                .as("pggat_retried_queries_total")
                .isEqualTo(1);
    }

    @Test
    void withoutRetryReadsAReadOnAPrimaryOnlyDatabaseFailsWithAnErrorAndTheConnectionStays() throws Exception {
        setup = Setup.start(cluster, primaryOnly(false));
        try (Connection c = setup.connect()) {
            assertLostNotRetried(c, "SELECT count(*) FROM retry_block");
            assertThat(Setup.value(c, "SELECT count(*) FROM retry_block")).isEqualTo("1");
        }
    }

    @Test
    void aWriteIsNeverRetriedItFailsWithAnErrorAndTheConnectionStaysUsable() throws Exception {
        setup = Setup.start(cluster, primaryOnly(true));
        try (Connection c = setup.connect()) {
            String before = Setup.value(c, "SELECT v FROM retry_block WHERE id = 1");
            assertLostNotRetried(c, "UPDATE retry_block SET v = v + 1 WHERE id = 1");
            assertThat(Setup.value(c, "SELECT v FROM retry_block WHERE id = 1"))
                    .as("the write ran once at most, and its backend ended before it committed")
                    .isEqualTo(before);
        }
    }

    /**
     * Reads split to replicas, read-your-writes: after the client's write, with replay paused on every replica, its
     * read falls back to the primary; when that backend is ended the read is sent again, and, with no replica past
     * the client's write, to the primary once more.
     */
    @Test
    void aReadThatFellBackToThePrimaryIsRetriedWhereReadsAreSplit() throws Exception {
        setup = Setup.start(
                cluster,
                Setup.routing(RoutingConfig.Consistency.READ_YOUR_WRITES, Duration.ZERO, 0, Duration.ofSeconds(10)));
        setup.awaitAllUp();
        for (PostgresCluster.Node r : cluster.replicas()) {
            try (Connection su = Setup.superuser(r)) {
                Setup.value(su, "SELECT pg_wal_replay_pause()");
                Setup.await(
                        "replay paused on " + r.name(),
                        () -> {
                            try {
                                return "paused".equals(Setup.value(su, "SELECT pg_get_wal_replay_pause_state()"));
                            } catch (SQLException e) {
                                throw new IllegalStateException(e);
                            }
                        },
                        Duration.ofSeconds(30));
            }
        }
        try (Connection c = setup.connect()) {
            try (Statement st = c.createStatement()) {
                st.executeUpdate("UPDATE retry_block SET v = v WHERE id = 1");
            }
            long fallbacks = setup.decided("primary:fallback");
            assertReadRetried(c, "SELECT count(*) FROM retry_block", "1");
            assertThat(setup.decided("primary:fallback") - fallbacks)
                    .as("the read went to the primary because no replica had the client's write")
                    .isGreaterThanOrEqualTo(1);
        }
    }

    /**
     * Runs {@code sql} through the pooler while a direct connection holds an exclusive lock on its table, ends the
     * backend that waits for the lock, then lets the lock go: the client gets its result and the retry is counted.
     */
    private void assertReadRetried(Connection c, String sql, String expected) throws Exception {
        long retried = setup.database().retriedQueriesTotal.sum();
        long onPrimary = setup.decided("retried:primary");
        long errorsBefore = setup.database().serverLossErrorsTotal.sum();
        String got = runWhileItsBackendIsTerminated(() -> jdbc(c, sql, true));
        assertThat(got).isEqualTo(expected);
        assertThat(setup.database().retriedQueriesTotal.sum() - retried)
                .as("pggat_retried_queries_total")
                .isEqualTo(1);
        assertThat(setup.decided("retried:primary") - onPrimary).isEqualTo(1);
        assertThat(setup.database().serverLossErrorsTotal.sum()).isEqualTo(errorsBefore);
        assertThat(Setup.value(c, "SELECT 7")).as("the connection goes on").isEqualTo("7");
    }

    /** As above for work that is not retried: the client gets the loss as an ERROR, and its connection stays. */
    private void assertLostNotRetried(Connection c, String sql) throws Exception {
        long retried = setup.database().retriedQueriesTotal.sum();
        assertThatThrownBy(() -> runWhileItsBackendIsTerminated(() -> jdbc(c, sql, false)))
                .isInstanceOf(ExecutionException.class)
                .cause()
                .isInstanceOfSatisfying(PSQLException.class, e -> {
                    // What the server said as it went (57P01 from pg_terminate_backend), told as an ERROR; a server
                    // that says nothing gives 08006.
                    assertThat(e.getSQLState()).isEqualTo("57P01");
                    assertThat(e.getServerErrorMessage().getSeverity()).isEqualTo("ERROR");
                    assertThat(e.getMessage()).contains("server connection lost");
                });
        assertThat(setup.database().retriedQueriesTotal.sum() - retried).isZero();
        assertThat(c.isValid(30)).isTrue();
    }

    private static String jdbc(Connection c, String sql, boolean query) throws SQLException {
        try (Statement st = c.createStatement()) {
            if (!query) {
                return Integer.toString(st.executeUpdate(sql));
            }
            try (ResultSet rs = st.executeQuery(sql)) {
                rs.next();
                return rs.getString(1);
            }
        }
    }

    /**
     * Runs {@code client} while a direct connection holds an exclusive lock on retry_block: ends the backend that
     * waits for it (once), then lets the lock go, and returns what the client got.
     */
    private static String runWhileItsBackendIsTerminated(Callable<String> client) throws Exception {
        return runWhileBlocked(client, killer -> "1"
                .equals(Setup.value(
                        killer,
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                                + " WHERE wait_event_type = 'Lock' AND query LIKE '%retry_block%'"
                                + " AND pid <> pg_backend_pid()")));
    }

    /** Ends the client's server (once) when {@code loss} says it did: true once it waits for the lock and ended. */
    private interface Loss {
        boolean endIfWaiting(Connection killer) throws SQLException;
    }

    private static String runWhileBlocked(Callable<String> client, Loss loss) throws Exception {
        try (Connection locker = Setup.direct(cluster.primary());
                Connection killer = Setup.superuser(cluster.primary())) {
            locker.setAutoCommit(false);
            try (Statement st = locker.createStatement()) {
                st.execute("LOCK TABLE retry_block IN ACCESS EXCLUSIVE MODE");
            }
            CompletableFuture<String> result = CompletableFuture.supplyAsync(() -> {
                try {
                    return client.call();
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            });
            Setup.await(
                    "the pooler's server connection waiting for the lock, ended",
                    () -> {
                        try {
                            return loss.endIfWaiting(killer);
                        } catch (SQLException e) {
                            throw new IllegalStateException(e);
                        }
                    },
                    Duration.ofSeconds(60));
            locker.commit();
            return result.get(60, TimeUnit.SECONDS);
        }
    }
}
