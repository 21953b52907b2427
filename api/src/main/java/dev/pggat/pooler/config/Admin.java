package dev.pggat.pooler.config;

import java.util.List;
import java.util.Objects;

/**
 * The admin HTTP endpoint, and who may use the admin console (the virtual database {@code pgbouncer} or {@code
 * pggat} on the client listener).
 *
 * @param token bearer token that authorizes changes (PUT of endpoint sets); null disables changes
 * @param users users with full console access (SHOW and the commands that change things)
 * @param statsUsers users that may run the console's SHOW commands only
 */
public record Admin(boolean enabled, String host, int port, String token, List<String> users, List<String> statsUsers) {
    public static final Admin DEFAULT = new Admin(true, "127.0.0.1", 9930, null);

    public Admin {
        Objects.requireNonNull(host, "host");
        users = List.copyOf(users);
        statsUsers = List.copyOf(statsUsers);
    }

    public Admin(boolean enabled, String host, int port, String token) {
        this(enabled, host, port, token, List.of(), List.of());
    }

    public Admin(boolean enabled, String host, int port) {
        this(enabled, host, port, null);
    }

    /** Whether the console is offered: some user may use it. */
    public boolean console() {
        return !users.isEmpty() || !statsUsers.isEmpty();
    }

    @Override
    public String toString() {
        return "Admin[enabled=" + enabled + ", host=" + host + ", port=" + port + ", token="
                + (token == null ? "none" : "<redacted>") + ", users=" + users + ", statsUsers=" + statsUsers + "]";
    }
}
