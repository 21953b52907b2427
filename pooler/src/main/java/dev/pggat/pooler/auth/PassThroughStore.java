package dev.pggat.pooler.auth;

import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What clients of pass-through users proved at login, kept in memory for the server logins of their pools: the
 * ClientKey recovered from a SCRAM proof (with the verifier's ServerKey, salt and iterations), the md5 hash the
 * client's answer was checked against, or a password a client sent in clear text over TLS. Keyed by server user.
 */
public final class PassThroughStore {
    /** Any part may be null. */
    public record Proven(ScramClient.PassThroughKeys scramKeys, String md5Hash, String password) {
        @Override
        public String toString() {
            return "Proven[redacted]";
        }
    }

    private final ConcurrentHashMap<String, Proven> byServerUser = new ConcurrentHashMap<>();

    public Optional<Proven> get(String serverUser) {
        return Optional.ofNullable(byServerUser.get(serverUser));
    }

    /** Merges what a new login proved with what earlier ones did (a later proof replaces the same kind). */
    public void record(String serverUser, Proven proven) {
        byServerUser.merge(
                serverUser,
                proven,
                (old, neu) -> new Proven(
                        neu.scramKeys() != null ? neu.scramKeys() : old.scramKeys(),
                        neu.md5Hash() != null ? neu.md5Hash() : old.md5Hash(),
                        neu.password() != null ? neu.password() : old.password()));
    }

    public void forget(String serverUser) {
        byServerUser.remove(serverUser);
    }
}
