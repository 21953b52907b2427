package dev.pggat.pooler.tls;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * TLS from the pooler to PostgreSQL.
 *
 * @param sslMode libpq's sslmode
 * @param caFile PEM CA certificates the server certificate must chain to; required for verify-ca and verify-full,
 *     and turns require into verify-ca when given
 * @param certFile PEM client certificate chain presented to PostgreSQL (for {@code cert} authentication or
 *     {@code clientcert=verify-*} in pg_hba.conf); null for none
 * @param keyFile the private key of {@code certFile}; given exactly when {@code certFile} is
 * @param reloadInterval how often the files are checked for new content; {@link Duration#ZERO} = never
 */
public record BackendTlsConfig(
        ServerSslMode sslMode, Path caFile, Path certFile, Path keyFile, Duration reloadInterval) {

    public BackendTlsConfig {
        Objects.requireNonNull(sslMode, "sslMode");
        reloadInterval = reloadInterval == null ? ServerTlsConfig.DEFAULT_RELOAD_INTERVAL : reloadInterval;
        if (reloadInterval.isNegative()) {
            throw new IllegalArgumentException(
                    "TLS reloadInterval must be 0 (no reload) or positive, not " + reloadInterval);
        }
        if (sslMode.verifiesCertificate() && caFile == null) {
            throw new IllegalArgumentException("sslmode " + sslMode.configName()
                    + " needs caFile: the CA that the server certificate must be signed by");
        }
        if ((certFile == null) != (keyFile == null)) {
            throw new IllegalArgumentException(
                    "a client certificate for the server needs both certFile and keyFile, or neither");
        }
    }

    public static BackendTlsConfig of(ServerSslMode sslMode) {
        return new BackendTlsConfig(sslMode, null, null, null, Duration.ZERO);
    }

    /** Whether the server certificate is checked against {@link #caFile()}. */
    public boolean verifiesCertificate() {
        return sslMode.verifiesCertificate() || (sslMode != ServerSslMode.DISABLE && caFile != null);
    }

    public List<Path> files() {
        List<Path> files = new ArrayList<>();
        if (caFile != null) {
            files.add(caFile);
        }
        if (certFile != null) {
            files.add(certFile);
            files.add(keyFile);
        }
        return List.copyOf(files);
    }
}
