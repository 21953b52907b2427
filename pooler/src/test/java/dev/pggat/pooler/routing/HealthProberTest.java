package dev.pggat.pooler.routing;

import static dev.pggat.pooler.testing.TestPostgres.DATABASE;
import static dev.pggat.pooler.testing.TestPostgres.SCRAM_USER;
import static dev.pggat.pooler.testing.TestPostgres.SUPERUSER;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.net.Transport;
import dev.pggat.pooler.routing.EndpointSet.Member;
import dev.pggat.pooler.routing.EndpointState.Health;
import dev.pggat.pooler.testing.TestPostgres;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.net.ServerSocket;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Against real servers: the shared primary with two streaming replicas, and a private cluster for promotion. */
class HealthProberTest {
    private static final HealthProber.Settings FAST =
            new HealthProber.Settings(Duration.ofMillis(100), Duration.ofSeconds(5), Duration.ofMillis(800));
    private static final Duration WAIT = Duration.ofSeconds(60);

    private static Transport transport;
    private static EventLoopGroup group;
    private static ServerConnector connector;

    @BeforeAll
    static void setUp() {
        transport = Transport.best();
        group = transport.newGroup(1, "pggat-probe-test");
        connector = new ServerConnector(transport, Duration.ofSeconds(5), Duration.ZERO);
    }

    @AfterAll
    static void tearDown() throws InterruptedException {
        group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).await();
    }

    /** Records what the prober reports. */
    static final class Events implements HealthProber.Listener {
        final List<String> seen = new CopyOnWriteArrayList<>();

        @Override
        public void roleMismatch(EndpointState state, Endpoint.Role configured, Endpoint.Role observed) {
            seen.add(state.name() + " mismatch " + configured.yamlName() + "->" + observed.yamlName());
        }

        @Override
        public void healthChanged(EndpointState state, Health from, Health to) {
            seen.add(state.name() + " " + from + "->" + to);
        }
    }

    private static EndpointSet setOf(long version, PostgresCluster cluster) {
        List<Member> members = new java.util.ArrayList<>();
        members.add(new Member("primary", "127.0.0.1", cluster.primary().port(), Endpoint.Role.PRIMARY, "a", 100));
        for (PostgresCluster.Node r : cluster.replicas()) {
            members.add(new Member(r.name(), "127.0.0.1", r.port(), Endpoint.Role.REPLICA, "b", 100));
        }
        return new EndpointSet(version, members);
    }

    private static HealthProber.Login appLogin() {
        return new HealthProber.Login(DATABASE, SCRAM_USER, TestPostgres.password(SCRAM_USER));
    }

    private static void await(String what, BooleanSupplier condition, HealthProber prober) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what + "; states: " + prober.states());
            }
            Thread.sleep(50);
        }
    }

    private static void allUpInConfiguredRoles(HealthProber prober) throws InterruptedException {
        await(
                "every endpoint is up in its configured role",
                () -> prober.states().stream()
                        .allMatch(s -> s.health() == Health.UP
                                && s.observedRole() == s.member().role()),
                prober);
    }

    private static void execute(PostgresCluster.Node node, String db, String sql) throws SQLException {
        try (Connection c = TestPostgres.connect(node, db, SUPERUSER);
                Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    private static void execute(PostgresCluster cluster, PostgresCluster.Node node, String sql) throws SQLException {
        try (Connection c = TestPostgres.connect(node, "postgres", SUPERUSER, cluster.superuserPassword());
                Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    @Test
    void reportsRolesLsnsAndLatencyOfPrimaryAndReplicas() throws Exception {
        PostgresCluster cluster = TestPostgres.replicated();
        Events events = new Events();
        try (HealthProber prober = new HealthProber(connector, group.next(), appLogin(), FAST, events)) {
            assertThat(prober.update(setOf(1, cluster))).isTrue();
            allUpInConfiguredRoles(prober);
            EndpointState primary = prober.state("primary");
            assertThat(primary.lsn()).isPositive();
            assertThat(primary.lagBytes()).isZero();
            assertThat(primary.lagMillis()).isZero();
            assertThat(primary.ewmaLatencyNanos()).isPositive();
            await(
                    "replicas report a replay LSN and a lag",
                    () -> prober.states().stream()
                            .filter(s -> s.member().role() == Endpoint.Role.REPLICA)
                            .allMatch(s -> s.lsn() > 0 && s.lagBytes() >= 0 && s.lagMillis() >= 0),
                    prober);
            assertThat(events.seen).noneMatch(e -> e.contains("mismatch"));
            assertThat(events.seen).contains("primary UNKNOWN->UP", "replica1 UNKNOWN->UP", "replica2 UNKNOWN->UP");
        }
    }

    @Test
    void lagGrowsWhileReplayIsPausedAndShrinksAfterResume() throws Exception {
        PostgresCluster cluster = TestPostgres.replicated();
        PostgresCluster.Node replica1 = cluster.replicas().get(0);
        execute(cluster.primary(), DATABASE, "CREATE TABLE IF NOT EXISTS prober_lag(id int, pad text)");
        try (HealthProber prober = new HealthProber(connector, group.next(), appLogin(), FAST, null)) {
            prober.update(setOf(1, cluster));
            allUpInConfiguredRoles(prober);
            EndpointState paused = prober.state("replica1");
            EndpointState streaming = prober.state("replica2");
            await("replica1 has caught up", () -> paused.lagBytes() == 0 && paused.lagMillis() == 0, prober);
            try {
                execute(replica1, DATABASE, "SELECT pg_wal_replay_pause()");
                execute(
                        cluster.primary(),
                        DATABASE,
                        "INSERT INTO prober_lag SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g");
                await(
                        "the paused replica is megabytes behind while the other one caught up",
                        () -> paused.lagBytes() > 2_000_000 && streaming.lagBytes() < 100_000,
                        prober);
                await("the paused replica's replay delay passes 1 s", () -> paused.lagMillis() >= 1000, prober);
                long before = paused.lagMillis();
                Thread.sleep(600);
                await("the replay delay keeps growing", () -> paused.lagMillis() > before, prober);

                ReplicaChooser chooser =
                        new ReplicaChooser(new ReplicaChooser.Policy(1024 * 1024, Duration.ZERO, true), new Random(11));
                for (int i = 0; i < 200; i++) {
                    assertThat(chooser.choose(prober.states())).isSameAs(streaming);
                }
            } finally {
                execute(replica1, DATABASE, "SELECT pg_wal_replay_resume()");
            }
            await(
                    "the resumed replica caught up again",
                    () -> paused.lagBytes() < 100_000 && paused.lagMillis() == 0,
                    prober);
        }
    }

    @Test
    void aStoppedReplicaGoesDownAndComesBackUpAfterStart() throws Exception {
        PostgresCluster cluster = TestPostgres.replicated();
        PostgresCluster.Node replica2 = cluster.replicas().get(1);
        Events events = new Events();
        try (HealthProber prober = new HealthProber(connector, group.next(), appLogin(), FAST, events)) {
            prober.update(setOf(1, cluster));
            allUpInConfiguredRoles(prober);
            EndpointState state = prober.state("replica2");
            ReplicaChooser chooser = new ReplicaChooser(ReplicaChooser.Policy.DEFAULT, new Random(12));
            try {
                replica2.stop();
                await("replica2 is down", () -> state.health() == Health.DOWN, prober);
                assertThat(state.observation().error()).isNotBlank();
                await("replica2 was retried", () -> state.consecutiveFailures() >= 2, prober);
                for (int i = 0; i < 100; i++) {
                    assertThat(chooser.choose(prober.states())).isNotSameAs(state);
                }
            } finally {
                if (!replica2.isRunning()) {
                    replica2.start();
                }
            }
            await(
                    "replica2 is up again as a replica",
                    () -> state.health() == Health.UP && state.observedRole() == Endpoint.Role.REPLICA,
                    prober);
            assertThat(state.consecutiveFailures()).isZero();
            assertThat(events.seen).containsSubsequence("replica2 UP->DOWN", "replica2 DOWN->UP");
        }
    }

    @Test
    void anUnreachableEndpointIsRetriedWithBackoff() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        EndpointSet set = new EndpointSet(1, List.of(Member.replica("127.0.0.1", port)));
        try (HealthProber prober = new HealthProber(connector, group.next(), appLogin(), FAST, null)) {
            prober.update(set);
            EndpointState state = prober.states().get(0);
            await("the endpoint is down", () -> state.health() == Health.DOWN, prober);
            Thread.sleep(2000);
            // Without backoff, 100 ms probes would have failed about 20 times by now.
            assertThat(state.consecutiveFailures()).isBetween(3, 8);
            assertThat(state.observation().error()).contains("127.0.0.1:" + port);
        }
    }

    @Test
    void backoffDoublesFromTheIntervalUpToTheCap() {
        assertThat(List.of(1, 2, 3, 4, 5, 6, 40).stream()
                        .map(n -> HealthProber.backoffMillis(FAST, n))
                        .toList())
                .containsExactly(100L, 200L, 400L, 800L, 800L, 800L, 800L);
        assertThat(HealthProber.backoffMillis(HealthProber.Settings.DEFAULT, 1000))
                .isEqualTo(30_000L);
    }

    @Test
    void parsesLsnsAsPostgresPrintsThem() {
        assertThat(HealthProber.parseLsn("0/0")).isZero();
        assertThat(HealthProber.parseLsn("16/B374D848")).isEqualTo((0x16L << 32) | 0xB374D848L);
        assertThat(HealthProber.parseLsn(null)).isEqualTo(-1);
    }

    @Test
    void aRefusedProbeLoginLeavesHealthUnknownWithoutShowingThePassword() throws Exception {
        PostgresCluster cluster = TestPostgres.replicated();
        String wrong = "not-the-Secret-42";
        HealthProber.Login login = new HealthProber.Login(DATABASE, SCRAM_USER, wrong);
        assertThat(login.toString()).doesNotContain(wrong);
        try (HealthProber prober = new HealthProber(connector, group.next(), login, FAST, null)) {
            prober.update(new EndpointSet(
                    1, List.of(Member.primary("127.0.0.1", cluster.primary().port()))));
            EndpointState state = prober.states().get(0);
            // The server answers, it refuses the probe's login: not down (pass-through pools have no password for
            // probes), but never reported up either, and the error says why.
            await("the probe's login failed", () -> state.observation().error() != null, prober);
            assertThat(state.health()).isEqualTo(Health.UNKNOWN);
            assertThat(state.observation().error()).contains("password").doesNotContain(wrong);
        }
    }

    @Test
    void afterPromotionTheProberReportsTheReplicaWritableAndAcceptsTheNewSet() throws Exception {
        try (PostgresCluster cluster = PostgresCluster.builder()
                .replicas(1)
                .superuserPassword("prober-pw")
                .start()) {
            Events events = new Events();
            HealthProber.Login login = new HealthProber.Login("postgres", SUPERUSER, "prober-pw");
            try (HealthProber prober = new HealthProber(connector, group.next(), login, FAST, events)) {
                EndpointSet v1 = setOf(1, cluster);
                prober.update(v1);
                allUpInConfiguredRoles(prober);
                EndpointState promoted = prober.state("replica1");
                execute(cluster, cluster.primary(), "CREATE TABLE promo(id int)");

                cluster.replicas().get(0).promote();
                await("the promoted replica is seen writable", () -> promoted.roleMismatch(), prober);
                assertThat(promoted.observedRole()).isEqualTo(Endpoint.Role.PRIMARY);
                assertThat(promoted.health()).isEqualTo(Health.UP);
                assertThat(promoted.lagBytes()).isZero();
                Thread.sleep(500);
                assertThat(events.seen).containsOnlyOnce("replica1 mismatch replica->primary");
                execute(cluster, cluster.replicas().get(0), "INSERT INTO promo VALUES (1)");

                // Two writable servers: the configured primary stays the primary until the set says otherwise.
                assertThat(ReplicaChooser.primary(prober.states())).isSameAs(prober.state("primary"));
                assertThat(new ReplicaChooser(ReplicaChooser.Policy.DEFAULT).choose(prober.states()))
                        .isSameAs(prober.state("primary"));

                Member newPrimary = new Member(
                        "replica1", "127.0.0.1", cluster.replicas().get(0).port(), Endpoint.Role.PRIMARY, "b", 100);
                assertThat(prober.update(new EndpointSet(2, List.of(newPrimary))))
                        .isTrue();
                assertThat(prober.states()).containsExactly(promoted);
                assertThat(promoted.roleMismatch()).isFalse();
                assertThat(ReplicaChooser.primary(prober.states())).isSameAs(promoted);
                assertThat(prober.update(v1)).isFalse();
                assertThat(prober.endpoints().version()).isEqualTo(2);
                long lsn = promoted.lsn();
                execute(cluster, cluster.replicas().get(0), "INSERT INTO promo SELECT generate_series(1, 1000)");
                await("probing goes on for the kept endpoint", () -> promoted.lsn() > lsn, prober);
            }
        } catch (IOException e) {
            throw new AssertionError("could not start a private cluster: " + e.getMessage(), e);
        }
    }
}
