package dev.pggat.pooler.auth;

import com.ongres.scram.common.ScramFunctions;
import com.ongres.scram.common.ScramMechanism;
import com.ongres.scram.common.StringPreparation;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;

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

    private ScramCrypto() {}

    static byte[] saltedPassword(String password, byte[] salt, int iterations) {
        return ScramFunctions.saltedPassword(MECHANISM, PREPARATION, password.toCharArray(), salt, iterations);
    }

    static byte[] storedKey(byte[] saltedPassword) {
        return ScramFunctions.storedKey(MECHANISM, ScramFunctions.clientKey(MECHANISM, saltedPassword));
    }

    static byte[] serverKey(byte[] saltedPassword) {
        return ScramFunctions.serverKey(MECHANISM, saltedPassword);
    }

    static byte[] hmac(byte[] key, byte[] message) {
        return ScramFunctions.hmac(MECHANISM, key, message);
    }

    static byte[] sha256(byte[] data) {
        return ScramFunctions.hash(MECHANISM, data);
    }

    static byte[] sha256(String data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
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
