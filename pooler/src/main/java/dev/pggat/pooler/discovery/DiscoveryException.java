package dev.pggat.pooler.discovery;

import java.time.Duration;

/**
 * A source could not answer. The message is logged: it names what failed (address, HTTP status), never a token or
 * password.
 */
public final class DiscoveryException extends Exception {
    /** For the errors metric: unreachable, http_429, http_4xx, http_5xx, invalid_answer, no_cluster. */
    private final String reason;

    private final Duration retryAfter;

    public DiscoveryException(String reason, String message) {
        this(reason, message, null, null);
    }

    public DiscoveryException(String reason, String message, Duration retryAfter, Throwable cause) {
        super(message, cause);
        this.reason = reason;
        this.retryAfter = retryAfter;
    }

    public String reason() {
        return reason;
    }

    /** What the source asked for (HTTP Retry-After), or null. */
    public Duration retryAfter() {
        return retryAfter;
    }

    /** The reason label of an HTTP status that is not a success. */
    public static String httpReason(int status) {
        if (status == 429) {
            return "http_429";
        }
        return status >= 500 ? "http_5xx" : "http_4xx";
    }
}
