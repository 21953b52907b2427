package dev.pggat.pooler.config;

import java.time.Duration;
import java.util.Objects;

/**
 * Secrets looked up in PostgreSQL ({@code credentials.authQuery}).
 *
 * @param user the server role that runs the query
 * @param password its plain-text password; null when the server trusts it (or it logs in by certificate)
 * @param database where the query runs; null = the server database of the route being logged in to
 * @param query SQL with one parameter {@code $1} (the user name) returning the secret in its last column
 * @param cacheTtl how long a found secret is reused
 * @param negativeCacheTtl how long "no such user" is remembered
 */
public record AuthQuerySettings(
        String user, String password, String database, String query, Duration cacheTtl, Duration negativeCacheTtl) {

    public static final String DEFAULT_QUERY =
            "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1 AND rolcanlogin"
                    + " AND (rolvaliduntil IS NULL OR rolvaliduntil > now())";

    public AuthQuerySettings {
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(query, "query");
        Objects.requireNonNull(cacheTtl, "cacheTtl");
        Objects.requireNonNull(negativeCacheTtl, "negativeCacheTtl");
    }

    @Override
    public String toString() {
        return "AuthQuerySettings[user=" + user + ", password=" + (password == null ? "null" : "<redacted>")
                + ", database=" + database + ", query=" + query + ", cacheTtl=" + cacheTtl + ", negativeCacheTtl="
                + negativeCacheTtl + "]";
    }
}
