package dev.pggat.pooler.auth;

import java.security.MessageDigest;
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
}
