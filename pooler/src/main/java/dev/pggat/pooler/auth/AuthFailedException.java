package dev.pggat.pooler.auth;

import java.util.Objects;

/**
 * Why a login failed. The message and detail are safe to send to the client in an ErrorResponse: they never
 * contain a password, hash or proof.
 */
public final class AuthFailedException extends Exception {
    private static final long serialVersionUID = 1L;

    /** invalid_password: wrong password, unknown user, failed proof. */
    public static final String INVALID_PASSWORD = "28P01";
    /** protocol_violation: a malformed SASL message. */
    public static final String PROTOCOL_VIOLATION = "08P01";
    /** feature_not_supported: well-formed SCRAM that asks for something PostgreSQL does not support either. */
    public static final String FEATURE_NOT_SUPPORTED = "0A000";

    private final String sqlState;
    private final String detail;

    public AuthFailedException(String sqlState, String message, String detail) {
        super(Objects.requireNonNull(message, "message"));
        this.sqlState = Objects.requireNonNull(sqlState, "sqlState");
        this.detail = detail;
    }

    public AuthFailedException(String sqlState, String message, String detail, Throwable cause) {
        this(sqlState, message, detail);
        initCause(cause);
    }

    /** The failure a client sees for a wrong password or an unknown user; both read the same on purpose. */
    public static AuthFailedException passwordFailed(String user) {
        return new AuthFailedException(
                INVALID_PASSWORD, "password authentication failed for user \"" + user + "\"", null);
    }

    static AuthFailedException malformed(String detail) {
        return new AuthFailedException(PROTOCOL_VIOLATION, "malformed SCRAM message", detail);
    }

    /** The SQLSTATE to put in the ErrorResponse's C field. */
    public String sqlState() {
        return sqlState;
    }

    /** Optional text for the ErrorResponse's D field; null when there is none. */
    public String detail() {
        return detail;
    }
}
