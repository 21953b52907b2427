package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.Admin;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.DatabaseConfig;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.config.RoutingConfig;
import dev.pggat.pooler.config.Timeouts;
import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.testing.PostgresPrograms;
import dev.pggat.pooler.testing.RawClient;
import dev.pggat.pooler.testing.TestPostgres;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Read/write splitting through a running pooler in front of a real primary and two streaming replicas: where
 * automatic routing sends reads and writes (pgjdbc and psql), the explicit routes (startup parameters, BEGIN READ
 * ONLY, hint comments), and the replay on the primary of a "read" that turns out to write.
 *
 * <p>Which node ran a statement is read from the node itself: {@code inet_server_port()} is the port of the
 * PostgreSQL server that executed it.
 */
class ReplicaRoutingTest {
    private static PostgresCluster cluster;
    private static Setup setup;
    private static int primaryPort;
    private static int replica1Port;
    private static int replica2Port;

    @BeforeAll
    static void startPooler() throws Exception {
        cluster = TestPostgres.replicated();
        primaryPort = cluster.primary().port();
        replica1Port = cluster.replicas().get(0).port();
        replica2Port = cluster.replicas().get(1).port();
        Setup.exec(
                cluster.primary(),
                "DROP TABLE IF EXISTS rr_spread, rr_events CASCADE",
                "DROP FUNCTION IF EXISTS rr_log(text)",
                "CREATE TABLE rr_spread (id bigserial PRIMARY KEY, port int NOT NULL, via text NOT NULL)",
                "CREATE TABLE rr_events (id bigserial PRIMARY KEY, v text NOT NULL)",
                // A function the classifier cannot know writes: a replica refuses it with 25006.
                "CREATE FUNCTION rr_log(v text) RETURNS bigint LANGUAGE sql"
                        + " AS $$ INSERT INTO rr_events (v) VALUES (v) RETURNING id $$",
                "GRANT ALL ON rr_spread, rr_events TO PUBLIC",
                "GRANT ALL ON SEQUENCE rr_spread_id_seq, rr_events_id_seq TO PUBLIC");
        Setup.awaitReplayed(cluster);
        setup = Setup.start(cluster, Setup.eventual());
        setup.awaitAllUp();
    }

    @AfterAll
    static void stopPooler() {
        if (setup != null) {
            setup.close();
        }
    }

    /** How many of the statements each server port ran. */
    private static Map<Integer, Integer> readPorts(Connection c, String sql, int times) throws SQLException {
        Map<Integer, Integer> ports = new TreeMap<>();
        try (Statement st = c.createStatement()) {
            for (int i = 0; i < times; i++) {
                try (ResultSet rs = st.executeQuery(sql)) {
                    assertThat(rs.next()).isTrue();
                    ports.merge(rs.getInt(1), 1, Integer::sum);
                }
            }
        }
        return ports;
    }

    private static void assertSpreadOverReplicas(Map<Integer, Integer> ports, int reads) {
        System.out.printf(
                "reads per node: primary %d, replica1 %d, replica2 %d (of %d)%n",
                ports.getOrDefault(primaryPort, 0),
                ports.getOrDefault(replica1Port, 0),
                ports.getOrDefault(replica2Port, 0),
                reads);
        for (EndpointState s : setup.database().states()) {
            System.out.printf("  %s: probe latency average %.3f ms%n", s, s.ewmaLatencyNanos() / 1e6);
        }
        assertThat(ports.keySet()).containsOnly(replica1Port, replica2Port);
        // Equal replicas share evenly; the chooser also weighs probe latency, so the bound is loose on purpose.
        assertThat(ports.get(replica1Port)).isGreaterThanOrEqualTo(reads * 15 / 100);
        assertThat(ports.get(replica2Port)).isGreaterThanOrEqualTo(reads * 15 / 100);
    }

    @Test
    void pgjdbcReadsSpreadOverBothReplicasAndWritesLandOnThePrimary() throws Exception {
        int reads = 400;
        long writesBefore = setup.decided("primary:write_statement");
        long replaysBefore = setup.decided("replayed:25006");
        Map<Integer, Integer> readPorts;
        Map<Integer, Integer> writePorts;
        try (Connection c = setup.connect()) {
            readPorts = readPorts(c, "SELECT inet_server_port()", reads);
            writePorts = readPorts(
                    c, "INSERT INTO rr_spread (port, via) VALUES (inet_server_port(), 'pgjdbc') RETURNING port", 50);
        }
        assertSpreadOverReplicas(readPorts, reads);
        assertThat(writePorts).containsOnly(Map.entry(primaryPort, 50));
        // Sent to the primary by the classifier, not moved there after a replica refused them.
        assertThat(setup.decided("primary:write_statement") - writesBefore).isGreaterThanOrEqualTo(50);
        assertThat(setup.decided("replayed:25006")).isEqualTo(replaysBefore);
        try (Connection p = Setup.direct(cluster.primary())) {
            assertThat(Setup.value(p, "SELECT count(*) FROM rr_spread WHERE via = 'pgjdbc' AND port = " + primaryPort))
                    .isEqualTo("50");
        }
    }

    @Test
    void psqlReadsSpreadOverBothReplicasAndWritesLandOnThePrimary() throws Exception {
        int reads = 200;
        int writes = 20;
        StringBuilder script = new StringBuilder();
        for (int i = 0; i < reads; i++) {
            script.append("SELECT 'r', inet_server_port();\n");
        }
        for (int i = 0; i < writes; i++) {
            script.append(
                    "INSERT INTO rr_spread (port, via) VALUES (inet_server_port(), 'psql') RETURNING 'w', port;\n");
        }
        List<String> out = psql(script.toString());
        Map<Integer, Integer> readPorts = new TreeMap<>();
        Map<Integer, Integer> writePorts = new TreeMap<>();
        for (String line : out) {
            String[] f = line.split("\\|");
            (f[0].equals("r") ? readPorts : writePorts).merge(Integer.parseInt(f[1]), 1, Integer::sum);
        }
        assertThat(readPorts.values().stream().mapToInt(Integer::intValue).sum())
                .isEqualTo(reads);
        assertSpreadOverReplicas(readPorts, reads);
        assertThat(writePorts).containsOnly(Map.entry(primaryPort, writes));
    }

    /** Runs a script with psql through the pooler, one statement per Query, and returns its unaligned rows. */
    private static List<String> psql(String script) throws Exception {
        Path psql = PostgresPrograms.find("psql");
        ProcessBuilder pb = new ProcessBuilder(
                psql.toString(),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                Integer.toString(setup.pooler.port()),
                "-U",
                Setup.USER,
                "-d",
                Setup.DB);
        pb.environment().put("PGPASSWORD", TestPostgres.password(Setup.USER));
        pb.environment().put("PGSSLMODE", "disable");
        pb.environment().put("PGCONNECT_TIMEOUT", "10");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        try (OutputStream in = p.getOutputStream()) {
            in.write(script.getBytes(StandardCharsets.UTF_8));
        }
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("psql exit status; output:%n%s", output).isZero();
        return output.lines().filter(l -> !l.isBlank()).toList();
    }

    @Test
    void pggatRouteStartupOptionPinsTheSessionToPrimaryOrReplicas() throws Exception {
        try (Connection c = setup.connect("options", "-c pggat.route=primary")) {
            assertThat(readPorts(c, "SELECT inet_server_port()", 40)).containsOnly(Map.entry(primaryPort, 40));
        }
        try (Connection c = setup.connect("options", "-c pggat.route=replica")) {
            assertThat(readPorts(c, "SELECT inet_server_port()", 40).keySet()).isSubsetOf(replica1Port, replica2Port);
        }
    }

    @Test
    void targetSessionAttrsStartupParameterPicksPrimaryOrStandby() throws Exception {
        assertThat(rawReadPorts("read-write", 20)).containsOnly(primaryPort);
        assertThat(rawReadPorts("primary", 20)).containsOnly(primaryPort);
        assertThat(rawReadPorts("standby", 20)).isSubsetOf(replica1Port, replica2Port);
        assertThat(rawReadPorts("read-only", 20)).isSubsetOf(replica1Port, replica2Port);
        assertThat(rawReadPorts("prefer-standby", 20)).isSubsetOf(replica1Port, replica2Port);
    }

    /** Logs in with target_session_attrs in the StartupMessage (libpq and pgjdbc keep it client-side). */
    private static List<Integer> rawReadPorts(String targetSessionAttrs, int times) throws IOException {
        List<Integer> ports = new ArrayList<>();
        try (RawClient raw = new RawClient("127.0.0.1", setup.pooler.port())) {
            Map<String, String> params = new LinkedHashMap<>();
            params.put("user", Setup.PLAIN_USER);
            params.put("database", Setup.DB);
            params.put("target_session_attrs", targetSessionAttrs);
            raw.send(RawClient.startup(196608, params));
            RawClient.Msg auth = raw.read();
            assertThat(auth.authCode()).isEqualTo(3);
            raw.send(RawClient.password(TestPostgres.password(Setup.PLAIN_USER)));
            List<RawClient.Msg> login = raw.readUntilReady();
            assertThat(login).noneMatch(m -> m.type() == 'E');
            for (int i = 0; i < times; i++) {
                raw.send(RawClient.query("SELECT inet_server_port()"));
                List<RawClient.Msg> reply = raw.readUntilReady();
                assertThat(reply)
                        .as("reply to a read with target_session_attrs=%s", targetSessionAttrs)
                        .noneMatch(m -> m.type() == 'E');
                ports.add(Integer.parseInt(firstColumn(reply)));
            }
        }
        return ports;
    }

    /** The first column of the first DataRow. */
    private static String firstColumn(List<RawClient.Msg> msgs) {
        for (RawClient.Msg m : msgs) {
            if (m.type() == 'D') {
                ByteBuffer b = ByteBuffer.wrap(m.body());
                b.getShort();
                int len = b.getInt();
                return new String(m.body(), b.position(), len, StandardCharsets.UTF_8);
            }
        }
        throw new AssertionError(
                "no DataRow in " + msgs.stream().map(RawClient.Msg::type).toList());
    }

    @Test
    void beginReadOnlyRunsTheWholeTransactionOnOneReplicaAndPlainBeginOnThePrimary() throws Exception {
        Map<Integer, Integer> txPorts = new TreeMap<>();
        try (Connection c = setup.connect()) {
            c.setAutoCommit(false);
            c.setReadOnly(true); // pgjdbc begins with BEGIN READ ONLY
            for (int tx = 0; tx < 30; tx++) {
                Map<Integer, Integer> ports = readPorts(c, "SELECT inet_server_port()", 3);
                c.commit();
                assertThat(ports).as("one transaction, one server").hasSize(1);
                txPorts.merge(ports.keySet().iterator().next(), 1, Integer::sum);
            }
            assertThat(txPorts.keySet()).isSubsetOf(replica1Port, replica2Port);
            c.setReadOnly(false);
            for (int tx = 0; tx < 10; tx++) {
                // A plain BEGIN may write later on: the whole transaction stays on the primary.
                assertThat(readPorts(c, "SELECT inet_server_port()", 2)).containsOnly(Map.entry(primaryPort, 2));
                c.commit();
            }
        }
        // The same declared in one simple Query with several statements.
        try (RawClient raw = new RawClient("127.0.0.1", setup.pooler.port())) {
            raw.login(Setup.PLAIN_USER, Setup.DB, TestPostgres.password(Setup.PLAIN_USER));
            for (int i = 0; i < 10; i++) {
                raw.send(RawClient.query("START TRANSACTION READ ONLY; SELECT inet_server_port(); COMMIT"));
                assertThat(Integer.parseInt(firstColumn(raw.readUntilReady()))).isIn(replica1Port, replica2Port);
            }
        }
    }

    @Test
    void hintCommentsSendAStatementToThePrimaryOrAReplica() throws Exception {
        try (Connection c = setup.connect()) {
            assertThat(readPorts(c, "/* pggat:primary */ SELECT inet_server_port()", 30))
                    .containsOnly(Map.entry(primaryPort, 30));
            assertThat(readPorts(c, "SELECT inet_server_port() /* pggat:primary */", 10))
                    .containsOnly(Map.entry(primaryPort, 10));
            assertThat(readPorts(c, "/* pggat:replica */ SELECT inet_server_port()", 30)
                            .keySet())
                    .isSubsetOf(replica1Port, replica2Port);
        }
    }

    @Test
    void readThatWritesIsReplayedOnThePrimaryOnceAndCountedAs25006Replay() throws Exception {
        double metricBefore = setup.metric("pggat_routing_decisions_total", "decision=\"replayed:25006\"");
        long countedBefore = setup.decided("replayed:25006");
        int replays = 0;
        for (String mode : List.of("extended", "simple")) {
            try (Connection c = setup.connect("preferQueryMode", mode);
                    Statement st = c.createStatement()) {
                for (int i = 0; i < 10; i++) {
                    String v = mode + "-" + i;
                    try (ResultSet rs = st.executeQuery("SELECT rr_log('" + v + "')")) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getLong(1)).isPositive();
                        assertThat(rs.next()).as("exactly one row for %s", v).isFalse();
                    }
                    replays++;
                }
                // Several rows, all produced by writes: the first one already fails on a replica.
                List<Long> ids = new ArrayList<>();
                try (ResultSet rs = st.executeQuery("SELECT rr_log('" + mode + "-multi') FROM generate_series(1, 3)")) {
                    while (rs.next()) {
                        ids.add(rs.getLong(1));
                    }
                }
                assertThat(ids).hasSize(3).doesNotHaveDuplicates();
                replays++;
            }
        }
        // The raw message stream: one RowDescription, one DataRow, one CommandComplete, no error.
        try (RawClient raw = new RawClient("127.0.0.1", setup.pooler.port())) {
            raw.login(Setup.PLAIN_USER, Setup.DB, TestPostgres.password(Setup.PLAIN_USER));
            raw.send(RawClient.query("SELECT rr_log('raw')"));
            List<RawClient.Msg> reply = raw.readUntilReady();
            assertThat(reply.stream().map(RawClient.Msg::type).toList()).containsExactly('T', 'D', 'C', 'Z');
            replays++;
        }
        try (Connection p = Setup.direct(cluster.primary())) {
            // Each statement ran to completion once, on the primary only.
            assertThat(Setup.value(
                            p,
                            "SELECT count(*) || '/' || count(DISTINCT v) FROM rr_events WHERE v LIKE 'extended-%'"
                                    + " OR v LIKE 'simple-%'"))
                    .isEqualTo("26/22");
            assertThat(Setup.value(p, "SELECT count(*) FROM rr_events WHERE v = 'raw'"))
                    .isEqualTo("1");
        }
        assertThat(setup.decided("replayed:25006") - countedBefore).isEqualTo(replays);
        assertThat(setup.metric("pggat_routing_decisions_total", "decision=\"replayed:25006\"") - metricBefore)
                .isEqualTo(replays);
    }

    /**
     * A pooler in front of a real primary and its streaming replicas, with routing settings built in code, and the
     * checks the replica routing tests share.
     */
    static final class Setup implements AutoCloseable {
        static final String DB = TestPostgres.DATABASE;
        static final String USER = TestPostgres.SCRAM_USER;
        static final String PLAIN_USER = TestPostgres.PLAIN_USER;
        static final Duration PROBE = Duration.ofMillis(200);
        static final String TOKEN = "replica-routing-admin-token";

        final PostgresCluster cluster;
        final Pooler pooler;

        private Setup(PostgresCluster cluster, Pooler pooler) {
            this.cluster = cluster;
            this.pooler = pooler;
        }

        /** Routing with the short probe interval every test uses; lag limits 0 = none. */
        static RoutingConfig routing(
                RoutingConfig.Consistency consistency, Duration maxLag, long maxLagBytes, Duration primaryWait) {
            return new RoutingConfig(
                    true,
                    consistency,
                    maxLag,
                    maxLagBytes,
                    RoutingConfig.ReplicaFallback.PRIMARY,
                    PROBE,
                    primaryWait,
                    List.of(),
                    false);
        }

        static RoutingConfig eventual() {
            return routing(RoutingConfig.Consistency.EVENTUAL, Duration.ZERO, 0, Duration.ofSeconds(10));
        }

        static Setup start(PostgresCluster cluster, RoutingConfig routing) throws Exception {
            return start(cluster, routing, Timeouts.DEFAULT);
        }

        /**
         * Endpoints: the cluster's primary and every replica, in that order, named host:port; users scram_user
         * (scram-sha-256) and plain_user (password). The admin API accepts {@link #TOKEN}.
         */
        static Setup start(PostgresCluster cluster, RoutingConfig routing, Timeouts timeouts) throws Exception {
            return start(cluster, routing, timeouts, cluster.primary().port());
        }

        /** As above, with the primary reached at {@code primaryPort} on localhost (a test proxy in front of it). */
        static Setup start(PostgresCluster cluster, RoutingConfig routing, Timeouts timeouts, int primaryPort)
                throws Exception {
            StringBuilder endpoints = new StringBuilder();
            endpoints.append(endpointYaml(primaryPort, "primary"));
            for (PostgresCluster.Node r : cluster.replicas()) {
                endpoints.append(endpointYaml(r.port(), "replica"));
            }
            String yaml = """
                    listen:
                      host: 127.0.0.1
                      port: 0
                    admin:
                      host: 127.0.0.1
                      port: 0
                    pools:
                      maxServerConnections: 10
                    databases:
                      %s:
                        endpoints:
                    %s
                        users:
                          %s:
                            password: %s
                            auth: scram-sha-256
                          %s:
                            password: %s
                            auth: password
                    """.formatted(
                    DB, endpoints, USER, TestPostgres.password(USER), PLAIN_USER, TestPostgres.password(PLAIN_USER));
            PoolerConfig parsed = ConfigLoader.parse(yaml, "replica-routing-test.yaml", Map.of());
            DatabaseConfig db = parsed.databases().get(DB).withRouting(routing);
            PoolerConfig config = parsed.withAdmin(new Admin(true, "127.0.0.1", 0, TOKEN))
                    .withTimeouts(timeouts)
                    .withDatabases(Map.of(DB, db));
            Pooler pooler = new Pooler(config, 2).start();
            return new Setup(cluster, pooler);
        }

        private static String endpointYaml(int port, String role) {
            return "      - host: 127.0.0.1\n        port: " + port + "\n        role: " + role + "\n";
        }

        static String name(PostgresCluster.Node n) {
            return "127.0.0.1:" + n.port();
        }

        Router.Database database() {
            return pooler.router().database(DB);
        }

        /** A pgjdbc connection through the pooler as scram_user (autocommit on). */
        Connection connect(String... extra) throws SQLException {
            Properties p = new Properties();
            p.setProperty("user", USER);
            p.setProperty("password", TestPostgres.password(USER));
            p.setProperty("assumeMinServerVersion", "12");
            p.setProperty("connectTimeout", "10");
            p.setProperty("socketTimeout", "30");
            // Server-side prepared statements live on one server; in transaction mode the next transaction may run
            // on another node, so pgjdbc must keep to unnamed statements.
            p.setProperty("prepareThreshold", "0");
            for (int i = 0; i + 1 < extra.length; i += 2) {
                p.setProperty(extra[i], extra[i + 1]);
            }
            return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + pooler.port() + "/" + DB, p);
        }

        /** Until every endpoint answered its probe with its configured role (reads may then go to replicas). */
        void awaitAllUp() throws InterruptedException {
            await(
                    "every endpoint up with its configured role",
                    () -> database().states().stream()
                            .allMatch(s -> s.health() == EndpointState.Health.UP
                                    && s.observedRole() == s.member().role()),
                    Duration.ofSeconds(30));
        }

        EndpointState state(PostgresCluster.Node n) {
            return database().states().stream()
                    .filter(s -> s.name().equals(name(n)))
                    .findFirst()
                    .orElseThrow();
        }

        long decided(String decision) {
            return database().decisions().getOrDefault(decision, 0L);
        }

        /** A counter as /metrics shows it, or 0 when the series does not exist yet. */
        double metric(String name, String... labels) throws IOException, InterruptedException {
            HttpResponse<String> r = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + pooler.adminPort() + "/metrics"))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            for (String line : r.body().split("\n")) {
                if (!line.startsWith(name + "{")) {
                    continue;
                }
                boolean all = true;
                for (String label : labels) {
                    all &= line.contains(label);
                }
                if (all) {
                    return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                }
            }
            return 0;
        }

        @Override
        public void close() {
            pooler.close();
        }

        // ------------------------------------------------------------------ direct access to the nodes

        /** A direct connection to a node as scram_user, no pooler. */
        static Connection direct(PostgresCluster.Node n) throws SQLException {
            return TestPostgres.connect(n, DB, USER);
        }

        /** A direct superuser connection to a node (replay pause and resume need it). */
        static Connection superuser(PostgresCluster.Node n) throws SQLException {
            return TestPostgres.connect(n, DB, TestPostgres.SUPERUSER);
        }

        static void exec(PostgresCluster.Node n, String... sql) throws SQLException {
            try (Connection c = direct(n);
                    Statement st = c.createStatement()) {
                for (String s : sql) {
                    st.execute(s);
                }
            }
        }

        static String value(Connection c, String sql) throws SQLException {
            try (Statement st = c.createStatement();
                    ResultSet rs = st.executeQuery(sql)) {
                return rs.next() ? rs.getString(1) : null;
            }
        }

        /** Until every replica replayed what the primary has written so far (schema changes, test data). */
        static void awaitReplayed(PostgresCluster cluster) throws Exception {
            String lsn;
            try (Connection p = direct(cluster.primary())) {
                lsn = value(p, "SELECT pg_current_wal_lsn()");
            }
            for (PostgresCluster.Node r : cluster.replicas()) {
                try (Connection c = direct(r)) {
                    await(
                            r.name() + " replayed " + lsn,
                            () -> {
                                try {
                                    return "t"
                                            .equals(value(
                                                    c, "SELECT pg_last_wal_replay_lsn() >= '" + lsn + "'::pg_lsn"));
                                } catch (SQLException e) {
                                    throw new IllegalStateException(e);
                                }
                            },
                            Duration.ofSeconds(30));
                }
            }
        }

        static void await(String what, BooleanSupplier condition, Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!condition.getAsBoolean()) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("timed out after " + timeout.toMillis() + " ms waiting for: " + what);
                }
                Thread.sleep(10);
            }
        }

        static long millisSince(long nanos) {
            return (System.nanoTime() - nanos) / 1_000_000;
        }
    }
}
