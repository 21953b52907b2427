package dev.pggat.pooler.auth;

import com.ongres.scram.common.ScramFunctions;
import com.ongres.scram.common.ScramMechanism;
import com.ongres.scram.common.StringPreparation;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/** SCRAM-SHA-256 primitives shared by the verifier, the server exchange and cleartext checks. */
final class ScramCrypto {
    static final ScramMechanism MECHANISM = ScramMechanism.SCRAM_SHA_256;
    static final String MECHANISM_NAME = "SCRAM-SHA-256";
    static final int KEY_LENGTH = 32;
    static final int DEFAULT_ITERATIONS = 4096;
    static final int DEFAULT_SALT_LENGTH = 16;
    /** PostgreSQL's nonce size; base64 of 18 bytes is 24 characters with no padding. */
    static final int RAW_NONCE_LENGTH = 18;

    /*
     * PostgreSQL runs SASLprep on the password but falls back to the raw string when it is not valid
     * SASLprep input, instead of refusing it; we must derive the same keys or such users could never log in.
     */
    static final StringPreparation PREPARATION = StringPreparation.POSTGRESQL_PREPARATION;

    /*
     * One Mac and one MessageDigest per thread (the event loops): getInstance looks the algorithm up among the
     * security providers each time, which costs more than the few hashes a login with a stored verifier needs.
     */
    private static final ThreadLocal<Mac> HMAC = ThreadLocal.withInitial(() -> {
        try {
            return Mac.getInstance("HmacSHA256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("HmacSHA256 is required by every Java platform", e);
        }
    });
    private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
    });

    private ScramCrypto() {}

    static byte[] saltedPassword(String password, byte[] salt, int iterations) {
        return ScramFunctions.saltedPassword(MECHANISM, PREPARATION, password.toCharArray(), salt, iterations);
    }

    static byte[] storedKey(byte[] saltedPassword) {
        return ScramFunctions.storedKey(MECHANISM, ScramFunctions.clientKey(MECHANISM, saltedPassword));
    }

    static byte[] clientKey(byte[] saltedPassword) {
        return ScramFunctions.clientKey(MECHANISM, saltedPassword);
    }

    static byte[] serverKey(byte[] saltedPassword) {
        return ScramFunctions.serverKey(MECHANISM, saltedPassword);
    }

    static byte[] hmac(byte[] key, byte[] message) {
        Mac mac = HMAC.get();
        try {
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 refused a " + key.length + "-byte key", e);
        }
        return mac.doFinal(message);
    }

    static byte[] sha256(byte[] data) {
        MessageDigest digest = SHA256.get();
        digest.reset();
        return digest.digest(data);
    }

    static byte[] sha256(String data) {
        return sha256(data.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Equality of two strings that does not leak where they differ, nor their lengths: comparing digests keeps
     * the time independent of both.
     */
    static boolean constantTimeEquals(String a, String b) {
        return MessageDigest.isEqual(sha256(a), sha256(b));
    }

    static String base64(byte[] data) {
        return Base64.getEncoder().encodeToString(data);
    }

    /** Decodes standard base64; null when the text is not base64. */
    static byte[] decodeBase64(String text) {
        try {
            return Base64.getDecoder().decode(text);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }
}
