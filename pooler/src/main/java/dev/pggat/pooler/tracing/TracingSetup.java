package dev.pggat.pooler.tracing;

import dev.pggat.pooler.config.TracingConfig;
import io.opentelemetry.api.GlobalOpenTelemetry;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.sdk.autoconfigure.AutoConfiguredOpenTelemetrySdk;
import java.util.HashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where spans go, found the standard way. With the SDK's autoconfigure module on the class path (the user adds it
 * and an exporter, such as opentelemetry-exporter-otlp, to the class path: neither ships with the pooler), the SDK
 * is configured from the {@code OTEL_*} environment variables and system properties, with the {@code tracing:}
 * section's sampler ratio as the default that {@code OTEL_TRACES_SAMPLER} overrides. Without it, whatever was
 * registered globally (the OpenTelemetry Java agent does that) or the API's no-op implementation is used.
 */
public final class TracingSetup {
    private static final Logger log = LoggerFactory.getLogger(TracingSetup.class);
    private static final String AUTOCONFIGURE = "io.opentelemetry.sdk.autoconfigure.AutoConfiguredOpenTelemetrySdk";

    private TracingSetup() {}

    /** The OpenTelemetry to trace into, or null when tracing is off (nothing is set up then). */
    public static OpenTelemetry openTelemetry(TracingConfig config) {
        if (!config.enabled()) {
            return null;
        }
        if (onClassPath(AUTOCONFIGURE)) {
            OpenTelemetry otel = Autoconfigured.build(config);
            log.info(
                    "tracing: OpenTelemetry SDK configured from OTEL_* settings (default sampler ratio {})",
                    config.samplerRatio());
            return otel;
        }
        log.info("tracing: no OpenTelemetry SDK on the class path (add opentelemetry-sdk-extension-autoconfigure and"
                + " an exporter to export spans); using the globally registered OpenTelemetry, if any");
        return GlobalOpenTelemetry.get();
    }

    /** Closes what {@link #openTelemetry} built: the SDK flushes the spans it still holds. */
    public static void close(OpenTelemetry otel) {
        if (otel instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                log.warn("tracing: closing the OpenTelemetry SDK failed", e);
            }
        }
    }

    /** The settings the tracing section gives the SDK; the environment and system properties win over them. */
    static Map<String, String> defaults(TracingConfig config) {
        Map<String, String> m = new HashMap<>();
        m.put("otel.service.name", "pggat");
        m.put("otel.traces.sampler", "parentbased_traceidratio");
        m.put("otel.traces.sampler.arg", Double.toString(config.samplerRatio()));
        // The pooler makes traces only; metrics are Prometheus' and logs slf4j's.
        m.put("otel.metrics.exporter", "none");
        m.put("otel.logs.exporter", "none");
        return m;
    }

    static String version() {
        String v = TracingSetup.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    private static boolean onClassPath(String name) {
        try {
            Class.forName(name, false, TracingSetup.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /** Loaded only when the autoconfigure module is present. */
    private static final class Autoconfigured {
        static OpenTelemetry build(TracingConfig config) {
            try {
                return AutoConfiguredOpenTelemetrySdk.builder()
                        .addPropertiesSupplier(() -> defaults(config))
                        .build()
                        .getOpenTelemetrySdk();
            } catch (RuntimeException e) {
                // An exporter named in OTEL_TRACES_EXPORTER that is not on the class path, a bad sampler argument...
                throw new IllegalStateException(
                        "tracing.enabled is true but the OpenTelemetry SDK cannot be set up"
                                + " from the OTEL_* settings: " + e.getMessage(),
                        e);
            }
        }
    }
}
