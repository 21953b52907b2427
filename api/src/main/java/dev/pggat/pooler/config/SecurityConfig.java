package dev.pggat.pooler.config;

import java.util.Map;
import java.util.Objects;

/**
 * Authentication and TLS on both sides of the pooler: the {@code tls}, {@code auth} and {@code credentials}
 * sections, and per database the {@code tls}, {@code serverTls}, endpoint {@code serverTls} and user
 * {@code passThrough} keys.
 *
 * @param routes by database name; a database missing here uses {@link RouteSecurity#DEFAULT}
 */
public record SecurityConfig(
        ClientTlsSettings tls, AuthSettings auth, CredentialSettings credentials, Map<String, RouteSecurity> routes) {
    public static final SecurityConfig DEFAULT =
            new SecurityConfig(ClientTlsSettings.DEFAULT, AuthSettings.DEFAULT, CredentialSettings.DEFAULT, Map.of());

    public SecurityConfig {
        Objects.requireNonNull(tls, "tls");
        Objects.requireNonNull(auth, "auth");
        Objects.requireNonNull(credentials, "credentials");
        routes = Map.copyOf(routes);
    }

    public RouteSecurity route(String database) {
        return routes.getOrDefault(database, RouteSecurity.DEFAULT);
    }

    public SecurityConfig withTls(ClientTlsSettings newTls) {
        return new SecurityConfig(newTls, auth, credentials, routes);
    }

    public SecurityConfig withAuth(AuthSettings newAuth) {
        return new SecurityConfig(tls, newAuth, credentials, routes);
    }

    public SecurityConfig withCredentials(CredentialSettings newCredentials) {
        return new SecurityConfig(tls, auth, newCredentials, routes);
    }

    public SecurityConfig withRoute(String database, RouteSecurity route) {
        Map<String, RouteSecurity> m = new java.util.LinkedHashMap<>(routes);
        m.put(database, route);
        return new SecurityConfig(tls, auth, credentials, m);
    }
}
