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
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Drain on shutdown: readiness flips, open transactions finish, idle clients are told, then everything closes. */
class ShutdownTest {

    @Test
    void drainLetsOpenTransactionsFinishThenClosesEveryone() throws Exception {
        PoolerFixture fx = PoolerFixture.start(4, "");
        try (Connection c = fx.superuser();
                Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS shutdown_rows");
            s.execute("CREATE TABLE shutdown_rows (id int)");
            s.execute("GRANT ALL ON shutdown_rows TO scram_user");
        }
        Connection inTx = fx.connect("appdb", "scram_user");
        // Raw, so that the test sees the pooler's ErrorResponse itself and not a driver's reading of a bare close.
        RawClient idle = new RawClient("127.0.0.1", fx.port());
        idle.login("trust_user", "appdb", null);
        idle.send(RawClient.query("SELECT 1"));
        assertThat(idle.readUntilReady()).last().extracting(RawClient.Msg::type).isEqualTo('Z');
        inTx.setAutoCommit(false);
        inTx.createStatement().execute("INSERT INTO shutdown_rows VALUES (1)");

        int adminPort = fx.pooler.adminPort();
        long start = System.nanoTime();
        CompletableFuture<Void> shutdown = CompletableFuture.runAsync(() -> fx.pooler.shutdown(Duration.ofSeconds(60)));
        Thread.sleep(300);
        HttpResponse<String> ready = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + "/readyz"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(ready.statusCode()).isEqualTo(503);
        assertThatThrownBy(() -> fx.connect("appdb", "scram_user")).isInstanceOf(SQLException.class);

        // The transaction that was open when the drain began still commits.
        inTx.createStatement().execute("INSERT INTO shutdown_rows VALUES (2)");
        inTx.commit();
        shutdown.get(90, TimeUnit.SECONDS);
        // Done because the open transaction ended, not because the drain timed out (60 s, generous for a busy host).
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(60_000);

        RawClient.Msg told = idle.read();
        assertThat(told.type()).as(told.text()).isEqualTo('E');
        assertThat(told.field('S')).isEqualTo("FATAL");
        assertThat(told.field('C')).isEqualTo("57P01");
        assertThat(idle.closedByServer()).isTrue();
        try (Connection c = fx.superuser();
                ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM shutdown_rows")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(2);
        }
        inTx.close();
        idle.close();
    }
}
