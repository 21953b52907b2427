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
    private final boolean retryElsewhere;

    public ServerError(String sqlState, String message, boolean isTransient, Throwable cause) {
        this(sqlState, message, isTransient, cause, false);
    }

    public ServerError(String sqlState, String message, boolean isTransient, Throwable cause, boolean retryElsewhere) {
        super(message, cause, false, false);
        this.sqlState = sqlState;
        this.isTransient = isTransient;
        this.retryElsewhere = retryElsewhere;
    }

    /** The endpoint left the set while the client waited: nothing ran, the client can be routed again. */
    public boolean retryElsewhere() {
        return retryElsewhere;
    }

    public String sqlState() {
        return sqlState;
    }

    public boolean isTransient() {
        return isTransient;
    }
}
