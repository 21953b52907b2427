package dev.pggat.pooler.config;

import java.util.Objects;

/**
 * Pool settings every database inherits unless it overrides them. An empty {@code resetQuery} means no query is run
 * when a session-mode client leaves. {@code listenRelay} and {@code listenRelayMaxChannels} apply to every
 * transaction-mode database (no per-database override), and so does {@code strictSessionState}.
 *
 * @param strictSessionState transaction mode: read the session's own settings (and what pins) back from the
 *     server after every transaction, to catch what no SQL text shows (a function that changes a setting)
 * @param maxUserConnections the cap on each user's server connections across databases, for users that set none
 *     themselves; 0 = no cap
 */
public record PoolDefaults(
        PoolMode mode,
        int maxServerConnections,
        int minServerConnections,
        String resetQuery,
        PoolLimits limits,
        int maxUserConnections,
        boolean listenRelay,
        int listenRelayMaxChannels,
        boolean strictSessionState) {
    public static final boolean DEFAULT_LISTEN_RELAY = true;
    public static final int DEFAULT_LISTEN_RELAY_MAX_CHANNELS = 1000;
    public static final PoolDefaults DEFAULT = new PoolDefaults(PoolMode.TRANSACTION, 20, 0, "DISCARD ALL");

    public PoolDefaults {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(resetQuery, "resetQuery");
        Objects.requireNonNull(limits, "limits");
    }

    /** Without caps, reserve pool, cache or LISTEN relay settings: their defaults. */
    public PoolDefaults(PoolMode mode, int maxServerConnections, int minServerConnections, String resetQuery) {
        this(
                mode,
                maxServerConnections,
                minServerConnections,
                resetQuery,
                PoolLimits.DEFAULT,
                0,
                DEFAULT_LISTEN_RELAY,
                DEFAULT_LISTEN_RELAY_MAX_CHANNELS,
                false);
    }
}
