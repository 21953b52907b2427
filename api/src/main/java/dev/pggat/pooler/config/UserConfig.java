package dev.pggat.pooler.config;

import dev.pggat.pooler.auth.Secret;
import java.util.Objects;

/**
 * A user clients log in as.
 *
 * @param password what the client's password is checked against; {@code null} with {@link AuthMethod#TRUST} or when
 *     the secret comes from a credential source (files, auth query)
 * @param serverPassword the plain-text password the pooler sends to the server as {@code serverUser}; {@code null}
 *     when none is configured (the server must then not ask for one)
 * @param maxUserConnections the cap on this user's server connections across all databases; 0 = the pools default
 *     applies (see {@link PoolDefaults#maxUserConnections()})
 */
public record UserConfig(
        String name,
        Secret password,
        AuthMethod auth,
        String serverUser,
        String serverPassword,
        int maxUserConnections) {

    public UserConfig {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(auth, "auth");
        Objects.requireNonNull(serverUser, "serverUser");
    }

    /** Without a connection cap of its own. */
    public UserConfig(String name, Secret password, AuthMethod auth, String serverUser, String serverPassword) {
        this(name, password, auth, serverUser, serverPassword, 0);
    }

    /** A user whose client and server password are the same plain-text {@code password}. */
    public static UserConfig of(String name, String password, AuthMethod auth) {
        if (!(Secret.parse(password) instanceof Secret.Plain plain)) {
            throw new IllegalArgumentException("user " + name + ": UserConfig.of needs a plain-text password");
        }
        return new UserConfig(name, plain, auth, name, password);
    }

    @Override
    public String toString() {
        return "UserConfig[name=" + name
                + ", password=" + (password == null ? "null" : "<redacted>")
                + ", auth=" + auth
                + ", serverUser=" + serverUser
                + ", serverPassword=" + (serverPassword == null ? "null" : "<redacted>")
                + "]";
    }
}
