package dev.pggat.pooler.conformance;

import static dev.pggat.pooler.conformance.Jdbc.attempt;
import static dev.pggat.pooler.conformance.Jdbc.execute;
import static dev.pggat.pooler.conformance.Jdbc.query;
import static dev.pggat.pooler.conformance.Jdbc.rows;
import static org.assertj.core.api.Assertions.assertThat;

import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * pgjdbc through pggat: the same scenarios directly against PostgreSQL, in transaction mode and in session mode,
 * compared line by line. {@code prepareThreshold=0} keeps pgjdbc on unnamed statements (what transaction mode
 * supports today); {@code prepareThreshold=1} names every statement from its first execution.
 */
class JdbcConformanceTest {
    private static final String USER = "scram_user";
    private static final int TRANSACTION_POOL = 4;
    private static final int SESSION_POOL = 60;

    static ConformanceFixture fx;
    static final Conformance conformance = new Conformance();

    @BeforeAll
    static void start() throws Exception {
        fx = ConformanceFixture.start(TRANSACTION_POOL, SESSION_POOL);
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    // ------------------------------------------------------------------ queries, errors, transactions

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = Target.class,
            names = {"TRANSACTION", "SESSION"})
    void queriesErrorsAndTransactionsBehaveAsDirectly(Target target) throws Exception {
        conformance.check("basics", target, this::basics);
    }

    private List<String> basics(Target t) throws Exception {
        fx.directly(
                USER,
                "DROP TABLE IF EXISTS conf_jdbc_basics",
                "CREATE TABLE conf_jdbc_basics (id int PRIMARY KEY, note text)");
        List<String> out = new ArrayList<>();
        try (Connection c = fx.jdbc(t, USER, "prepareThreshold", "0")) {
            out.add(query(
                    c,
                    "SELECT 1 + 1 AS two, 'x' || 'y' AS xy, NULL::int AS n, 1.50::numeric(4,2) AS num,"
                            + " timestamptz '2024-02-29 12:00:00+00' AT TIME ZONE 'UTC' AS ts,"
                            + " '\\x0102'::bytea AS b, ARRAY[1,2,3] AS a, current_database() AS db"));
            out.add(attempt(() -> {
                try (PreparedStatement ps = c.prepareStatement(
                        "SELECT ?::int * 10 AS i, ?::text AS t, ?::numeric AS n, ?::bytea AS b, ?::int AS nul")) {
                    ps.setInt(1, 7);
                    ps.setString(2, "sev'en");
                    ps.setBigDecimal(3, new java.math.BigDecimal("12345678901234567890.5"));
                    ps.setBytes(4, new byte[] {0, 1, (byte) 255});
                    ps.setNull(5, java.sql.Types.INTEGER);
                    try (ResultSet rs = ps.executeQuery()) {
                        return rows(rs);
                    }
                }
            }));
            out.add(query(c, "SELECT 1/0"));
            out.add(query(c, "SELEC 1"));
            out.add(query(c, "SELECT 42 AS after_errors"));
            out.add(query(c, "SELECT * FROM generate_series(1, 5) AS g"));

            c.setAutoCommit(false);
            out.add(execute(c, "INSERT INTO conf_jdbc_basics VALUES (1, 'kept')"));
            java.sql.Savepoint sp = c.setSavepoint();
            out.add(execute(c, "INSERT INTO conf_jdbc_basics VALUES (1, 'duplicate')"));
            c.rollback(sp);
            out.add(execute(c, "INSERT INTO conf_jdbc_basics VALUES (2, 'after savepoint')"));
            c.commit();
            out.add(execute(c, "INSERT INTO conf_jdbc_basics VALUES (3, 'rolled back')"));
            c.rollback();
            out.add(execute(c, "INSERT INTO conf_jdbc_basics VALUES (4, 'aborted')"));
            out.add(query(c, "SELECT 1/0"));
            out.add(query(c, "SELECT 'inside an aborted transaction'"));
            c.rollback();
            c.setAutoCommit(true);
            out.add(query(c, "SELECT id, note FROM conf_jdbc_basics ORDER BY id"));
        }
        try (Connection c = fx.jdbc(t, USER, "preferQueryMode", "simple")) {
            out.add(attempt(() -> {
                try (Statement s = c.createStatement()) {
                    List<String> results = new ArrayList<>();
                    boolean isResult = s.execute("SELECT 1 AS a; SELECT 'two' AS b; UPDATE conf_jdbc_basics SET"
                            + " note = note WHERE id > 0");
                    while (true) {
                        if (isResult) {
                            try (ResultSet rs = s.getResultSet()) {
                                results.add(rows(rs));
                            }
                        } else if (s.getUpdateCount() >= 0) {
                            results.add("updated " + s.getUpdateCount());
                        } else {
                            break;
                        }
                        isResult = s.getMoreResults();
                    }
                    return String.join(", ", results);
                }
            }));
            out.add(query(c, "SELECT 1/0"));
            out.add(query(c, "SELECT 'simple protocol after an error' AS s"));
        }
        return out;
    }

    // ------------------------------------------------------------------ batches

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = Target.class,
            names = {"TRANSACTION", "SESSION"})
    void batchesOfUnnamedStatementsBehaveAsDirectly(Target target) throws Exception {
        conformance.check("batches threshold 0", target, t -> batches(t, 0));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void batchesOfNamedStatementsBehaveAsDirectly(Target target) throws Exception {
        conformance.check("batches threshold 1", target, t -> batches(t, 1));
    }

    @Test
    void batchesOfNamedStatementsBehaveAsDirectlyInTransactionMode() throws Exception {
        conformance.check("batches threshold 1", Target.TRANSACTION, t -> batches(t, 1));
    }

    private List<String> batches(Target t, int prepareThreshold) throws Exception {
        fx.directly(
                USER,
                "DROP TABLE IF EXISTS conf_jdbc_batch",
                "CREATE TABLE conf_jdbc_batch (id int PRIMARY KEY, v text)");
        List<String> out = new ArrayList<>();
        String threshold = Integer.toString(prepareThreshold);
        try (Connection a = fx.jdbc(t, USER, "prepareThreshold", threshold);
                Connection b = fx.jdbc(t, USER, "prepareThreshold", threshold, "reWriteBatchedInserts", "true")) {
            // Two clients alternate so that, in transaction mode, their batches meet on the same servers.
            for (int round = 0; round < 3; round++) {
                for (Connection c : List.of(a, b)) {
                    int base = (round * 2 + (c == a ? 0 : 1)) * 1000;
                    out.add(attempt(() -> {
                        try (PreparedStatement ps = c.prepareStatement("INSERT INTO conf_jdbc_batch VALUES (?, ?)")) {
                            for (int i = 0; i < 100; i++) {
                                ps.setInt(1, base + i);
                                ps.setString(2, "row " + i);
                                ps.addBatch();
                            }
                            return "batch " + Arrays.stream(ps.executeBatch()).sum();
                        }
                    }));
                }
            }
            // A failing batch inside a transaction: the error names the row, the transaction rolls back whole.
            a.setAutoCommit(false);
            out.add(attempt(() -> {
                try (PreparedStatement ps = a.prepareStatement("INSERT INTO conf_jdbc_batch VALUES (?, ?)")) {
                    for (int i = 0; i < 50; i++) {
                        ps.setInt(1, 90_000 + (i == 25 ? 0 : i));
                        ps.setString(2, "in transaction");
                        ps.addBatch();
                    }
                    ps.executeBatch();
                    return "no error";
                } catch (BatchUpdateException e) {
                    return "batch failed " + e.getSQLState() + " after "
                            + Arrays.stream(e.getUpdateCounts())
                                    .filter(n -> n == 1)
                                    .count() + " rows";
                }
            }));
            out.add(attempt(() -> {
                a.rollback();
                a.setAutoCommit(true);
                return "rolled back";
            }));
            out.add(query(a, "SELECT count(*) AS n, sum(id) AS ids FROM conf_jdbc_batch"));
            out.add(query(b, "SELECT count(*) AS n FROM conf_jdbc_batch WHERE id >= 90000"));
        }
        return out;
    }

    // ------------------------------------------------------------------ named statements

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void namedStatementsOfInterleavedClientsBehaveAsDirectly(Target target) throws Exception {
        conformance.check("interleaved named statements", target, this::interleavedNamedStatements);
    }

    @Test
    void namedStatementsOfInterleavedClientsBehaveAsDirectlyInTransactionMode() throws Exception {
        conformance.check("interleaved named statements", Target.TRANSACTION, this::interleavedNamedStatements);
    }

    private List<String> interleavedNamedStatements(Target t) throws Exception {
        List<String> out = new ArrayList<>();
        try (Connection a = fx.jdbc(t, USER, "prepareThreshold", "1");
                Connection b = fx.jdbc(t, USER, "prepareThreshold", "1")) {
            for (int rep = 0; rep < 3; rep++) {
                List<String> line = new ArrayList<>();
                for (int i = 0; i < 30; i++) {
                    for (Connection c : List.of(a, b)) {
                        int stmt = c == a ? i : 29 - i;
                        int arg = rep;
                        line.add(attempt(() -> {
                            try (PreparedStatement ps =
                                    c.prepareStatement("SELECT ?::int * 100 + " + stmt + " AS v /* conformance */")) {
                                ps.setInt(1, arg);
                                try (ResultSet rs = ps.executeQuery()) {
                                    rs.next();
                                    return rs.getString(1);
                                }
                            }
                        }));
                    }
                }
                out.add("rep " + rep + ": " + String.join(",", line));
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ DDL between executions

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = Target.class,
            names = {"TRANSACTION", "SESSION"})
    void resultTypeChangedByDdlBetweenUnnamedExecutionsBehavesAsDirectly(Target target) throws Exception {
        conformance.check("ddl threshold 0", target, t -> ddlBetweenExecutions(t, 0));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void resultTypeChangedByDdlBetweenNamedExecutionsBehavesAsDirectly(Target target) throws Exception {
        conformance.check("ddl threshold 1", target, t -> ddlBetweenExecutions(t, 1));
    }

    @Test
    void resultTypeChangedByDdlBetweenNamedExecutionsBehavesAsDirectlyInTransactionMode() throws Exception {
        conformance.check("ddl threshold 1", Target.TRANSACTION, t -> ddlBetweenExecutions(t, 1));
    }

    private List<String> ddlBetweenExecutions(Target t, int prepareThreshold) throws Exception {
        fx.directly(
                USER,
                "DROP TABLE IF EXISTS conf_jdbc_ddl",
                "CREATE TABLE conf_jdbc_ddl (id int, v int)",
                "INSERT INTO conf_jdbc_ddl VALUES (1, 10)");
        List<String> out = new ArrayList<>();
        // In transaction mode the holder takes the server the client just used, so the client's next execution
        // runs on another server, as it would under load; directly and in session mode it changes nothing.
        try (Connection c = fx.jdbc(t, USER, "prepareThreshold", Integer.toString(prepareThreshold));
                Connection ddl = fx.jdbc(t, USER, "prepareThreshold", "0");
                Connection holder = fx.jdbc(t, USER, "prepareThreshold", "0");
                PreparedStatement ps = c.prepareStatement("SELECT * FROM conf_jdbc_ddl WHERE id = ?")) {
            holder.setAutoCommit(false);
            List<String> steps = List.of(
                    "",
                    "ALTER TABLE conf_jdbc_ddl ALTER COLUMN v TYPE text USING v || '!'",
                    "ALTER TABLE conf_jdbc_ddl ADD COLUMN w int DEFAULT 7",
                    "ALTER TABLE conf_jdbc_ddl DROP COLUMN v");
            for (String step : steps) {
                if (!step.isEmpty()) {
                    out.add(step + ": " + execute(ddl, step));
                }
                for (int i = 0; i < 3; i++) {
                    if (i == 1) {
                        out.add("holder: " + query(holder, "SELECT 'holding' AS h"));
                    }
                    out.add(attempt(() -> {
                        ps.setInt(1, 1);
                        try (ResultSet rs = ps.executeQuery()) {
                            return rows(rs);
                        }
                    }));
                    if (i == 1) {
                        holder.commit();
                    }
                }
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ Statement.cancel()

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = Target.class,
            names = {"TRANSACTION", "SESSION"})
    void statementCancelBehavesAsDirectly(Target target) throws Exception {
        conformance.check("cancel", target, this::cancel);
    }

    private List<String> cancel(Target t) throws Exception {
        List<String> out = new ArrayList<>();
        try (Connection c = fx.jdbc(t, USER, "prepareThreshold", "0");
                Statement s = c.createStatement()) {
            out.add("autocommit: " + cancelAfter(s, 300));
            out.add(query(c, "SELECT 'usable after cancel' AS s"));
            c.setAutoCommit(false);
            out.add(query(c, "SELECT 'in transaction' AS s"));
            out.add("in transaction: " + cancelAfter(s, 300));
            out.add(query(c, "SELECT 'after cancel in transaction' AS s"));
            c.rollback();
            out.add(query(c, "SELECT 'after rollback' AS s"));
            c.commit();
        }
        return out;
    }

    private static String cancelAfter(Statement s, long millis) {
        CompletableFuture<Void> canceller = CompletableFuture.runAsync(() -> {
            try {
                Thread.sleep(millis);
                s.cancel();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        long start = System.nanoTime();
        String r = attempt(() -> {
            s.execute("SELECT pg_sleep(10)");
            return "not canceled";
        });
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        canceller.join();
        return "pg_sleep(10) " + r + (ms < 5000 ? " within 5s" : " after " + ms + " ms");
    }

    // ------------------------------------------------------------------ many clients, many statements

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = Target.class,
            names = {"TRANSACTION", "SESSION"})
    void thousandClientsWithUnnamedStatementsGetTheirOwnResults(Target target) throws Exception {
        conformance.check("thousand clients threshold 0", target, t -> thousandClients(t, 0));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void thousandClientsPreparingTwoHundredStatementsGetTheirOwnResults(Target target) throws Exception {
        conformance.check("thousand clients threshold 1", target, t -> thousandClients(t, 1));
    }

    @Test
    void thousandClientsPreparingTwoHundredStatementsGetTheirOwnResultsInTransactionMode() throws Exception {
        conformance.check("thousand clients threshold 1", Target.TRANSACTION, t -> thousandClients(t, 1));
    }

    /**
     * A thousand clients, each preparing ten of two hundred distinct statements twice, with a driver cache of four
     * so that statements are closed and prepared again. Through pggat in transaction mode all thousand are logged
     * in at once over a pool of four; session mode needs a server per client and PostgreSQL allows a few hundred
     * connections, so there they come and go in waves. What each client reads back must not depend on that.
     */
    private List<String> thousandClients(Target t, int prepareThreshold) throws Exception {
        int clients = 1000;
        int statements = 200;
        int perClient = 10;
        int workers = 48;
        int wave = t == Target.TRANSACTION ? clients : workers;
        String[] props = {
            "prepareThreshold", Integer.toString(prepareThreshold), "preparedStatementCacheQueries", "4",
        };
        Map<String, Integer> errors = new TreeMap<>();
        AtomicLong sum = new AtomicLong();
        int ok = 0;
        ExecutorService pool = Executors.newFixedThreadPool(workers);
        try {
            for (int first = 0; first < clients; first += wave) {
                List<Future<Connection>> opened = new ArrayList<>();
                for (int k = first; k < Math.min(clients, first + wave); k++) {
                    opened.add(pool.submit(() -> fx.jdbc(t, "trust_user", props)));
                }
                List<Connection> conns = new ArrayList<>();
                for (Future<Connection> f : opened) {
                    conns.add(f.get(60, TimeUnit.SECONDS));
                }
                List<Future<String>> work = new ArrayList<>();
                for (int i = 0; i < conns.size(); i++) {
                    Connection c = conns.get(i);
                    int client = first + i;
                    work.add(pool.submit(() -> {
                        try (c) {
                            long mine = 0;
                            for (int rep = 0; rep < 2; rep++) {
                                for (int j = 0; j < perClient; j++) {
                                    int stmt = (client * 37 + j * 53) % statements;
                                    try (PreparedStatement ps =
                                            c.prepareStatement("SELECT ?::bigint * 1000 + " + stmt + " AS v")) {
                                        ps.setLong(1, client);
                                        try (ResultSet rs = ps.executeQuery()) {
                                            rs.next();
                                            long v = rs.getLong(1);
                                            if (v != client * 1000L + stmt) {
                                                return "client " + client + " read " + v + " for statement " + stmt;
                                            }
                                            mine += v;
                                        }
                                    }
                                }
                            }
                            sum.addAndGet(mine);
                            return null;
                        } catch (SQLException e) {
                            return "ERROR " + e.getSQLState() + " "
                                    + e.getMessage().replaceAll("S_[0-9]+", "S_n");
                        }
                    }));
                }
                for (Future<String> f : work) {
                    String error = f.get(120, TimeUnit.SECONDS);
                    if (error == null) {
                        ok++;
                    } else {
                        errors.merge(error.startsWith("client ") ? "wrong result" : error, 1, Integer::sum);
                    }
                }
            }
        } finally {
            pool.shutdownNow();
        }
        if (t == Target.DIRECT) {
            assertThat(errors).as("errors directly against PostgreSQL").isEmpty();
        }
        List<String> out = new ArrayList<>();
        out.add("clients that read all their results: " + ok + " of " + clients);
        out.add("sum of results: " + sum.get());
        errors.forEach((e, n) -> out.add(n + " clients failed with " + e));
        return out;
    }
}
