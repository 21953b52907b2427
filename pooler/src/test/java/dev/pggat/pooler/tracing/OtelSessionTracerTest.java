package dev.pggat.pooler.tracing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.config.TracingConfig;
import io.netty.buffer.ByteBuf;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.opentelemetry.sdk.trace.samplers.Sampler;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The spans one session makes, driven the way the client session drives them, into the SDK's in-memory exporter. */
class OtelSessionTracerTest {
    private static final String APP_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final String APP_SPAN = "00f067aa0ba902b7";

    private final InMemorySpanExporter exporter = InMemorySpanExporter.create();
    private OpenTelemetrySdk sdk;

    @AfterEach
    void close() {
        if (sdk != null) {
            sdk.close();
        }
    }

    private SessionTracer session(Sampler sampler, boolean sqlText, String applicationName) {
        sdk = OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder()
                        .setSampler(sampler)
                        .addSpanProcessor(SimpleSpanProcessor.create(exporter))
                        .build())
                .build();
        return Tracing.of(sdk, new TracingConfig(true, 1.0, sqlText)).session("app", "alice", applicationName);
    }

    private static void oneQuery(SessionTracer t, String sql) {
        ByteBuf q = Frames.query(sql);
        ByteBuf z = Frames.ready('I');
        try {
            t.transactionStarted(q);
            t.routed("replica-1", true, "10.0.0.7", 5433);
            t.waitEnded();
            t.toServer(q, (byte) 'Q');
            t.fromServer(z, (byte) 'Z');
            t.ready((byte) 'I', true);
        } finally {
            q.release();
            z.release();
        }
    }

    private static SpanData named(List<SpanData> spans, String prefix) {
        return spans.stream()
                .filter(s -> s.getName().startsWith(prefix))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no span " + prefix + " in " + spans));
    }

    @Test
    void aTransactionIsAServerSpanWithCheckoutAndRoundTripBelowIt() {
        oneQuery(session(Sampler.alwaysOn(), false, null), "select * from accounts where id = 42");

        List<SpanData> spans = exporter.getFinishedSpanItems();
        assertThat(spans).hasSize(3);
        SpanData tx = named(spans, "transaction");
        SpanData wait = named(spans, "pool checkout");
        SpanData trip = named(spans, "SELECT");
        assertThat(tx.getKind()).isEqualTo(SpanKind.SERVER);
        assertThat(tx.getParentSpanContext().isValid()).isFalse();
        assertThat(wait.getKind()).isEqualTo(SpanKind.INTERNAL);
        assertThat(trip.getKind()).isEqualTo(SpanKind.CLIENT);
        assertThat(wait.getParentSpanId()).isEqualTo(tx.getSpanId());
        assertThat(trip.getParentSpanId()).isEqualTo(tx.getSpanId());
        assertThat(trip.getTraceId()).isEqualTo(tx.getTraceId());

        assertThat(trip.getName()).isEqualTo("SELECT app");
        assertThat(trip.getAttributes().get(AttributeKey.stringKey("db.system.name")))
                .isEqualTo("postgresql");
        assertThat(trip.getAttributes().get(AttributeKey.stringKey("db.namespace")))
                .isEqualTo("app");
        assertThat(trip.getAttributes().get(AttributeKey.stringKey("db.operation.name")))
                .isEqualTo("SELECT");
        assertThat(trip.getAttributes().get(AttributeKey.stringKey("server.address")))
                .isEqualTo("10.0.0.7");
        assertThat(trip.getAttributes().get(AttributeKey.longKey("server.port")))
                .isEqualTo(5433L);
        assertThat(tx.getAttributes().get(AttributeKey.stringKey("pggat.pool"))).isEqualTo("app/alice");
        assertThat(tx.getAttributes().get(AttributeKey.stringKey("pggat.role"))).isEqualTo("replica");
        assertThat(tx.getAttributes().get(AttributeKey.stringKey("pggat.endpoint")))
                .isEqualTo("replica-1");
        assertThat(tx.getAttributes().get(AttributeKey.stringKey("db.operation.name")))
                .isEqualTo("SELECT");
        // No SQL text unless asked for.
        for (SpanData s : spans) {
            assertThat(s.getAttributes().get(AttributeKey.stringKey("db.query.text")))
                    .isNull();
            assertThat(s.getAttributes().toString()).doesNotContain("accounts").doesNotContain("42");
        }
    }

    @Test
    void sqlTextOnlyWhenEnabled() {
        oneQuery(session(Sampler.alwaysOn(), true, null), "select 42");
        SpanData trip = named(exporter.getFinishedSpanItems(), "SELECT");
        assertThat(trip.getAttributes().get(AttributeKey.stringKey("db.query.text")))
                .isEqualTo("select 42");
    }

    @Test
    void aCommentsTraceparentMakesTheTransactionAChildOfTheApplicationsSpan() {
        oneQuery(
                session(Sampler.alwaysOn(), false, null),
                "/*traceparent='00-" + APP_TRACE + "-" + APP_SPAN + "-01'*/ UPDATE t SET x = 1");
        SpanData tx = named(exporter.getFinishedSpanItems(), "transaction");
        assertThat(tx.getTraceId()).isEqualTo(APP_TRACE);
        assertThat(tx.getParentSpanId()).isEqualTo(APP_SPAN);
        assertThat(tx.getParentSpanContext().isRemote()).isTrue();
        assertThat(named(exporter.getFinishedSpanItems(), "UPDATE").getTraceId())
                .isEqualTo(APP_TRACE);
    }

    @Test
    void applicationNameGivesTheParentOfEveryTransactionWithoutItsOwn() {
        SessionTracer t = session(Sampler.alwaysOn(), false, "00-" + APP_TRACE + "-" + APP_SPAN + "-01");
        oneQuery(t, "SELECT 1");
        oneQuery(t, "SELECT 2");
        List<SpanData> txs = exporter.getFinishedSpanItems().stream()
                .filter(s -> s.getName().startsWith("transaction"))
                .toList();
        assertThat(txs).hasSize(2).allSatisfy(tx -> {
            assertThat(tx.getTraceId()).isEqualTo(APP_TRACE);
            assertThat(tx.getParentSpanId()).isEqualTo(APP_SPAN);
        });
    }

    @Test
    void samplerRatioZeroMakesNoSpansButFollowsASampledApplication() {
        Sampler none = Sampler.parentBased(Sampler.traceIdRatioBased(0));
        SessionTracer t = session(none, false, null);
        oneQuery(t, "SELECT 1");
        assertThat(exporter.getFinishedSpanItems()).isEmpty();

        oneQuery(t, "/*traceparent='00-" + APP_TRACE + "-" + APP_SPAN + "-01'*/ SELECT 1");
        assertThat(exporter.getFinishedSpanItems()).hasSize(3);
    }

    @Test
    void aServerErrorMarksTheRoundTrip() {
        SessionTracer t = session(Sampler.alwaysOn(), false, null);
        ByteBuf q = Frames.query("INSERT INTO t VALUES (1)");
        ByteBuf e = Frames.error("23505", "duplicate key value violates unique constraint");
        try {
            t.transactionStarted(q);
            t.waitEnded();
            t.toServer(q, (byte) 'Q');
            t.fromServer(e, (byte) 'E');
            t.ready((byte) 'I', true);
        } finally {
            q.release();
            e.release();
        }
        SpanData trip = named(exporter.getFinishedSpanItems(), "INSERT");
        assertThat(trip.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
        assertThat(trip.getAttributes().get(AttributeKey.stringKey("db.response.status_code")))
                .isEqualTo("23505");
        assertThat(trip.getAttributes().get(AttributeKey.stringKey("error.type")))
                .isEqualTo("23505");
    }

    @Test
    void aReplayOnThePrimaryIsASpanWithTheRoundTripAgainBelowIt() {
        SessionTracer t = session(Sampler.alwaysOn(), false, null);
        ByteBuf q = Frames.query("SELECT nextval('s')");
        try {
            t.transactionStarted(q);
            t.routed("replica-1", true, "10.0.0.7", 5432);
            t.waitEnded();
            t.toServer(q, (byte) 'Q');
            t.replayed();
            t.routed("primary", false, "10.0.0.6", 5432);
            t.waitEnded();
            t.toServer(q, (byte) 'Q');
            t.ready((byte) 'I', true);
        } finally {
            q.release();
        }
        List<SpanData> spans = exporter.getFinishedSpanItems();
        SpanData tx = named(spans, "transaction");
        SpanData replay = named(spans, "replay");
        List<SpanData> trips =
                spans.stream().filter(s -> s.getKind() == SpanKind.CLIENT).toList();
        assertThat(trips).hasSize(2);
        assertThat(trips.get(0).getAttributes().get(AttributeKey.stringKey("server.address")))
                .isEqualTo("10.0.0.7");
        assertThat(trips.get(0).getAttributes().get(AttributeKey.stringKey("db.response.status_code")))
                .isEqualTo("25006");
        assertThat(trips.get(0).getParentSpanId()).isEqualTo(tx.getSpanId());
        assertThat(trips.get(1).getAttributes().get(AttributeKey.stringKey("server.address")))
                .isEqualTo("10.0.0.6");
        assertThat(trips.get(1).getParentSpanId()).isEqualTo(replay.getSpanId());
        assertThat(replay.getParentSpanId()).isEqualTo(tx.getSpanId());
        assertThat(tx.getAttributes().get(AttributeKey.booleanKey("pggat.replayed")))
                .isTrue();
        assertThat(tx.getAttributes().get(AttributeKey.stringKey("pggat.role"))).isEqualTo("primary");
    }

    @Test
    void aClientThatLeavesMidTransactionEndsItsSpansAsErrors() {
        SessionTracer t = session(Sampler.alwaysOn(), false, null);
        ByteBuf q = Frames.query("BEGIN");
        try {
            t.transactionStarted(q);
            t.waitEnded();
            t.toServer(q, (byte) 'Q');
            t.ready((byte) 'T', true);
            t.pinned("advisory_lock");
            t.closed();
        } finally {
            q.release();
        }
        SpanData tx = named(exporter.getFinishedSpanItems(), "transaction");
        assertThat(tx.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
        assertThat(tx.getAttributes().get(AttributeKey.booleanKey("pggat.pinned")))
                .isTrue();
    }

    @Test
    void tracingOffGivesTheNoOpSession() {
        assertThat(Tracing.OFF.session("app", "alice", null)).isSameAs(SessionTracer.OFF);
        assertThat(Tracing.of(io.opentelemetry.api.OpenTelemetry.noop(), TracingConfig.DEFAULT)
                        .session("app", "alice", null))
                .isSameAs(SessionTracer.OFF);
    }
}
