package dev.pggat.operator.stream;

/** How the operator's generated pooler pods prove to the endpoint stream that they belong to their PgPool. */
public enum StreamAuth {
    /** A random token in the PgPool's {@code <name>-pggat-stream} Secret, mounted into the pods. */
    TOKEN,
    /**
     * A projected ServiceAccount token for the audience {@link TokenReviews#AUDIENCE}, checked with a TokenReview:
     * no long-lived credential exists.
     */
    SERVICE_ACCOUNT
}
