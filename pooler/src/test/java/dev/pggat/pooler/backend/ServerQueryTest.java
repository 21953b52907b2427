package dev.pggat.pooler.backend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.net.Transport;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.testing.TestPostgres;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.Future;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The pooler's own queries on a real server: rows, command tags, errors, and a connection left ready or closed. */
class ServerQueryTest {
    static EventLoopGroup group;
    static ServerConnector connector;
    static ServerAddress address;

    EventLoop loop;
    ServerConnection conn;

    @BeforeAll
    static void start() {
        PostgresCluster.Node pg = TestPostgres.shared().primary();
        Transport transport = Transport.best();
        group = transport.newGroup(1, "server-query-test");
        connector = new ServerConnector(transport, Duration.ofSeconds(10), Duration.ZERO);
        address = new ServerAddress(
                pg.host(),
                pg.port(),
                TestPostgres.DATABASE,
                TestPostgres.SCRAM_USER,
                TestPostgres.password(TestPostgres.SCRAM_USER));
    }

    @AfterAll
    static void stop() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }

    @BeforeEach
    void connect() throws Exception {
        loop = group.next();
        conn = connector.connect(loop, address).get(20, TimeUnit.SECONDS);
    }

    @AfterEach
    void close() {
        conn.close();
    }

    private ServerQuery.Result run(Function<ServerConnection, Future<ServerQuery.Result>> q) throws Exception {
        return loop.submit(() -> q.apply(conn)).get(20, TimeUnit.SECONDS).get(20, TimeUnit.SECONDS);
    }

    @Test
    void collectsRowsTagsAndNullsOfSeveralStatements() throws Exception {
        ServerQuery.Result r = run(c -> ServerQuery.simple(
                c, "SELECT 1 AS a, NULL::text AS b UNION ALL SELECT 2, 'two'; SET work_mem = '5MB'; SELECT 'x'", null));
        assertThat(r.failed()).isFalse();
        assertThat(r.rows()).containsExactly(Arrays.asList("1", null), List.of("2", "two"), List.of("x"));
        assertThat(r.rowCount()).isEqualTo(3);
        assertThat(r.firstRow()).containsExactly("1", null);
        assertThat(r.commandTags()).containsExactly("SELECT 2", "SET", "SELECT 1");
        assertThat(r.transactionStatus()).isEqualTo(ProtocolConstants.TX_IDLE);
        assertThat(conn.listener()).isNull();
        // The connection is usable again, and the SET stuck to it.
        assertThat(run(c -> ServerQuery.simple(c, "SHOW work_mem", null)).firstRow())
                .containsExactly("5MB");
    }

    @Test
    void aServerErrorIsAResultAndTheConnectionStaysUsable() throws Exception {
        ServerQuery.Result r = run(c -> ServerQuery.simple(c, "SELECT 1; SELECT 1/0; SELECT 3", null));
        assertThat(r.failed()).isTrue();
        assertThat(r.error().sqlState()).isEqualTo("22012");
        assertThat(r.error().getMessage()).contains("division by zero");
        assertThat(r.rows()).containsExactly(List.of("1"));
        assertThat(r.commandTags()).containsExactly("SELECT 1");
        assertThat(run(c -> ServerQuery.simple(c, "SELECT 42", null)).firstRow())
                .containsExactly("42");
        assertThat(conn.isUsable()).isTrue();
    }

    @Test
    void reportsTheTransactionStatusItLeaves() throws Exception {
        assertThat(run(c -> ServerQuery.simple(c, "BEGIN", null)).transactionStatus())
                .isEqualTo(ProtocolConstants.TX_IN_BLOCK);
        assertThat(conn.transactionStatus()).isEqualTo(ProtocolConstants.TX_IN_BLOCK);
        assertThat(run(c -> ServerQuery.simple(c, "SELECT nosuchcolumn", null)).transactionStatus())
                .isEqualTo(ProtocolConstants.TX_FAILED);
        assertThat(run(c -> ServerQuery.simple(c, "ROLLBACK", null)).transactionStatus())
                .isEqualTo(ProtocolConstants.TX_IDLE);
    }

    @Test
    void aParameterIsSentAsIsAndTheRowLimitSuspends() throws Exception {
        String tricky = "o'hara\"; DROP TABLE x; --";
        ServerQuery.Result r = run(c ->
                ServerQuery.withParameter(c, "SELECT $1::text || g FROM generate_series(1, 5) g", tricky, 2, null));
        assertThat(r.failed()).isFalse();
        assertThat(r.rows()).containsExactly(List.of(tricky + "1"), List.of(tricky + "2"));
        assertThat(r.commandTags()).isEmpty(); // suspended at the limit: no CommandComplete
        ServerQuery.Result all =
                run(c -> ServerQuery.withParameter(c, "SELECT g FROM generate_series(1, $1::int) g", "3", 0, null));
        assertThat(all.rowCount()).isEqualTo(3);
        assertThat(all.commandTags()).containsExactly("SELECT 3");
    }

    @Test
    void keepsAtMostMaxRowsButCountsThemAll() throws Exception {
        int n = ServerQuery.MAX_ROWS + 5;
        ServerQuery.Result r = run(c -> ServerQuery.simple(c, "SELECT g FROM generate_series(1, " + n + ") g", null));
        assertThat(r.rowCount()).isEqualTo(n);
        assertThat(r.rows()).hasSize(ServerQuery.MAX_ROWS);
        assertThat(r.commandTags()).containsExactly("SELECT " + n);
    }

    @Test
    void recordsParameterStatusChanges() throws Exception {
        run(c -> ServerQuery.simple(c, "SET application_name = 'server-query-test'", null));
        assertThat(conn.reportedParameters()).containsEntry("application_name", "server-query-test");
    }

    @Test
    void aTimeoutFailsTheFutureAndAbortsTheConnection() throws Exception {
        Future<ServerQuery.Result> f = loop.submit(
                        () -> ServerQuery.simple(conn, "SELECT pg_sleep(30)", Duration.ofMillis(300)))
                .get(20, TimeUnit.SECONDS);
        assertThat(f.await(20, TimeUnit.SECONDS)).isTrue();
        assertThat(f.isSuccess()).isFalse();
        assertThat(f.cause()).isInstanceOf(ServerError.class).hasMessageContaining("no answer");
        assertThat(((ServerError) f.cause()).sqlState()).isEqualTo("57014");
        conn.channel().closeFuture().await(20, TimeUnit.SECONDS);
        assertThat(conn.isUsable()).isFalse();
    }

    @Test
    void aServerThatClosesFailsTheFuture() throws Exception {
        try (var admin = TestPostgres.connect(TestPostgres.shared().primary(), "postgres", TestPostgres.SUPERUSER);
                var st = admin.createStatement()) {
            Future<ServerQuery.Result> f = loop.submit(() -> ServerQuery.simple(conn, "SELECT pg_sleep(30)", null))
                    .get(20, TimeUnit.SECONDS);
            // Terminate the backend while the query runs.
            for (int i = 0; i < 200 && !f.isDone(); i++) {
                st.execute("SELECT pg_terminate_backend(" + conn.processId() + ")");
                f.await(100, TimeUnit.MILLISECONDS);
            }
            assertThat(f.await(20, TimeUnit.SECONDS)).isTrue();
            assertThat(f.isSuccess()).isFalse();
            ExecutionException e =
                    org.assertj.core.api.Assertions.catchThrowableOfType(() -> f.get(), ExecutionException.class);
            assertThat(e.getCause()).isInstanceOf(ServerError.class);
        }
    }
}
