package dev.pggat.pooler.config;

import dev.pggat.pooler.tls.ClientCertMode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * TLS towards clients ({@code tls:}).
 *
 * @param policy listener policy
 * @param certFile PEM chain, null to use a self-signed certificate (policy prefer or require)
 * @param keyFile PEM key; set exactly when certFile is
 * @param caFile CA for client certificates; when set, certificates are requested (optionally unless
 *     clientCert says otherwise) and checked against it
 * @param clientCert whether every TLS client must present a certificate (verify-ca) that also names the user
 *     (verify-full)
 * @param reloadInterval how often the files are checked for new content; 0 = never
 * @param selfSignedNames extra names for the generated certificate
 * @param directTls accept PostgreSQL 17 direct TLS connections (first byte a TLS handshake)
 */
public record ClientTlsSettings(
        TlsPolicy policy,
        Path certFile,
        Path keyFile,
        Path caFile,
        ClientCertMode clientCert,
        Duration reloadInterval,
        List<String> selfSignedNames,
        boolean directTls) {

    public static final ClientTlsSettings DEFAULT = new ClientTlsSettings(
            TlsPolicy.DISABLE, null, null, null, ClientCertMode.NONE, Duration.ofSeconds(30), List.of(), true);

    public ClientTlsSettings {
        Objects.requireNonNull(policy, "policy");
        Objects.requireNonNull(clientCert, "clientCert");
        Objects.requireNonNull(reloadInterval, "reloadInterval");
        selfSignedNames = List.copyOf(selfSignedNames);
    }

    /** Whether a TLS context is built at start. */
    public boolean enabled() {
        return policy == TlsPolicy.PREFER
                || policy == TlsPolicy.REQUIRE
                || (policy == TlsPolicy.ALLOW && certFile != null);
    }
}
