package dev.pggat.pooler.console;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.testing.PoolerFixture;
import dev.pggat.pooler.testing.PostgresPrograms;
import dev.pggat.pooler.testing.RawClient;
import dev.pggat.pooler.testing.TestPostgres;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The admin console through a real pooler in front of a real PostgreSQL, with real clients (pgjdbc in simple-query
 * mode, psql): PgBouncer 1.25's result layouts, counters that match a known workload, PAUSE/RESUME, KILL_CLIENT and
 * who may get in.
 */
class AdminConsoleTest {
    private static final String ADMIN = "scram_user";
    private static final String STATS = "md5_user";
    /** A console user whose configured method is trust: the raw protocol client logs in without a password. */
    private static final String TRUSTED_ADMIN = "trust_user";

    private static PoolerFixture fx;

    @BeforeAll
    static void start() throws Exception {
        String yaml = PoolerFixture.config(TestPostgres.shared(), 4, "");
        String admin = "admin:\n  host: 127.0.0.1\n  port: 0\n";
        assertThat(yaml).contains(admin);
        yaml = yaml.replace(
                admin, admin + "  users: [" + ADMIN + ", " + TRUSTED_ADMIN + "]\n  statsUsers: [" + STATS + "]\n");
        fx = PoolerFixture.startYaml(yaml);
    }

    @AfterAll
    static void stop() {
        if (fx != null) {
            fx.close();
        }
    }

    /**
     * PgBouncer 1.25's result layouts, written down from its documentation (doc/usage.rst, "SHOW commands") and
     * checked against PgBouncer 1.25.2 itself (bench/console-compare.sh): column names in order, with their types.
     */
    private static final Map<String, String> PGBOUNCER_LAYOUTS = new LinkedHashMap<>();

    static {
        String stats = "total_server_assignment_count total_xact_count total_query_count total_received total_sent"
                + " total_xact_time total_query_time total_wait_time total_client_parse_count"
                + " total_server_parse_count total_bind_count avg_server_assignment_count avg_xact_count"
                + " avg_query_count avg_recv avg_sent avg_xact_time avg_query_time avg_wait_time"
                + " avg_client_parse_count avg_server_parse_count avg_bind_count";
        PGBOUNCER_LAYOUTS.put(
                "POOLS",
                "database:text user:text cl_active:int4 cl_waiting:int4 cl_active_cancel_req:int4"
                        + " cl_waiting_cancel_req:int4 sv_active:int4 sv_active_cancel:int4 sv_being_canceled:int4"
                        + " sv_idle:int4 sv_used:int4 sv_tested:int4 sv_login:int4 maxwait:int4 maxwait_us:int4"
                        + " pool_mode:text load_balance_hosts:text");
        PGBOUNCER_LAYOUTS.put("STATS", "database:text " + typed(stats, "numeric"));
        String totals = "server_assignment_count xact_count query_count bytes_received bytes_sent xact_time query_time"
                + " wait_time";
        PGBOUNCER_LAYOUTS.put(
                "STATS_TOTALS",
                "database:text " + typed(totals + " client_parse_count server_parse_count bind_count", "numeric"));
        PGBOUNCER_LAYOUTS.put(
                "STATS_AVERAGES",
                "database:text "
                        + typed(totals + " avg_client_parse_count avg_server_parse_count avg_bind_count", "numeric"));
        PGBOUNCER_LAYOUTS.put("TOTALS", "name:text value:numeric");
        String connections = "type:text user:text database:text replication:text state:text addr:text port:int4"
                + " local_addr:text local_port:int4 connect_time:text request_time:text wait:int4 wait_us:int4"
                + " close_needed:int4 ptr:text link:text remote_pid:int4 tls:text application_name:text"
                + " prepared_statements:int4 id:int4";
        PGBOUNCER_LAYOUTS.put("CLIENTS", connections);
        PGBOUNCER_LAYOUTS.put("SERVERS", connections);
        PGBOUNCER_LAYOUTS.put(
                "DATABASES",
                "name:text host:text port:int4 database:text force_user:text pool_size:int4 min_pool_size:int4"
                        + " reserve_pool_size:int4 server_lifetime:int4 pool_mode:text load_balance_hosts:text"
                        + " max_connections:int4 current_connections:int4 max_client_connections:int4"
                        + " current_client_connections:int4 paused:int4 disabled:int4");
        PGBOUNCER_LAYOUTS.put(
                "USERS",
                "name:text pool_size:text reserve_pool_size:text pool_mode:text max_user_connections:int4"
                        + " current_connections:int4 max_user_client_connections:int4"
                        + " current_client_connections:int4");
        PGBOUNCER_LAYOUTS.put("LISTS", "list:text items:int4");
        PGBOUNCER_LAYOUTS.put("CONFIG", "key:text value:text default:text changeable:text");
        PGBOUNCER_LAYOUTS.put("VERSION", "version:text");
        PGBOUNCER_LAYOUTS.put("MEM", "name:text size:int4 used:int4 free:int4 memtotal:int4");
        PGBOUNCER_LAYOUTS.put("STATE", "key:text value:text");
    }

    private static String typed(String names, String type) {
        return String.join(
                " ", List.of(names.split(" ")).stream().map(n -> n + ":" + type).toList());
    }

    /** A console connection as pgjdbc makes it: simple query protocol (the console refuses the extended one). */
    private static Connection console(String user, String password) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", user);
        if (password != null) {
            p.setProperty("password", password);
        }
        p.setProperty("preferQueryMode", "simple");
        p.setProperty("sslmode", "disable");
        p.setProperty("ApplicationName", "console-test");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + fx.port() + "/pgbouncer", p);
    }

    private static Connection admin() throws SQLException {
        return console(ADMIN, ADMIN + "-secret");
    }

    private static String layout(Connection c, String command) throws SQLException {
        try (Statement st = c.createStatement();
                ResultSet rs = st.executeQuery(command)) {
            ResultSetMetaData md = rs.getMetaData();
            List<String> cols = new ArrayList<>();
            for (int i = 1; i <= md.getColumnCount(); i++) {
                cols.add(md.getColumnName(i) + ":" + md.getColumnTypeName(i));
            }
            return String.join(" ", cols);
        }
    }

    @Test
    void everyShowCommandHasPgBouncer125sColumnsInOrderWithTheirTypes() throws Exception {
        try (Connection c = admin()) {
            for (Map.Entry<String, String> e : PGBOUNCER_LAYOUTS.entrySet()) {
                assertThat(layout(c, "SHOW " + e.getKey()))
                        .as("SHOW " + e.getKey())
                        .isEqualTo(e.getValue());
            }
            // Lower case and a trailing semicolon, as people type them.
            assertThat(layout(c, "show pools;")).isEqualTo(PGBOUNCER_LAYOUTS.get("POOLS"));
        }
    }

    @Test
    void psqlShowsPoolsAndVersion() throws Exception {
        List<String> out = psql(ADMIN, ADMIN + "-secret", "SHOW VERSION", "SHOW POOLS");
        assertThat(out).anyMatch(l -> l.startsWith("pggat "));
        assertThat(out).anyMatch(l -> l.startsWith("appdb|" + ADMIN + "|"));
        assertThat(out).anyMatch(l -> l.startsWith("pgbouncer|pgbouncer|"));
    }

    /** The totals of SHOW STATS_TOTALS for one database, by column name. */
    private static Map<String, Long> statsTotals(Connection console, String database) throws SQLException {
        try (Statement st = console.createStatement();
                ResultSet rs = st.executeQuery("SHOW STATS_TOTALS")) {
            while (rs.next()) {
                if (rs.getString("database").equals(database)) {
                    Map<String, Long> m = new LinkedHashMap<>();
                    for (int i = 2; i <= rs.getMetaData().getColumnCount(); i++) {
                        m.put(rs.getMetaData().getColumnName(i), rs.getLong(i));
                    }
                    return m;
                }
            }
        }
        throw new AssertionError("no SHOW STATS_TOTALS row for " + database);
    }

    @Test
    void countersMatchAKnownWorkload() throws Exception {
        // The session-mode database sees only this test's traffic.
        String db = "appdb_session";
        String user = "plain_user";
        int autocommit = 20;
        int explicit = 5;
        int statementsPerTransaction = 3;
        try (Connection console = admin();
                Connection app = fx.connect(db, user)) {
            try (Statement st = app.createStatement()) {
                st.execute("SELECT 1"); // login-time work (session parameters) happens before the baseline
            }
            Map<String, Long> before = statsTotals(console, db);
            String metricsBefore = metrics();
            try (Statement st = app.createStatement()) {
                for (int i = 0; i < autocommit; i++) {
                    st.execute("SELECT " + i);
                }
                app.setAutoCommit(false);
                for (int t = 0; t < explicit; t++) {
                    for (int i = 0; i < statementsPerTransaction; i++) {
                        st.execute("SELECT " + i);
                    }
                    app.commit();
                }
                app.setAutoCommit(true);
                assertThatThrownBy(() -> st.execute("SELECT 1/0"))
                        .isInstanceOf(SQLException.class)
                        .satisfies(e ->
                                assertThat(((SQLException) e).getSQLState()).isEqualTo("22012"));
            }
            Map<String, Long> after = statsTotals(console, db);
            long xacts = after.get("xact_count") - before.get("xact_count");
            long queries = after.get("query_count") - before.get("query_count");
            // Every autocommit statement and the failed one are a transaction each. pgjdbc answers setAutoCommit(false)
            // with a BEGIN of its own round trip before the first statement, then one per statement and COMMIT.
            assertThat(xacts).isEqualTo(autocommit + explicit + 1);
            assertThat(queries).isEqualTo(autocommit + explicit * (statementsPerTransaction + 2) + 1);
            assertThat(after.get("bytes_received")).isGreaterThan(before.get("bytes_received"));
            assertThat(after.get("bytes_sent")).isGreaterThan(before.get("bytes_sent"));
            assertThat(after.get("query_time")).isGreaterThan(before.get("query_time"));
            assertThat(after.get("xact_time"))
                    .isGreaterThanOrEqualTo(after.get("query_time") - before.get("query_time"));

            String metricsAfter = metrics();
            String labels = "database=\"" + db + "\",endpoint=\"127.0.0.1:"
                    + fx.cluster.primary().port() + "\",user=\"" + user + "\"";
            assertThat(counter(metricsAfter, "pggat_transactions_total", labels)
                            - counter(metricsBefore, "pggat_transactions_total", labels))
                    .isEqualTo(xacts);
            assertThat(counter(metricsAfter, "pggat_queries_total", labels)
                            - counter(metricsBefore, "pggat_queries_total", labels))
                    .isEqualTo(queries);
            assertThat(counter(metricsAfter, "pggat_transaction_duration_seconds_count", labels)
                            - counter(metricsBefore, "pggat_transaction_duration_seconds_count", labels))
                    .isEqualTo(xacts);
            assertThat(counter(
                            metricsAfter,
                            "pggat_server_errors_total",
                            labels.replace("user=", "sqlstate_class=\"22\",user=")))
                    .isGreaterThanOrEqualTo(1);
            assertThat(rowsOf(console, "SHOW ERRORS"))
                    .anyMatch(r -> r.startsWith(db + "|" + user + "|") && r.contains("|22|"));
        }
    }

    @Test
    void pauseWaitsForTransactionsInFlightHoldsNewOnesAndResumeReleasesThemWithoutError() throws Exception {
        String db = "appdb";
        try (Connection console = admin();
                Connection inFlight = fx.connect(db, "md5_user");
                Connection writer = fx.connect(db, "trust_user", "trust_user-secret")) {
            try (Statement st = writer.createStatement()) {
                st.execute("CREATE TABLE IF NOT EXISTS console_pause (id int)");
            }
            inFlight.setAutoCommit(false);
            try (Statement st = inFlight.createStatement()) {
                st.execute("SELECT 1"); // holds its server until COMMIT
            }
            CompletableFuture<Void> pause = run(() -> execute(console, "PAUSE " + db));
            assertStillRunning(pause, "PAUSE while a transaction holds its server");
            inFlight.commit(); // the transaction in flight finishes and gives its server back
            pause.get(30, TimeUnit.SECONDS);
            assertThat(rowsOf(console, "SHOW DATABASES")).anyMatch(r -> r.startsWith(db + "|") && r.endsWith("|1|0"));

            CompletableFuture<Void> write = run(() -> execute(writer, "INSERT INTO console_pause VALUES (1)"));
            assertStillRunning(write, "a write while the database is paused");
            assertThat(rowsOf(console, "SHOW CLIENTS")).anyMatch(r -> r.contains("|trust_user|appdb|none|waiting|"));

            execute(console, "RESUME " + db);
            write.get(30, TimeUnit.SECONDS); // no error: it waited and ran
            try (Statement st = writer.createStatement();
                    ResultSet rs = st.executeQuery("SELECT count(*) FROM console_pause")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).isGreaterThanOrEqualTo(1);
            }
        }
    }

    @Test
    void killClientDisconnectsThatClientWithAFatalError() throws Exception {
        try (Connection console = admin();
                Connection victim =
                        fx.connect("appdb", "plain_user", "plain_user-secret", "ApplicationName", "victim");
                Connection bystander = fx.connect("appdb", "plain_user", "plain_user-secret")) {
            int id = -1;
            try (Statement st = console.createStatement();
                    ResultSet rs = st.executeQuery("SHOW CLIENTS")) {
                while (rs.next()) {
                    if (rs.getString("application_name").equals("victim")) {
                        id = rs.getInt("id");
                    }
                }
            }
            assertThat(id).isPositive();
            execute(console, "KILL_CLIENT " + id);
            assertThatThrownBy(() -> execute(victim, "SELECT 1"))
                    .isInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isIn("57P01", "08006", "08003"));
            assertThat(victim.isValid(5)).isFalse();
            execute(bystander, "SELECT 1");
            // Gone from the list, and an unknown id is an error, not a silent success.
            assertThat(rowsOf(console, "SHOW CLIENTS")).noneMatch(r -> r.contains("|victim|"));
            final int killed = id;
            assertThatThrownBy(() -> execute(console, "KILL_CLIENT " + killed))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("42704"));
        }
    }

    @Test
    void killClientEndsTheSessionWithAFatalErrorOnTheWire() throws Exception {
        // psql reports the FATAL the console's KILL_CLIENT sent, as a server's pg_terminate_backend would.
        try (Connection console = admin()) {
            Path psql = PostgresPrograms.find("psql");
            ProcessBuilder pb = new ProcessBuilder(
                    psql.toString(),
                    "-X",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    Integer.toString(fx.port()),
                    "-U",
                    "plain_user",
                    "-d",
                    "appdb",
                    "-c",
                    "SELECT pg_sleep(0.1)",
                    "-c",
                    "SELECT pg_sleep(120)");
            pb.environment().put("PGPASSWORD", "plain_user-secret");
            pb.environment().put("PGSSLMODE", "disable");
            pb.environment().put("PGAPPNAME", "psql-victim");
            pb.redirectErrorStream(true);
            Process p = pb.start();
            int id = -1;
            for (int i = 0; i < 300 && id < 0; i++) {
                for (String r : rowsOf(console, "SHOW CLIENTS")) {
                    String[] f = r.split("\\|", -1);
                    if (f[18].equals("psql-victim") && f[4].equals("active")) {
                        id = Integer.parseInt(f[20]);
                    }
                }
                Thread.sleep(100);
            }
            assertThat(id).as("psql's session in SHOW CLIENTS").isPositive();
            execute(console, "KILL_CLIENT " + id);
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).isNotZero();
            assertThat(out).contains("FATAL:  terminating connection due to administrator command");
        }
    }

    @Test
    void statsUsersMayShowButNotChangeAnything() throws Exception {
        try (Connection c = console(STATS, STATS + "-secret")) {
            assertThat(rowsOf(c, "SHOW POOLS")).isNotEmpty();
            for (String command :
                    List.of("PAUSE", "RESUME", "RECONNECT", "KILL appdb", "DISABLE appdb", "RELOAD", "SHUTDOWN")) {
                assertThatThrownBy(() -> execute(c, command)).as(command).satisfies(e -> {
                    assertThat(((SQLException) e).getSQLState()).isEqualTo("42501");
                    assertThat(e.getMessage()).contains("admin access needed");
                });
            }
        }
        try (Connection c = admin()) {
            assertThat(rowsOf(c, "SHOW DATABASES")).anyMatch(r -> r.startsWith("appdb|") && r.endsWith("|0|0"));
        }
    }

    @Test
    void onlyConsoleUsersWithTheRightPasswordGetIn() {
        // A configured user that is not a console user: authenticated, then refused.
        assertThatThrownBy(() -> console("plain_user", "plain_user-secret")).satisfies(e -> {
            assertThat(((SQLException) e).getSQLState()).isEqualTo("28000");
            assertThat(e.getMessage()).contains("not allowed");
        });
        assertThatThrownBy(() -> console(ADMIN, "wrong"))
                .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("28P01"));
        assertThatThrownBy(() -> console("nobody", "whatever"))
                .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("28P01"));
        // Without a password pgjdbc cannot answer the SCRAM challenge at all.
        assertThatThrownBy(() -> console(ADMIN, null)).isInstanceOf(SQLException.class);
    }

    @Test
    void theExtendedProtocolAndUnknownCommandsGetErrorsAndTheSessionGoesOn() throws Exception {
        Properties p = new Properties();
        p.setProperty("user", ADMIN);
        p.setProperty("password", ADMIN + "-secret");
        p.setProperty("sslmode", "disable");
        p.setProperty("preferQueryMode", "simple");
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + fx.port() + "/pggat", p)) {
            assertThatThrownBy(() -> execute(c, "SHOW NOTHING"))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("42601"));
            assertThatThrownBy(() -> execute(c, "SELECT 1"))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("42601"));
            assertThatThrownBy(() -> execute(c, "PAUSE nosuchdb")).satisfies(e -> {
                assertThat(((SQLException) e).getSQLState()).isEqualTo("3D000");
                assertThat(e.getMessage()).contains("no such database: nosuchdb");
            });
            assertThat(rowsOf(c, "SHOW STATE")).contains("active|yes", "paused|no", "suspended|no");
        }
        p.setProperty("preferQueryMode", "extended");
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + fx.port() + "/pggat", p);
                var ps = c.prepareStatement("SHOW POOLS")) {
            assertThatThrownBy(ps::executeQuery).satisfies(e -> {
                assertThat(((SQLException) e).getSQLState()).isEqualTo("0A000");
                assertThat(e.getMessage()).contains("extended query protocol not supported by admin console");
            });
        }
    }

    @Test
    void reconnectClosesServersOnceIdleAndWaitCloseWaitsForThem() throws Exception {
        try (Connection console = admin();
                Connection app = fx.connect("appdb", "trust_user", "trust_user-secret")) {
            app.setAutoCommit(false);
            int before = backendPid(app); // its transaction holds this server
            execute(console, "RECONNECT appdb");
            assertThat(rowsOf(console, "SHOW SERVERS"))
                    .anyMatch(r -> r.contains("|trust_user|appdb|none|active|") && r.contains("|1|0xs"));
            CompletableFuture<Void> waitClose = run(() -> execute(console, "WAIT_CLOSE appdb"));
            assertStillRunning(waitClose, "WAIT_CLOSE while a marked server is checked out");
            app.commit();
            waitClose.get(30, TimeUnit.SECONDS);
            int after = backendPid(app);
            app.commit();
            assertThat(after).isNotEqualTo(before);
            assertThat(rowsOf(console, "SHOW SERVER_CLOSES"))
                    .anyMatch(r -> r.startsWith("appdb|trust_user|") && !r.split("\\|")[9].equals("0"));
        }
    }

    private static int backendPid(Connection c) throws SQLException {
        try (Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT pg_backend_pid()")) {
            assertThat(rs.next()).isTrue();
            return rs.getInt(1);
        }
    }

    @Test
    void disableRefusesNewLoginsUntilEnable() throws Exception {
        try (Connection console = admin();
                Connection already = fx.connect("appdb_session", "plain_user", "plain_user-secret")) {
            execute(console, "DISABLE appdb_session");
            try {
                assertThatThrownBy(() -> fx.connect("appdb_session", "plain_user", "plain_user-secret"))
                        .satisfies(e ->
                                assertThat(((SQLException) e).getSQLState()).isEqualTo("57P03"));
                assertThat(rowsOf(console, "SHOW DATABASES"))
                        .anyMatch(r -> r.startsWith("appdb_session|") && r.endsWith("|0|1"));
                execute(already, "SELECT 1"); // clients already in stay
            } finally {
                execute(console, "ENABLE appdb_session");
            }
            try (Connection again = fx.connect("appdb_session", "plain_user", "plain_user-secret")) {
                execute(again, "SELECT 1");
            }
        }
    }

    @Test
    void killEndsTheDatabasesClientsAndHoldsNewOnesUntilResume() throws Exception {
        try (Connection console = admin();
                Connection victim = fx.connect("appdb_session", "md5_user", "md5_user-secret")) {
            execute(victim, "SELECT 1");
            execute(console, "KILL appdb_session");
            try {
                assertThatThrownBy(() -> execute(victim, "SELECT 1")).isInstanceOf(SQLException.class);
                CompletableFuture<Void> next = run(() -> {
                    try (Connection c = fx.connect("appdb_session", "md5_user", "md5_user-secret")) {
                        execute(c, "SELECT 1");
                    }
                });
                assertStillRunning(next, "a new client of a killed database before RESUME");
                execute(console, "RESUME appdb_session");
                next.get(30, TimeUnit.SECONDS);
            } finally {
                execute(console, "RESUME appdb_session");
            }
        }
    }

    @Test
    void pggatsOwnShowCommandsDescribeEndpointsErrorsAndPins() throws Exception {
        try (Connection console = admin()) {
            String port = Integer.toString(fx.cluster.primary().port());
            assertThat(rowsOf(console, "SHOW ENDPOINTS"))
                    .anyMatch(r -> r.startsWith("appdb|127.0.0.1:" + port + "|127.0.0.1|" + port + "|primary|"));
            assertThat(layout(console, "SHOW PINS")).isEqualTo("reason:text count:numeric");
            assertThat(layout(console, "SHOW ERRORS"))
                    .isEqualTo("database:text user:text endpoint:text sqlstate_class:text count:numeric");
        }
    }

    @Test
    void pipelinedCommandsAreAnsweredInOrderAndExtendedMessagesUpToSyncAreRefused() throws Exception {
        try (RawClient raw = new RawClient("127.0.0.1", fx.port())) {
            assertThat(raw.login(TRUSTED_ADMIN, "pgbouncer", null)).last().satisfies(m -> assertThat(m.type())
                    .isEqualTo('Z'));
            raw.send(concat(RawClient.query("SHOW VERSION"), RawClient.query("SHOW STATE;")));
            List<RawClient.Msg> first = raw.readUntilReady();
            assertThat(first).extracting(RawClient.Msg::type).containsExactly('T', 'D', 'C', 'Z');
            assertThat(first.get(1).text()).contains("pggat");
            List<RawClient.Msg> second = raw.readUntilReady();
            assertThat(second).extracting(RawClient.Msg::type).containsExactly('T', 'D', 'D', 'D', 'C', 'Z');

            byte[] parse = RawClient.message('P', "\0SHOW POOLS\0\0\0".getBytes(StandardCharsets.UTF_8));
            byte[] bind = RawClient.message('B', new byte[] {0, 0, 0, 0, 0, 0, 0, 0});
            byte[] execute = RawClient.message('E', new byte[] {0, 0, 0, 0, 0});
            byte[] sync = RawClient.message('S', new byte[0]);
            raw.send(concat(parse, bind, execute, sync));
            List<RawClient.Msg> refused = raw.readUntilReady();
            assertThat(refused).extracting(RawClient.Msg::type).containsExactly('E', 'Z');
            assertThat(refused.get(0).field('C')).isEqualTo("0A000");
            raw.send(RawClient.query("SHOW VERSION"));
            assertThat(raw.readUntilReady()).extracting(RawClient.Msg::type).containsExactly('T', 'D', 'C', 'Z');
        }
    }

    private static byte[] concat(byte[]... parts) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    // ---------------------------------------------------------------- helpers

    private interface SqlAction {
        void run() throws Exception;
    }

    private static CompletableFuture<Void> run(SqlAction a) {
        return CompletableFuture.runAsync(() -> {
            try {
                a.run();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
    }

    /** A command that must be held: still running after a while (it is released only by what the test does). */
    private static void assertStillRunning(CompletableFuture<Void> f, String what) throws Exception {
        try {
            f.get(500, TimeUnit.MILLISECONDS);
            throw new AssertionError(what + " finished, but it should wait");
        } catch (TimeoutException expected) {
            // held, as it should be
        }
    }

    private static void execute(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    /** Rows as "a|b|c" (null as empty). */
    private static List<String> rowsOf(Connection c, String sql) throws SQLException {
        List<String> rows = new ArrayList<>();
        try (Statement st = c.createStatement();
                ResultSet rs = st.executeQuery(sql)) {
            int n = rs.getMetaData().getColumnCount();
            while (rs.next()) {
                List<String> f = new ArrayList<>();
                for (int i = 1; i <= n; i++) {
                    String v = rs.getString(i);
                    f.add(v == null ? "" : v);
                }
                rows.add(String.join("|", f));
            }
        }
        return rows;
    }

    private static List<String> psql(String user, String password, String... commands) throws Exception {
        Path psql = PostgresPrograms.find("psql");
        List<String> cmd = new ArrayList<>(List.of(
                psql.toString(),
                "-X",
                "-A",
                "-t",
                "-h",
                "127.0.0.1",
                "-p",
                Integer.toString(fx.port()),
                "-U",
                user,
                "-d",
                "pgbouncer"));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("PGPASSWORD", password);
        pb.environment().put("PGSSLMODE", "disable");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("psql output:%n%s", out).isZero();
        return out.lines().toList();
    }

    private static String metrics() throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + fx.pooler.adminPort() + "/metrics"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        return r.body();
    }

    private static long counter(String metrics, String name, String labels) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name + "{" + labels + "}") + " (\\S+)$")
                .matcher(metrics);
        return m.find() ? (long) Double.parseDouble(m.group(1)) : 0;
    }
}
