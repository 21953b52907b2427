package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.testing.PoolerFixture;
import dev.pggat.pooler.testing.RawClient;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Clients and servers that die at the worst moment; cancel; the admin endpoint. */
class FailureTest {
    static PoolerFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = PoolerFixture.start(2, "");
        try (Connection c = fx.superuser();
                Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS failure_locked");
            s.execute("CREATE TABLE failure_locked (id int)");
            s.execute("GRANT ALL ON failure_locked TO trust_user, scram_user");
        }
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    private static int count(String sql) throws SQLException {
        try (Connection c = fx.superuser();
                ResultSet rs = c.createStatement().executeQuery(sql)) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static void eventually(String what, java.util.concurrent.Callable<Boolean> check) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!check.call()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(50);
        }
    }

    @Test
    void clientKilledMidTransactionLeavesNoTransactionOrLockOnTheServer() throws Exception {
        try (RawClient c = new RawClient("127.0.0.1", fx.port())) {
            c.login("trust_user", "appdb", null);
            c.send(RawClient.query("BEGIN; LOCK TABLE failure_locked IN ACCESS EXCLUSIVE MODE"));
            c.readUntilReady();
            assertThat(count("SELECT count(*) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation"
                            + " WHERE r.relname = 'failure_locked'"))
                    .isEqualTo(1);
            c.socket.setSoLinger(true, 0); // RST, like a killed process
        }
        eventually(
                "the lock is released",
                () -> count("SELECT count(*) FROM pg_locks l JOIN pg_class r"
                                + " ON r.oid = l.relation WHERE r.relname = 'failure_locked'")
                        == 0);
        eventually(
                "no transaction stays open",
                () -> count("SELECT count(*) FROM pg_stat_activity WHERE usename ="
                                + " 'trust_user' AND state LIKE 'idle in transaction%'")
                        == 0);
        try (Connection c = fx.connect("appdb", "trust_user", null)) {
            c.setAutoCommit(false);
            c.createStatement().execute("LOCK TABLE failure_locked IN ACCESS EXCLUSIVE MODE NOWAIT");
            c.rollback();
        }
    }

    @Test
    void clientKilledMidQueryHasItsQueryCanceled() throws Exception {
        try (RawClient c = new RawClient("127.0.0.1", fx.port())) {
            c.login("trust_user", "appdb", null);
            c.send(RawClient.query("SELECT pg_sleep(60)"));
            eventually(
                    "the query runs",
                    () -> count("SELECT count(*) FROM pg_stat_activity WHERE query ="
                                    + " 'SELECT pg_sleep(60)' AND state = 'active'")
                            == 1);
        }
        eventually(
                "the query is gone",
                () -> count("SELECT count(*) FROM pg_stat_activity WHERE query ="
                                + " 'SELECT pg_sleep(60)' AND state = 'active'")
                        == 0);
    }

    @Test
    void serverTerminatedMidQueryGivesThatClientAnErrorAndOthersCarryOn() throws Exception {
        try (RawClient victim = new RawClient("127.0.0.1", fx.port());
                Connection bystander = fx.connect("appdb", "scram_user")) {
            victim.login("trust_user", "appdb", null);
            victim.send(RawClient.query("SELECT pg_sleep(30)"));
            eventually(
                    "the query runs",
                    () -> count("SELECT count(*) FROM pg_stat_activity WHERE query ="
                                    + " 'SELECT pg_sleep(30)' AND state = 'active'")
                            == 1);
            count("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    + " WHERE query = 'SELECT pg_sleep(30)') t");
            // Raw, so that a bare close (which drivers also report as 08006) cannot pass for an error.
            List<RawClient.Msg> got = victim.readUntilReady();
            List<RawClient.Msg> errors =
                    got.stream().filter(m -> m.type() == 'E').toList();
            // One error for the lost statement; transaction mode keeps the client (its session is the pooler's).
            assertThat(errors)
                    .as(
                            "ErrorResponses before the close, as codes: %s",
                            errors.stream().map(m -> m.field('C')).toList())
                    .hasSize(1);
            RawClient.Msg error = errors.get(0);
            // The server's own reason, told as an ERROR: only the server ended, the client's session goes on.
            assertThat(error.field('S')).isEqualTo("ERROR");
            assertThat(error.field('C')).isEqualTo("57P01");
            assertThat(error.field('M')).startsWith("terminating connection due to administrator command");
            assertThat(got).last().extracting(RawClient.Msg::type).isEqualTo('Z');
            victim.send(RawClient.query("SELECT 7"));
            assertThat(victim.readUntilReady()).noneMatch(m -> m.type() == 'E');
            try (ResultSet rs = bystander.createStatement().executeQuery("SELECT 5")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(5);
            }
        }
        try (Connection again = fx.connect("appdb", "scram_user");
                ResultSet rs = again.createStatement().executeQuery("SELECT 6")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(6);
        }
    }

    @Test
    void statementCancelReachesTheServerRunningTheQuery() throws Exception {
        try (Connection c = fx.connect("appdb", "scram_user");
                Statement s = c.createStatement()) {
            CompletableFuture.runAsync(() -> {
                try {
                    Thread.sleep(500);
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
            try (ResultSet rs = s.executeQuery("SELECT 8")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(8);
            }
        }
    }

    @Test
    void adminEndpointServesHealthReadinessAndMetrics() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String base = "http://127.0.0.1:" + fx.pooler.adminPort();
        try (Connection c = fx.connect("appdb", "scram_user")) {
            c.createStatement().execute("SELECT 1");
            HttpResponse<String> metrics = http.send(
                    HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(metrics.statusCode()).isEqualTo(200);
            assertThat(metrics.body())
                    .contains("pggat_client_connections{database=\"appdb\",state=\"idle\",user=\"scram_user\"} 1")
                    .contains("pggat_server_connections{database=\"appdb\",endpoint=\"127.0.0.1:"
                            + fx.cluster.primary().port() + "\",state=\"idle\",user=\"scram_user\"}")
                    .contains("pggat_pool_waiting_clients{database=\"appdb\",endpoint=\"127.0.0.1:"
                            + fx.cluster.primary().port() + "\",user=\"scram_user\"} 0")
                    .contains("pggat_endpoint_up{database=\"appdb\",endpoint=\"127.0.0.1:"
                            + fx.cluster.primary().port() + "\"} 1")
                    .contains("pggat_routing_decisions_total{database=\"appdb\",decision=\"primary:only\"}")
                    .doesNotContain("scram_user-secret");
        }
        for (String path : List.of("/healthz", "/readyz")) {
            HttpResponse<String> r = http.send(
                    HttpRequest.newBuilder(URI.create(base + path)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(path).isEqualTo(200);
        }
    }
}
