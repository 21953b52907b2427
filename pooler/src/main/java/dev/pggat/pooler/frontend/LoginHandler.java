package dev.pggat.pooler.frontend;

import dev.pggat.pooler.auth.AuthFailedException;
import dev.pggat.pooler.auth.CleartextPassword;
import dev.pggat.pooler.auth.Md5Password;
import dev.pggat.pooler.auth.ScramServer;
import dev.pggat.pooler.auth.Secret;
import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerError;
import dev.pggat.pooler.config.AuthMethod;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.pool.PoolCallback;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.ProtocolException;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.protocol.StartupPacket;
import dev.pggat.pooler.routing.Router;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.DecoderException;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client's first moments: connection limits, the startup packet (SSLRequest, CancelRequest, StartupMessage),
 * routing to a configured (database, user), and authentication. On success it hands the channel to a
 * {@link ClientSession} and leaves the pipeline.
 */
public final class LoginHandler extends ChannelInboundHandlerAdapter implements PoolCallback {
    private static final Logger log = LoggerFactory.getLogger(LoginHandler.class);
    private static final List<String> SCRAM_MECHANISMS = List.of("SCRAM-SHA-256");
    public static final String NAME = "pg-login";

    private enum State {
        STARTUP,
        AUTH_CLEARTEXT,
        AUTH_MD5,
        AUTH_SASL_INITIAL,
        AUTH_SASL_CONTINUE,
        LOGIN_PARAMETERS,
        DONE
    }

    private final FrontendContext context;
    private ChannelHandlerContext ctx;
    private EventLoop loop;
    private State state = State.STARTUP;
    private ScheduledFuture<?> loginTimeout;

    private String userName;
    private String databaseName;
    private Router.User user;
    private Map<String, String> wanted = Map.of();
    private byte[] md5Salt;
    private ScramServer scram;
    /** Messages the client sent behind its login, before the session exists: handed to the session. */
    private final ArrayDeque<ByteBuf> early = new ArrayDeque<>(2);

    public LoginHandler(FrontendContext context) {
        this.context = context;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.loop = ctx.channel().eventLoop();
        int clients = context.clients.incrementAndGet();
        ctx.channel().closeFuture().addListener(f -> context.clients.decrementAndGet());
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
        } else {
            // SSLRequest, GSSENCRequest: not offered here; the client goes on in plain text or gives up.
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

    // ---------------------------------------------------------------- authentication

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
            passwordFailed();
            return;
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
                    userName,
                    databaseName,
                    error.getMessage());
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
        ctx.pipeline().replace(this, ClientSession.NAME, session);
        session.start(serverParams, early);
        ctx.channel().config().setAutoRead(true);
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
