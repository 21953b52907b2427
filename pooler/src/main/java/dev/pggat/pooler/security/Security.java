package dev.pggat.pooler.security;

import dev.pggat.pooler.auth.AuthMetrics;
import dev.pggat.pooler.auth.AuthRules;
import dev.pggat.pooler.auth.CredentialFiles;
import dev.pggat.pooler.auth.LoginRateLimiter;
import dev.pggat.pooler.auth.PassThroughStore;
import dev.pggat.pooler.auth.ScramClient;
import dev.pggat.pooler.auth.Secret;
import dev.pggat.pooler.backend.ServerAddress;
import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.backend.ServerSecurity;
import dev.pggat.pooler.config.ClientTlsSettings;
import dev.pggat.pooler.config.DatabaseConfig;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.config.RouteSecurity;
import dev.pggat.pooler.config.SecurityConfig;
import dev.pggat.pooler.config.TlsPolicy;
import dev.pggat.pooler.tls.BackendTls;
import dev.pggat.pooler.tls.BackendTlsConfig;
import dev.pggat.pooler.tls.ClientTlsContexts;
import dev.pggat.pooler.tls.PemFiles;
import dev.pggat.pooler.tls.ReloadingSslContext;
import dev.pggat.pooler.tls.SelfSigned;
import dev.pggat.pooler.tls.ServerSslMode;
import dev.pggat.pooler.tls.ServerTlsConfig;
import dev.pggat.pooler.tls.TlsConfigException;
import java.io.IOException;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Everything authentication and TLS need at run time, built once from the configuration: the client-side TLS
 * context, the rules, the failed-login limiter, the credential sources, what pass-through clients proved, and the
 * server-side TLS contexts per endpoint. It is the {@link ServerSecurity} of the pooler's connector.
 */
public final class Security implements ServerSecurity, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Security.class);

    /** Replaced whole by a reload (see {@link #reconfigure}). */
    private volatile SecurityConfig config;

    private final ReloadingSslContext clientTls;
    private volatile AuthRules rules;
    private volatile LoginRateLimiter limiter;
    private final CredentialFiles files;
    private final PassThroughStore passThrough = new PassThroughStore();
    private final AuthMetrics metrics = new AuthMetrics();
    private final Map<String, EndpointTls> serverTls = new HashMap<>();
    /** By the exact address object a pool connects with: two databases may treat one endpoint differently. */
    private final Map<ServerAddress, EndpointTls> poolTls = new java.util.IdentityHashMap<>();

    private final Map<BackendTlsConfig, ReloadingSslContext> contexts = new LinkedHashMap<>();
    private final List<ReloadingSslContext> serverContexts = new ArrayList<>();
    private final Map<String, AuthQuery.Target> authQueryTargets = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile AuthQuery authQuery;
    private String selfSignedFingerprint;

    private Security(SecurityConfig config, ReloadingSslContext clientTls, CredentialFiles files) {
        this.config = config;
        this.clientTls = clientTls;
        this.files = files;
        this.rules = new AuthRules(config.auth().rules(), config.auth().certMaps());
        this.limiter = new LoginRateLimiter(
                config.auth().maxFailedLogins(), config.auth().failedLoginWindow());
        if (clientTls != null) {
            clientTls.observeHandshakes((ok, protocol) -> metrics.tlsHandshake(AuthMetrics.Side.CLIENT, ok, protocol));
        }
    }

    public AuthMetrics metrics() {
        return metrics;
    }

    @Override
    public void tlsHandshake(boolean ok, String protocol) {
        metrics.tlsHandshake(AuthMetrics.Side.SERVER, ok, protocol);
    }

    /** No TLS, no rules beyond the users' own methods: what a configuration without these sections gets. */
    public static Security none() {
        return new Security(SecurityConfig.DEFAULT, null, null);
    }

    /**
     * Loads certificates, keys and credential files.
     *
     * @throws IOException naming the file or key that is wrong
     */
    public static Security start(PoolerConfig poolerConfig) throws IOException {
        SecurityConfig config = poolerConfig.security();
        ReloadingSslContext clientTls = null;
        CredentialFiles files = null;
        Security s = null;
        try {
            String fingerprint = null;
            ClientTlsSettings t = config.tls();
            if (t.enabled()) {
                if (t.certFile() != null) {
                    clientTls = ClientTlsContexts.reloading(new ServerTlsConfig(
                            t.certFile(), t.keyFile(), t.caFile(), t.clientCert(), t.reloadInterval()));
                } else {
                    SelfSigned self = SelfSigned.generate(t.selfSignedNames());
                    List<X509Certificate> cas = t.caFile() == null ? List.of() : PemFiles.readCertificates(t.caFile());
                    clientTls = ClientTlsContexts.selfSigned(self, t.clientCert(), cas);
                    fingerprint = self.sha256Fingerprint();
                    log.info(
                            "client TLS: no tls.certFile configured; generated a self-signed certificate for {}"
                                    + " with SHA-256 fingerprint {}",
                            self.names(),
                            fingerprint);
                }
            }
            if (config.credentials().directory() != null || config.credentials().userlist() != null) {
                files = CredentialFiles.load(
                        config.credentials().directory(),
                        config.credentials().userlist(),
                        config.credentials().reloadInterval());
            }
            s = new Security(config, clientTls, files);
            s.selfSignedFingerprint = fingerprint;
            Map<BackendTlsConfig, ReloadingSslContext> contexts = s.contexts;
            for (DatabaseConfig db : poolerConfig.databases().values()) {
                RouteSecurity route = config.route(db.name());
                if (db.endpoints().isEmpty()) {
                    // Discovery gives the endpoints later: they use the database's serverTls.
                    BackendTlsConfig c = route.serverTls();
                    if (c.sslMode() != ServerSslMode.DISABLE && !contexts.containsKey(c)) {
                        ReloadingSslContext ctx = BackendTls.reloading(c, "server TLS for database " + db.name())
                                .orElseThrow();
                        contexts.put(c, ctx);
                        s.serverContexts.add(ctx);
                    }
                    continue;
                }
                for (Endpoint e : db.endpoints()) {
                    BackendTlsConfig c = route.serverTls(e.host(), e.port());
                    ReloadingSslContext ctx = null;
                    if (c.sslMode() != ServerSslMode.DISABLE) {
                        ctx = contexts.get(c);
                        if (ctx == null) {
                            ctx = BackendTls.reloading(c, "server TLS for " + e.host() + ":" + e.port())
                                    .orElseThrow();
                            contexts.put(c, ctx);
                            s.serverContexts.add(ctx);
                        }
                    }
                    String key = RouteSecurity.key(e.host(), e.port());
                    EndpointTls tls = new EndpointTls(c.sslMode(), ctx);
                    EndpointTls earlier = s.serverTls.putIfAbsent(key, tls);
                    if (earlier != null && earlier.mode() != tls.mode()) {
                        log.info(
                                "server TLS: endpoint {} has different settings in several databases; each pool uses"
                                        + " its database's, other connections (auth query) sslmode {}",
                                key,
                                earlier.mode().configName());
                    }
                }
                Endpoint primary = db.primary();
                s.authQueryTargets.put(
                        db.name(), new AuthQuery.Target(primary.host(), primary.port(), db.serverDatabase()));
            }
            return s;
        } catch (TlsConfigException | IllegalArgumentException e) {
            closeQuietly(clientTls, files, s);
            throw new IOException(e.getMessage(), e);
        } catch (IOException | RuntimeException e) {
            closeQuietly(clientTls, files, s);
            throw e;
        }
    }

    private static void closeQuietly(ReloadingSslContext clientTls, CredentialFiles files, Security s) {
        if (s != null) {
            s.close();
            return;
        }
        if (clientTls != null) {
            clientTls.close();
        }
        if (files != null) {
            files.close();
        }
    }

    /**
     * Takes a reloaded configuration: auth rules and certificate maps, the failed-login limits, the client TLS
     * policy (with the certificate already loaded), each database's client TLS policy, pass-through users and
     * dynamic users, and server TLS settings (a context is made for each new one) apply at once to new logins and
     * new server connections. What needs objects made only at start cannot: a change of the client certificate
     * files or of TLS being on at all, and of the credential sources; those keys are returned. Call before the
     * router takes the configuration, since a server TLS file that cannot be read fails the reload here, with
     * nothing changed.
     *
     * @return the keys whose change needs a restart
     * @throws IOException naming the server TLS setting that cannot be loaded
     */
    public synchronized List<String> reconfigure(PoolerConfig next) throws IOException {
        SecurityConfig n = next.security();
        List<String> restart = new ArrayList<>();
        ClientTlsSettings a = config.tls();
        ClientTlsSettings b = n.tls();
        if (a.enabled() != b.enabled()
                || !java.util.Objects.equals(a.certFile(), b.certFile())
                || !java.util.Objects.equals(a.keyFile(), b.keyFile())
                || !java.util.Objects.equals(a.caFile(), b.caFile())
                || a.clientCert() != b.clientCert()
                || !a.reloadInterval().equals(b.reloadInterval())
                || !a.selfSignedNames().equals(b.selfSignedNames())
                || a.directTls() != b.directTls()) {
            restart.add("tls");
        }
        if (!config.credentials().equals(n.credentials())) {
            restart.add("credentials");
        }
        // Server TLS contexts for settings not seen before; made first, so that a failure changes nothing.
        Map<BackendTlsConfig, ReloadingSslContext> made = new LinkedHashMap<>();
        try {
            for (DatabaseConfig db : next.databases().values()) {
                RouteSecurity route = n.route(db.name());
                List<BackendTlsConfig> configs = new ArrayList<>();
                configs.add(route.serverTls());
                for (Endpoint e : db.endpoints()) {
                    configs.add(route.serverTls(e.host(), e.port()));
                }
                for (BackendTlsConfig c : configs) {
                    if (c.sslMode() != ServerSslMode.DISABLE && !contexts.containsKey(c) && !made.containsKey(c)) {
                        made.put(
                                c,
                                BackendTls.reloading(c, "server TLS for database " + db.name())
                                        .orElseThrow());
                    }
                }
            }
        } catch (TlsConfigException | IllegalArgumentException e) {
            made.values().forEach(ReloadingSslContext::close);
            throw new IOException(e.getMessage(), e);
        } catch (RuntimeException e) {
            made.values().forEach(ReloadingSslContext::close);
            throw e;
        }
        contexts.putAll(made);
        serverContexts.addAll(made.values());
        if (!config.auth().rules().equals(n.auth().rules())
                || !config.auth().certMaps().equals(n.auth().certMaps())) {
            rules = new AuthRules(n.auth().rules(), n.auth().certMaps());
        }
        if (config.auth().maxFailedLogins() != n.auth().maxFailedLogins()
                || !config.auth().failedLoginWindow().equals(n.auth().failedLoginWindow())) {
            limiter = new LoginRateLimiter(n.auth().maxFailedLogins(), n.auth().failedLoginWindow());
        }
        // What stays as it was, the running values of the keys named above, with the rest new.
        config = new SecurityConfig(
                restart.contains("tls") ? config.tls() : n.tls(),
                n.auth(),
                restart.contains("credentials") ? config.credentials() : n.credentials(),
                n.routes());
        for (DatabaseConfig db : next.databases().values()) {
            if (!db.endpoints().isEmpty()) {
                Endpoint primary = db.primary();
                authQueryTargets.put(
                        db.name(), new AuthQuery.Target(primary.host(), primary.port(), db.serverDatabase()));
            }
        }
        return restart;
    }

    /**
     * Ties each pool's server address to its database's TLS settings for that endpoint. Call once the router has
     * built the pools; addresses not registered here fall back to the first database's settings for the endpoint.
     */
    public void registerPool(String database, ServerAddress address) {
        BackendTlsConfig c = config.route(database).serverTls(address.host(), address.port());
        ReloadingSslContext ctx = c.sslMode() == ServerSslMode.DISABLE ? null : contexts.get(c);
        synchronized (poolTls) {
            poolTls.put(address, new EndpointTls(c.sslMode(), ctx));
        }
    }

    /** Forgets a pool's address once the pool is gone (a dynamic user's removed pool). */
    public void unregisterPool(ServerAddress address) {
        synchronized (poolTls) {
            poolTls.remove(address);
        }
    }

    /** Enables auth_query lookups once the connector (which needs this object for TLS) exists. */
    public void connector(ServerConnector connector) {
        if (config.credentials().authQuery() != null) {
            authQuery = new AuthQuery(config.credentials().authQuery(), connector);
        }
    }

    public SecurityConfig config() {
        return config;
    }

    /** The client-side context; empty when TLS towards clients is off. */
    public Optional<ReloadingSslContext> clientTls() {
        return Optional.ofNullable(clientTls);
    }

    /** The listener's policy, or disable when no context could be built (allow without a certificate). */
    public TlsPolicy listenerPolicy() {
        return clientTls == null ? TlsPolicy.DISABLE : config.tls().policy();
    }

    public Optional<String> selfSignedFingerprint() {
        return Optional.ofNullable(selfSignedFingerprint);
    }

    public AuthRules rules() {
        return rules;
    }

    public LoginRateLimiter limiter() {
        return limiter;
    }

    public PassThroughStore passThrough() {
        return passThrough;
    }

    public Optional<CredentialFiles> files() {
        return Optional.ofNullable(files);
    }

    public Optional<AuthQuery> authQuery() {
        return Optional.ofNullable(authQuery);
    }

    public Optional<AuthQuery.Target> authQueryTarget(String database) {
        return Optional.ofNullable(authQueryTargets.get(database));
    }

    /**
     * Points the auth query of a database whose servers discovery finds at its current primary (null: none known;
     * lookups then find no user until there is one again).
     */
    public void authQueryTarget(String database, String host, int port, String serverDatabase) {
        if (host == null) {
            authQueryTargets.remove(database);
        } else {
            authQueryTargets.put(database, new AuthQuery.Target(host, port, serverDatabase));
        }
    }

    // ---------------------------------------------------------------- ServerSecurity

    @Override
    public Tls tls(ServerAddress address) {
        EndpointTls t;
        synchronized (poolTls) {
            t = poolTls.get(address);
        }
        if (t == null) {
            t = serverTls.get(RouteSecurity.key(address.host(), address.port()));
        }
        if (t == null || t.mode() == ServerSslMode.DISABLE) {
            return Tls.DISABLED;
        }
        // The current context, so that a rotated CA or client certificate applies to the next connection.
        return new Tls(t.mode(), t.reloading().current());
    }

    @Override
    public Credentials credentials(ServerAddress address) {
        String password = null;
        String md5 = null;
        ScramClient.PassThroughKeys keys = null;
        Secret fromFile = files == null ? null : files.secret(address.user()).orElse(null);
        if (fromFile instanceof Secret.Plain p) {
            password = p.password();
        } else if (fromFile instanceof Secret.Md5 m) {
            md5 = m.hash();
        }
        PassThroughStore.Proven proven = passThrough.get(address.user()).orElse(null);
        if (proven != null) {
            password = password != null ? password : proven.password();
            md5 = md5 != null ? md5 : proven.md5Hash();
            keys = proven.scramKeys();
            if (keys != null && fromFile instanceof Secret.Scram v && !sameVerifier(v, keys)) {
                // The file changed since the client proved itself: the old key would only fail at the server.
                keys = null;
            }
        }
        return new Credentials(password, md5, keys);
    }

    private static boolean sameVerifier(Secret.Scram v, ScramClient.PassThroughKeys keys) {
        return v.iterations() == keys.iterations()
                && MessageDigest.isEqual(v.salt(), keys.salt())
                && MessageDigest.isEqual(v.serverKey(), keys.serverKey());
    }

    @Override
    public void close() {
        if (clientTls != null) {
            clientTls.close();
        }
        if (files != null) {
            files.close();
        }
        serverContexts.forEach(ReloadingSslContext::close);
    }

    private record EndpointTls(ServerSslMode mode, ReloadingSslContext reloading) {}
}
