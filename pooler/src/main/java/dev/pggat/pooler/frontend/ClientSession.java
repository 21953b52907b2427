package dev.pggat.pooler.frontend;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerError;
import dev.pggat.pooler.backend.ServerListener;
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
import dev.pggat.pooler.routing.Router;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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

    public static final String NAME = "pg-client";

    private enum State {
        STARTING,
        IDLE,
        WAITING,
        ATTACHED,
        CLOSED
    }

    private final FrontendContext context;
    private ChannelHandlerContext ctx;
    private EventLoop loop;
    private State state = State.STARTING;
    private final String userName;
    private final String databaseName;
    private final Router.User user;
    private final Pool pool;
    private final boolean sessionMode;
    /** Session parameters this client wants on any server it runs on (startup values, then reported changes). */
    private Map<String, String> wanted = Map.of();
    /** Bumped whenever {@link #wanted} changes, so a server can tell whether it still matches. */
    private int wantedVersion;

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

    ClientSession(
            FrontendContext context,
            String userName,
            String databaseName,
            Router.User user,
            Map<String, String> wanted) {
        this.context = context;
        this.userName = userName;
        this.databaseName = databaseName;
        this.user = user;
        this.pool = user.pool();
        this.sessionMode = pool.settings().mode() == PoolSettings.PoolMode.SESSION;
        this.wanted = wanted;
    }

    // ---------------------------------------------------------------- channel events

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.loop = ctx.channel().eventLoop();
    }

    /**
     * Called by the login handler once it has replaced itself with this session: tells the client what the
     * server reports (overlaid with the client's own settings), its cancel key, and that it is ready.
     */
    void start(Map<String, String> serverParams, ArrayDeque<ByteBuf> early) {
        context.sessions.add(this);
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
        pool.clientJoined();
        state = State.IDLE;
        if (!early.isEmpty()) {
            // The client pipelined queries behind its login.
            pending.addAll(early);
            early.clear();
            checkOut();
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (state == State.CLOSED) {
            ReferenceCountUtil.release(msg);
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
            default -> pending.add(frame); // WAITING, STARTING
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
        if (keyProcessId != 0) {
            context.cancels.unregister(keyProcessId, this);
        }
        releasePending();
        if (was != State.STARTING) {
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
                // [issue7 graceful drain] While draining, a client is told to go at its next transaction boundary:
                // one that starts its next transaction at once is otherwise never idle when the drain looks.
                if (context.draining && awaitingReady == 0 && !extendedOpen && status == ProtocolConstants.TX_IDLE) {
                    fatal(SqlState.ADMIN_SHUTDOWN, "terminating connection due to administrator command");
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
            if (state == State.IDLE || idleInSession) {
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
