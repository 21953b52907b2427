package dev.pggat.pooler.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Objects;

/** PostgreSQL's MD5 password scheme (AuthenticationMD5Password). */
public final class Md5Password {
    private static final HexFormat HEX = HexFormat.of();
    private static final int SALT_LENGTH = 4;

    private Md5Password() {}

    /** "md5" + hex(md5(password + user)): what PostgreSQL stores for an MD5 role. */
    public static String hash(String user, String password) {
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(password, "password");
        return "md5" + HEX.formatHex(md5(utf8(password), utf8(user)));
    }

    /** "md5" + hex(md5(hex-part-of-hash + salt)): what a client answers to AuthenticationMD5Password. */
    public static String response(String md5Hash, byte[] salt4) {
        if (!Secret.Md5.looksLikeMd5(md5Hash)) {
            throw new IllegalArgumentException("an MD5 password hash must be \"md5\" followed by 32 hex digits");
        }
        checkSalt(salt4);
        byte[] hexPart = md5Hash.substring(3).toLowerCase(java.util.Locale.ROOT).getBytes(StandardCharsets.US_ASCII);
        return "md5" + HEX.formatHex(md5(hexPart, salt4));
    }

    /**
     * The client's AuthenticationMD5Password answer checked against a Plain or Md5 secret; Scram -> false
     * (a SCRAM verifier cannot produce the MD5 hash, as in PostgreSQL). Constant-time comparison.
     */
    public static boolean verify(Secret secret, String user, byte[] salt4, String clientResponse) {
        Objects.requireNonNull(secret, "secret");
        checkSalt(salt4);
        if (clientResponse == null) {
            return false;
        }
        String expected;
        if (secret instanceof Secret.Plain plain) {
            if (plain.password().isEmpty()) {
                return false;
            }
            expected = response(hash(user, plain.password()), salt4);
        } else if (secret instanceof Secret.Md5 md5) {
            expected = response(md5.hash(), salt4);
        } else {
            return false;
        }
        return ScramCrypto.constantTimeEquals(expected, clientResponse);
    }

    private static void checkSalt(byte[] salt4) {
        if (salt4 == null || salt4.length != SALT_LENGTH) {
            throw new IllegalArgumentException("the MD5 salt must be exactly 4 bytes");
        }
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] md5(byte[] first, byte[] second) {
        try {
            MessageDigest digest = MessageDigest.getInstance("MD5");
            digest.update(first);
            digest.update(second);
            return digest.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("MD5 is required by every Java platform", e);
        }
    }
}
