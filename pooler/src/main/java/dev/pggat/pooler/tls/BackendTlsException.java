package dev.pggat.pooler.tls;

import java.io.IOException;

/** TLS towards a PostgreSQL server could not be set up as its sslmode demands; the connection is closed. */
public final class BackendTlsException extends IOException {
    private static final long serialVersionUID = 1L;

    public BackendTlsException(String message) {
        super(message);
    }

    public BackendTlsException(String message, Throwable cause) {
        super(message, cause);
    }
}
