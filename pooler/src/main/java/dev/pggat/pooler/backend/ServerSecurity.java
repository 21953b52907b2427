package dev.pggat.pooler.backend;

import dev.pggat.pooler.auth.ScramClient;
import dev.pggat.pooler.tls.ServerSslMode;
import io.netty.handler.ssl.SslContext;

/**
 * How the pooler protects and authenticates its connections to one server: the TLS mode and context for the
 * endpoint, and the credentials for a server user whose {@link ServerAddress#password()} is not configured.
 */
public interface ServerSecurity {
    /** Plain text, and nothing but the configured passwords. */
    ServerSecurity NONE = new ServerSecurity() {
        @Override
        public Tls tls(ServerAddress address) {
            return Tls.DISABLED;
        }

        @Override
        public Credentials credentials(ServerAddress address) {
            return Credentials.NONE;
        }
    };

    /** @param context null for sslmode disable */
    record Tls(ServerSslMode mode, SslContext context) {
        public static final Tls DISABLED = new Tls(ServerSslMode.DISABLE, null);
    }

    /**
     * What the pooler may log in with besides a configured password; any part may be null.
     *
     * @param password plain text, from a credential file or forwarded from a client's cleartext login over TLS
     * @param md5Hash "md5..." as the server stores it: answers an MD5 challenge without the password
     * @param scramKeys ClientKey and verifier from a client's SCRAM proof (pass-through)
     */
    record Credentials(String password, String md5Hash, ScramClient.PassThroughKeys scramKeys) {
        public static final Credentials NONE = new Credentials(null, null, null);

        @Override
        public String toString() {
            return "Credentials[password=" + (password == null ? "no" : "yes") + ", md5Hash="
                    + (md5Hash == null ? "no" : "yes") + ", scramKeys=" + (scramKeys == null ? "no" : "yes") + "]";
        }
    }

    Tls tls(ServerAddress address);

    Credentials credentials(ServerAddress address);

    /** A TLS handshake with a server ended; {@code protocol} is null when none was agreed. For metrics. */
    default void tlsHandshake(boolean ok, String protocol) {}
}
