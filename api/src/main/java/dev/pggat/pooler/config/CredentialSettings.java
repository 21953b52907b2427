package dev.pggat.pooler.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * Where secrets come from besides the inline {@code password} keys ({@code credentials:}).
 *
 * @param directory one file per user, named after the user, holding the password, md5 hash or SCRAM verifier (a
 *     mounted Kubernetes Secret); null = none
 * @param userlist a file of {@code "user" "secret"} lines; null = none
 * @param reloadInterval how often both are re-read; 0 = never
 * @param authQuery lookups in PostgreSQL; null = none
 * @param maxDynamicUsers how many users not listed in the configuration may have a pool at once, per database
 */
public record CredentialSettings(
        Path directory, Path userlist, Duration reloadInterval, AuthQuerySettings authQuery, int maxDynamicUsers) {
    public static final int DEFAULT_MAX_DYNAMIC_USERS = 100;
    public static final CredentialSettings DEFAULT =
            new CredentialSettings(null, null, Duration.ofSeconds(10), null, DEFAULT_MAX_DYNAMIC_USERS);

    public CredentialSettings {
        Objects.requireNonNull(reloadInterval, "reloadInterval");
    }

    public CredentialSettings(Path directory, Path userlist, Duration reloadInterval, AuthQuerySettings authQuery) {
        this(directory, userlist, reloadInterval, authQuery, DEFAULT_MAX_DYNAMIC_USERS);
    }

    /** Whether any source besides the inline passwords is configured. */
    public boolean any() {
        return directory != null || userlist != null || authQuery != null;
    }
}
