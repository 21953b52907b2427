package dev.pggat.operator.stream;

import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks projected ServiceAccount tokens that pooler pods present to the endpoint stream with the API server's
 * TokenReview, and remembers answers briefly: a reconnect storm after an operator restart then costs one review per
 * pod, not one per attempt.
 */
public final class TokenReviews {
    private static final Logger LOG = LoggerFactory.getLogger(TokenReviews.class);

    /** The audience of the tokens the operator projects into pooler pods; the stream accepts no other. */
    public static final String AUDIENCE = "pggat.dev/endpoint-stream";

    private static final String SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:";
    private static final Pattern JWT = Pattern.compile("^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$");
    private static final int MAX_CACHED = 10_000;

    /** The service account a token belongs to. */
    public record Identity(String namespace, String serviceAccount) {}

    private record Answer(Identity identity, long expiresNanos) {}

    private final KubernetesClient client;
    private final long acceptedNanos;
    private final long refusedNanos;
    private final LongSupplier nanoTime;
    private final Map<String, Answer> cache = new ConcurrentHashMap<>();

    /**
     * @param acceptedMillis how long an accepted token stays accepted without a new review
     * @param refusedMillis how long a refused token stays refused; short, so a pod that just started is not locked
     *     out for long by a review that raced its token's creation
     */
    public TokenReviews(KubernetesClient client, long acceptedMillis, long refusedMillis, LongSupplier nanoTime) {
        this.client = client;
        this.acceptedNanos = acceptedMillis * 1_000_000L;
        this.refusedNanos = refusedMillis * 1_000_000L;
        this.nanoTime = nanoTime;
    }

    public TokenReviews(KubernetesClient client) {
        this(client, 60_000, 5_000, System::nanoTime);
    }

    /**
     * Whether a presented token is a JSON Web Token (what the API server issues) rather than a per-PgPool token,
     * which has no dots: only those are sent for review.
     */
    public static boolean looksLikeServiceAccountToken(String token) {
        return token != null && token.length() < 16_384 && JWT.matcher(token).matches();
    }

    /** The service account the API server says the token belongs to, or null when it does not vouch for it. */
    public Identity review(String token) {
        String key = fingerprint(token);
        long now = nanoTime.getAsLong();
        Answer cached = cache.get(key);
        if (cached != null && now - cached.expiresNanos() < 0) {
            return cached.identity();
        }
        Identity identity;
        try {
            identity = ask(token);
        } catch (KubernetesClientException e) {
            // Not remembered: the next attempt asks again once the API server answers.
            LOG.warn("endpoint stream: TokenReview failed ({}): {}", e.getCode(), e.getMessage());
            return null;
        }
        if (cache.size() >= MAX_CACHED) {
            cache.clear();
        }
        cache.put(key, new Answer(identity, now + (identity != null ? acceptedNanos : refusedNanos)));
        return identity;
    }

    private Identity ask(String token) {
        TokenReview review = new TokenReviewBuilder()
                .withNewSpec()
                .withToken(token)
                .withAudiences(AUDIENCE)
                .endSpec()
                .build();
        TokenReview answer = client.resource(review).create();
        var status = answer == null ? null : answer.getStatus();
        if (status == null || !Boolean.TRUE.equals(status.getAuthenticated()) || status.getUser() == null) {
            return null;
        }
        // An API server that ignores audiences answers with its own; only ours proves the token was minted for us.
        List<String> audiences = status.getAudiences();
        if (audiences != null && !audiences.isEmpty() && !audiences.contains(AUDIENCE)) {
            return null;
        }
        return serviceAccount(status.getUser().getUsername());
    }

    /** {@code system:serviceaccount:<namespace>:<name>}, or null for any other user. */
    static Identity serviceAccount(String username) {
        if (username == null || !username.startsWith(SERVICE_ACCOUNT_PREFIX)) {
            return null;
        }
        String rest = username.substring(SERVICE_ACCOUNT_PREFIX.length());
        int colon = rest.indexOf(':');
        if (colon <= 0 || colon == rest.length() - 1) {
            return null;
        }
        return new Identity(rest.substring(0, colon), rest.substring(colon + 1));
    }

    /** Cache keys are digests, so the cache holds no usable token. */
    private static String fingerprint(String token) {
        try {
            return HexFormat.of()
                    .formatHex(MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
