package dev.pggat.pooler.frontend;

import dev.pggat.pooler.auth.AuthFailedException;
import dev.pggat.pooler.auth.CleartextPassword;
import dev.pggat.pooler.auth.Md5Password;
import dev.pggat.pooler.auth.ScramServer;
import dev.pggat.pooler.auth.Secret;
import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerError;
import dev.pggat.pooler.backend.ServerListener;
import dev.pggat.pooler.config.AuthMethod;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.pool.PoolCallback;
import dev.pggat.pooler.pool.PoolSettings;
import dev.pggat.pooler.pool.ServerReset;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.ProtocolException;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.protocol.StartupPacket;
import dev.pggat.pooler.routing.Router;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection, from its startup packet to its last byte. All of its state is touched only on the client
 * channel's event loop; events from a server connection on another loop are handed over to it.
 *
 * <p>While idle the session holds no server. The first message of a transaction (transaction mode) or of the
 * session (session mode) checks one out of the pool; client reads pause until it arrives. Frames are forwarded
 * as they were read. The server goes back to the pool when it says ReadyForQuery idle and nothing the client sent
 * is still unanswered.
 */
public final class ClientSession extends ChannelInboundHandlerAdapter implements ServerListener, PoolCallback {
    private static final Logger log = LoggerFactory.getLogger(ClientSession.class);
    private static final List<String> SCRAM_MECHANISMS = List.of("SCRAM-SHA-256");

    private enum State {
        STARTUP,
        AUTH_CLEARTEXT,
        AUTH_MD5,
        AUTH_SASL_INITIAL,
        AUTH_SASL_CONTINUE,
        LOGIN_PARAMETERS,
        IDLE,
        WAITING,
        ATTACHED,
        CLOSED
    }

    private final FrontendContext context;
    private ChannelHandlerContext ctx;
    private EventLoop loop;
    private State state = State.STARTUP;
    private ScheduledFuture<?> loginTimeout;

    private String userName;
    private String databaseName;
    private Router.User user;
    private Pool pool;
    private boolean sessionMode;
    /** Session parameters this client wants on any server it runs on (startup values, then reported changes). */
    private Map<String, String> wanted = Map.of();
    /** Bumped whenever {@link #wanted} changes, so a server can tell whether it still matches. */
    private int wantedVersion;

    private byte[] md5Salt;
    private ScramServer scram;
    private int keyProcessId;
    private int keySecret;

    private ServerConnection server;
    private Pool.Waiter waiter;
    private final ArrayDeque<ByteBuf> pending = new ArrayDeque<>(4);
    /** ReadyForQuery messages the server still owes: one per Query, Sync and FunctionCall sent. */
    private int awaitingReady;
    /** Extended-protocol messages sent since the last Sync: the server may not be released mid-batch. */
    private boolean extendedOpen;
    /** ReadyForQuery messages that end queries the pooler sent itself (parameter sync); their replies are eaten. */
    private int poolerQueries;

    public ClientSession(FrontendContext context) {
        this.context = context;
    }

    // ---------------------------------------------------------------- channel events

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.loop = ctx.channel().eventLoop();
        context.sessions.add(this);
        if (context.clients.incrementAndGet() > context.maxClientConnections) {
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
                    if (state.ordinal() < State.IDLE.ordinal()) {
                        context.loginFailuresTotal.increment();
                        fatal(SqlState.QUERY_CANCELED, "canceling authentication due to timeout");
                    }
                },
                context.clientLogin.toMillis(),
                TimeUnit.MILLISECONDS);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (state == State.CLOSED) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (msg instanceof StartupPacket packet) {
            startup(packet);
            return;
        }
        ByteBuf frame = (ByteBuf) msg;
        switch (state) {
            case ATTACHED -> forward(frame);
            case IDLE -> {
                if (Frames.type(frame) == ProtocolConstants.TERMINATE) {
                    frame.release();
                    ctx.close();
                    return;
                }
                pending.add(frame);
                checkOut();
            }
            case WAITING, LOGIN_PARAMETERS -> pending.add(frame);
            case AUTH_CLEARTEXT, AUTH_MD5, AUTH_SASL_INITIAL, AUTH_SASL_CONTINUE -> {
                try {
                    authResponse(frame);
                } finally {
                    frame.release();
                }
            }
            default -> {
                frame.release();
                fatal(SqlState.PROTOCOL_VIOLATION, "unexpected message before startup completed");
            }
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (state == State.ATTACHED) {
            server.channel().flush();
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        // Back-pressure: read from the server only as fast as the client takes it.
        if (state == State.ATTACHED) {
            server.channel().config().setAutoRead(ctx.channel().isWritable());
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof io.netty.handler.codec.DecoderException && cause.getCause() != null) {
            cause = cause.getCause();
        }
        if (cause instanceof ProtocolException pe) {
            context.protocolErrorsTotal.increment();
            fatal(pe.sqlState(), pe.getMessage());
        } else if (cause instanceof IOException) {
            ctx.close(); // the client went away
        } else {
            log.warn("client {}: unexpected error", ctx.channel().remoteAddress(), cause);
            fatal(SqlState.INTERNAL_ERROR, "internal error in the pooler");
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        State was = state;
        state = State.CLOSED;
        context.sessions.remove(this);
        context.clients.decrementAndGet();
        if (loginTimeout != null) {
            loginTimeout.cancel(false);
        }
        if (keyProcessId != 0) {
            context.cancels.unregister(keyProcessId, this);
        }
        releasePending();
        if (pool != null && was.ordinal() >= State.IDLE.ordinal()) {
            pool.clientLeft(
                    was == State.ATTACHED
                            ? Pool.ClientState.ACTIVE
                            : was == State.WAITING ? Pool.ClientState.WAITING : Pool.ClientState.IDLE);
        }
        if (waiter != null) {
            waiter.cancel();
            waiter = null;
        }
        if (server != null) {
            ServerConnection s = server;
            server = null;
            leaveServer(s);
        }
    }

    /** The client is gone: give its server back clean, or close it when its state is unknown. */
    private void leaveServer(ServerConnection s) {
        s.listener(null);
        s.channel().config().setAutoRead(true);
        boolean clean = awaitingReady == 0
                && poolerQueries == 0
                && !extendedOpen
                && s.transactionStatus() == ProtocolConstants.TX_IDLE;
        if (!clean) {
            // Mid-transaction or mid-query: stop what runs, then close so the server rolls back and drops locks.
            if (awaitingReady > 0) {
                CancelForwarder.cancel(context.transport, loop, s);
            }
            pool.discard(s);
        } else if (sessionMode) {
            ServerReset.resetAndRelease(pool, s);
        } else {
            pool.release(s);
        }
    }

    // ---------------------------------------------------------------- startup and authentication

    private void startup(StartupPacket packet) {
        if (packet instanceof StartupPacket.StartupMessage m) {
            startupMessage(m);
        } else if (packet instanceof StartupPacket.CancelRequest c) {
            // A cancel connection gets no reply; it is closed once the request is handed on.
            context.cancels.cancel(c.processId(), c.secretKey());
            ctx.close();
        } else {
            // SSLRequest, GSSENCRequest: not offered (yet); the client goes on in plain text or gives up.
            ctx.writeAndFlush(Messages.encryptionDeclined());
        }
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
        Router.Database db = context.router.database(databaseName);
        if (db == null) {
            context.loginFailuresTotal.increment();
            fatal(SqlState.INVALID_CATALOG_NAME, "database \"" + databaseName + "\" does not exist");
            return;
        }
        wanted = StartupOptions.sessionParameters(params);
        user = db.user(userName);
        AuthMethod method = user == null ? AuthMethod.SCRAM_SHA_256 : user.auth();
        switch (method) {
            case TRUST -> loginSucceeded();
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
            case SCRAM_SHA_256 -> {
                // An unknown user gets a mock exchange that looks the same and fails at the end, so that
                // probing cannot tell which users exist.
                scram = ScramServer.create(user == null ? null : user.secret(), userName, context.random);
                state = State.AUTH_SASL_INITIAL;
                ctx.writeAndFlush(Messages.authenticationSasl(ctx.alloc(), SCRAM_MECHANISMS));
            }
        }
    }

    private void authResponse(ByteBuf frame) {
        if (Frames.type(frame) != ProtocolConstants.PASSWORD_MESSAGE) {
            fatal(
                    SqlState.PROTOCOL_VIOLATION,
                    "expected password response, got message type " + (char) Frames.type(frame));
            return;
        }
        int body = Frames.bodyStart(frame);
        Secret secret = user == null ? null : user.secret();
        try {
            switch (state) {
                case AUTH_CLEARTEXT -> {
                    String password = Frames.cstring(frame, body);
                    if (secret != null && CleartextPassword.verify(secret, userName, password)) {
                        loginSucceeded();
                    } else {
                        passwordFailed();
                    }
                }
                case AUTH_MD5 -> {
                    String response = Frames.cstring(frame, body);
                    if (secret != null && Md5Password.verify(secret, userName, md5Salt, response)) {
                        loginSucceeded();
                    } else {
                        passwordFailed();
                    }
                }
                case AUTH_SASL_INITIAL -> {
                    String mechanism = Frames.cstring(frame, body);
                    int pos = Frames.skipCstring(frame, body);
                    int len = frame.getInt(pos);
                    int available = frame.writerIndex() - pos - 4;
                    if (len < -1 || len > available) {
                        throw new ProtocolException(SqlState.PROTOCOL_VIOLATION, "malformed SASL message");
                    }
                    byte[] data = len <= 0 ? new byte[0] : ByteBufUtil.getBytes(frame, pos + 4, len);
                    byte[] serverFirst = scram.clientFirst(mechanism, data);
                    state = State.AUTH_SASL_CONTINUE;
                    ctx.writeAndFlush(Messages.authenticationSaslContinue(ctx.alloc(), serverFirst));
                }
                case AUTH_SASL_CONTINUE -> {
                    byte[] data = ByteBufUtil.getBytes(frame, body, Frames.bodyLength(frame));
                    byte[] serverFinal = scram.clientFinal(data);
                    scram = null;
                    ctx.write(Messages.authenticationSaslFinal(ctx.alloc(), serverFinal));
                    loginSucceeded();
                }
                default -> throw new IllegalStateException(state.name());
            }
        } catch (AuthFailedException e) {
            if (SqlState.INVALID_PASSWORD.equals(e.sqlState())) {
                passwordFailed();
            } else {
                context.loginFailuresTotal.increment();
                fatal(e.sqlState(), e.getMessage());
            }
        } catch (ProtocolException | IndexOutOfBoundsException e) {
            context.loginFailuresTotal.increment();
            fatal(SqlState.PROTOCOL_VIOLATION, "malformed authentication message");
        }
    }

    private void passwordFailed() {
        context.loginFailuresTotal.increment();
        log.info(
                "client {}: password authentication failed for user \"{}\" (database \"{}\"{})",
                ctx.channel().remoteAddress(),
                userName,
                databaseName,
                user == null ? ", no such user" : "");
        fatal(SqlState.INVALID_PASSWORD, "password authentication failed for user \"" + userName + "\"");
    }

    private void loginSucceeded() {
        if (user == null) {
            // Only reachable with trust for an unknown user, which cannot be configured; stay strict anyway.
            passwordFailed();
            return;
        }
        pool = user.pool();
        sessionMode = pool.settings().mode() == PoolSettings.PoolMode.SESSION;
        ctx.write(Messages.authenticationOk());
        Map<String, String> serverParams = pool.serverParameters();
        if (serverParams != null) {
            finishLogin(serverParams);
        } else {
            // The first client of a pool: learn what the server reports (server_version, encodings...).
            state = State.LOGIN_PARAMETERS;
            ctx.flush();
            waiter = pool.acquire(loop, this);
        }
    }

    private void finishLogin(Map<String, String> serverParams) {
        if (loginTimeout != null) {
            loginTimeout.cancel(false);
        }
        Map<String, String> shown = new LinkedHashMap<>(serverParams);
        for (Map.Entry<String, String> e : wanted.entrySet()) {
            if (shown.containsKey(e.getKey())) {
                shown.put(e.getKey(), e.getValue());
            }
        }
        for (Map.Entry<String, String> e : shown.entrySet()) {
            ctx.write(Messages.parameterStatus(ctx.alloc(), e.getKey(), e.getValue()));
        }
        int[] key = context.cancels.register(this);
        keyProcessId = key[0];
        keySecret = key[1];
        ctx.write(Messages.backendKeyData(ctx.alloc(), keyProcessId, keySecret));
        ctx.writeAndFlush(Messages.readyForQueryIdle());
        context.loginsTotal.increment();
        pool.clientJoined();
        state = State.IDLE;
        if (!pending.isEmpty()) {
            // The client pipelined a query behind its login.
            checkOut();
        }
    }

    // ---------------------------------------------------------------- checkout and forwarding

    private void checkOut() {
        state = State.WAITING;
        pool.clientMoved(Pool.ClientState.IDLE, Pool.ClientState.WAITING);
        ctx.channel().config().setAutoRead(false);
        waiter = pool.acquire(loop, this);
    }

    @Override
    public void granted(ServerConnection s) {
        if (loop.inEventLoop()) {
            onGranted(s);
        } else {
            loop.execute(() -> onGranted(s));
        }
    }

    @Override
    public void failed(ServerError error) {
        if (loop.inEventLoop()) {
            onFailed(error);
        } else {
            loop.execute(() -> onFailed(error));
        }
    }

    private void onGranted(ServerConnection s) {
        waiter = null;
        if (state == State.CLOSED) {
            pool.release(s);
            return;
        }
        if (!s.isUsable()) {
            pool.discard(s);
            waiter = pool.acquire(loop, this);
            return;
        }
        if (state == State.LOGIN_PARAMETERS) {
            Map<String, String> params = Map.copyOf(s.reportedParameters());
            pool.serverParameters(params);
            pool.release(s);
            finishLogin(params);
            return;
        }
        server = s;
        state = State.ATTACHED;
        pool.clientMoved(Pool.ClientState.WAITING, Pool.ClientState.ACTIVE);
        s.listener(this);
        syncParameters(s);
        ByteBuf frame;
        while ((frame = pending.poll()) != null) {
            if (Frames.type(frame) == ProtocolConstants.TERMINATE) {
                frame.release();
                releasePending();
                ctx.close();
                break;
            }
            forward(frame);
        }
        s.channel().flush();
        ctx.channel().config().setAutoRead(true);
    }

    private void onFailed(ServerError error) {
        waiter = null;
        if (state == State.CLOSED) {
            return;
        }
        log.info(
                "client {} ({}@{}): no server: {}",
                ctx.channel().remoteAddress(),
                userName,
                databaseName,
                error.getMessage());
        fatal(error.sqlState() == null ? SqlState.CONNECTION_FAILURE : error.sqlState(), error.getMessage());
    }

    /**
     * Makes the server's session parameters what this client expects, pipelined in front of the client's own
     * messages: set what differs, reset what an earlier client set and this one did not ask for.
     */
    private void syncParameters(ServerConnection s) {
        if (s.lastOwnedBy(this, wantedVersion)) {
            // Back on the server it just left: its parameters are still this client's.
            return;
        }
        Map<String, String> applied = s.appliedParameters();
        Map<String, String> reported = s.reportedParameters();
        StringBuilder sql = null;
        for (Map.Entry<String, String> e : wanted.entrySet()) {
            String name = e.getKey();
            String current = applied.containsKey(name) ? applied.get(name) : reported.get(name);
            if (e.getValue().equals(current) || !StartupOptions.validName(name)) {
                continue;
            }
            sql = sql == null ? new StringBuilder("SELECT ") : sql.append(", ");
            sql.append("pg_catalog.set_config(")
                    .append(StartupOptions.literal(name))
                    .append(", ")
                    .append(StartupOptions.literal(e.getValue()))
                    .append(", false)");
            applied.put(name, e.getValue());
        }
        StringBuilder reset = null;
        for (var it = applied.entrySet().iterator(); it.hasNext(); ) {
            String name = it.next().getKey();
            if (!wanted.containsKey(name)) {
                reset = reset == null ? new StringBuilder() : reset;
                reset.append("; RESET ").append(quoteIdent(name));
                it.remove();
            }
        }
        if (sql == null && reset == null) {
            return;
        }
        String query = sql == null
                ? reset.substring(2)
                : reset == null ? sql.toString() : sql.append(reset).toString();
        poolerQueries++;
        log.debug("client {}: parameter sync on {}: {}", keyProcessId, s, query);
        s.channel().write(Messages.query(ctx.alloc(), query), s.channel().voidPromise());
    }

    private static String quoteIdent(String name) {
        return '"' + name.replace("\"", "\"\"") + '"';
    }

    private void forward(ByteBuf frame) {
        switch (Frames.type(frame)) {
            case ProtocolConstants.QUERY, ProtocolConstants.FUNCTION_CALL -> awaitingReady++;
            case ProtocolConstants.SYNC -> {
                awaitingReady++;
                extendedOpen = false;
            }
            case ProtocolConstants.PARSE,
                    ProtocolConstants.BIND,
                    ProtocolConstants.DESCRIBE,
                    ProtocolConstants.EXECUTE,
                    ProtocolConstants.CLOSE -> extendedOpen = true;
            case ProtocolConstants.TERMINATE -> {
                // Terminate ends the client, not the server: the server goes back to the pool (or is closed).
                frame.release();
                ctx.close();
                return;
            }
            default -> {}
        }
        server.channel().write(frame, server.channel().voidPromise());
    }

    // ---------------------------------------------------------------- server events (any loop)

    @Override
    public void onFrame(ServerConnection s, ByteBuf frame) {
        if (loop.inEventLoop()) {
            serverFrame(s, frame);
        } else {
            loop.execute(() -> serverFrame(s, frame));
        }
    }

    @Override
    public void onReadComplete(ServerConnection s) {
        if (loop.inEventLoop()) {
            ctx.flush();
        } else {
            loop.execute(ctx::flush);
        }
    }

    @Override
    public void onWritabilityChanged(ServerConnection s) {
        loop.execute(() -> {
            if (server == s && state == State.ATTACHED) {
                ctx.channel().config().setAutoRead(s.channel().isWritable());
            }
        });
    }

    @Override
    public void onClosed(ServerConnection s, Throwable cause) {
        loop.execute(() -> serverClosed(s));
    }

    private void serverFrame(ServerConnection s, ByteBuf frame) {
        if (s != server || state != State.ATTACHED) {
            frame.release();
            return;
        }
        byte type = Frames.type(frame);
        if (type == ProtocolConstants.PARAMETER_STATUS) {
            s.recordParameterStatus(frame);
        }
        if (poolerQueries > 0) {
            poolerQueryReply(s, frame, type);
            return;
        }
        switch (type) {
            case ProtocolConstants.READY_FOR_QUERY -> {
                byte status = Frames.readyStatus(frame);
                s.transactionStatus(status);
                if (awaitingReady > 0) {
                    awaitingReady--;
                }
                ctx.write(frame, ctx.voidPromise());
                if (!sessionMode && awaitingReady == 0 && !extendedOpen && status == ProtocolConstants.TX_IDLE) {
                    ctx.flush();
                    server = null;
                    s.lastOwner(this, wantedVersion);
                    state = State.IDLE;
                    pool.clientMoved(Pool.ClientState.ACTIVE, Pool.ClientState.IDLE);
                    s.listener(null);
                    s.channel().config().setAutoRead(true);
                    pool.release(s);
                }
                return;
            }
            case ProtocolConstants.PARAMETER_STATUS -> {
                // The client changed a reported setting (SET application_name, SET TimeZone, or a rollback that
                // undid one): it follows the client to its next server instead of staying on this one.
                String name = Frames.cstring(frame, Frames.bodyStart(frame));
                if (StartupOptions.followsClient(name)) {
                    String value = s.reportedParameters().get(name);
                    wanted = mutable(wanted);
                    wanted.put(name, value);
                    wantedVersion++;
                    s.appliedParameters().put(name, value);
                }
            }
            default -> {}
        }
        ctx.write(frame, ctx.voidPromise());
    }

    private static Map<String, String> mutable(Map<String, String> m) {
        return m instanceof LinkedHashMap ? m : new LinkedHashMap<>(m);
    }

    /** Replies to the pooler's own parameter sync: eaten, except that a failure is told to the client. */
    private void poolerQueryReply(ServerConnection s, ByteBuf frame, byte type) {
        try {
            if (type == ProtocolConstants.READY_FOR_QUERY) {
                poolerQueries--;
                s.transactionStatus(Frames.readyStatus(frame));
            } else if (type == ProtocolConstants.ERROR_RESPONSE) {
                ErrorFields err = ErrorFields.parse(frame);
                // A value the server rejects (PostgreSQL would have refused the connection): stop asking for it,
                // and warn the client instead of failing its query.
                s.appliedParameters().clear();
                wanted = mutable(wanted);
                wanted.keySet().removeIf(k -> !s.reportedParameters().containsKey(k));
                wantedVersion++;
                ctx.write(Messages.noticeResponse(
                        ctx.alloc(),
                        "WARNING",
                        err.sqlState(),
                        "pooler could not apply session parameters from the startup packet: " + err.message()));
            }
        } finally {
            frame.release();
        }
    }

    private void serverClosed(ServerConnection s) {
        if (s != server || state == State.CLOSED) {
            return;
        }
        // The server died under this client (terminated, crashed, network): tell it clearly and end the session,
        // since whatever it was doing is lost. Other clients are not affected.
        server = null;
        pool.discard(s);
        log.info(
                "client {} ({}@{}): server {} closed the connection",
                ctx.channel().remoteAddress(),
                userName,
                databaseName,
                s);
        fatal(SqlState.CONNECTION_FAILURE, "server connection closed unexpectedly");
    }

    // ---------------------------------------------------------------- cancel

    /** A CancelRequest carrying this session's key arrived (on any loop). */
    void cancelRequested(int secretKey) {
        if ((secretKey ^ keySecret) != 0) {
            return;
        }
        loop.execute(() -> {
            if (state == State.ATTACHED && server != null && awaitingReady > 0) {
                CancelForwarder.cancel(context.transport, loop, server);
            }
        });
    }

    // ---------------------------------------------------------------- shutdown

    /** Drain: a session that holds no server (or holds it idle in session mode) is closed with a clear error. */
    public void drainIfIdle() {
        loop.execute(() -> {
            boolean idleInSession = state == State.ATTACHED
                    && sessionMode
                    && awaitingReady == 0
                    && !extendedOpen
                    && server.transactionStatus() == ProtocolConstants.TX_IDLE;
            if (state == State.IDLE || idleInSession || state.ordinal() < State.IDLE.ordinal()) {
                fatal(SqlState.ADMIN_SHUTDOWN, "terminating connection due to administrator command");
            }
        });
    }

    /** Force-close at the end of the drain timeout. */
    public void terminate() {
        loop.execute(() -> fatal(SqlState.ADMIN_SHUTDOWN, "terminating connection due to administrator command"));
    }

    // ---------------------------------------------------------------- helpers

    private void fatal(String sqlState, String message) {
        if (state == State.CLOSED || !ctx.channel().isActive()) {
            ctx.close();
            return;
        }
        Channel ch = ctx.channel();
        ch.config().setAutoRead(false);
        ctx.writeAndFlush(Messages.errorResponse(ctx.alloc(), "FATAL", sqlState, message))
                .addListener(ChannelFutureListener.CLOSE);
    }

    private void releasePending() {
        ByteBuf f;
        while ((f = pending.poll()) != null) {
            f.release();
        }
    }

    static String describe(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
