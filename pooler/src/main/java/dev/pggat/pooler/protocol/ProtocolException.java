package dev.pggat.pooler.protocol;

/**
 * A peer broke the protocol (bad length, unknown startup code, oversized packet). The message is safe to send to
 * the client as the text of a FATAL ErrorResponse.
 */
public final class ProtocolException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final String sqlState;

    public ProtocolException(String sqlState, String message) {
        super(message, null, false, false);
        this.sqlState = sqlState;
    }

    public String sqlState() {
        return sqlState;
    }
}
