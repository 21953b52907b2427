package dev.pggat.pooler.auth;

import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Objects;

/** Checks a password the client sent in clear text (AuthenticationCleartextPassword). */
public final class CleartextPassword {
    private CleartextPassword() {}

    /**
     * A cleartext password from the client checked against any kind of secret (Plain: constant-time equals;
     * Md5: hash and compare; Scram: derive StoredKey with the verifier's salt and iterations and compare). An
     * empty password never matches, as in PostgreSQL.
     */
    public static boolean verify(Secret secret, String user, String password) {
        Objects.requireNonNull(secret, "secret");
        Objects.requireNonNull(user, "user");
        if (password == null || password.isEmpty()) {
            return false;
        }
        if (secret instanceof Secret.Plain plain) {
            return !plain.password().isEmpty() && ScramCrypto.constantTimeEquals(plain.password(), password);
        }
        if (secret instanceof Secret.Md5 md5) {
            return ScramCrypto.constantTimeEquals(md5.hash(), Md5Password.hash(user, password));
        }
        Secret.Scram scram = (Secret.Scram) secret;
        byte[] salted = ScramCrypto.saltedPassword(password, scram.salt(), scram.iterations());
        return MessageDigest.isEqual(ScramCrypto.storedKey(salted), scram.storedKey());
    }

    /**
     * As {@link #verify}, at the same cost whatever the secret and whether the user exists: every check derives a
     * SCRAM key (4096 iterations of HMAC-SHA-256), against a verifier derived from a plain password, against a
     * throw-away verifier for an md5 hash or an unknown user. Without that, a fast "no" for unknown users and plain
     * secrets would tell a prober which names exist.
     */
    public static boolean verifyUniformly(Secret secretOrNull, String user, String password, SecureRandom random) {
        Objects.requireNonNull(user, "user");
        Secret.Scram scram;
        boolean real;
        if (secretOrNull instanceof Secret.Scram s) {
            scram = s;
            real = true;
        } else if (secretOrNull instanceof Secret.Plain plain
                && !plain.password().isEmpty()) {
            scram = plain.scramVerifier(random);
            real = true;
        } else {
            scram = MockVerifier.get(random);
            real = false;
        }
        boolean ok = password != null
                && !password.isEmpty()
                && MessageDigest.isEqual(
                        ScramCrypto.storedKey(ScramCrypto.saltedPassword(password, scram.salt(), scram.iterations())),
                        scram.storedKey());
        if (secretOrNull instanceof Secret.Md5 md5) {
            return password != null && !password.isEmpty() && verify(md5, user, password);
        }
        return real && ok;
    }

    /** A verifier nobody knows the password of, made once. */
    private static final class MockVerifier {
        private static volatile Secret.Scram mock;

        static Secret.Scram get(SecureRandom random) {
            Secret.Scram m = mock;
            if (m == null) {
                byte[] pw = new byte[24];
                random.nextBytes(pw);
                m = Secret.scramFor(java.util.Base64.getEncoder().encodeToString(pw), random);
                mock = m;
            }
            return m;
        }
    }
}
