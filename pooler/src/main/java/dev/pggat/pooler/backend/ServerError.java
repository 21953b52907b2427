package dev.pggat.pooler.backend;

/**
 * Why the pooler could not get a server connection: a PostgreSQL error the server sent (with its SQLSTATE) or a
 * network failure. {@code transient} failures are retried with backoff; others are reported to waiting clients
 * at once.
 */
public final class ServerError extends Exception {
    private static final long serialVersionUID = 1L;
    private final String sqlState;
    private final boolean isTransient;

    public ServerError(String sqlState, String message, boolean isTransient, Throwable cause) {
        super(message, cause, false, false);
        this.sqlState = sqlState;
        this.isTransient = isTransient;
    }

    public String sqlState() {
        return sqlState;
    }

    public boolean isTransient() {
        return isTransient;
    }
}
