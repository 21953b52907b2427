package dev.pggat.pooler.tracing;

import dev.pggat.pooler.config.TracingConfig;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Tracer;

/**
 * The pooler's OpenTelemetry tracing: makes one {@link SessionTracer} per client. Off (the default), every session
 * gets {@link SessionTracer#OFF} and nothing of the OpenTelemetry API runs on the data path. On, spans go to the
 * {@link OpenTelemetry} given: the SDK that {@link TracingSetup} configured, or the API's no-op one when no SDK is on
 * the class path (spans are then made and dropped at once by the API itself).
 */
public final class Tracing {
    /** The instrumentation scope name that spans carry. */
    public static final String SCOPE = "dev.pggat.pooler";

    public static final Tracing OFF = new Tracing(null, TracingConfig.DEFAULT);

    private final Tracer tracer;
    private final TracingConfig config;

    private Tracing(Tracer tracer, TracingConfig config) {
        this.tracer = tracer;
        this.config = config;
    }

    /** Tracing into {@code otel} as {@code config} says; {@link #OFF} when it is not enabled. */
    public static Tracing of(OpenTelemetry otel, TracingConfig config) {
        if (!config.enabled()) {
            return OFF;
        }
        return new Tracing(otel.getTracer(SCOPE, TracingSetup.version()), config);
    }

    public boolean enabled() {
        return tracer != null;
    }

    public TracingConfig config() {
        return config;
    }

    /**
     * A tracer for one client session of {@code user} on {@code database}; {@code applicationName} (the startup
     * parameter) may carry the application's trace context for all its transactions.
     */
    public SessionTracer session(String database, String user, String applicationName) {
        if (tracer == null) {
            return SessionTracer.OFF;
        }
        return new OtelSessionTracer(
                tracer, config.includeSqlText(), database, user, TraceParent.fromApplicationName(applicationName));
    }
}
