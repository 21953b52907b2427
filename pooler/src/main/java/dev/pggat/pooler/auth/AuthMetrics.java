package dev.pggat.pooler.auth;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of authentication and TLS events, read by the metrics endpoint at scrape time. Labels are method names,
 * outcomes and protocol versions only: never a user name, secret or certificate.
 */
public final class AuthMetrics {
    /** Which connection a handshake was on: a client's to the pooler, or the pooler's to a server. */
    public enum Side {
        CLIENT,
        SERVER
    }

    private final Map<List<String>, LongAdder> handshakes = new ConcurrentHashMap<>();
    private final Map<List<String>, LongAdder> logins = new ConcurrentHashMap<>();

    /** Logins refused at once because their address had too many failed logins. */
    public final LongAdder rateLimited = new LongAdder();

    /**
     * Records a finished TLS handshake.
     *
     * @param protocol the negotiated version (TLSv1.3...), or null when the handshake failed before one was agreed
     */
    public void tlsHandshake(Side side, boolean ok, String protocol) {
        String version = protocol == null || protocol.isEmpty() || "NONE".equals(protocol) ? "unknown" : protocol;
        count(handshakes, List.of(side.name().toLowerCase(java.util.Locale.ROOT), ok ? "ok" : "failed", version));
    }

    /**
     * Records how a client login ended.
     *
     * @param method the method the rules chose ({@code scram-sha-256}, {@code md5}, {@code cert}...), or {@code
     *     none} when the login failed before one was chosen
     * @param result {@code ok} or {@code failed}
     */
    public void login(String method, String result) {
        count(logins, List.of(method, result));
    }

    /** Handshakes by (side, result, protocol). */
    public Map<List<String>, Long> handshakes() {
        return snapshot(handshakes);
    }

    /** Logins by (method, result). */
    public Map<List<String>, Long> logins() {
        return snapshot(logins);
    }

    private static void count(Map<List<String>, LongAdder> map, List<String> key) {
        LongAdder a = map.get(key);
        if (a == null) {
            a = map.computeIfAbsent(key, k -> new LongAdder());
        }
        a.increment();
    }

    private static Map<List<String>, Long> snapshot(Map<List<String>, LongAdder> map) {
        Map<List<String>, Long> out = new java.util.LinkedHashMap<>();
        map.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }
}
