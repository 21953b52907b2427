package dev.pggat.pooler.tracing;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.testing.PoolerFixture;
import dev.pggat.pooler.testing.TestPostgres;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.net.InetSocketAddress;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * The production path end to end: a {@code tracing:} section turns tracing on, the SDK's autoconfigure module (on the
 * test class path, as a user would add it) sets up the OTLP exporter from otel.* settings, and a local receiver
 * decodes what arrives with the OTLP protobuf classes.
 */
class OtlpExportTest {
    private static final String APP_TRACE = "5b8efff798038103d269b633813fc60c";
    private static final String APP_SPAN = "eee19b7ec3c1b174";

    @Test
    void spansReachAnOtlpReceiverOverHttpProtobuf() throws Exception {
        List<ExportTraceServiceRequest> received = new CopyOnWriteArrayList<>();
        HttpServer receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        receiver.createContext("/v1/traces", ex -> {
            try (ex) {
                received.add(
                        ExportTraceServiceRequest.parseFrom(ex.getRequestBody().readAllBytes()));
                ex.getResponseHeaders().add("Content-Type", "application/x-protobuf");
                byte[] ok = io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse.getDefaultInstance()
                        .toByteArray();
                ex.sendResponseHeaders(200, ok.length == 0 ? -1 : ok.length);
                if (ok.length > 0) {
                    ex.getResponseBody().write(ok);
                }
            }
        });
        receiver.start();
        Map<String, String> settings = Map.of(
                "otel.traces.exporter", "otlp",
                "otel.exporter.otlp.traces.protocol", "http/protobuf",
                "otel.exporter.otlp.traces.endpoint",
                        "http://127.0.0.1:" + receiver.getAddress().getPort() + "/v1/traces",
                "otel.service.name", "pggat-otlp-test");
        settings.forEach(System::setProperty);
        Pooler pooler = null;
        try {
            String yaml = PoolerFixture.config(TestPostgres.shared(), 2, "tracing:\n  enabled: true\n");
            pooler = new Pooler(ConfigLoader.parse(yaml, "test.yaml", Map.of()), 2).start();
            Properties p = new Properties();
            p.setProperty("user", "scram_user");
            p.setProperty("password", "scram_user-secret");
            p.setProperty("assumeMinServerVersion", "12");
            try (Connection c =
                            DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + pooler.port() + "/appdb", p);
                    Statement st = c.createStatement()) {
                st.execute("/*traceparent='00-" + APP_TRACE + "-" + APP_SPAN + "-01'*/ SELECT 1");
            }
        } finally {
            if (pooler != null) {
                pooler.close(); // closes the SDK, which flushes its batch to the receiver
            }
            settings.keySet().forEach(System::clearProperty);
            receiver.stop(0);
        }

        List<Span> spans = received.stream()
                .flatMap(r -> r.getResourceSpansList().stream())
                .filter(rs -> rs.getResource().getAttributesList().stream()
                        .anyMatch(kv -> kv.getKey().equals("service.name")
                                && kv.getValue().getStringValue().equals("pggat-otlp-test")))
                .map(ResourceSpans::getScopeSpansList)
                .flatMap(List::stream)
                .filter(ss -> ss.getScope().getName().equals(Tracing.SCOPE))
                .map(ScopeSpans::getSpansList)
                .flatMap(List::stream)
                .toList();
        Span tx = spans.stream()
                .filter(s -> s.getKind() == Span.SpanKind.SPAN_KIND_SERVER)
                .findFirst()
                .orElseThrow(() -> new AssertionError("no transaction span among " + spans));
        HexFormat hex = HexFormat.of();
        assertThat(hex.formatHex(tx.getTraceId().toByteArray())).isEqualTo(APP_TRACE);
        assertThat(hex.formatHex(tx.getParentSpanId().toByteArray())).isEqualTo(APP_SPAN);
        Span trip = spans.stream()
                .filter(s -> s.getKind() == Span.SpanKind.SPAN_KIND_CLIENT)
                .findFirst()
                .orElseThrow(() -> new AssertionError("no round-trip span among " + spans));
        assertThat(trip.getParentSpanId()).isEqualTo(tx.getSpanId());
        assertThat(attribute(trip.getAttributesList(), "db.system.name")).isEqualTo("postgresql");
        assertThat(attribute(trip.getAttributesList(), "db.operation.name")).isEqualTo("SELECT");
        assertThat(attribute(trip.getAttributesList(), "server.address")).isEqualTo("127.0.0.1");
    }

    private static String attribute(List<KeyValue> attributes, String key) {
        return attributes.stream()
                .filter(kv -> kv.getKey().equals(key))
                .map(kv -> kv.getValue().getStringValue())
                .findFirst()
                .orElse(null);
    }
}
