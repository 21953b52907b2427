package dev.pggat.pooler.tls;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * TLS for the pooler's client listener, from files as a Kubernetes TLS Secret mounts them ({@code tls.crt},
 * {@code tls.key}, {@code ca.crt}).
 *
 * @param certFile PEM certificate chain, the pooler's own certificate first
 * @param keyFile PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC), unencrypted
 * @param caFile PEM CA certificates that client certificates must chain to; null unless client certificates are
 *     verified
 * @param clientCertMode whether clients must present a certificate
 * @param reloadInterval how often the three files are checked for new content; {@link Duration#ZERO} = never
 */
public record ServerTlsConfig(
        Path certFile, Path keyFile, Path caFile, ClientCertMode clientCertMode, Duration reloadInterval) {

    /** Kubernetes updates mounted Secrets within about a minute; checking twice as often costs nothing. */
    public static final Duration DEFAULT_RELOAD_INTERVAL = Duration.ofSeconds(30);

    public ServerTlsConfig {
        Objects.requireNonNull(certFile, "certFile");
        Objects.requireNonNull(keyFile, "keyFile");
        clientCertMode = clientCertMode == null ? ClientCertMode.NONE : clientCertMode;
        reloadInterval = reloadInterval == null ? DEFAULT_RELOAD_INTERVAL : reloadInterval;
        if (reloadInterval.isNegative()) {
            throw new IllegalArgumentException(
                    "TLS reloadInterval must be 0 (no reload) or positive, not " + reloadInterval);
        }
        if (clientCertMode.requiresCertificate() && caFile == null) {
            throw new IllegalArgumentException("client certificate mode " + clientCertMode.configName()
                    + " needs caFile: the CA that client certificates must be signed by");
        }
    }

    /** Server certificate only, no client certificates, default reload interval. */
    public static ServerTlsConfig of(Path certFile, Path keyFile) {
        return new ServerTlsConfig(certFile, keyFile, null, ClientCertMode.NONE, DEFAULT_RELOAD_INTERVAL);
    }

    /** The files whose content makes up the context, for {@link ReloadingSslContext}. */
    public List<Path> files() {
        List<Path> files = new ArrayList<>(List.of(certFile, keyFile));
        if (caFile != null) {
            files.add(caFile);
        }
        return List.copyOf(files);
    }
}
