package dev.pggat.operator.webhook;

import java.util.Objects;

/**
 * What an injected sidecar needs beyond its PgPool: the image to run when the PgPool names none, and where the
 * operator's endpoint stream for a PgPool lives, and where in the pod the sidecar goes.
 *
 * @param streamUrlTemplate the stream URL with {@code {namespace}} and {@code {pgpool}} placeholders
 */
public record SidecarSettings(String defaultImage, String streamUrlTemplate, SidecarPlacement placement) {
    /** The per-PgPool Secret holding the stream's bearer token, and its key. */
    public static final String STREAM_TOKEN_SECRET_SUFFIX = "-pggat-stream";

    public static final String STREAM_TOKEN_KEY = "token";

    public SidecarSettings {
        Objects.requireNonNull(defaultImage, "defaultImage");
        Objects.requireNonNull(streamUrlTemplate, "streamUrlTemplate");
        Objects.requireNonNull(placement, "placement");
    }

    /** A native sidecar, for API servers that have them. */
    public SidecarSettings(String defaultImage, String streamUrlTemplate) {
        this(defaultImage, streamUrlTemplate, SidecarPlacement.NATIVE);
    }

    public String streamUrl(String namespace, String pgPool) {
        return streamUrlTemplate.replace("{namespace}", namespace).replace("{pgpool}", pgPool);
    }

    public static String streamTokenSecret(String pgPool) {
        return pgPool + STREAM_TOKEN_SECRET_SUFFIX;
    }
}
