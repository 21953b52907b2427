package dev.pggat.pooler.config;

import dev.pggat.pooler.auth.Cidr;
import dev.pggat.pooler.tls.ClientCertMode;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * One line of the ordered client authentication rules ({@code auth.rules[]}), in the spirit of pg_hba.conf: the
 * first rule whose conditions all hold decides the method. Empty sets and lists match everything.
 *
 * @param tls null = either; true = only TLS connections (hostssl); false = only plain ones (hostnossl)
 * @param map for method cert: the {@code auth.certMaps} entry that maps certificate names to users; null = the
 *     certificate must name the user itself
 * @param clientCert additionally require a client certificate (verify-ca) naming the user (verify-full), as
 *     pg_hba.conf's clientcert option; NONE = not required
 */
public record AuthRule(
        Set<String> databases,
        Set<String> users,
        List<Cidr> addresses,
        Boolean tls,
        List<Cidr> listen,
        Method method,
        String map,
        ClientCertMode clientCert) {

    public enum Method {
        TRUST,
        PASSWORD,
        MD5,
        SCRAM_SHA_256,
        CERT,
        REJECT;

        public String yamlName() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }
    }

    public AuthRule {
        databases = Set.copyOf(databases);
        users = Set.copyOf(users);
        addresses = List.copyOf(addresses);
        listen = List.copyOf(listen);
        Objects.requireNonNull(method, "method");
        clientCert = clientCert == null ? ClientCertMode.NONE : clientCert;
    }

    /** A rule matching every connection. */
    public static AuthRule all(Method method) {
        return new AuthRule(Set.of(), Set.of(), List.of(), null, List.of(), method, null, ClientCertMode.NONE);
    }
}
