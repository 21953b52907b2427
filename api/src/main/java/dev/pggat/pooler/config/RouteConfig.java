package dev.pggat.pooler.config;

import java.util.List;
import java.util.Objects;

/**
 * One entry of {@code routes}: which clients it takes ({@link #match}) and what it does with them: send them to a
 * backend (a database of {@link PoolerConfig#databases()}, possibly after rewrites) or refuse them with an error.
 * Routes are tried in order, the first match wins; a client no route takes goes to the database it names, as the
 * {@code databases} section describes.
 *
 * @param name unique among the routes; names the route in logs and metrics, and its inline backend
 * @param backend the name of the database clients go to; null for an error route
 * @param inlineBackend whether the backend was defined inside the route (it is then reachable through it only)
 * @param error what the client is told; null for a route to a backend
 */
public record RouteConfig(
        String name, RouteMatcher match, String backend, boolean inlineBackend, Error error, RouteRewrite rewrite) {

    public RouteConfig {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(match, "match");
        Objects.requireNonNull(rewrite, "rewrite");
        if ((backend == null) == (error == null)) {
            throw new IllegalArgumentException("route " + name + ": exactly one of backend and error");
        }
    }

    /** An error route's answer: a FATAL ErrorResponse with this SQLSTATE and message. */
    public record Error(String sqlState, String message) {
        public Error {
            Objects.requireNonNull(sqlState, "sqlState");
            Objects.requireNonNull(message, "message");
        }
    }

    /** A route to {@code backend} without rewrites. */
    public static RouteConfig to(String name, RouteMatcher match, String backend) {
        return new RouteConfig(name, match, backend, false, null, RouteRewrite.NONE);
    }

    /** An error route. */
    public static RouteConfig refuse(String name, RouteMatcher match, String sqlState, String message) {
        return new RouteConfig(name, match, null, false, new Error(sqlState, message), RouteRewrite.NONE);
    }

    /** The names of {@code routes}' inline backends, which clients cannot name directly. */
    public static java.util.Set<String> inlineBackends(List<RouteConfig> routes) {
        java.util.Set<String> out = new java.util.HashSet<>();
        for (RouteConfig r : routes) {
            if (r.inlineBackend()) {
                out.add(r.backend());
            }
        }
        return out;
    }
}
