package dev.pggat.pooler.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.testing.PoolerFixture;
import dev.pggat.pooler.testing.TestPostgres;
import java.net.ServerSocket;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Server connections over time: kept warm, closed when idle, recycled at end of life, retried with backoff. */
class PoolLifecycleTest {
    static PoolerFixture fx;
    static int deadPort;

    @BeforeAll
    static void start() throws Exception {
        int pg = TestPostgres.shared().primary().port();
        try (ServerSocket s = new ServerSocket(0)) {
            deadPort = s.getLocalPort(); // closed again: nothing listens there
        }
        fx = PoolerFixture.startYaml("""
                listen: {host: 127.0.0.1, port: 0}
                admin: {host: 127.0.0.1, port: 0}
                timeouts:
                  queryWait: 1500ms
                  serverIdle: 1s
                  serverLifetime: 2s
                  serverConnect: 1s
                  serverConnectBackoffMax: 2s
                databases:
                  warm:
                    serverDatabase: appdb
                    minServerConnections: 2
                    endpoints: [{host: 127.0.0.1, port: %d}]
                    users:
                      md5_user: {password: md5_user-secret, auth: md5}
                  idle:
                    serverDatabase: appdb
                    endpoints: [{host: 127.0.0.1, port: %d}]
                    users:
                      plain_user: {password: plain_user-secret, auth: password}
                  unreachable:
                    endpoints: [{host: 127.0.0.1, port: %d}]
                    users:
                      scram_user: {password: scram_user-secret}
                  badserverpassword:
                    serverDatabase: appdb
                    endpoints: [{host: 127.0.0.1, port: %d}]
                    users:
                      scram_user: {password: scram_user-secret, serverPassword: not-the-server-password}
                """.formatted(pg, pg, deadPort, pg));
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    private static int serversOf(String user) throws SQLException {
        try (Connection c = fx.superuser();
                PreparedStatement ps = c.prepareStatement(
                        "SELECT count(*) FROM pg_stat_activity WHERE usename = ? AND backend_type = 'client backend'")) {
            ps.setString(1, user);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    private static int pid(Connection c) throws SQLException {
        try (ResultSet rs = c.createStatement().executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static void eventually(String what, Callable<Boolean> check) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!check.call()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(100);
        }
    }

    private static Pool pool(String database) {
        return fx.pooler
                .router()
                .database(database)
                .users()
                .values()
                .iterator()
                .next()
                .primaryPool();
    }

    @Test
    void keepsTheMinimumOpenWithoutAnyClient() throws Exception {
        // Lifetime recycling closes them every ~2 s; the minimum is restored each time.
        eventually("two warm servers exist", () -> pool("warm").stats().idle() >= 2);
        eventually("PostgreSQL sees them", () -> serversOf("md5_user") >= 2);
    }

    @Test
    void closesServersIdleLongerThanServerIdle() throws Exception {
        try (Connection c = fx.connect("idle", "plain_user")) {
            pid(c);
        }
        eventually("the server is back in the pool", () -> pool("idle").stats().active() == 0);
        eventually("the idle server is closed", () -> pool("idle").stats().idle() == 0);
        eventually("PostgreSQL no longer sees it", () -> serversOf("plain_user") == 0);
    }

    @Test
    void recyclesServersPastTheirLifetime() throws Exception {
        // Busy all along (never idle for serverIdle), yet replaced once its 2 s (+-10%) lifetime is over.
        java.util.Set<Integer> pids = new java.util.HashSet<>();
        try (Connection c = fx.connect("idle", "plain_user")) {
            long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(3500);
            while (System.nanoTime() < end && pids.size() < 2) {
                pids.add(pid(c));
                Thread.sleep(20);
            }
        }
        assertThat(pids).hasSize(2);
    }

    @Test
    void unreachableServerFailsTheClientAfterQueryWaitAndBacksOff() throws Exception {
        Pool pool = pool("unreachable");
        long before = pool.connectFailuresTotal.sum();
        long start = System.nanoTime();
        // The first client of a pool learns the server's parameters at login, so it waits there.
        assertThatThrownBy(() -> {
                    try (Connection c = fx.connect("unreachable", "scram_user")) {
                        pid(c);
                    }
                })
                .isInstanceOfSatisfying(SQLException.class, e -> {
                    assertThat(e.getSQLState()).isEqualTo("08001");
                    assertThat(e.getMessage()).contains("could not connect to server 127.0.0.1:" + deadPort);
                });
        long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        // Not before queryWait (1.5 s, timed from before the connect); the upper bound only catches a client
        // left waiting for good.
        assertThat(waitedMs).isBetween(1500L, 15_000L);
        long attempts = pool.connectFailuresTotal.sum() - before;
        // 100, 200, 400, 800 ms backoff: a handful of attempts in 1.5 s, not a busy loop.
        assertThat(attempts).isBetween(2L, 6L);
    }

    @Test
    void serverRejectingThePooledLoginFailsClientsAtOnce() throws Exception {
        Pool pool = pool("badserverpassword");
        long before = pool.connectFailuresTotal.sum();
        assertThatThrownBy(() -> {
                    try (Connection c = fx.connect("badserverpassword", "scram_user")) {
                        pid(c);
                    }
                })
                .isInstanceOfSatisfying(SQLException.class, e -> {
                    assertThat(e.getSQLState()).isEqualTo("28P01");
                    assertThat(e.getMessage())
                            .contains("password authentication failed")
                            .doesNotContain("not-the-server-password");
                });
        // "At once": the first refusal fails the client. A pool that took the refusal for a passing failure would
        // retry with backoff until queryWait and only then fail the client; the attempt count tells the two apart
        // on a machine of any speed, where a bound on the time would not.
        assertThat(pool.connectFailuresTotal.sum() - before).isEqualTo(1);
    }
}
