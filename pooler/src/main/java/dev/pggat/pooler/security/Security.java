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
import dev.pggat.pooler.config.CredentialSettings;
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

    /** The client-side TLS context and what it was made from; replaced whole by a reload of {@code tls}. */
    private volatile ClientSide clientSide;

    private volatile AuthRules rules;
    private volatile LoginRateLimiter limiter;
    /** The credential files; replaced by a reload of {@code credentials}. */
    private volatile CredentialFiles files;
    /** The connector auth queries use; set once after construction. */
    private ServerConnector connector;

    private final PassThroughStore passThrough = new PassThroughStore();
    private final AuthMetrics metrics = new AuthMetrics();
    private final Map<String, EndpointTls> serverTls = new HashMap<>();
    /** By the exact address object a pool connects with: two databases may treat one endpoint differently. */
    private final Map<ServerAddress, EndpointTls> poolTls = new java.util.IdentityHashMap<>();

    private final Map<BackendTlsConfig, ReloadingSslContext> contexts = new LinkedHashMap<>();
    private final List<ReloadingSslContext> serverContexts = new ArrayList<>();
    private final Map<String, AuthQuery.Target> authQueryTargets = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile AuthQuery authQuery;

    /**
     * The client-side TLS of new logins.
     *
     * @param context null when TLS towards clients is off
     * @param fingerprint the generated certificate's SHA-256 fingerprint when there is no certFile, else null
     * @param settings the tls section the context was made from
     */
    private record ClientSide(ReloadingSslContext context, String fingerprint, ClientTlsSettings settings) {}

    private Security(SecurityConfig config, ClientSide clientSide, CredentialFiles files) {
        this.config = config;
        this.clientSide = clientSide;
        this.files = files;
        this.rules = new AuthRules(config.auth().rules(), config.auth().certMaps());
        this.limiter = new LoginRateLimiter(
                config.auth().maxFailedLogins(), config.auth().failedLoginWindow());
        observe(clientSide);
    }

    private void observe(ClientSide side) {
        if (side.context() != null) {
            side.context()
                    .observeHandshakes((ok, protocol) -> metrics.tlsHandshake(AuthMetrics.Side.CLIENT, ok, protocol));
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
        return new Security(SecurityConfig.DEFAULT, new ClientSide(null, null, SecurityConfig.DEFAULT.tls()), null);
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
            ClientSide side = clientSide(config.tls());
            clientTls = side.context();
            files = credentialFiles(config.credentials());
            s = new Security(config, side, files);
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

    /** Loads (or generates) the client-side certificate of {@code t}; no context when TLS is off. */
    private static ClientSide clientSide(ClientTlsSettings t) throws IOException, TlsConfigException {
        if (!t.enabled()) {
            return new ClientSide(null, null, t);
        }
        if (t.certFile() != null) {
            return new ClientSide(
                    ClientTlsContexts.reloading(new ServerTlsConfig(
                            t.certFile(), t.keyFile(), t.caFile(), t.clientCert(), t.reloadInterval())),
                    null,
                    t);
        }
        SelfSigned self = SelfSigned.generate(t.selfSignedNames());
        List<X509Certificate> cas = t.caFile() == null ? List.of() : PemFiles.readCertificates(t.caFile());
        ReloadingSslContext ctx = ClientTlsContexts.selfSigned(self, t.clientCert(), cas);
        String fingerprint = self.sha256Fingerprint();
        log.info(
                "client TLS: no tls.certFile configured; generated a self-signed certificate for {}"
                        + " with SHA-256 fingerprint {}",
                self.names(),
                fingerprint);
        return new ClientSide(ctx, fingerprint, t);
    }

    /** The credential files of {@code c}, loaded; null when it names none. */
    private static CredentialFiles credentialFiles(CredentialSettings c) throws IOException {
        if (c.directory() == null && c.userlist() == null) {
            return null;
        }
        return CredentialFiles.load(c.directory(), c.userlist(), c.reloadInterval());
    }

    /** Whether two tls sections need different contexts (the policy alone does not: it is read per login). */
    private static boolean sameContext(ClientTlsSettings a, ClientTlsSettings b) {
        return a.enabled() == b.enabled()
                && java.util.Objects.equals(a.certFile(), b.certFile())
                && java.util.Objects.equals(a.keyFile(), b.keyFile())
                && java.util.Objects.equals(a.caFile(), b.caFile())
                && a.clientCert() == b.clientCert()
                && a.reloadInterval().equals(b.reloadInterval())
                && a.selfSignedNames().equals(b.selfSignedNames());
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
     * Takes a reloaded configuration. Everything applies to new logins and new server connections; clients logged
     * in keep the TLS session they have. Auth rules and certificate maps, the failed-login limits, the client TLS
     * policy and {@code directTls}, each database's client TLS policy, pass-through users, and server TLS settings
     * (a context is made for each new one) are swapped; a change of the client certificate settings or of TLS being
     * on at all loads a new client context (the old one stops watching its files; handshakes done with it stand);
     * a change of the credential sources loads the new files and makes a new auth query (its cache starts empty).
     * Everything new is loaded first, so a file that cannot be read fails the reload here with nothing changed.
     * Call before the router takes the configuration.
     *
     * @throws IOException naming the TLS or credential setting that cannot be loaded
     */
    public synchronized void reconfigure(PoolerConfig next) throws IOException {
        SecurityConfig n = next.security();
        ClientSide oldSide = clientSide;
        ClientSide newSide = null;
        CredentialFiles oldFiles = files;
        CredentialFiles newFiles = oldFiles;
        boolean credentialsChanged = !config.credentials().equals(n.credentials());
        try {
            if (!sameContext(oldSide.settings(), n.tls())) {
                newSide = clientSide(n.tls());
            }
            if (credentialsChanged
                    && (!java.util.Objects.equals(
                                    config.credentials().directory(),
                                    n.credentials().directory())
                            || !java.util.Objects.equals(
                                    config.credentials().userlist(),
                                    n.credentials().userlist())
                            || !config.credentials()
                                    .reloadInterval()
                                    .equals(n.credentials().reloadInterval()))) {
                newFiles = credentialFiles(n.credentials());
            }
        } catch (TlsConfigException | IllegalArgumentException e) {
            closeNew(newSide, oldFiles, newFiles);
            throw new IOException(e.getMessage(), e);
        } catch (IOException | RuntimeException e) {
            closeNew(newSide, oldFiles, newFiles);
            throw e;
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
            closeNew(newSide, oldFiles, newFiles);
            throw new IOException(e.getMessage(), e);
        } catch (RuntimeException e) {
            made.values().forEach(ReloadingSslContext::close);
            closeNew(newSide, oldFiles, newFiles);
            throw e;
        }
        // Nothing can fail from here: swap.
        if (newSide != null) {
            observe(newSide);
            clientSide = newSide;
            if (oldSide.context() != null) {
                oldSide.context().close();
            }
        } else if (!oldSide.settings().equals(n.tls())) {
            clientSide = new ClientSide(oldSide.context(), oldSide.fingerprint(), n.tls());
        }
        if (newFiles != oldFiles) {
            files = newFiles;
            if (oldFiles != null) {
                oldFiles.close();
            }
        }
        if (credentialsChanged
                && !java.util.Objects.equals(
                        config.credentials().authQuery(), n.credentials().authQuery())) {
            authQuery = n.credentials().authQuery() == null || connector == null
                    ? null
                    : new AuthQuery(n.credentials().authQuery(), connector);
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
        config = n;
        for (DatabaseConfig db : next.databases().values()) {
            if (!db.endpoints().isEmpty()) {
                Endpoint primary = db.primary();
                authQueryTargets.put(
                        db.name(), new AuthQuery.Target(primary.host(), primary.port(), db.serverDatabase()));
            }
        }
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
    public synchronized void connector(ServerConnector connector) {
        this.connector = connector;
        if (config.credentials().authQuery() != null) {
            authQuery = new AuthQuery(config.credentials().authQuery(), connector);
        }
    }

    public SecurityConfig config() {
        return config;
    }

    /** The client-side context; empty when TLS towards clients is off. */
    public Optional<ReloadingSslContext> clientTls() {
        return Optional.ofNullable(clientSide.context());
    }

    /** The listener's policy, or disable when no context could be built (allow without a certificate). */
    public TlsPolicy listenerPolicy() {
        ClientSide side = clientSide;
        return side.context() == null ? TlsPolicy.DISABLE : side.settings().policy();
    }

    /**
     * The context of a direct TLS connection (one that starts with a TLS ClientHello, no SSLRequest): null when
     * {@code tls.directTls} is off or the listener offers no TLS. Read for each new connection.
     */
    public ReloadingSslContext directTls() {
        ClientSide side = clientSide;
        return side.context() != null
                        && side.settings().directTls()
                        && side.settings().policy().offersTls()
                ? side.context()
                : null;
    }

    public Optional<String> selfSignedFingerprint() {
        return Optional.ofNullable(clientSide.fingerprint());
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

    /** Closes what a failed reload loaded: it never went into use. */
    private static void closeNew(ClientSide newSide, CredentialFiles oldFiles, CredentialFiles newFiles) {
        if (newSide != null && newSide.context() != null) {
            newSide.context().close();
        }
        if (newFiles != null && newFiles != oldFiles) {
            newFiles.close();
        }
    }

    @Override
    public synchronized void close() {
        ReloadingSslContext clientTls = clientSide.context();
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
