package dev.pggat.pooler.tracing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.config.TracingConfig;
import dev.pggat.pooler.testing.PoolerFixture;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Spans of real pgjdbc sessions through a real pooler in front of a real PostgreSQL, into the SDK's in-memory
 * exporter. A transaction's spans end before its ReadyForQuery is written to the client, so they are all exported
 * once the driver call returns.
 */
class TracingThroughPoolerTest {
    private static final String APP_TRACE = "0af7651916cd43dd8448eb211c80319c";
    private static final String APP_SPAN = "b7ad6b7169203331";
    private static final String SECRET_VALUE = "bind-value-never-traced";

    private static final InMemorySpanExporter exporter = InMemorySpanExporter.create();
    private static OpenTelemetrySdk sdk;
    private static PoolerFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = PoolerFixture.start(4, "");
        sdk = OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder()
                        .addSpanProcessor(SimpleSpanProcessor.create(exporter))
                        .build())
                .build();
        fx.pooler.tracing(sdk, new TracingConfig(true, 1.0, false));
    }

    @AfterAll
    static void stop() {
        if (fx != null) {
            fx.close();
        }
        if (sdk != null) {
            sdk.close();
        }
    }

    @BeforeEach
    void clear() {
        exporter.reset();
    }

    private static List<SpanData> spans() {
        return exporter.getFinishedSpanItems();
    }

    private static List<SpanData> ofKind(List<SpanData> spans, SpanKind kind) {
        return spans.stream().filter(s -> s.getKind() == kind).toList();
    }

    @Test
    void aTransactionOfThreeStatementsIsOneServerSpanWithItsRoundTripsBelow() throws Exception {
        try (Connection c = fx.connect("appdb", "scram_user")) {
            exporter.reset(); // login is no transaction; nothing before this point is asserted on
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("SELECT ?::text")) {
                ps.setString(1, SECRET_VALUE);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                }
            }
            try (Statement st = c.createStatement()) {
                st.execute("select count(*) from pg_class");
            }
            c.commit();
        }
        List<SpanData> spans = spans();
        List<SpanData> tx = ofKind(spans, SpanKind.SERVER);
        assertThat(tx).as("one transaction span in %s", spans).hasSize(1);
        SpanData t = tx.get(0);
        assertThat(t.getName()).isEqualTo("transaction appdb");
        assertThat(t.getAttributes().get(AttributeKey.stringKey("db.system.name")))
                .isEqualTo("postgresql");
        assertThat(t.getAttributes().get(AttributeKey.stringKey("db.namespace")))
                .isEqualTo("appdb");
        assertThat(t.getAttributes().get(AttributeKey.stringKey("pggat.pool"))).isEqualTo("appdb/scram_user");
        assertThat(t.getAttributes().get(AttributeKey.stringKey("pggat.role"))).isEqualTo("primary");

        List<SpanData> trips = ofKind(spans, SpanKind.CLIENT);
        // BEGIN rides with the first statement; then the second statement, then COMMIT.
        assertThat(trips).hasSize(3).allSatisfy(s -> {
            assertThat(s.getParentSpanId()).isEqualTo(t.getSpanId());
            assertThat(s.getTraceId()).isEqualTo(t.getTraceId());
            assertThat(s.getAttributes().get(AttributeKey.stringKey("server.address")))
                    .isEqualTo("127.0.0.1");
            assertThat(s.getAttributes().get(AttributeKey.longKey("server.port")))
                    .isEqualTo((long) fx.cluster.primary().port());
            assertThat(s.getAttributes().get(AttributeKey.stringKey("db.namespace")))
                    .isEqualTo("appdb");
        });
        assertThat(trips)
                .extracting(s -> s.getAttributes().get(AttributeKey.stringKey("db.operation.name")))
                .containsExactly("BEGIN", "SELECT", "COMMIT");
        SpanData wait = spans.stream()
                .filter(s -> s.getName().equals("pool checkout"))
                .findFirst()
                .orElseThrow();
        assertThat(wait.getParentSpanId()).isEqualTo(t.getSpanId());
        for (SpanData s : spans) {
            assertThat(s.getAttributes().get(AttributeKey.stringKey("db.query.text")))
                    .isNull();
            assertThat(s.getAttributes().toString())
                    .doesNotContain(SECRET_VALUE)
                    .doesNotContain("pg_class");
        }
    }

    @Test
    void aTraceparentCommentContinuesTheApplicationsTrace() throws Exception {
        try (Connection c = fx.connect("appdb", "scram_user");
                Statement st = c.createStatement()) {
            exporter.reset();
            st.execute("/*traceparent='00-" + APP_TRACE + "-" + APP_SPAN + "-01'*/ SELECT 1");
        }
        SpanData t = ofKind(spans(), SpanKind.SERVER).get(0);
        assertThat(t.getTraceId()).isEqualTo(APP_TRACE);
        assertThat(t.getParentSpanId()).isEqualTo(APP_SPAN);
        assertThat(ofKind(spans(), SpanKind.CLIENT))
                .allSatisfy(s -> assertThat(s.getTraceId()).isEqualTo(APP_TRACE));
    }

    @Test
    void aTraceparentInApplicationNameContinuesTheApplicationsTrace() throws Exception {
        try (Connection c = fx.connect(
                        "appdb",
                        "scram_user",
                        "scram_user-secret",
                        "ApplicationName",
                        "00-" + APP_TRACE + "-" + APP_SPAN + "-01");
                Statement st = c.createStatement()) {
            exporter.reset();
            st.execute("SELECT 1");
            st.execute("SELECT 2");
        }
        List<SpanData> tx = ofKind(spans(), SpanKind.SERVER);
        assertThat(tx).hasSize(2).allSatisfy(t -> {
            assertThat(t.getTraceId()).isEqualTo(APP_TRACE);
            assertThat(t.getParentSpanId()).isEqualTo(APP_SPAN);
        });
    }

    @Test
    void aMalformedTraceparentIsIgnoredAndTheQueryRuns() throws Exception {
        try (Connection c = fx.connect("appdb", "scram_user");
                Statement st = c.createStatement()) {
            exporter.reset();
            try (ResultSet rs = st.executeQuery(
                    "/*traceparent='00-" + APP_TRACE.toUpperCase() + "-" + APP_SPAN + "-01'*/ SELECT 7")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).isEqualTo(7);
            }
        }
        SpanData t = ofKind(spans(), SpanKind.SERVER).get(0);
        assertThat(t.getTraceId()).isNotEqualTo(APP_TRACE.toLowerCase());
        assertThat(t.getParentSpanContext().isValid()).isFalse();
    }

    @Test
    void sessionModeTracesEachTransactionOnTheKeptServer() throws Exception {
        try (Connection c = fx.connect("appdb_session", "scram_user");
                Statement st = c.createStatement()) {
            exporter.reset();
            st.execute("SELECT 1");
            st.execute("SELECT 2");
        }
        List<SpanData> tx = ofKind(spans(), SpanKind.SERVER);
        assertThat(tx).hasSize(2);
        assertThat(ofKind(spans(), SpanKind.CLIENT)).hasSize(2);
        assertThat(tx.get(0).getTraceId()).isNotEqualTo(tx.get(1).getTraceId());
    }
}
