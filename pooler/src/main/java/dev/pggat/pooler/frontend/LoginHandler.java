package dev.pggat.pooler.frontend;

import dev.pggat.pooler.auth.AuthFailedException;
import dev.pggat.pooler.auth.AuthRules;
import dev.pggat.pooler.auth.CleartextPassword;
import dev.pggat.pooler.auth.Md5Password;
import dev.pggat.pooler.auth.PassThroughStore;
import dev.pggat.pooler.auth.ScramClient;
import dev.pggat.pooler.auth.ScramServer;
import dev.pggat.pooler.auth.Secret;
import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerError;
import dev.pggat.pooler.config.AuthMethod;
import dev.pggat.pooler.config.AuthRule;
import dev.pggat.pooler.config.RouteMatcher;
import dev.pggat.pooler.config.RouteRewrite;
import dev.pggat.pooler.config.RouteSecurity;
import dev.pggat.pooler.config.TlsPolicy;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.pool.PoolCallback;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.PasswordMessage;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.ProtocolException;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.protocol.StartupDecoder;
import dev.pggat.pooler.protocol.StartupPacket;
import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.security.AuthQuery;
import dev.pggat.pooler.security.Security;
import dev.pggat.pooler.tls.ClientCertMode;
import dev.pggat.pooler.tls.ClientTlsContexts;
import dev.pggat.pooler.tls.DirectTlsDetector;
import dev.pggat.pooler.tls.TlsInfo;
import dev.pggat.pooler.util.Printable;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client's first moments: connection limits, the startup packet (SSLRequest, CancelRequest, StartupMessage),
 * routing to a configured (database, user), and authentication. On success it hands the channel to a
 * {@link ClientSession} and leaves the pipeline.
 */
public final class LoginHandler extends ChannelInboundHandlerAdapter implements PoolCallback {
    private static final Logger log = LoggerFactory.getLogger(LoginHandler.class);
    public static final String NAME = "pg-login";

    private enum State {
        STARTUP,
        RESOLVING,
        AUTH_CLEARTEXT,
        AUTH_MD5,
        AUTH_SASL_INITIAL,
        AUTH_SASL_CONTINUE,
        LOGIN_PARAMETERS,
        DONE
    }

    private final FrontendContext context;
    private final Security security;
    private ChannelHandlerContext ctx;
    private EventLoop loop;
    private State state = State.STARTUP;
    private ScheduledFuture<?> loginTimeout;

    private String userName;
    private String databaseName;
    /** What the routes matched, and under which generation of them: the session matches again after a reload. */
    private RouteMatcher.Client routeClient;

    private long routesGeneration;
    private Router.Database db;
    private Router.User user;
    /**
     * The user is not configured but the database takes users its credential sources know: whether the user exists
     * is what the lookup finds, and the method follows the secret when no rule decides.
     */
    private boolean dynamicCandidate;
    /** No rule chose the method: a dynamic user's comes from its secret (md5 hash: md5, else SCRAM). */
    private boolean methodFromSecret;
    /** This login holds a dynamic user against removal until it hands over or ends. */
    private boolean holdsDynamicUser;
    /**
     * The client named the admin console's virtual database: it authenticates as a configured user of that name (any
     * database's, first in the configuration) or one the credential files know, and is then handed to the console.
     */
    private boolean console;

    private Map<String, String> wanted = Map.of();
    private byte[] md5Salt;
    private ScramServer scram;
    /** The TLS state at the StartupMessage; null in plain text. */
    private TlsInfo tls;

    private AuthRule.Method method;
    private Secret secret;
    /** The cleartext password of a successful password login over TLS, kept only for pass-through users. */
    private String cleartextForPassThrough;
    /** Messages the client sent behind its login, before the session exists: handed to the session. */
    private final ArrayDeque<ByteBuf> early = new ArrayDeque<>(2);

    public LoginHandler(FrontendContext context) {
        this(context, Security.none());
    }

    public LoginHandler(FrontendContext context, Security security) {
        this.context = context;
        this.security = security;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.loop = ctx.channel().eventLoop();
        AtomicInteger counter = context.clients;
        int clients = counter.incrementAndGet();
        // Captures the counter, not this handler: the listener lives as long as the connection, the handler only
        // until login completes (it held about 200 bytes per idle client).
        ctx.channel().closeFuture().addListener(f -> counter.decrementAndGet());
        context.logins.add(this);
        if (clients > context.maxClientConnections) {
            context.rejectedTotal.increment();
            fatal(SqlState.TOO_MANY_CONNECTIONS, "sorry, too many clients already");
            return;
        }
        if (context.draining) {
            context.rejectedTotal.increment();
            fatal(SqlState.CANNOT_CONNECT_NOW, "the pooler is shutting down");
            return;
        }
        loginTimeout = loop.schedule(
                () -> {
                    if (state != State.DONE) {
                        context.loginFailuresTotal.increment();
                        fatal(SqlState.QUERY_CANCELED, "canceling authentication due to timeout");
                    }
                },
                context.clientLogin.toMillis(),
                TimeUnit.MILLISECONDS);
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (state == State.DONE) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (msg instanceof StartupPacket packet) {
            if (state != State.STARTUP) {
                fatal(SqlState.PROTOCOL_VIOLATION, "unexpected startup packet");
                return;
            }
            startup(packet);
            return;
        }
        ByteBuf frame = (ByteBuf) msg;
        switch (state) {
            case AUTH_CLEARTEXT, AUTH_MD5, AUTH_SASL_INITIAL, AUTH_SASL_CONTINUE -> {
                if (Frames.type(frame) == ProtocolConstants.TERMINATE) {
                    // libpq's answer to a method it will not use (require_auth, channel_binding=require).
                    frame.release();
                    ctx.close();
                    return;
                }
                try {
                    authResponse(frame);
                } finally {
                    frame.release();
                }
            }
            case LOGIN_PARAMETERS -> {
                early.add(frame);
                ctx.channel().config().setAutoRead(false);
            }
            default -> {
                frame.release();
                fatal(SqlState.PROTOCOL_VIOLATION, "unexpected message before startup completed");
            }
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof DecoderException && cause.getCause() != null) {
            cause = cause.getCause();
        }
        if (cause instanceof ProtocolException pe) {
            context.protocolErrorsTotal.increment();
            fatal(pe.sqlState(), pe.getMessage());
        } else if (cause instanceof IOException) {
            if (cause instanceof javax.net.ssl.SSLException) {
                context.loginFailuresTotal.increment();
                log.info("client {}: TLS handshake failed: {}", ctx.channel().remoteAddress(), cause.getMessage());
            }
            ctx.close();
        } else {
            log.warn("client {}: unexpected error during login", ctx.channel().remoteAddress(), cause);
            fatal(SqlState.INTERNAL_ERROR, "internal error in the pooler");
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        context.logins.remove(this);
        if (loginTimeout != null) {
            loginTimeout.cancel(false);
        }
        releaseDynamicUser();
        ByteBuf f;
        while ((f = early.poll()) != null) {
            f.release();
        }
        state = State.DONE;
        ctx.fireChannelInactive();
    }

    // ---------------------------------------------------------------- startup packet

    private void startup(StartupPacket packet) {
        if (packet instanceof StartupPacket.StartupMessage m) {
            startupMessage(m);
        } else if (packet instanceof StartupPacket.CancelRequest c) {
            // A cancel connection gets no reply; it is closed once the request is handed on.
            context.cancels.cancel(c.processId(), c.secretKey());
            ctx.close();
        } else if (packet instanceof StartupPacket.SslRequest) {
            sslRequest();
        } else {
            // GSSENCRequest: not offered; the client goes on in plain text or gives up.
            ctx.writeAndFlush(Messages.encryptionDeclined());
            resumeDecoding();
        }
    }

    /**
     * The decoder stops after an SSLRequest or GSSENCRequest, since TLS may start with the next byte. Once the
     * request is declined, bytes the client sent behind it in the same read are plain protocol: they are decoded
     * now, not when more bytes arrive, which may be never (the client waits for its answer). Found by the
     * startup decoder's fuzz test, which compares decoding a stream whole and cut into pieces.
     */
    private void resumeDecoding() {
        StartupDecoder decoder = ctx.pipeline().get(StartupDecoder.class);
        if (decoder != null && decoder.bufferedBytes() > 0) {
            loop.execute(() -> {
                if (ctx.channel().isActive()) {
                    ctx.pipeline().fireChannelRead(Unpooled.EMPTY_BUFFER);
                }
            });
        }
    }

    private void sslRequest() {
        if (ctx.pipeline().get(SslHandler.class) != null) {
            fatal(SqlState.PROTOCOL_VIOLATION, "unexpected SSLRequest on an encrypted connection");
            return;
        }
        var tlsContext = security.clientTls();
        if (!security.listenerPolicy().offersTls() || tlsContext.isEmpty()) {
            ctx.writeAndFlush(Messages.encryptionDeclined());
            resumeDecoding();
            return;
        }
        StartupDecoder decoder = ctx.pipeline().get(StartupDecoder.class);
        if (decoder != null && decoder.bufferedBytes() > 0) {
            context.protocolErrorsTotal.increment();
            fatal(SqlState.PROTOCOL_VIOLATION, "received unencrypted data after SSL request");
            return;
        }
        ctx.writeAndFlush(ctx.alloc().buffer(1).writeByte('S'));
        // Same event-loop task: the 'S' is already past the head, and the client's next bytes (the ClientHello)
        // reach the SslHandler before anything else.
        ctx.pipeline().addFirst(ClientTlsContexts.HANDLER_NAME, tlsContext.get().newHandler(ctx.alloc()));
    }

    private void startupMessage(StartupPacket.StartupMessage m) {
        Map<String, String> params = m.parameters();
        List<String> protocolOptions = m.protocolOptions();
        if (m.minorVersion() > 0 || !protocolOptions.isEmpty()) {
            ctx.write(Messages.negotiateProtocolVersion(ctx.alloc(), 0, protocolOptions));
        }
        userName = params.get("user");
        if (userName == null || userName.isEmpty()) {
            fatal(SqlState.INVALID_AUTHORIZATION_SPECIFICATION, "no PostgreSQL user name specified in startup packet");
            return;
        }
        String replication = params.get("replication");
        if (replication != null && !List.of("false", "off", "no", "0").contains(replication.toLowerCase())) {
            fatal(SqlState.FEATURE_NOT_SUPPORTED, "replication connections are not supported through the pooler");
            return;
        }
        databaseName = params.getOrDefault("database", "");
        if (databaseName.isEmpty()) {
            databaseName = userName;
        }
        InetAddress client = address(ctx.channel().remoteAddress());
        if (refusedAsBlocked()) {
            return;
        }
        if (context.packetTraces.any()) {
            context.followAtLogin(ctx, userName, databaseName);
        }

        tls = TlsInfo.of(ctx.channel()).orElse(null);
        ConsoleGate gate = context.console();
        routesGeneration = context.router.routesGeneration();
        routeClient = new RouteMatcher.Client(
                databaseName,
                userName,
                params,
                tls != null,
                address(ctx.channel().localAddress()),
                client);
        Router.Choice choice =
                gate != null && gate.isConsoleDatabase(databaseName) ? null : context.router.choose(routeClient);
        db = choice == null ? null : choice.database();
        if (choice != null && choice.sqlState() != null) {
            routeRefused(choice);
            return;
        }
        if (choice == null) {
            console = true;
            wanted = StartupOptions.sessionParameters(params);
            user = consoleIdentity(userName);
            dynamicCandidate = false;
        } else if (db == null) {
            failed(SqlState.INVALID_CATALOG_NAME, "database \"" + databaseName + "\" does not exist");
            return;
        } else if (context.disabledDatabases().contains(databaseName)
                || context.disabledDatabases().contains(db.name())) {
            context.rejectedTotal.increment();
            fatal(SqlState.CANNOT_CONNECT_NOW, "database \"" + databaseName + "\" is disabled");
            return;
        } else {
            RouteRewrite rewrite =
                    choice.route() == null ? RouteRewrite.NONE : choice.route().rewrite();
            // Dropped parameters go before anything reads them (a dropped options carries no -c switches); forced
            // and default values become the client's own wanted settings, which every checkout syncs.
            wanted = rewrite.applyTo(StartupOptions.sessionParameters(rewrite.dropFrom(params)));
            user = db.user(userName);
            dynamicCandidate = (user == null || user.dynamic()) && db.allowsDynamicUsers();
        }

        // hasAttr first: attr() would add an attribute (about 70 bytes) to every connection that asks.
        if (ctx.channel().hasAttr(DirectTlsDetector.DIRECT)
                && Boolean.TRUE.equals(
                        ctx.channel().attr(DirectTlsDetector.DIRECT).get())
                && (tls == null
                        || !"postgresql".equals(tls.applicationProtocol().orElse(null)))) {
            context.protocolErrorsTotal.increment();
            fatal(
                    SqlState.PROTOCOL_VIOLATION,
                    "received direct SSL connection request without ALPN protocol negotiation extension");
            return;
        }
        RouteSecurity route = security.config().route(securityName());
        TlsPolicy policy = route.clientTls() != null ? route.clientTls() : security.listenerPolicy();
        if ((policy == TlsPolicy.REQUIRE && tls == null) || (route.clientTls() == TlsPolicy.DISABLE && tls != null)) {
            hbaFailed("no pg_hba.conf entry for host \"" + hostText(client) + "\", user \"" + userName
                    + "\", database \"" + databaseName + "\", " + encryption());
            return;
        }
        if (security.config().tls().clientCert() == ClientCertMode.VERIFY_FULL
                && tls != null
                && !tls.peerNameMatches(userName)) {
            certFailed("certificate validation (clientcert=verify-full) failed for user \"" + userName
                    + "\": CN mismatch");
            return;
        }

        AuthRule rule = security.rules()
                .match(new AuthRules.Connection(
                        databaseName,
                        userName,
                        client,
                        tls != null,
                        address(ctx.channel().localAddress())))
                .orElse(null);
        if (rule != null && rule.clientCert().requiresCertificate()) {
            if (tls == null || tls.peerCertificate().isEmpty()) {
                certFailed("connection requires a valid client certificate");
                return;
            }
            if (rule.clientCert() == ClientCertMode.VERIFY_FULL && !tls.peerNameMatches(userName)) {
                certFailed("certificate validation (clientcert=verify-full) failed for user \"" + userName
                        + "\": CN mismatch");
                return;
            }
        }
        method = rule != null ? rule.method() : defaultMethod();
        methodFromSecret = rule == null && dynamicCandidate;
        switch (method) {
            case REJECT ->
                hbaFailed("pg_hba.conf rejects connection for host \"" + hostText(client) + "\", user \"" + userName
                        + "\", database \"" + databaseName + "\", " + encryption());
            case TRUST -> {
                if (configuredUser()) {
                    loginSucceeded();
                } else if (dynamicCandidate) {
                    // Trusted, but it must still be a user the credential sources know.
                    resolveSecret(() -> {
                        if (secret != null) {
                            loginSucceeded();
                        } else {
                            roleMissing();
                        }
                    });
                } else {
                    roleMissing();
                }
            }
            case CERT -> certificateLogin(rule);
            case PASSWORD, MD5, SCRAM_SHA_256 -> resolveSecret(this::challenge);
        }
    }

    /** The database whose security settings apply: the backend's own for a database a route's rewrite made. */
    private String securityName() {
        return db == null ? databaseName : db.family();
    }

    /** An error route took the client: it is told why, and the route's counter (see RouteTable) went up. */
    private void routeRefused(Router.Choice choice) {
        context.rejectedTotal.increment();
        security.metrics().login(methodLabel(), "failed");
        log.info(
                "client {}: user \"{}\" (database \"{}\") refused by route \"{}\": {} {}",
                ctx.channel().remoteAddress(),
                Printable.log(userName),
                Printable.log(databaseName),
                choice.route() == null ? "" : choice.route().name(),
                choice.sqlState(),
                Printable.log(choice.message()));
        fatal(choice.sqlState(), choice.message());
    }

    /** A console user's password and method: those of the first configured user of that name, if any. */
    private Router.User consoleIdentity(String name) {
        for (Router.Database d : context.router.databases()) {
            Router.User u = d.user(name);
            if (u != null && !u.dynamic()) {
                return u;
            }
        }
        return null;
    }

    private boolean configuredUser() {
        return user != null && !user.dynamic();
    }

    private void roleMissing() {
        failed(SqlState.INVALID_AUTHORIZATION_SPECIFICATION, "role \"" + userName + "\" does not exist");
    }

    private AuthRule.Method defaultMethod() {
        AuthMethod m = !configuredUser() ? AuthMethod.SCRAM_SHA_256 : user.auth();
        return switch (m) {
            case TRUST -> AuthRule.Method.TRUST;
            case PASSWORD -> AuthRule.Method.PASSWORD;
            case MD5 -> AuthRule.Method.MD5;
            case SCRAM_SHA_256 -> AuthRule.Method.SCRAM_SHA_256;
        };
    }

    private void certificateLogin(AuthRule rule) {
        if (tls == null || tls.peerCertificate().isEmpty()) {
            certFailed("connection requires a valid client certificate");
            return;
        }
        List<String> names = new ArrayList<>();
        tls.peerCommonName().ifPresent(names::add);
        names.addAll(tls.peerDnsNames());
        boolean allowed = security.rules().certificateAllows(rule.map(), names, userName);
        if (allowed && configuredUser()) {
            loginSucceeded();
            return;
        }
        if (allowed && dynamicCandidate) {
            resolveSecret(() -> {
                if (secret != null) {
                    loginSucceeded();
                } else {
                    certFailed("certificate authentication failed for user \"" + userName + "\"");
                }
            });
            return;
        }
        log.info(
                "client {}: certificate {} does not map to user \"{}\"{}",
                ctx.channel().remoteAddress(),
                Printable.log(names),
                Printable.log(userName),
                rule.map() == null ? "" : " in map \"" + rule.map() + "\"");
        certFailed("certificate authentication failed for user \"" + userName + "\"");
    }

    /**
     * The user's secret: inline, else from the credential files, else from the auth query; then {@code next}.
     * Unknown users go through the same lookups (their answer is discarded) so that the time to fail does not
     * depend on existence. For a database with dynamic users, a user the sources know is a user.
     */
    private void resolveSecret(Runnable next) {
        boolean candidate = configuredUser() || dynamicCandidate || console;
        secret = configuredUser() ? user.secret() : null;
        if (secret != null) {
            next.run();
            return;
        }
        Secret fromFiles = security.files().flatMap(f -> f.secret(userName)).orElse(null);
        if (fromFiles != null || security.authQuery().isEmpty() || console) {
            secret = candidate ? fromFiles : null;
            next.run();
            return;
        }
        AuthQuery query = security.authQuery().get();
        AuthQuery.Target target = security.authQueryTarget(securityName()).orElse(null);
        if (target == null) {
            // A database whose servers discovery has not found yet: no server to ask.
            secret = null;
            next.run();
            return;
        }
        state = State.RESOLVING;
        query.lookup(loop, target, userName)
                .whenComplete((found, error) -> loop.execute(() -> {
                    if (state != State.RESOLVING) {
                        return;
                    }
                    if (error != null) {
                        log.warn("client {}: {}", ctx.channel().remoteAddress(), Printable.log(error.getMessage()));
                    }
                    secret = !candidate || found == null ? null : found.orElse(null);
                    next.run();
                }));
    }

    private void challenge() {
        AuthRule.Method m = method;
        if (methodFromSecret && secret instanceof Secret.Md5) {
            // A dynamic user whose source holds an md5 hash can only be checked with md5.
            m = AuthRule.Method.MD5;
        }
        if (m == AuthRule.Method.MD5 && secret instanceof Secret.Scram) {
            // As PostgreSQL: an md5 rule with a SCRAM verifier authenticates with SCRAM, never weaker.
            m = AuthRule.Method.SCRAM_SHA_256;
        }
        // What the client is actually asked for, as the metrics report it.
        method = m;
        switch (m) {
            case PASSWORD -> {
                state = State.AUTH_CLEARTEXT;
                ctx.writeAndFlush(Messages.authenticationCleartextPassword());
            }
            case MD5 -> {
                md5Salt = new byte[4];
                context.random.nextBytes(md5Salt);
                state = State.AUTH_MD5;
                ctx.writeAndFlush(Messages.authenticationMd5Password(ctx.alloc(), md5Salt));
            }
            default -> {
                // An unknown user gets a mock exchange that looks the same and fails at the end, so that
                // probing cannot tell which users exist.
                byte[] binding = tls == null ? null : tls.tlsServerEndPoint().orElse(null);
                scram = ScramServer.create(secret, userName, context.random, binding);
                state = State.AUTH_SASL_INITIAL;
                ctx.writeAndFlush(Messages.authenticationSasl(ctx.alloc(), scram.mechanisms()));
            }
        }
    }

    private String encryption() {
        return tls == null ? "no encryption" : "SSL encryption";
    }

    private static InetAddress address(java.net.SocketAddress a) {
        return a instanceof InetSocketAddress i ? i.getAddress() : null;
    }

    private static String hostText(InetAddress a) {
        return a == null ? "[local]" : a.getHostAddress();
    }

    /**
     * Refuses the login when its address has reached the failed-login limit. Checked at the startup packet and
     * again before each password or proof is looked at: connections opened before the limit was reached must not
     * keep guessing, and the answer must not depend on whether the guess was right.
     */
    private boolean refusedAsBlocked() {
        InetAddress client = address(ctx.channel().remoteAddress());
        Duration blocked = security.limiter().blockedFor(client);
        if (blocked.isZero()) {
            return false;
        }
        context.rejectedTotal.increment();
        security.metrics().rateLimited.increment();
        log.info(
                "client {}: login refused, too many failed logins from this address",
                ctx.channel().remoteAddress());
        fatal(
                SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                "too many failed login attempts from host \"" + hostText(client) + "\"; try again in "
                        + Math.max(1, (blocked.toMillis() + 999) / 1000) + " s");
        return true;
    }

    // ---------------------------------------------------------------- authentication

    private void authResponse(ByteBuf frame) {
        if (Frames.type(frame) != ProtocolConstants.PASSWORD_MESSAGE) {
            fatal(
                    SqlState.PROTOCOL_VIOLATION,
                    "expected password response, got message type " + (char) Frames.type(frame));
            return;
        }
        if (refusedAsBlocked()) {
            return;
        }
        Secret secret = this.secret;
        try {
            switch (state) {
                case AUTH_CLEARTEXT -> {
                    String password = PasswordMessage.password(frame);
                    if (CleartextPassword.verifyUniformly(secret, userName, password, context.random)) {
                        if (tls != null) {
                            cleartextForPassThrough = password;
                        }
                        loginSucceeded();
                    } else {
                        passwordFailed();
                    }
                }
                case AUTH_MD5 -> {
                    String response = PasswordMessage.password(frame);
                    // Unknown users are checked against a made-up hash: the same work, the same "no".
                    Secret checked = secret != null ? secret : new Secret.Md5(Md5Password.hash(userName, "\0"));
                    if (Md5Password.verify(checked, userName, md5Salt, response) && secret != null) {
                        loginSucceeded();
                    } else {
                        passwordFailed();
                    }
                }
                case AUTH_SASL_INITIAL -> {
                    String mechanism = PasswordMessage.saslMechanism(frame);
                    if (!scram.mechanisms().contains(mechanism)) {
                        throw new AuthFailedException(
                                SqlState.PROTOCOL_VIOLATION,
                                "client selected an invalid SASL authentication mechanism",
                                null);
                    }
                    byte[] data = PasswordMessage.saslInitialData(frame);
                    byte[] serverFirst = scram.clientFirst(mechanism, data);
                    state = State.AUTH_SASL_CONTINUE;
                    ctx.writeAndFlush(Messages.authenticationSaslContinue(ctx.alloc(), serverFirst));
                }
                case AUTH_SASL_CONTINUE -> {
                    byte[] data = PasswordMessage.saslData(frame);
                    byte[] serverFinal = scram.clientFinal(data);
                    ctx.write(Messages.authenticationSaslFinal(ctx.alloc(), serverFinal));
                    loginSucceeded();
                    scram = null;
                }
                default -> throw new IllegalStateException(state.name());
            }
        } catch (AuthFailedException e) {
            if (SqlState.INVALID_PASSWORD.equals(e.sqlState())) {
                passwordFailed();
            } else {
                failed(e.sqlState(), e.getMessage());
            }
        } catch (ProtocolException | IndexOutOfBoundsException e) {
            failed(SqlState.PROTOCOL_VIOLATION, "malformed authentication message");
        }
    }

    /** A failed login that is not a wrong password: counted against the address, never retried. */
    private void failed(String sqlState, String message) {
        context.loginFailuresTotal.increment();
        security.metrics().login(methodLabel(), "failed");
        security.limiter().failed(address(ctx.channel().remoteAddress()));
        log.info(
                "client {}: login failed for user \"{}\" (database \"{}\"): {}",
                ctx.channel().remoteAddress(),
                Printable.log(userName),
                Printable.log(databaseName),
                Printable.log(message));
        fatal(sqlState, message);
    }

    private void hbaFailed(String message) {
        failed(SqlState.INVALID_AUTHORIZATION_SPECIFICATION, message);
    }

    private void certFailed(String message) {
        failed(SqlState.INVALID_AUTHORIZATION_SPECIFICATION, message);
    }

    private void passwordFailed() {
        context.loginFailuresTotal.increment();
        security.metrics().login(methodLabel(), "failed");
        security.limiter().failed(address(ctx.channel().remoteAddress()));
        log.info(
                "client {}: password authentication failed for user \"{}\" (database \"{}\"{})",
                ctx.channel().remoteAddress(),
                Printable.log(userName),
                Printable.log(databaseName),
                secret == null && !configuredUser() ? ", no such user" : "");
        fatal(SqlState.INVALID_PASSWORD, "password authentication failed for user \"" + userName + "\"");
    }

    private void loginSucceeded() {
        if (console) {
            consoleLoggedIn();
            return;
        }
        if (!configuredUser()) {
            if (!dynamicCandidate) {
                passwordFailed();
                return;
            }
            // Before the pool exists: its first server login may already need what this client proved.
            recordPassThrough(userName, true);
            try {
                user = db.dynamicUser(userName);
                holdsDynamicUser = true;
            } catch (Router.TooManyDynamicUsers e) {
                context.loginFailuresTotal.increment();
                security.metrics().login(methodLabel(), "failed");
                log.warn("client {}: login refused: {}", ctx.channel().remoteAddress(), Printable.log(e.getMessage()));
                fatal(SqlState.TOO_MANY_CONNECTIONS, e.getMessage());
                return;
            }
        }
        if (user.loginPool() == null) {
            if (holdsDynamicUser) {
                user.loginDone();
                holdsDynamicUser = false;
            }
            fatal(
                    SqlState.CONNECTION_FAILURE,
                    "database \"" + databaseName + "\" has no known server yet (discovery has not found one)");
            return;
        }
        if (!holdsDynamicUser) {
            recordPassThrough(
                    user.loginPool().address().user(),
                    user.passThroughLogin()
                            || security.config()
                                    .route(securityName())
                                    .passThroughUsers()
                                    .contains(userName));
        }
        security.metrics().login(methodLabel(), "ok");
        StartupDecoder decoder = ctx.pipeline().get(StartupDecoder.class);
        if (decoder != null) {
            decoder.loginCompleted();
        }
        ctx.write(Messages.authenticationOk());
        Pool pool = user.loginPool();
        Map<String, String> serverParams = pool.serverParameters();
        if (serverParams != null) {
            handOver(serverParams);
        } else {
            // The first client of a pool: learn what the server reports (server_version, encodings...).
            state = State.LOGIN_PARAMETERS;
            ctx.flush();
            pool.acquire(loop, this);
        }
    }

    /** For pass-through users: what this client proved becomes what the pool logs in to the server with. */
    private void recordPassThrough(String serverUser, boolean passThrough) {
        String password = cleartextForPassThrough;
        cleartextForPassThrough = null;
        if (!passThrough) {
            return;
        }
        ScramClient.PassThroughKeys keys =
                scram == null ? null : scram.passThroughKeys().orElse(null);
        String md5 = secret instanceof Secret.Md5 m ? m.hash() : null;
        if (keys != null || md5 != null || password != null) {
            security.passThrough().record(serverUser, new PassThroughStore.Proven(keys, md5, password));
        }
    }

    @Override
    public void granted(ServerConnection s) {
        loop.execute(() -> {
            Pool pool = user.loginPool();
            if (state != State.LOGIN_PARAMETERS || !s.isUsable()) {
                if (s.isUsable()) {
                    pool.release(s);
                } else {
                    pool.discard(s);
                }
                if (state == State.LOGIN_PARAMETERS) {
                    pool.acquire(loop, this);
                }
                return;
            }
            Map<String, String> params = Map.copyOf(s.reportedParameters());
            pool.serverParameters(params);
            pool.release(s);
            handOver(params);
        });
    }

    @Override
    public void failed(ServerError error) {
        loop.execute(() -> {
            if (state != State.LOGIN_PARAMETERS) {
                return;
            }
            log.info(
                    "client {} ({}@{}): no server: {}",
                    ctx.channel().remoteAddress(),
                    Printable.log(userName),
                    Printable.log(databaseName),
                    Printable.log(error.getMessage()));
            fatal(error.sqlState() == null ? SqlState.CONNECTION_FAILURE : error.sqlState(), error.getMessage());
        });
    }

    /** Login is complete: the session takes over the channel, with anything the client already sent. */
    private void handOver(Map<String, String> serverParams) {
        if (loginTimeout != null) {
            loginTimeout.cancel(false);
        }
        state = State.DONE;
        context.logins.remove(this);
        context.loginsTotal.increment();
        ClientSession session = new ClientSession(context, userName, databaseName, user, wanted);
        if (!console) {
            session.routedBy(routeClient, routesGeneration);
        }
        context.register(new ClientInfo(
                context.nextClientId(),
                userName,
                databaseName,
                ctx.channel(),
                session,
                System.currentTimeMillis(),
                wanted.getOrDefault("application_name", ""),
                tls == null ? null : tls.protocol(),
                session::terminate));
        ctx.pipeline().replace(this, ClientSession.NAME, session);
        session.start(serverParams, early);
        // The session counts as a client of the user now, which keeps a dynamic user in place.
        releaseDynamicUser();
        ctx.channel().config().setAutoRead(true);
    }

    /**
     * A console login proved who it is: a console user gets the console; anyone else is refused now, after the
     * password (as PgBouncer does), so that the answer tells nothing to whom cannot log in at all.
     */
    private void consoleLoggedIn() {
        ConsoleGate gate = context.console();
        ConsoleGate.Access access = gate.access(userName);
        if (access == ConsoleGate.Access.NONE) {
            context.loginFailuresTotal.increment();
            security.metrics().login(methodLabel(), "failed");
            log.info(
                    "client {}: user \"{}\" is not an admin or stats user of the console",
                    ctx.channel().remoteAddress(),
                    Printable.log(userName));
            fatal(SqlState.INVALID_AUTHORIZATION_SPECIFICATION, "not allowed");
            return;
        }
        security.metrics().login(methodLabel(), "ok");
        StartupDecoder decoder = ctx.pipeline().get(StartupDecoder.class);
        if (decoder != null) {
            decoder.loginCompleted();
        }
        ctx.write(Messages.authenticationOk());
        if (loginTimeout != null) {
            loginTimeout.cancel(false);
        }
        state = State.DONE;
        context.logins.remove(this);
        context.loginsTotal.increment();
        ClientInfo info = new ClientInfo(
                context.nextClientId(),
                userName,
                databaseName,
                ctx.channel(),
                null,
                System.currentTimeMillis(),
                wanted.getOrDefault("application_name", ""),
                tls == null ? null : tls.protocol(),
                () -> killConsoleClient(ctx));
        context.register(info);
        gate.open(ctx, info, access);
        ctx.channel().config().setAutoRead(true);
    }

    private static void killConsoleClient(ChannelHandlerContext ctx) {
        ctx.channel().eventLoop().execute(() -> ctx.channel()
                .writeAndFlush(Messages.errorResponse(
                        ctx.alloc(),
                        "FATAL",
                        SqlState.ADMIN_SHUTDOWN,
                        "terminating connection due to administrator command"))
                .addListener(ChannelFutureListener.CLOSE));
    }

    private void releaseDynamicUser() {
        if (holdsDynamicUser) {
            holdsDynamicUser = false;
            user.loginDone();
        }
    }

    /** The method label of the login metrics: the one used, or none when the login failed before one was chosen. */
    private String methodLabel() {
        return method == null ? "none" : method.yamlName();
    }

    /** Drain: a client still logging in is told the pooler is going away. */
    void drain() {
        loop.execute(() -> {
            if (state != State.DONE) {
                fatal(SqlState.ADMIN_SHUTDOWN, "terminating connection due to administrator command");
            }
        });
    }

    private void fatal(String sqlState, String message) {
        if (!ctx.channel().isActive()) {
            ctx.close();
            return;
        }
        state = State.DONE;
        ctx.channel().config().setAutoRead(false);
        ctx.writeAndFlush(Messages.errorResponse(ctx.alloc(), "FATAL", sqlState, message))
                .addListener(ChannelFutureListener.CLOSE);
    }
}
