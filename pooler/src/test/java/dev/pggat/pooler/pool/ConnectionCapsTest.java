package dev.pggat.pooler.pool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.testing.PoolerFixture;
import dev.pggat.pooler.testing.TestPostgres;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * maxDatabaseConnections, maxUserConnections and the reserve pool, counted where it matters: in PostgreSQL's
 * pg_stat_activity, sampled while many clients run at once.
 */
class ConnectionCapsTest {
    private static final int CLIENTS_PER_USER = 6;
    private static final int QUERIES_PER_CLIENT = 8;

    private static String yaml(String pools, String appdbExtra, String users) {
        return yaml(pools, appdbExtra, users, users);
    }

    /**
     * The first user of a database is the one its health probe logs in as. The probe's connection is not pooled
     * and not capped, and until it has sent its first query pg_stat_activity cannot tell it from a pooled one
     * (its query is still empty): a user no client of these tests uses keeps it out of every count. It was once
     * trust_user, and a sample taken while a busy machine delayed the probe's first query counted it.
     */
    private static final String PROBE_USER = "      md5_user: {password: md5_user-secret}\n";

    /** appdb and other, both on the server database appdb, each with its own users section. */
    private static String yaml(String pools, String appdbExtra, String users, String otherUsers) {
        int port = TestPostgres.shared().primary().port();
        return """
                listen: {host: 127.0.0.1, port: 0}
                admin: {host: 127.0.0.1, port: 0}
                timeouts: {queryWait: 10s}
                pools:
                %s
                databases:
                  appdb:
                %s
                    endpoints: [{host: 127.0.0.1, port: %d}]
                    users:
                %s
                  other:
                    serverDatabase: appdb
                    endpoints: [{host: 127.0.0.1, port: %d}]
                    users:
                %s
                """.formatted(pools, appdbExtra, port, PROBE_USER + users, port, PROBE_USER + otherUsers);
    }

    private static final String TWO_USERS = "      trust_user: {auth: trust, serverPassword: trust_user-secret}\n"
            + "      scram_user: {password: scram_user-secret}";

    /**
     * The pools' server connections matching {@code where}: client backends other than the health probe's own
     * connection (one per endpoint, not pooled, so not counted against caps).
     */
    private static int serverConnections(Connection su, String where) throws SQLException {
        try (ResultSet rs = su.createStatement()
                .executeQuery("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                        + " AND query NOT LIKE 'SELECT pg_is_in_recovery()%' AND " + where
                        + " AND backend_start >= '" + since + "'::timestamptz")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    /**
     * When the test's own pooler started, by the server's clock. The PostgreSQL instance is shared with earlier test
     * classes: a connection they left behind (it started before this pooler did) is not this pooler's and is not
     * counted; it is printed, so that a pooler that leaks server connections is still seen.
     */
    private static volatile String since = "-infinity";

    private static PoolerFixture start(String config) throws Exception {
        try (Connection su = TestPostgres.connect(TestPostgres.shared().primary(), "appdb", "postgres");
                ResultSet rs = su.createStatement()
                        .executeQuery("SELECT clock_timestamp()::text, string_agg(format('%s@%s %s since %s: %s',"
                                + " usename, datname, state, backend_start, left(query, 60)), '; ')"
                                + " FROM pg_stat_activity WHERE backend_type = 'client backend'"
                                + " AND usename IN ('trust_user', 'scram_user')")) {
            rs.next();
            since = rs.getString(1);
            if (rs.getString(2) != null) {
                System.err.println("ConnectionCapsTest: server connections left by earlier tests: " + rs.getString(2));
            }
        }
        return PoolerFixture.startYaml(config);
    }

    /**
     * Runs {@code clients} concurrently (each: several short queries through the pooler) while sampling
     * pg_stat_activity; returns the highest count seen.
     */
    private static int peakDuring(PoolerFixture fx, List<String[]> clients, String where) throws Exception {
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicInteger peak = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(clients.size());
        try (Connection su = fx.superuser()) {
            // The PostgreSQL instance is shared with earlier test classes, whose poolers' server connections may
            // still be exiting under the same database and user names: start from none, or the peak counts them.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
            int before;
            while ((before = serverConnections(su, where)) != 0 && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertThat(before).as("server connections left over before the run").isZero();
            CompletableFuture<Void> sampler = CompletableFuture.runAsync(() -> {
                while (running.get()) {
                    try {
                        peak.accumulateAndGet(serverConnections(su, where), Math::max);
                        Thread.sleep(5);
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                }
            });
            List<Future<Integer>> done = new ArrayList<>();
            for (String[] c : clients) {
                done.add(pool.submit(() -> {
                    try (Connection conn = fx.connect(c[0], c[1], c[2]);
                            Statement s = conn.createStatement()) {
                        int ok = 0;
                        for (int i = 0; i < QUERIES_PER_CLIENT; i++) {
                            try (ResultSet rs = s.executeQuery("SELECT pg_sleep(0.02), " + i)) {
                                rs.next();
                                ok += rs.getInt(2) == i ? 1 : 0;
                            }
                        }
                        return ok;
                    }
                }));
            }
            for (Future<Integer> f : done) {
                assertThat(f.get(30, TimeUnit.SECONDS)).isEqualTo(QUERIES_PER_CLIENT);
            }
            running.set(false);
            sampler.get(5, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
        return peak.get();
    }

    private static List<String[]> clients(String... databaseUserPairs) {
        List<String[]> out = new ArrayList<>();
        for (int i = 0; i < databaseUserPairs.length; i += 2) {
            String user = databaseUserPairs[i + 1];
            String password = user.equals("trust_user") ? null : user + "-secret";
            for (int n = 0; n < CLIENTS_PER_USER; n++) {
                out.add(new String[] {databaseUserPairs[i], user, password});
            }
        }
        return out;
    }

    private static ConnectionCap cap(PoolerFixture fx, ConnectionCap.Kind kind, String name) {
        Router router = fx.pooler.router();
        return router.caps().stream()
                .filter(c -> c.kind() == kind && c.name().equals(name))
                .findFirst()
                .orElseThrow();
    }

    @Test
    void databaseCapHoldsAcrossUsersUnderConcurrentLoad() throws Exception {
        String config = yaml("  maxServerConnections: 5", "    maxDatabaseConnections: 3", TWO_USERS);
        try (PoolerFixture fx = start(config)) {
            int peak = peakDuring(
                    fx,
                    clients("appdb", "trust_user", "appdb", "scram_user"),
                    "datname = 'appdb' AND usename IN ('trust_user', 'scram_user')");
            // Without the cap the two pools would open up to 10 between them.
            assertThat(peak).isEqualTo(3);
            assertThat(cap(fx, ConnectionCap.Kind.DATABASE, "appdb").waitsTotal.sum())
                    .isPositive();
        }
    }

    @Test
    void userCapHoldsAcrossDatabasesUnderConcurrentLoad() throws Exception {
        String config = yaml("  maxServerConnections: 5\n  maxUserConnections: 2", "", TWO_USERS);
        try (PoolerFixture fx = start(config)) {
            int peak = peakDuring(fx, clients("appdb", "trust_user", "other", "trust_user"), "usename = 'trust_user'");
            assertThat(peak).isEqualTo(2);
            assertThat(cap(fx, ConnectionCap.Kind.USER, "trust_user").waitsTotal.sum())
                    .isPositive();
        }
    }

    @Test
    void userCapSetOnTheUserAppliesInEveryDatabase() throws Exception {
        String users = "      trust_user: {auth: trust, serverPassword: trust_user-secret, maxUserConnections: 2}\n"
                + "      scram_user: {password: scram_user-secret}";
        String config = yaml("  maxServerConnections: 5", "", users, TWO_USERS);
        try (PoolerFixture fx = start(config)) {
            int peak = peakDuring(fx, clients("appdb", "trust_user", "other", "trust_user"), "usename = 'trust_user'");
            assertThat(peak).isEqualTo(2);
        }
    }

    @Test
    void idleServerOfAnotherPoolIsClosedToMakeRoomUnderTheCap() throws Exception {
        String config = yaml("  maxServerConnections: 5", "    maxDatabaseConnections: 2", TWO_USERS);
        try (PoolerFixture fx = start(config);
                Connection su = fx.superuser()) {
            // trust_user fills the cap with two servers that then sit idle (serverIdle is 10 minutes).
            try (Connection a = fx.connect("appdb", "trust_user", null);
                    Connection b = fx.connect("appdb", "trust_user", null)) {
                a.setAutoCommit(false);
                b.setAutoCommit(false);
                a.createStatement().execute("SELECT 1");
                b.createStatement().execute("SELECT 1");
                a.commit();
                b.commit();
            }
            assertThat(serverConnections(su, "datname = 'appdb' AND usename = 'trust_user'"))
                    .isEqualTo(2);
            long t0 = System.nanoTime();
            try (Connection c = fx.connect("appdb", "scram_user");
                    ResultSet rs = c.createStatement().executeQuery("SELECT 3")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(3);
            }
            // Without making room the client would wait out queryWait (10 s).
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isLessThan(9000);
            assertThat(serverConnections(su, "datname = 'appdb' AND usename IN ('trust_user', 'scram_user')"))
                    .isLessThanOrEqualTo(2);
            assertThat(serverConnections(su, "datname = 'appdb' AND usename = 'trust_user'"))
                    .isEqualTo(1);
        }
    }

    @Test
    void reservePoolOpensOnlyAfterTheTimeoutAndClosesWhenIdle() throws Exception {
        String config =
                yaml("  maxServerConnections: 1\n  reservePoolSize: 1\n  reservePoolTimeout: 800ms", "", TWO_USERS);
        try (PoolerFixture fx = start(config);
                Connection su = fx.superuser();
                Connection holder = fx.connect("appdb", "trust_user", null)) {
            String mine = "datname = 'appdb' AND usename = 'trust_user'";
            holder.setAutoCommit(false);
            holder.createStatement().execute("SELECT 1"); // keeps the pool's only server in its transaction
            assertThat(serverConnections(su, mine)).isEqualTo(1);

            long t0 = System.nanoTime();
            CompletableFuture<Integer> waiter = CompletableFuture.supplyAsync(() -> {
                try (Connection c = fx.connect("appdb", "trust_user", null);
                        ResultSet rs = c.createStatement().executeQuery("SELECT 4")) {
                    rs.next();
                    return rs.getInt(1);
                } catch (SQLException e) {
                    throw new RuntimeException(e);
                }
            });
            Thread.sleep(300);
            assertThat(waiter).isNotDone();
            assertThat(serverConnections(su, mine))
                    .as("no reserve before reservePoolTimeout")
                    .isEqualTo(1);
            assertThat(waiter.get(5, TimeUnit.SECONDS)).isEqualTo(4);
            // Not before reservePoolTimeout (800 ms); served well before queryWait (10 s).
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isBetween(800L, 9000L);

            Pool pool = fx.pooler
                    .router()
                    .database("appdb")
                    .user("trust_user")
                    .pools()
                    .values()
                    .iterator()
                    .next();
            assertThat(pool.reserveOpenedTotal.sum()).isEqualTo(1);
            // The reserve connection closed as soon as its client let it go; the holder's server stays.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (serverConnections(su, mine) != 1 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(serverConnections(su, mine)).isEqualTo(1);
            assertThat(pool.reserveInUse()).isZero();
            holder.commit();
        }
    }
}
