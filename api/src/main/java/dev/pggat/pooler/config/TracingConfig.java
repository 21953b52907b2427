package dev.pggat.pooler.config;

/**
 * OpenTelemetry tracing of client transactions. The exporter (where spans go) is configured the standard way, with
 * the {@code OTEL_*} environment variables read by the SDK's autoconfigure module when it is on the class path.
 *
 * @param enabled whether the pooler makes spans at all; off, a session pays one check per message
 * @param samplerRatio the share of new traces kept (0 to 1); a trace the application continues follows the
 *     application's sampling decision. {@code OTEL_TRACES_SAMPLER} in the environment wins over it.
 * @param includeSqlText whether spans carry the SQL text (db.query.text); never bind parameter values
 */
public record TracingConfig(boolean enabled, double samplerRatio, boolean includeSqlText) {
    public static final TracingConfig DEFAULT = new TracingConfig(false, 1.0, false);

    public TracingConfig {
        if (!(samplerRatio >= 0 && samplerRatio <= 1)) {
            throw new IllegalArgumentException("samplerRatio must be from 0 to 1: " + samplerRatio);
        }
    }
}
