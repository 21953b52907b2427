package dev.pggat.operator.stream;

import dev.pggat.crds.v1alpha1.PgPool;
import io.fabric8.kubernetes.api.model.Secret;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Map;

/** The per-PgPool bearer token its poolers present to the endpoint stream, kept in a Secret the operator owns. */
public final class StreamTokens {
    public static final String KEY = "token";
    private static final SecureRandom RANDOM = new SecureRandom();

    private StreamTokens() {}

    public static String secretName(PgPool pool) {
        return secretName(pool.getMetadata().getName());
    }

    public static String secretName(String poolName) {
        return poolName + "-pggat-stream";
    }

    /** 256 random bits, URL-safe so it fits a header as is. */
    public static String generate() {
        byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    /** Whether {@code presented} is the Secret's token; compares in constant time. */
    public static boolean matches(Secret secret, String presented) {
        if (secret == null || presented == null || presented.isEmpty()) {
            return false;
        }
        byte[] expected = tokenOf(secret);
        return expected != null
                && expected.length > 0
                && MessageDigest.isEqual(expected, presented.getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] tokenOf(Secret secret) {
        Map<String, String> data = secret.getData();
        if (data != null && data.get(KEY) != null) {
            try {
                return Base64.getDecoder().decode(data.get(KEY));
            } catch (IllegalArgumentException e) {
                return null;
            }
        }
        Map<String, String> plain = secret.getStringData();
        return plain != null && plain.get(KEY) != null ? plain.get(KEY).getBytes(StandardCharsets.UTF_8) : null;
    }
}
