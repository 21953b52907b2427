package dev.pggat.pooler.tls;

/**
 * A certificate, key or CA file that cannot be used. The message names the file and what is wrong with it, and
 * never contains key material, so it can be logged and shown to the user as is.
 */
public final class TlsConfigException extends Exception {
    private static final long serialVersionUID = 1L;

    public TlsConfigException(String message) {
        super(message);
    }

    public TlsConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}
