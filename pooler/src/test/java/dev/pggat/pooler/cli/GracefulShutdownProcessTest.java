package dev.pggat.pooler.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.testing.TestPostgres;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real pooler process ({@code pggat pooler --config ...}, started from the test classpath the way the jar starts
 * it) under load gets SIGTERM, as the kubelet sends it to a pod: transactions already begun finish, session clients
 * are told clearly, readiness flips, and the process exits within its drain time.
 */
class GracefulShutdownProcessTest {
    static final Duration DRAIN = Duration.ofSeconds(10);
    static final Pattern LISTENING =
            Pattern.compile("pggat listening on /?127\\.0\\.0\\.1:(\\d+).*admin on http://127\\.0\\.0\\.1:(\\d+)");
    static final int TX_WORKERS = 6;

    /** One transaction as a client saw it. */
    record Tx(int worker, int seq, boolean begun, boolean committed, long beganNanos, String error) {}

    @TempDir
    Path dir;

    @Test
    void sigtermUnderLoadFinishesOpenTransactionsTellsSessionClientsAndExitsWithinTheDrainTime() throws Exception {
        PostgresCluster pg = TestPostgres.shared();
        try (Connection su = TestPostgres.connect(pg.primary(), TestPostgres.DATABASE, TestPostgres.SUPERUSER);
                Statement s = su.createStatement()) {
            s.execute("DROP TABLE IF EXISTS sigterm_tx");
            s.execute("CREATE TABLE sigterm_tx (worker int, seq int, part int)");
            s.execute("GRANT ALL ON sigterm_tx TO " + TestPostgres.SCRAM_USER);
        }
        Path config = dir.resolve("pggat.yaml");
        Files.writeString(config, config(pg.primary().port()));

        List<String> output = new CopyOnWriteArrayList<>();
        Process pooler = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-Xmx256m",
                        "-cp",
                        System.getProperty("java.class.path"),
                        Main.class.getName(),
                        "pooler",
                        "--config",
                        config.toString())
                .redirectErrorStream(true)
                .start();
        ExecutorService pool = Executors.newCachedThreadPool();
        try {
            CountDownLatch listening = new CountDownLatch(1);
            int[] ports = new int[2];
            pool.submit(() -> {
                try (BufferedReader r =
                        new BufferedReader(new InputStreamReader(pooler.getInputStream(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = r.readLine()) != null) {
                        output.add(line);
                        Matcher m = LISTENING.matcher(line);
                        if (m.find()) {
                            ports[0] = Integer.parseInt(m.group(1));
                            ports[1] = Integer.parseInt(m.group(2));
                            listening.countDown();
                        }
                    }
                }
                return null;
            });
            assertThat(listening.await(60, TimeUnit.SECONDS))
                    .as("pooler started; output:\n" + String.join("\n", output))
                    .isTrue();
            int port = ports[0];
            int adminPort = ports[1];

            // Session clients: two idle, one inside a transaction when the signal comes.
            List<Connection> idleSessions = List.of(connect(port, "appdb_session"), connect(port, "appdb_session"));
            for (Connection c : idleSessions) {
                c.createStatement().execute("SELECT 1");
            }
            Connection sessionInTx = connect(port, "appdb_session");
            sessionInTx.setAutoCommit(false);
            sessionInTx.createStatement().execute("INSERT INTO sigterm_tx VALUES (100, 0, 1)");

            // Transaction-mode load, plus one transaction that spans the signal for sure.
            AtomicBoolean stop = new AtomicBoolean();
            AtomicInteger committedSoFar = new AtomicInteger();
            CountDownLatch signalled = new CountDownLatch(1);
            List<Future<List<Tx>>> workers = new ArrayList<>();
            for (int w = 0; w < TX_WORKERS; w++) {
                int worker = w;
                workers.add(pool.submit(() -> transactions(port, worker, stop, committedSoFar)));
            }
            CountDownLatch longOpen = new CountDownLatch(1);
            Future<Tx> longTx = pool.submit(() -> {
                try (Connection c = connect(port, "appdb")) {
                    c.setAutoCommit(false);
                    long began = System.nanoTime();
                    c.createStatement().execute("INSERT INTO sigterm_tx VALUES (99, 0, 1)");
                    longOpen.countDown();
                    signalled.await();
                    Thread.sleep(1500);
                    c.createStatement().execute("INSERT INTO sigterm_tx VALUES (99, 0, 2)");
                    c.commit();
                    return new Tx(99, 0, true, true, began, null);
                }
            });
            assertThat(longOpen.await(20, TimeUnit.SECONDS)).isTrue();
            // The load must have run before the signal; on a busy machine a fixed pause may not be enough for it.
            long loadDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (committedSoFar.get() <= TX_WORKERS * 3 && System.nanoTime() < loadDeadline) {
                Thread.sleep(50);
            }
            Thread.sleep(200);

            long signalAt = System.nanoTime();
            pooler.toHandle().destroy(); // SIGTERM
            signalled.countDown();

            Thread.sleep(300);
            HttpResponse<String> ready = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + "/readyz"))
                                    .timeout(Duration.ofSeconds(5))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
            assertThat(ready.statusCode()).as("readiness flips first").isEqualTo(503);
            assertThatThrownBy(() -> connect(port, "appdb")).isInstanceOf(SQLException.class);

            for (Connection c : idleSessions) {
                assertThatThrownBy(() -> c.createStatement().execute("SELECT 1"))
                        .isInstanceOfSatisfying(SQLException.class, e -> {
                            assertThat(e.getSQLState()).isEqualTo("57P01");
                            assertThat(e.getMessage()).contains("terminating connection due to administrator command");
                        });
            }
            // The session's open transaction commits; only then is the session told to go.
            sessionInTx.createStatement().execute("INSERT INTO sigterm_tx VALUES (100, 0, 2)");
            sessionInTx.commit();

            assertThat(longTx.get(20, TimeUnit.SECONDS).committed()).isTrue();
            assertThat(pooler.waitFor(DRAIN.toMillis() + 2000, TimeUnit.MILLISECONDS))
                    .as("exited within the drain time; output:\n" + String.join("\n", output))
                    .isTrue();
            long exitMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - signalAt);
            assertThat(exitMillis).as("SIGTERM to exit, ms").isLessThan(DRAIN.toMillis());
            stop.set(true);

            List<Tx> all = new ArrayList<>();
            for (Future<List<Tx>> f : workers) {
                all.addAll(f.get(20, TimeUnit.SECONDS));
            }
            List<Tx> begun = all.stream().filter(Tx::begun).toList();
            assertThat(begun).as("load ran").hasSizeGreaterThan(TX_WORKERS * 3);
            assertThat(begun)
                    .as("every transaction that began committed")
                    .allSatisfy(t -> assertThat(t.committed()).as(t.toString()).isTrue());
            assertThat(all.stream().filter(t -> !t.begun()))
                    .as("transactions refused at their first statement after the signal")
                    .allSatisfy(t -> assertThat(t.error()).matches("(57P01|08\\d\\d\\d).*"));
            long spanning =
                    begun.stream().filter(t -> t.beganNanos() < signalAt).count();
            assertThat(spanning).isPositive();

            try (Connection su = TestPostgres.connect(pg.primary(), TestPostgres.DATABASE, TestPostgres.SUPERUSER);
                    ResultSet rs = su.createStatement()
                            .executeQuery("SELECT count(*) FILTER (WHERE part = 1), count(*) FILTER (WHERE part = 2),"
                                    + " count(DISTINCT (worker, seq)) FROM sigterm_tx")) {
                rs.next();
                long committed = begun.size() + 2; // the workers', the long one, the session's
                assertThat(rs.getLong(1)).isEqualTo(committed);
                assertThat(rs.getLong(2)).isEqualTo(committed);
                assertThat(rs.getLong(3)).isEqualTo(committed);
            }
            assertThat(output).anyMatch(l -> l.contains("stopping: draining clients"));
        } finally {
            pooler.destroyForcibly();
            pool.shutdownNow();
        }
    }

    /** Transactions in a loop on one connection until the pooler closes it or {@code stop}. */
    static List<Tx> transactions(int port, int worker, AtomicBoolean stop, AtomicInteger committed)
            throws SQLException {
        List<Tx> done = new ArrayList<>();
        try (Connection c = connect(port, "appdb")) {
            c.setAutoCommit(false);
            for (int seq = 1; !stop.get(); seq++) {
                long began = System.nanoTime();
                try (Statement s = c.createStatement()) {
                    s.execute("INSERT INTO sigterm_tx VALUES (" + worker + ", " + seq + ", 1)");
                } catch (SQLException e) {
                    done.add(new Tx(worker, seq, false, false, began, e.getSQLState() + " " + e.getMessage()));
                    return done;
                }
                try (Statement s = c.createStatement()) {
                    s.execute("SELECT pg_sleep(0.02)");
                    s.execute("INSERT INTO sigterm_tx VALUES (" + worker + ", " + seq + ", 2)");
                    c.commit();
                    done.add(new Tx(worker, seq, true, true, began, null));
                    committed.incrementAndGet();
                } catch (SQLException e) {
                    done.add(new Tx(worker, seq, true, false, began, e.getSQLState() + " " + e.getMessage()));
                    return done;
                }
            }
        }
        return done;
    }

    static Connection connect(int port, String database) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", TestPostgres.SCRAM_USER);
        p.setProperty("password", TestPostgres.password(TestPostgres.SCRAM_USER));
        p.setProperty("assumeMinServerVersion", "12");
        // Named server-side statements do not follow a client across servers in transaction mode.
        p.setProperty("prepareThreshold", "0");
        p.setProperty("connectTimeout", "5");
        p.setProperty("socketTimeout", "30");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/" + database, p);
    }

    static String config(int serverPort) {
        return """
                listen:
                  host: 127.0.0.1
                  port: 0
                admin:
                  host: 127.0.0.1
                  port: 0
                timeouts:
                  shutdown: %ds
                pools:
                  maxServerConnections: 10
                databases:
                  appdb:
                    endpoints:
                      - host: 127.0.0.1
                        port: %d
                    users:
                      scram_user:
                        password: scram_user-secret
                  appdb_session:
                    serverDatabase: appdb
                    mode: session
                    endpoints:
                      - host: 127.0.0.1
                        port: %d
                    users:
                      scram_user:
                        password: scram_user-secret
                """.formatted(DRAIN.toSeconds(), serverPort, serverPort);
    }
}
