package dev.pggat.pooler.config;

import dev.pggat.pooler.tls.BackendTlsConfig;
import dev.pggat.pooler.tls.ServerSslMode;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The TLS and credential settings of one database (route).
 *
 * @param clientTls overrides the listener's policy for this database (require: plain-text clients are refused;
 *     disable: TLS clients are refused); null = the listener's
 * @param serverTls the database's {@code serverTls}, for endpoints without their own
 * @param endpointTls per endpoint ({@link #key}) when it sets its own {@code serverTls}
 * @param passThroughUsers users whose server login reuses what they proved to the pooler
 * @param dynamicUsers users not listed under the database may log in when a credential source knows them; each
 *     gets a pool on first login (pass-through to the server)
 */
public record RouteSecurity(
        TlsPolicy clientTls,
        BackendTlsConfig serverTls,
        Map<String, BackendTlsConfig> endpointTls,
        Set<String> passThroughUsers,
        boolean dynamicUsers) {

    public static final RouteSecurity DEFAULT =
            new RouteSecurity(null, BackendTlsConfig.of(ServerSslMode.DISABLE), Map.of(), Set.of(), false);

    public RouteSecurity {
        endpointTls = Map.copyOf(endpointTls);
        passThroughUsers = Set.copyOf(passThroughUsers);
    }

    public RouteSecurity(
            TlsPolicy clientTls,
            BackendTlsConfig serverTls,
            Map<String, BackendTlsConfig> endpointTls,
            Set<String> passThroughUsers) {
        this(clientTls, serverTls, endpointTls, passThroughUsers, false);
    }

    /**
     * True when this is the default (no TLS either side, nothing per endpoint or user). Compared field by field: a
     * record's generated equals is linked on its first call, which costs more at start than the whole comparison.
     */
    public boolean isDefault() {
        return clientTls == null
                && serverTls.sslMode() == DEFAULT.serverTls.sslMode()
                && serverTls.caFile() == null
                && serverTls.certFile() == null
                && serverTls.keyFile() == null
                && serverTls.reloadInterval().equals(DEFAULT.serverTls.reloadInterval())
                && endpointTls.isEmpty()
                && passThroughUsers.isEmpty()
                && !dynamicUsers;
    }

    public static String key(String host, int port) {
        return host.toLowerCase(Locale.ROOT) + ":" + port;
    }

    /** The TLS settings towards one endpoint of this database. */
    public BackendTlsConfig serverTls(String host, int port) {
        return endpointTls.getOrDefault(key(host, port), serverTls);
    }
}
