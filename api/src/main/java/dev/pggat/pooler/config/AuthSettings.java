package dev.pggat.pooler.config;

import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Client authentication ({@code auth:}).
 *
 * @param rules ordered; when none matches, the user's own {@code auth} method applies (the default rule)
 * @param certMaps certificate name maps by name
 * @param maxFailedLogins failed logins allowed per client address within {@code failedLoginWindow}; 0 = no limit
 */
public record AuthSettings(
        List<AuthRule> rules,
        Map<String, List<CertMapEntry>> certMaps,
        int maxFailedLogins,
        Duration failedLoginWindow) {

    public static final AuthSettings DEFAULT = new AuthSettings(List.of(), Map.of(), 10, Duration.ofMinutes(1));

    public AuthSettings {
        rules = List.copyOf(rules);
        Map<String, List<CertMapEntry>> copy = new LinkedHashMap<>();
        certMaps.forEach((k, v) -> copy.put(k, List.copyOf(v)));
        certMaps = Collections.unmodifiableMap(copy);
        Objects.requireNonNull(failedLoginWindow, "failedLoginWindow");
    }
}
