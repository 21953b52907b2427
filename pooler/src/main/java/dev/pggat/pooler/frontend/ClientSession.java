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
import dev.pggat.pooler.protocol.Parse;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.ProtocolException;
import dev.pggat.pooler.protocol.Query;
import dev.pggat.pooler.protocol.ReadyForQuery;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.routing.EndpointState;
import dev.pggat.pooler.routing.RouteStage;
import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.util.Printable;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.DecoderException;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One logged-in client, from its first ReadyForQuery to its last byte. All of its state is touched only on the
 * client channel's event loop; events from a server connection on another loop are handed over to it.
 *
 * <p>While idle the session holds no server. The first message of a transaction (transaction mode) or of the
 * session (session mode) picks an endpoint (the primary, or a replica for a read) and checks a server out of
 * that endpoint's pool; client reads pause until it arrives. Frames are forwarded as they were read. The server
 * goes back to the pool when it says ReadyForQuery idle and nothing the client sent is still unanswered.
 */
public final class ClientSession extends ChannelInboundHandlerAdapter implements ServerListener, PoolCallback {
    private static final Logger log = LoggerFactory.getLogger(ClientSession.class);
    public static final String NAME = "pg-client";

    enum State {
        STARTING,
        IDLE,
        WAITING,
        ATTACHED,
        CLOSED
    }

    final FrontendContext context;
    private final java.util.function.Consumer<ByteBuf> writeToClient = this::write;
    ChannelHandlerContext ctx;
    EventLoop loop;
    State state = State.STARTING;

    private final String userName;
    private final String databaseName;
    final Router.User user;
    private final Router.Database db;
    private final boolean sessionMode;
    /** The routing stage: which endpoint each transaction runs on, read-your-writes, 25006 replay. */
    final RouteStage routing;
    /** The session-parameters stage: wanted settings, their sync onto servers, SET/RESET tracking, pins. */
    private final SessionParameters parameters;

    private int keyProcessId;
    private int keySecret;

    /** The pool of the server attached or asked for. */
    private Pool pool;
    /** The endpoint of that pool, for its outstanding-query count. */
    private EndpointState endpoint;
    /** The endpoint's outstanding-query count includes this client's current server. */
    private boolean begun;

    ServerConnection server;
    /** The server whose FATAL or PANIC error the client already got: its close needs no second error. */
    private ServerConnection fatalForwardedBy;

    private Pool.Waiter waiter;
    final ArrayDeque<ByteBuf> pending = new ArrayDeque<>(4);
    /** ReadyForQuery messages the server still owes: one per Query, Sync and FunctionCall sent. */
    int awaitingReady;
    /** Extended-protocol messages sent since the last Sync: the server may not be released mid-batch. */
    boolean extendedOpen;
    /** ReadyForQuery messages that end queries the pooler sent itself; their replies are eaten. */
    private int poolerQueries;

    /** A cancel arrived while the client's extended batch was queued: frames are dropped up to its Sync. */
    private boolean cancelUntilSync;

    /** Running the pooler's own queries that end a transaction (settings, DEALLOCATE, WAL position). */
    private boolean afterTransaction;

    /** Transaction mode: the prepared-statement stage, with the replies the server owes. */
    final PreparedStatementStage prepared;

    /** The timers stage: timeouts.clientIdle, idleInTransaction and query. */
    private final SessionTimers timers;
    /** The LISTEN stage: LISTEN/UNLISTEN answered through the relay, notifications held to transaction ends. */
    final ListenStage listen;

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
        this.db = user.database();
        this.sessionMode = db.settings().mode() == PoolSettings.PoolMode.SESSION;
        Map<String, String> w = new LinkedHashMap<>(wanted);
        this.routing = new RouteStage(user, databaseName, w.remove("target_session_attrs"), w.remove("pggat.route"));
        this.parameters = new SessionParameters(this, w);
        PoolSettings settings = db.settings();
        this.timers = new SessionTimers(
                new TimerOwner(),
                (task, nanos) -> loop.schedule(task, nanos, TimeUnit.NANOSECONDS),
                System::nanoTime,
                settings.clientIdle().toNanos(),
                settings.idleInTransaction().toNanos(),
                settings.queryTimeout().toNanos());
        this.listen = new ListenStage(this, sessionMode);
        this.prepared = new PreparedStatementStage(context.statements, new PreparedOutput());
    }

    private final class PreparedOutput implements PreparedStatementStage.Output {
        @Override
        public io.netty.buffer.ByteBufAllocator alloc() {
            return ctx.alloc();
        }

        @Override
        public void toClient(ByteBuf frame) {
            ClientSession.this.toClient(frame);
        }

        @Override
        public void reply(Object payload) {
            listen.listenReply((ListenStage.ListenReply) payload);
        }
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
        for (Map.Entry<String, String> e : parameters.wanted().entrySet()) {
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
        user.clientJoined();
        state = State.IDLE;
        timers.started();
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
        if (cancelUntilSync) {
            dropUntilSync(frame);
            return;
        }
        switch (state) {
            case ATTACHED -> {
                if (afterTransaction) {
                    // The pooler's own queries end the last transaction: what the client sends now starts the
                    // next one, which is routed afresh once the server is let go.
                    pending.add(frame);
                    ctx.channel().config().setAutoRead(false);
                } else {
                    forward(frame);
                }
            }
            case IDLE -> {
                if (!sessionMode && context.listenRelays != null && listen.listenRelayed(frame)) {
                    return;
                }
                if (Frames.type(frame) == ProtocolConstants.TERMINATE) {
                    frame.release();
                    releasePending();
                    ctx.close();
                    return;
                }
                if (!sessionMode && prepared.answerWithoutServer(pending, frame, Frames.type(frame), ctx)) {
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
        timers.clientRead();
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
        if (cause instanceof DecoderException && cause.getCause() != null) {
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
        timers.stop();
        context.sessions.remove(this);
        if (keyProcessId != 0) {
            context.cancels.unregister(keyProcessId, this);
        }
        releasePending();
        routing.releaseReplay();
        listen.leaveListenRelay();
        if (listen.listenTx != null) {
            listen.listenTx.clear();
        }
        listen.releaseDeferred();
        if (was != State.STARTING) {
            user.clientLeft(
                    was == State.ATTACHED
                            ? Router.User.ClientState.ACTIVE
                            : was == State.WAITING ? Router.User.ClientState.WAITING : Router.User.ClientState.IDLE);
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
        endQuery();
        boolean clean = awaitingReady == 0
                && poolerQueries == 0
                && !extendedOpen
                && s.transactionStatus() == ProtocolConstants.TX_IDLE;
        if (!clean || parameters.pinned() != null) {
            // Mid-transaction or mid-query: stop what runs, then close so the server rolls back and drops locks.
            // A pinned server holds what only closing it undoes (session locks, temporary tables, LISTEN).
            if (awaitingReady > 0) {
                CancelForwarder.cancel(context.transport, loop, s);
            }
            pool.discard(s);
        } else if (sessionMode) {
            Pool p = pool;
            s.whenNoCancelsInFlight(() -> ServerReset.resetAndRelease(p, s));
        } else {
            Pool p = pool;
            s.whenNoCancelsInFlight(() -> p.release(s));
        }
    }

    // ---------------------------------------------------------------- routing and checkout

    void checkOut() {
        if (!routed(routing.route(pending.peekFirst()))) {
            return;
        }
        state = State.WAITING;
        user.clientMoved(Router.User.ClientState.IDLE, Router.User.ClientState.WAITING);
        ctx.channel().config().setAutoRead(false);
        waiter = pool.acquire(loop, this);
        if (waiter != null && routing.rechecks()) {
            loop.schedule(recheckRoute, RECHECK_MILLIS, TimeUnit.MILLISECONDS);
        }
    }

    private static final long RECHECK_MILLIS = 100;
    private static final long PRIMARY_RETRY_MILLIS = 50;
    private final Runnable recheckRoute = this::recheckRoute;
    private final Runnable retryPrimary = this::retryPrimary;

    /** A client waiting for a server whose endpoint went stale is routed again: nothing has run yet. */
    private void recheckRoute() {
        if (state != State.WAITING || waiter == null || endpoint == null) {
            return;
        }
        if (routing.stale()) {
            waiter.cancel();
            waiter = null;
            routing.rerouted("rerouted:endpoint_unavailable");
            if (routed(routing.route(pending.peekFirst()))) {
                waiter = pool.acquire(loop, this);
            }
        }
        if (state == State.WAITING && waiter != null) {
            loop.schedule(recheckRoute, RECHECK_MILLIS, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * Acts on the routing stage's decision: sets {@link #pool} and returns true, or fails the client, or waits for a
     * writable primary and returns false.
     */
    private boolean routed(RouteStage.Outcome outcome) {
        switch (outcome) {
            case ROUTED -> {
                pool = routing.pool();
                endpoint = routing.endpoint();
                return true;
            }
            case FAILED -> {
                failPending(routing.failureSqlState(), routing.failure());
                return false;
            }
            default -> {
                if (state == State.IDLE) {
                    state = State.WAITING;
                    user.clientMoved(Router.User.ClientState.IDLE, Router.User.ClientState.WAITING);
                    ctx.channel().config().setAutoRead(false);
                }
                loop.schedule(retryPrimary, PRIMARY_RETRY_MILLIS, TimeUnit.MILLISECONDS);
                return false;
            }
        }
    }

    private void retryPrimary() {
        if (state == State.WAITING && waiter == null && server == null && routed(routing.waitedForPrimary())) {
            waiter = pool.acquire(loop, this);
        }
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
        user.clientMoved(Router.User.ClientState.WAITING, Router.User.ClientState.ACTIVE);
        if (endpoint != null) {
            endpoint.beginQuery();
            begun = true;
        }
        s.listener(this);
        prepared.attached(s.statements(), s.channel());
        if (listen.listenTx != null) {
            listen.listenTx.clear();
        }
        syncParameters(s);
        ByteBuf frame;
        while ((frame = pending.poll()) != null && state == State.ATTACHED) {
            forward(frame);
        }
        if (frame != null) {
            frame.release();
        }
        if (server != null) {
            server.channel().flush();
        }
        ctx.channel().config().setAutoRead(true);
    }

    private void onFailed(ServerError error) {
        waiter = null;
        if (state == State.CLOSED) {
            return;
        }
        if (error.retryElsewhere() && state == State.WAITING) {
            routing.rerouted("rerouted:endpoint_removed");
            if (routed(routing.route(pending.peekFirst()))) {
                waiter = pool.acquire(loop, this);
            }
            return;
        }
        log.info(
                "client {} ({}@{}): no server: {}",
                ctx.channel().remoteAddress(),
                Printable.log(userName),
                Printable.log(databaseName),
                Printable.log(error.getMessage()));
        fatal(error.sqlState() == null ? SqlState.CONNECTION_FAILURE : error.sqlState(), error.getMessage());
    }

    /** No server can take the client's queued work: it gets a FATAL error, as a failed connection would. */
    private void failPending(String sqlState, String message) {
        releasePending();
        fatal(sqlState, message);
    }

    /** The client's settings go in front of its own messages on the server it was given. */
    private void syncParameters(ServerConnection s) {
        String query = parameters.syncQuery(s);
        if (query != null) {
            poolerQuery(s, query);
        }
    }

    private void poolerQuery(ServerConnection s, String query) {
        poolerQueries++;
        // Not the client's query: the server's statistics leave its ReadyForQuery out.
        s.poolerQuerySent();
        s.channel().write(Messages.query(ctx.alloc(), query), s.channel().voidPromise());
    }

    private void forward(ByteBuf frame) {
        byte type = Frames.type(frame);
        if (!sessionMode && prepared.skipping(frame, type)) {
            return;
        }
        if (listen.listenTx != null
                && parameters.pinned() == null
                && context.listenRelays != null
                && listen.takeListen(frame, type)) {
            return;
        }
        boolean batchStart = awaitingReady == 0 && !extendedOpen;
        boolean aborted = listen.listenTx != null
                && awaitingReady == 0
                && server.transactionStatus() == ProtocolConstants.TX_FAILED
                && !listen.listenTx.batchEnds();
        switch (type) {
            case ProtocolConstants.QUERY, ProtocolConstants.FUNCTION_CALL -> awaitingReady++;
            case ProtocolConstants.SYNC -> {
                awaitingReady++;
                extendedOpen = false;
                if (listen.listenTx != null) {
                    listen.listenTx.synced();
                }
            }
            case ProtocolConstants.EXECUTE -> {
                extendedOpen = true;
                if (listen.listenTx != null) {
                    listen.listenTx.executed();
                }
            }
            case ProtocolConstants.PARSE, ProtocolConstants.BIND, ProtocolConstants.DESCRIBE, ProtocolConstants.CLOSE ->
                extendedOpen = true;
            case ProtocolConstants.TERMINATE -> {
                // Terminate ends the client, not the server: the server goes back to the pool (or is closed).
                frame.release();
                releasePending();
                ctx.close();
                return;
            }
            default -> {}
        }
        timers.fromClient(type, batchStart, awaitingReady);
        routing.fromClient(frame);
        if (type == ProtocolConstants.QUERY || type == ProtocolConstants.PARSE) {
            noteSessionEffects(frame, type, aborted);
        }
        if (!sessionMode) {
            frame = prepared.fromClient(frame, type);
            if (frame == null) {
                return;
            }
        }
        server.channel().write(frame, server.channel().voidPromise());
    }

    // ---------------------------------------------------------------- session state (transaction mode)

    /** {@code aborted}: sent in a failed transaction, where the server runs nothing but its end. */
    void noteSessionEffects(ByteBuf frame, byte type, boolean aborted) {
        boolean parse = type == ProtocolConstants.PARSE;
        boolean unnamed = parse && Parse.isUnnamed(frame);
        int start = parse ? Parse.queryStart(frame) : Query.textStart(frame);
        int end = parse ? Parse.queryEndOrMinusOne(frame) : Query.textEndOrMinusOne(frame);
        if (end >= 0 && listen.listenTx != null) {
            boolean onlyQuery = type == ProtocolConstants.QUERY && awaitingReady == 1 && !extendedOpen;
            listen.listenTx.clientStatement(frame, start, end, type == ProtocolConstants.PARSE, unnamed, onlyQuery);
        }
        if (end < 0) {
            return;
        }
        if (!sessionMode && context.strictSessionState) {
            parameters.checkState();
        }
        SessionStatements.Effect effect = SessionStatements.analyse(
                frame, start, end, !"off".equals(server.reportedParameters().get("standard_conforming_strings")));
        if (effect.isNone()) {
            return;
        }
        parameters.note(effect, !sessionMode);
        if (sessionMode) {
            return;
        }
        if (!effect.unlisten().isEmpty()) {
            listen.unlistened(effect.unlisten());
        }
        if (!(aborted && "listen".equals(effect.pinReason()))) {
            pin(effect.pinReason());
        }
    }

    private void pin(String reason) {
        if (parameters.pin(reason)) {
            context.pinned(reason);
            log.info(
                    "client {} ({}@{}): keeps its server for the rest of its session ({}: state that cannot move"
                            + " between servers)",
                    ctx.channel().remoteAddress(),
                    Printable.log(userName),
                    Printable.log(databaseName),
                    reason);
        }
    }

    /**
     * The transaction is over and the server idle: before letting the server go, read back settings the
     * transaction changed (committed or rolled back, SET LOCAL or not, the server knows the result), deallocate
     * statements after a stale plan, and note the WAL position after a write. One step per round trip.
     */
    private void endOfTransaction(ServerConnection s) {
        if (awaitingReady != 0 || extendedOpen || s.transactionStatus() != ProtocolConstants.TX_IDLE) {
            // The client already sent more: the pooler's queries wait for the next idle moment, so that they
            // never interleave with the client's.
            afterTransaction = false;
            return;
        }
        afterTransaction = true;
        String query = parameters.restoreQuery(s);
        if (query == null) {
            // RESET ALL / DISCARD ALL: the server is back at its own defaults; the client at its startup values.
            query = parameters.readBackQuery(s);
        }
        if (query != null) {
            poolerQuery(s, query);
            s.channel().flush();
            return;
        }
        if (s.statements().invalidated()) {
            // Whatever the client sends next reaches the server after this, so the cache is empty from now on.
            s.statements().clear();
            poolerQuery(s, "DEALLOCATE ALL");
            s.channel().flush();
            return;
        }
        String walPosition = routing.walPositionQuery();
        if (walPosition != null) {
            poolerQuery(s, walPosition);
            s.channel().flush();
            return;
        }
        afterTransaction = false;
        releaseIfIdle(s);
    }

    /** A reply for the client: held back while a replica transaction may still be replayed, else written. */
    void toClient(ByteBuf f) {
        if (!routing.hold(f)) {
            ctx.write(f, ctx.voidPromise());
        }
    }

    private void commandComplete(ByteBuf frame) {
        if (listen.listenTx != null) {
            listen.listenTx.commandTag(frame, Frames.bodyStart(frame), Frames.bodyLength(frame));
        }
        if (prepared.commandComplete(frame)) {
            listen.unlistenAll(); // DISCARD ALL includes UNLISTEN *
        }
    }

    // ---------------------------------------------------------------- server events (any loop)

    @Override
    public void onFrame(ServerConnection s, ByteBuf frame) {
        if (loop.inEventLoop()) {
            serverFrameThenSynthetic(s, frame);
        } else {
            loop.execute(() -> serverFrameThenSynthetic(s, frame));
        }
    }

    /** Synthetic replies that follow a server frame go out after it, in the order the server would have used. */
    void serverFrameThenSynthetic(ServerConnection s, ByteBuf frame) {
        serverFrame(s, frame);
        if (!sessionMode && s == server && state == State.ATTACHED && !listen.listenApplying) {
            prepared.afterServerFrame();
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
        if (listen.listenApplying) {
            listen.deferred.add(frame);
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
        if (routing.replaying()) {
            replayingReply(s, frame, type);
            return;
        }
        if (!sessionMode && (frame = prepared.fromServer(frame, type)) == null) {
            return;
        }
        if (type == ProtocolConstants.ERROR_RESPONSE && timers.canceledForTimeout()) {
            frame = statementTimeoutError(frame);
        }
        if (type == ProtocolConstants.COMMAND_COMPLETE) {
            commandComplete(frame);
        }
        if ((frame = routing.fromServer(frame, type, writeToClient)) == null) {
            return;
        }
        if (type == ProtocolConstants.READY_FOR_QUERY) {
            readyForQuery(s, frame);
            return;
        }
        if (type == ProtocolConstants.PARAMETER_STATUS) {
            parameters.parameterStatus(s, frame);
        }
        if (type == ProtocolConstants.ERROR_RESPONSE) {
            String severity = ErrorFields.parse(frame).severity();
            if ("FATAL".equals(severity) || "PANIC".equals(severity)) {
                fatalForwardedBy = s;
            }
        }
        ctx.write(frame, ctx.voidPromise());
    }

    private void readyForQuery(ServerConnection s, ByteBuf frame) {
        byte status = Frames.readyStatus(frame);
        s.transactionStatus(status);
        if (awaitingReady > 0) {
            awaitingReady--;
        }
        timers.ready();
        if (listen.listenTx != null) {
            if (awaitingReady == 0 && !extendedOpen) {
                listen.listenTx.synced();
            }
            List<ListenStatement> committed = listen.listenTx.ready(status);
            if (!committed.isEmpty() && listen.applyCommittedListens(committed, s, frame, status)) {
                return;
            }
        }
        finishReady(s, frame, status);
    }

    /** The client's ReadyForQuery goes out; at a transaction's end the server is let go. */
    void finishReady(ServerConnection s, ByteBuf frame, byte status) {
        if (listen.heldNotifications != null && status == ProtocolConstants.TX_IDLE) {
            // As PostgreSQL does: notifications that came during the transaction go out just before its end.
            listen.flushNotifications();
        }
        ctx.write(frame, ctx.voidPromise());
        if (awaitingReady != 0 || extendedOpen) {
            return;
        }
        if (status != ProtocolConstants.TX_IDLE) {
            if (status == ProtocolConstants.TX_IN_BLOCK) {
                restoreParameters(s); // a RESET inside a transaction block gives the startup value at once too
            }
            return;
        }
        if (!sessionMode) {
            endOfTransaction(s);
            return;
        }
        restoreParameters(s);
        releaseIfIdle(s);
    }

    private void restoreParameters(ServerConnection s) {
        String query = parameters.restoreQuery(s);
        if (query != null) {
            poolerQuery(s, query);
            s.channel().flush();
        }
    }

    /** At a transaction boundary: transaction mode gives the server back; session mode keeps it. */
    private void releaseIfIdle(ServerConnection s) {
        if (awaitingReady != 0 || extendedOpen || poolerQueries != 0) {
            return;
        }
        if ((sessionMode || parameters.pinned() != null) && !pool.isClosed()) {
            // The server stays: whatever the client queued meanwhile goes to it now.
            ByteBuf f;
            while (state == State.ATTACHED && (f = pending.poll()) != null) {
                forward(f);
            }
            if (server != null) {
                server.channel().flush();
            }
            ctx.channel().config().setAutoRead(true);
            return;
        }
        // Session mode on a drained endpoint moves to the current set at this boundary, like transaction mode.
        ctx.flush();
        server = null;
        state = State.IDLE;
        endQuery();
        user.clientMoved(Router.User.ClientState.ACTIVE, Router.User.ClientState.IDLE);
        s.listener(null);
        s.channel().config().setAutoRead(true);
        s.lastOwner(this, parameters.version());
        if (s.hasCancelsInFlight()) {
            Pool p = pool;
            s.whenNoCancelsInFlight(() -> p.release(s));
        } else {
            pool.release(s);
        }
        if (!pending.isEmpty() && !context.draining) {
            // The client's next transaction arrived while the pooler finished the last one: route it now (a
            // LISTEN is answered without a server, like one that arrives while idle).
            if (context.listenRelays != null && listen.listenStatement(pending.peekFirst()) != null) {
                listen.resumePending();
            } else {
                checkOut();
            }
        } else {
            ctx.channel().config().setAutoRead(true);
        }
        if (context.draining) {
            // Draining: told to go at this transaction boundary; a client that starts its next transaction at
            // once would otherwise never be seen idle by the drain and be cut off mid-transaction at its end.
            fatal(SqlState.ADMIN_SHUTDOWN, "terminating connection due to administrator command");
        }
    }

    private void endQuery() {
        if (begun) {
            begun = false;
            endpoint.endQuery();
        }
    }

    /** Replies to the pooler's own queries: eaten, except that a failed parameter sync warns the client. */
    private void poolerQueryReply(ServerConnection s, ByteBuf frame, byte type) {
        try {
            if (type == ProtocolConstants.READY_FOR_QUERY) {
                poolerQueries--;
                s.transactionStatus(ReadyForQuery.status(frame));
                pin(parameters.poolerQueryDone(s));
                routing.poolerQueryDone();
                if (poolerQueries == 0 && afterTransaction) {
                    endOfTransaction(s);
                }
            } else if (type == ProtocolConstants.PARAMETER_STATUS && parameters.restoring()) {
                // The client's own value is back; the client is not told between queries (drivers such as pgjdbc
                // take a ParameterStatus outside a query's replies for a protocol error).
                parameters.parameterStatus(s, frame);
            } else if (type == ProtocolConstants.DATA_ROW && parameters.checkingState()) {
                parameters.stateRow(frame);
            } else if (type == ProtocolConstants.DATA_ROW && parameters.capturing()) {
                parameters.captured(s, frame);
            } else if (type == ProtocolConstants.DATA_ROW && routing.capturingWalPosition()) {
                routing.walPosition(frame);
            } else if (type == ProtocolConstants.ERROR_RESPONSE && !afterTransaction) {
                ErrorFields err = ErrorFields.parse(frame);
                // A value the server rejects (PostgreSQL would have refused the connection): stop asking for it,
                // and warn the client instead of failing its query.
                parameters.rejected(s);
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

    // ---------------------------------------------------------------- replay of reads that turned out to write

    /** After a 25006: drop the replica's replies until it is idle, then send the kept frames to the primary. */
    private void replayingReply(ServerConnection s, ByteBuf frame, byte type) {
        try {
            if (type != ProtocolConstants.READY_FOR_QUERY) {
                return;
            }
            byte status = Frames.readyStatus(frame);
            s.transactionStatus(status);
            if (awaitingReady > 0) {
                awaitingReady--;
            }
            if (awaitingReady > 0) {
                return;
            }
        } finally {
            frame.release();
        }
        ArrayDeque<ByteBuf> again = routing.endReplay();
        server = null;
        endQuery();
        s.listener(null);
        s.channel().config().setAutoRead(true);
        if (s.transactionStatus() == ProtocolConstants.TX_IDLE && !extendedOpen) {
            pool.release(s);
        } else {
            pool.discard(s);
        }
        extendedOpen = false;
        // The kept frames go first, then whatever the client sent since.
        while (!pending.isEmpty()) {
            again.add(pending.poll());
        }
        pending.addAll(again);
        state = State.WAITING;
        user.clientMoved(Router.User.ClientState.ACTIVE, Router.User.ClientState.WAITING);
        ctx.channel().config().setAutoRead(false);
        if (routed(routing.replayOnPrimary())) {
            waiter = pool.acquire(loop, this);
        }
    }

    private void serverClosed(ServerConnection s) {
        if (s != server || state == State.CLOSED) {
            return;
        }
        // The server died under this client (terminated, crashed, network): tell it clearly and end the session,
        // since whatever it was doing is lost. Other clients are not affected.
        server = null;
        endQuery();
        pool.discard(s);
        log.info(
                "client {} ({}@{}): server {} closed the connection",
                ctx.channel().remoteAddress(),
                Printable.log(userName),
                Printable.log(databaseName),
                s);
        if (fatalForwardedBy == s) {
            // The client already has the server's reason (pg_terminate_backend, shutdown): PostgreSQL sends one
            // error and closes, and so does the pooler.
            ctx.channel().config().setAutoRead(false);
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            return;
        }
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
            } else if (state == State.WAITING && waiter != null) {
                cancelQueued();
            }
        });
    }

    /**
     * A cancel for work that never reached a server: the first queued query (or extended batch up to its Sync)
     * fails with PostgreSQL's cancel error; anything the client queued after it still runs.
     */
    private void cancelQueued() {
        ByteBuf f;
        boolean sawSync = false;
        while ((f = pending.peekFirst()) != null) {
            byte t = Frames.type(f);
            pending.pollFirst().release();
            if (t == ProtocolConstants.QUERY || t == ProtocolConstants.SYNC || t == ProtocolConstants.FUNCTION_CALL) {
                sawSync = true;
                break;
            }
        }
        if (!sawSync) {
            // The batch's Sync has not arrived yet: drop the rest of the batch as it comes, answer at its Sync.
            cancelUntilSync = true;
            ctx.channel().config().setAutoRead(true);
        } else {
            answerCanceled();
        }
        if (pending.isEmpty()) {
            waiter.cancel();
            waiter = null;
            state = State.IDLE;
            user.clientMoved(Router.User.ClientState.WAITING, Router.User.ClientState.IDLE);
            ctx.channel().config().setAutoRead(true);
        }
    }

    private void dropUntilSync(ByteBuf frame) {
        byte t = Frames.type(frame);
        frame.release();
        if (t == ProtocolConstants.SYNC) {
            cancelUntilSync = false;
            answerCanceled();
        }
    }

    private void answerCanceled() {
        ctx.write(Messages.errorResponse(
                ctx.alloc(), "ERROR", SqlState.QUERY_CANCELED, "canceling statement due to user request"));
        ctx.writeAndFlush(Messages.readyForQueryIdle());
    }

    // ---------------------------------------------------------------- timeouts

    /** PostgreSQL's idle_in_transaction_session_timeout SQLSTATE. */
    private static final String IDLE_IN_TRANSACTION_SESSION_TIMEOUT = "25P03";

    /** What the timers stage needs of the session: whom it waits for, and the session's side of each expiry. */
    private final class TimerOwner implements SessionTimers.Owner {
        @Override
        public SessionTimers.Waiting waitingOn() {
            if (state == State.IDLE) {
                return SessionTimers.Waiting.CLIENT_IDLE;
            }
            if (state != State.ATTACHED || server == null) {
                return SessionTimers.Waiting.NOTHING; // queued for a server: queryWait applies
            }
            if (awaitingReady > 0) {
                return SessionTimers.Waiting.SERVER;
            }
            if (poolerQueries > 0) {
                return SessionTimers.Waiting.NOTHING;
            }
            return extendedOpen || server.transactionStatus() != ProtocolConstants.TX_IDLE
                    ? SessionTimers.Waiting.CLIENT_IN_TRANSACTION
                    : SessionTimers.Waiting.CLIENT_IDLE;
        }

        @Override
        public boolean open() {
            return state != State.CLOSED;
        }

        @Override
        public void clientIdleExpired() {
            context.timeouts.clientIdle.increment();
            fatal(SqlState.IDLE_SESSION_TIMEOUT, "terminating connection due to idle-session timeout");
        }

        @Override
        public void idleInTransactionExpired() {
            // Closing the server rolls the transaction back and releases its locks (see leaveServer).
            context.timeouts.idleInTransaction.increment();
            fatal(IDLE_IN_TRANSACTION_SESSION_TIMEOUT, "terminating connection due to idle-in-transaction timeout");
        }

        @Override
        public void cancelQuery() {
            context.timeouts.query.increment();
            CancelForwarder.cancel(context.transport, loop, server);
        }

        @Override
        public void cancelIgnored(long graceMillis) {
            // The server did not end a timed-out query when asked: its state is unknown, so it and the client go.
            context.timeouts.queryCancelUnanswered.increment();
            ServerConnection s = server;
            server = null;
            endQuery();
            s.listener(null);
            pool.discard(s);
            log.warn(
                    "client {} ({}@{}): server {} did not answer the cancel of a query past timeouts.query; closed it",
                    ctx.channel().remoteAddress(),
                    Printable.log(userName),
                    Printable.log(databaseName),
                    s);
            fatal(
                    SqlState.QUERY_CANCELED,
                    "terminating connection because the server did not stop a statement past the statement timeout"
                            + " (timeouts.query) within " + graceMillis + " ms of the cancel request");
        }
    }

    /** The server's answer to the pooler's cancel: told as PostgreSQL's statement_timeout tells it. */
    private ByteBuf statementTimeoutError(ByteBuf frame) {
        if (!SqlState.QUERY_CANCELED.equals(ErrorFields.parse(frame).sqlState())) {
            return frame;
        }
        frame.release();
        return Messages.errorResponse(
                ctx.alloc(), "ERROR", SqlState.QUERY_CANCELED, "canceling statement due to statement timeout");
    }

    // ---------------------------------------------------------------- shutdown

    /** Drain: a session that holds no server (or holds it idle in session mode) is closed with a clear error. */
    public void drainIfIdle() {
        loop.execute(() -> {
            boolean idleInSession = state == State.ATTACHED
                    && sessionMode
                    && awaitingReady == 0
                    && !extendedOpen
                    && poolerQueries == 0
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
        ctx.channel().config().setAutoRead(false);
        ctx.writeAndFlush(Messages.errorResponse(ctx.alloc(), "FATAL", sqlState, message))
                .addListener(ChannelFutureListener.CLOSE);
    }

    private void write(ByteBuf frame) {
        ctx.write(frame, ctx.voidPromise());
    }

    private void releasePending() {
        ByteBuf f;
        while ((f = pending.poll()) != null) {
            f.release();
        }
    }
}
