package dev.pggat.operator.model;

/**
 * Why a PgPool cannot be reconciled right now. {@link Kind#WAITING} clears by itself (a pod gets an IP, a CRD gets
 * installed); {@link Kind#INVALID} needs the user to change something.
 */
public final class Problem extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public enum Kind {
        WAITING,
        INVALID
    }

    private final Kind kind;
    private final String reason;

    private Problem(Kind kind, String reason, String message) {
        super(message, null, false, false);
        this.kind = kind;
        this.reason = reason;
    }

    public static Problem waiting(String reason, String message) {
        return new Problem(Kind.WAITING, reason, message);
    }

    public static Problem invalid(String reason, String message) {
        return new Problem(Kind.INVALID, reason, message);
    }

    public Kind kind() {
        return kind;
    }

    /** A CamelCase word for condition reasons. */
    public String reason() {
        return reason;
    }
}
