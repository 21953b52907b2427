package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.config.TracingConfig;
import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.routing.ReplicaRoutingTest.Setup;
import dev.pggat.pooler.testing.TestPostgres;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A read that turns out to write, traced: the replica's round trip ends in 25006, and the transaction goes on under a
 * replay span with its round trip on the primary. A real primary with two streaming replicas, pgjdbc, the SDK's
 * in-memory exporter.
 */
class ReplayTracingTest {
    private static final InMemorySpanExporter exporter = InMemorySpanExporter.create();
    private static OpenTelemetrySdk sdk;
    private static PostgresCluster cluster;
    private static Setup setup;

    @BeforeAll
    static void start() throws Exception {
        cluster = TestPostgres.replicated();
        Setup.exec(
                cluster.primary(),
                "DROP TABLE IF EXISTS rt_events CASCADE",
                "DROP FUNCTION IF EXISTS rt_log(text)",
                "CREATE TABLE rt_events (id bigserial PRIMARY KEY, v text NOT NULL)",
                // A function the classifier cannot know writes: a replica refuses it with 25006.
                "CREATE FUNCTION rt_log(v text) RETURNS bigint LANGUAGE sql"
                        + " AS $$ INSERT INTO rt_events (v) VALUES (v) RETURNING id $$",
                "GRANT ALL ON rt_events TO PUBLIC",
                "GRANT ALL ON SEQUENCE rt_events_id_seq TO PUBLIC");
        Setup.awaitReplayed(cluster);
        setup = Setup.start(cluster, Setup.eventual());
        setup.awaitAllUp();
        sdk = OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder()
                        .addSpanProcessor(SimpleSpanProcessor.create(exporter))
                        .build())
                .build();
        setup.pooler.tracing(sdk, new TracingConfig(true, 1.0, false));
    }

    @AfterAll
    static void stop() {
        if (setup != null) {
            setup.close();
        }
        if (sdk != null) {
            sdk.close();
        }
    }

    @Test
    void aReplayedReadShowsTheReplicasRefusalAndThePrimarysRoundTrip() throws Exception {
        try (Connection c = setup.connect();
                Statement st = c.createStatement()) {
            exporter.reset();
            try (ResultSet rs = st.executeQuery("SELECT rt_log('traced')")) {
                assertThat(rs.next()).isTrue();
            }
        }
        List<SpanData> spans = exporter.getFinishedSpanItems();
        SpanData tx = spans.stream()
                .filter(s -> s.getKind() == SpanKind.SERVER)
                .findFirst()
                .orElseThrow(() -> new AssertionError("no transaction span in " + spans));
        SpanData replay = spans.stream()
                .filter(s -> s.getName().equals("replay on primary"))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no replay span in " + spans));
        List<SpanData> trips =
                spans.stream().filter(s -> s.getKind() == SpanKind.CLIENT).toList();
        assertThat(trips).as("%s", spans).hasSize(2);
        SpanData onReplica = trips.get(0);
        SpanData onPrimary = trips.get(1);

        assertThat(tx.getAttributes().get(AttributeKey.booleanKey("pggat.replayed")))
                .isTrue();
        assertThat(tx.getAttributes().get(AttributeKey.stringKey("pggat.role"))).isEqualTo("primary");
        assertThat(replay.getParentSpanId()).isEqualTo(tx.getSpanId());

        assertThat(onReplica.getParentSpanId()).isEqualTo(tx.getSpanId());
        assertThat(onReplica.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
        assertThat(onReplica.getAttributes().get(AttributeKey.stringKey("db.response.status_code")))
                .isEqualTo("25006");
        assertThat(onReplica.getAttributes().get(AttributeKey.longKey("server.port")))
                .isIn((long) cluster.replicas().get(0).port(), (long)
                        cluster.replicas().get(1).port());

        assertThat(onPrimary.getParentSpanId()).isEqualTo(replay.getSpanId());
        assertThat(onPrimary.getStatus().getStatusCode()).isNotEqualTo(StatusCode.ERROR);
        assertThat(onPrimary.getAttributes().get(AttributeKey.longKey("server.port")))
                .isEqualTo((long) cluster.primary().port());
        assertThat(onPrimary.getAttributes().get(AttributeKey.stringKey("db.operation.name")))
                .isEqualTo("SELECT");
    }
}
