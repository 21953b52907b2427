package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.backend.ServerStats;
import dev.pggat.pooler.conformance.ExternalClients;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.testing.PoolerFixture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The pass-through fast path (ServerPassThrough): taken in the common case (pgbench, pgjdbc in transaction mode),
 * and with it on or off the clients get the same answers and the statistics count the same queries,
 * transactions and bytes, including around what it leaves to the per-frame path (prepared statements, errors
 * inside an extended batch, ParameterStatus, DISCARD ALL, savepoints, results larger than one read).
 */
class PassThroughTest {
    private static PoolerFixture fx;

    @BeforeAll
    static void start() throws Exception {
        // One server: every run meets the same server state, so the counters of two runs can be compared.
        fx = PoolerFixture.start(1, "");
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    private static long runs() {
        return fx.pooler.frontend().passThroughRuns.sum();
    }

    @Test
    void pgbenchSimpleAndExtendedTakeTheFastPath() throws Exception {
        Path work = Files.createTempDirectory("passthrough");
        Path script = work.resolve("select.sql");
        Files.writeString(script, "\\set n random(1, 40)\nSELECT g, md5(g::text) FROM generate_series(1, :n) g;\n");
        for (String mode : List.of("simple", "extended")) {
            long before = runs();
            ExternalClients.Result r = ExternalClients.run(
                    List.of(
                            ExternalClients.postgresProgram("pgbench").toString(),
                            "-n",
                            "-f",
                            script.toString(),
                            "-c",
                            "4",
                            "-j",
                            "2",
                            "-t",
                            "200",
                            "-M",
                            mode),
                    Map.of(
                            "PGHOST", "127.0.0.1",
                            "PGPORT", Integer.toString(fx.port()),
                            "PGUSER", "plain_user",
                            "PGPASSWORD", "plain_user-secret",
                            "PGDATABASE", "appdb",
                            "PGSSLMODE", "disable"),
                    work,
                    Duration.ofMinutes(3));
            assertThat(r.exitCode()).as(r.stderr()).isZero();
            assertThat(number(r.stdout(), "number of transactions actually processed: (\\d+)"))
                    .as(mode)
                    .isEqualTo(800);
            // A client whose server lives on the other event loop takes the per-frame path (in a pool of one, about
            // half of them here); the others pass at least one run per transaction.
            assertThat(runs() - before)
                    .as("runs forwarded without per-message handling, -M " + mode)
                    .isPositive();
        }
    }

    @Test
    void sameAnswersAndCountersWithTheFastPathOnOrOff() throws Exception {
        // One client on one server throughout: the pooler's own queries (settings sync at a new client) would
        // otherwise differ from run to run, and with them the byte counters.
        try (Connection c = fx.connect("appdb", "scram_user", "scram_user-secret", "prepareThreshold", "1")) {
            workload(c); // the server's statement cache and settings are then the same before every run
            List<String> first = null;
            long[] firstCounters = null;
            for (boolean on : new boolean[] {true, false, true, false}) {
                fx.pooler.frontend().passThrough = on;
                long runsBefore = runs();
                long[] before = counters();
                List<String> seen = workload(c);
                long[] delta = minus(counters(), before);
                if (on) {
                    assertThat(runs()).as("the fast path was taken").isGreaterThan(runsBefore);
                } else {
                    assertThat(runs())
                            .as("switched off, nothing passes through")
                            .isEqualTo(runsBefore);
                }
                if (first == null) {
                    first = seen;
                    firstCounters = delta;
                    assertThat(delta[0]).as("queries").isPositive();
                    assertThat(delta[1]).as("transactions").isPositive();
                    assertThat(delta[3]).as("bytes from the server").isGreaterThan(20000L * 64);
                } else {
                    assertThat(seen).as("answers, fast path " + on).isEqualTo(first);
                    // queries, transactions, bytes to and from the server
                    assertThat(delta).as("counters, fast path " + on).containsExactly(firstCounters);
                }
            }
        } finally {
            fx.pooler.frontend().passThrough = true;
        }
    }

    /** What a pgjdbc client sees of a mix of everything the per-frame path handles around plain traffic. */
    private static List<String> workload(Connection c) throws SQLException {
        List<String> seen = new ArrayList<>();
        for (int round = 0; round < 3; round++) {
            try (PreparedStatement ps = c.prepareStatement("SELECT ?::int * 2, repeat('x', ?)")) {
                for (int i = 0; i < 5; i++) {
                    ps.setInt(1, i);
                    ps.setInt(2, i * 100);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        seen.add(rs.getInt(1) + ":" + rs.getString(2).length());
                    }
                }
            }
            try (Statement st = c.createStatement()) {
                // Larger than one read: messages split across reads stay buffered until whole.
                try (ResultSet rs =
                        st.executeQuery("SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 20000) g")) {
                    long sum = 0;
                    int rows = 0;
                    while (rs.next()) {
                        sum += rs.getLong(1) + rs.getString(2).length();
                        rows++;
                    }
                    seen.add("rows " + rows + " " + sum);
                }
                st.execute("SET application_name = 'pass-through'"); // ParameterStatus
                try (ResultSet rs = st.executeQuery("SHOW application_name")) {
                    rs.next();
                    seen.add(rs.getString(1));
                }
                assertThatThrownBy(() -> st.executeQuery("SELECT 1/0")).hasMessageContaining("division by zero");
                c.setAutoCommit(false);
                st.execute("SAVEPOINT a");
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM generate_series(1, 10)")) {
                    rs.next();
                    seen.add("count " + rs.getInt(1));
                }
                st.execute("ROLLBACK TO SAVEPOINT a");
                c.commit();
                c.setAutoCommit(true);
                st.execute("DISCARD ALL");
            }
        }
        return seen;
    }

    /**
     * scram_user's appdb pool: queries, transactions, bytes to and bytes from the server, once its server is back
     * in the pool (the pooler's own queries at a transaction's end are answered after the client's reply).
     */
    private static long[] counters() throws InterruptedException {
        Pool pool =
                fx.pooler.router().database("appdb").users().get("scram_user").primaryPool();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (pool.stats().active() > 0) {
            assertThat(System.nanoTime()).as("the server went back to the pool").isLessThan(deadline);
            Thread.sleep(10);
        }
        ServerStats s = pool.serverStats;
        return new long[] {s.queries.sum(), s.transactions.sum(), s.bytesToServer.sum(), s.bytesFromServer.sum()};
    }

    private static long[] minus(long[] a, long[] b) {
        long[] d = new long[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i] - b[i];
        }
        return d;
    }

    private static long number(String out, String regex) {
        Matcher m = Pattern.compile(regex).matcher(out);
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }
}
