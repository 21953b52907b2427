package dev.pggat.pooler.frontend;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerError;
import dev.pggat.pooler.backend.ServerListener;
import dev.pggat.pooler.listen.ListenStage;
import dev.pggat.pooler.pool.PoolCallback;
import dev.pggat.pooler.pool.PoolSettings;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.Parse;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.ProtocolException;
import dev.pggat.pooler.protocol.Query;
import dev.pggat.pooler.protocol.ReadyForQuery;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.routing.RouteStage;
import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.sql.SqlTokens;
import dev.pggat.pooler.tracing.SessionTracer;
import dev.pggat.pooler.util.Printable;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.DecoderException;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
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
 *
 * <p>The session holds the state and the dispatch; what is done to messages on the way belongs to the stages
 * (docs/architecture.md): each either claims a message or leaves it, and a message nobody claims is counted and
 * written as it was read. From the client ({@link #forward}): cancel, prepared statements, LISTEN, then timers,
 * routing and parameters note it. From the server ({@link #serverFrame}): the pooler's own queries, the replay,
 * prepared statements, timers, LISTEN, routing, parameters.
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
    final java.util.function.Consumer<ByteBuf> writeToClient = this::write;
    ChannelHandlerContext ctx;
    EventLoop loop;
    State state = State.STARTING;

    private final String userName;
    private final String databaseName;
    /** Who and where: a route change may move a transaction-mode client between transactions (see below). */
    Router.User user;

    Router.Database db;
    final boolean sessionMode;
    /** What the routes matched at login; null for a client that did not go through them (tests, the console). */
    private dev.pggat.pooler.config.RouteMatcher.Client routeClient;
    /** The router's routes generation this client was last routed with. */
    private long routesSeen;

    private final String targetSessionAttrs;
    private final String routeParameter;
    private final String applicationName;
    /** What made {@link #tracer}: a reload that replaces it gives the next transaction a new tracer. */
    private dev.pggat.pooler.tracing.Tracing tracing;

    /** The server: checked out, attached, given back. */
    final Checkout checkout = new Checkout(this);

    ServerConnection server;
    /** The server whose FATAL or PANIC error the client already got: its close needs no second error. */
    ServerConnection fatalForwardedBy;
    /** Transaction mode: what the session answers by itself after its server was lost mid-transaction. */
    final ServerLossStage serverLoss = new ServerLossStage(() -> ctx.alloc());

    /** The SQL of the message at hand, lexed once for every stage that reads it (routing, LISTEN, parameters). */
    final SqlTokens sql = new SqlTokens();

    /** What the client sent that waits for a server (or for a stage); made at the first such message. */
    private ArrayDeque<ByteBuf> pending;
    /** ReadyForQuery messages the server still owes: one per Query, Sync and FunctionCall sent. */
    int awaitingReady;
    /** Extended-protocol messages sent since the last Sync: the server may not be released mid-batch. */
    boolean extendedOpen;

    // The stages, in the order a client message meets them.
    /** Cancel requests, and what the timers do to the session when they expire. */
    final SessionCancel cancel;
    /** Transaction mode: the prepared-statement stage, with the replies the server owes. */
    final PreparedStatementStage prepared;
    /** The LISTEN stage: LISTEN/UNLISTEN answered through the relay, notifications held to transaction ends. */
    final ListenStage listen;
    /** The timers stage: timeouts.clientIdle, idleInTransaction and query. */
    final SessionTimers timers;
    /** The routing stage: which endpoint each transaction runs on, read-your-writes, 25006 replay. */
    RouteStage routing;
    /** The session-parameters stage: wanted settings, their sync onto servers, SET/RESET tracking, pins. */
    final SessionParameters parameters;
    /** The pooler's own queries on the attached server (settings, read-back, DEALLOCATE, WAL position). */
    final PoolerQueries queries;
    /** OpenTelemetry spans of this session's transactions; {@link SessionTracer#OFF} with tracing off. */
    SessionTracer tracer;
    /** Server messages no stage needs go to the client unframed, one slice per run. */
    private final ServerPassThrough passThrough = new ServerPassThrough(this);

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
        String attrs = wanted.get("target_session_attrs");
        String route = wanted.get("pggat.route");
        if (attrs != null || route != null) {
            wanted = new LinkedHashMap<>(wanted);
            wanted.remove("target_session_attrs");
            wanted.remove("pggat.route");
        }
        this.targetSessionAttrs = attrs;
        this.routeParameter = route;
        this.routing = new RouteStage(user, databaseName, attrs, route, sql);
        this.parameters = new SessionParameters(this, wanted);
        this.cancel = new SessionCancel(this);
        // The database's current settings: a reload's timeouts reach the session at its next transaction.
        this.timers = new SessionTimers(
                cancel,
                (task, nanos) -> loop.schedule(task, nanos, TimeUnit.NANOSECONDS),
                System::nanoTime,
                () -> this.db.settings());
        this.listen = new ListenStage(new ListenSide(this), context.listenRelays, !sessionMode);
        this.prepared = sessionMode ? null : new PreparedStatementStage(context.statements, new PreparedOutput());
        this.queries = new PoolerQueries(this);
        this.applicationName = wanted.get("application_name");
        this.tracing = context.tracing;
        this.tracer = tracing.session(databaseName, userName, applicationName);
    }

    /**
     * The routes chose this client's database from {@code client} (its startup parameters, TLS and addresses);
     * after a reload that changes the routes, the choice is made again at its next transaction.
     */
    void routedBy(dev.pggat.pooler.config.RouteMatcher.Client client, long routesGeneration) {
        this.routeClient = client;
        this.routesSeen = routesGeneration;
    }

    /**
     * A transaction is about to start (nothing runs on a server for this client): what a reload changed since the
     * last one reaches the client here. A new tracer replaces the old one. In transaction mode, when the routes
     * changed, the client's startup parameters are matched again: another backend takes its transactions from now
     * on (prepared statements are prepared again there, as on any other server); an error route or no match at all
     * ends the session with the error a new login would get.
     *
     * @return false when the session was ended
     */
    boolean beforeTransaction() {
        dev.pggat.pooler.tracing.Tracing t = context.tracing;
        if (t != tracing) {
            tracer.closed();
            tracing = t;
            tracer = t.session(databaseName, userName, applicationName);
        }
        if (sessionMode || routeClient == null) {
            return true;
        }
        long generation = context.router.routesGeneration();
        if (generation == routesSeen) {
            return true;
        }
        routesSeen = generation;
        Router.Choice choice = context.router.choose(routeClient);
        if (choice.sqlState() != null) {
            log.info(
                    "client {}: user \"{}\" (database \"{}\") refused by route \"{}\" after a reload: {} {}",
                    ctx.channel().remoteAddress(),
                    Printable.log(userName),
                    Printable.log(databaseName),
                    choice.route() == null ? "" : choice.route().name(),
                    choice.sqlState(),
                    Printable.log(choice.message()));
            fatal(choice.sqlState(), choice.message());
            return false;
        }
        Router.Database next = choice.database();
        if (next == null) {
            fatal(SqlState.INVALID_CATALOG_NAME, "database \"" + databaseName + "\" does not exist");
            return false;
        }
        if (next == db) {
            return true;
        }
        Router.User nextUser = next.user(userName);
        if (next.settings().mode() == PoolSettings.PoolMode.SESSION) {
            fatal(
                    SqlState.CANNOT_CONNECT_NOW,
                    "the routes now send this client to session-mode database \"" + next.name() + "\"; connect again");
            return false;
        }
        if (nextUser == null
                || nextUser.auth() != user.auth()
                || !java.util.Objects.equals(nextUser.secret(), user.secret())) {
            // The client proved who it is against the old database's user: the new one must take the same proof.
            fatal(
                    SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                    "the routes now send this client to database \"" + next.name()
                            + "\", where its login does not hold; connect again");
            return false;
        }
        log.info(
                "client {}: routes changed; user \"{}\" (database \"{}\") moves from {} to {}",
                ctx.channel().remoteAddress(),
                Printable.log(userName),
                Printable.log(databaseName),
                db.name(),
                next.name());
        routing.releaseReplay();
        user.clientLeft(Router.User.ClientState.IDLE);
        nextUser.clientJoined();
        user = nextUser;
        db = next;
        routing = new RouteStage(nextUser, databaseName, targetSessionAttrs, routeParameter, sql);
        return true;
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
            listen.reply(payload);
        }
    }

    ArrayDeque<ByteBuf> pending() {
        if (pending == null) {
            pending = new ArrayDeque<>(4);
        }
        return pending;
    }

    boolean nothingPending() {
        return pending == null || pending.isEmpty();
    }

    ByteBuf firstPending() {
        return pending == null ? null : pending.peekFirst();
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
        Map<String, String> wanted = parameters.wanted();
        for (Map.Entry<String, String> e : serverParams.entrySet()) {
            String value = wanted.getOrDefault(e.getKey(), e.getValue());
            ctx.write(Messages.parameterStatus(ctx.alloc(), e.getKey(), value));
        }
        ctx.write(cancel.register(ctx.alloc()));
        ctx.writeAndFlush(Messages.readyForQueryIdle());
        user.clientJoined();
        state = State.IDLE;
        timers.started();
        if (!early.isEmpty()) {
            // The client pipelined queries behind its login.
            pending().addAll(early);
            early.clear();
            checkout.checkOut();
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (state == State.CLOSED) {
            ReferenceCountUtil.release(msg);
            return;
        }
        ByteBuf frame = (ByteBuf) msg;
        sql.forget(); // a new message: the last one's lexed text may not be taken for it
        if (cancel.claims(frame)) {
            return;
        }
        switch (state) {
            case ATTACHED -> {
                if (queries.afterTransaction) {
                    // The pooler's own queries end the last transaction: what the client sends now starts the
                    // next one, which is routed afresh once the server is let go.
                    pending().add(frame);
                    ctx.channel().config().setAutoRead(false);
                } else {
                    forward(frame);
                }
            }
            case IDLE -> idle(frame);
            default -> pending().add(frame); // WAITING, STARTING
        }
    }

    /** No server: a stage may answer the message without one; otherwise it starts a transaction. */
    private void idle(ByteBuf frame) {
        if (listen.idleFrame(frame)) {
            return;
        }
        byte type = Frames.type(frame);
        if (type == ProtocolConstants.TERMINATE) {
            frame.release();
            releasePending();
            ctx.close();
            return;
        }
        if (!sessionMode && serverLoss.active()) {
            serverLoss.fromClient(frame, writeToClient);
            ctx.flush();
            ByteBuf rest = serverLoss.takeRest();
            if (rest != null) {
                // A Query's statements after the ROLLBACK (or COMMIT) of the failed transaction go to a server.
                pending().add(rest);
                checkout.checkOut();
            }
            return;
        }
        if (prepared != null && prepared.answerWithoutServer(pending(), frame, type, ctx)) {
            return;
        }
        pending().add(frame);
        checkout.checkOut();
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
        tracer.closed();
        context.sessions.remove(this);
        cancel.unregister();
        releasePending();
        routing.releaseReplay();
        listen.closed();
        if (was != State.STARTING) {
            user.clientLeft(
                    was == State.ATTACHED
                            ? Router.User.ClientState.ACTIVE
                            : was == State.WAITING ? Router.User.ClientState.WAITING : Router.User.ClientState.IDLE);
        }
        if (checkout.waiter != null) {
            checkout.waiter.cancel();
            checkout.waiter = null;
        }
        if (server != null) {
            ServerConnection s = server;
            server = null;
            checkout.leaveServer(s);
        }
    }

    /**
     * A client message while a server is attached. A stage may claim it (answer, hold or drop it); otherwise the
     * session counts what the server owes, the stages note it, and it goes to the server as it was read.
     */
    void forward(ByteBuf frame) {
        byte type = Frames.type(frame);
        if (prepared != null
                && (prepared.skipping(frame, type) || listen.claims(frame, type, parameters.pinned() != null))) {
            return;
        }
        boolean batchStart = awaitingReady == 0 && !extendedOpen;
        boolean statement = type == ProtocolConstants.QUERY || type == ProtocolConstants.PARSE;
        boolean aborted = statement && listen.inFailedTransaction();
        switch (type) {
            case ProtocolConstants.QUERY, ProtocolConstants.FUNCTION_CALL -> awaitingReady++;
            case ProtocolConstants.SYNC -> {
                awaitingReady++;
                extendedOpen = false;
                listen.sent(true);
            }
            case ProtocolConstants.EXECUTE -> {
                extendedOpen = true;
                listen.sent(false);
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
        if (statement) {
            noteSessionEffects(frame, type, aborted);
        }
        if (prepared != null && (frame = prepared.fromClient(frame, type)) == null) {
            return;
        }
        tracer.toServer(frame, type);
        server.channel().write(frame, server.channel().voidPromise());
    }

    /** A Query or Parse: what it changes in the session. {@code aborted}: sent in a failed transaction. */
    void noteSessionEffects(ByteBuf frame, byte type, boolean aborted) {
        boolean parse = type == ProtocolConstants.PARSE;
        int start = parse ? Parse.queryStart(frame) : Query.textStart(frame);
        int end = parse ? Parse.queryEndOrMinusOne(frame) : Query.textEndOrMinusOne(frame);
        if (end < 0) {
            return;
        }
        // Lexed once (or already, by routing): the stages below replay the same tokens.
        SqlTokens text = sql.of(
                frame, start, end, !"off".equals(server.reportedParameters().get("standard_conforming_strings")));
        listen.clientStatement(frame, type, text, !parse && awaitingReady == 1 && !extendedOpen);
        SessionStatements.Effect effect = parameters.noteStatement(text, sessionMode, context.strictSessionState);
        if (effect == null || sessionMode) {
            return;
        }
        if (!effect.unlisten().isEmpty()) {
            listen.unlistened(effect.unlisten());
        }
        if (!(aborted && "listen".equals(effect.pinReason()))) {
            parameters.pin(effect.pinReason(), context);
            tracer.pinned(parameters.pinned());
        }
    }

    /** A reply for the client: held back while a replica transaction may still be replayed, else written. */
    void toClient(ByteBuf f) {
        if (!routing.hold(f)) {
            ctx.write(f, ctx.voidPromise());
        }
    }

    // ---------------------------------------------------------------- pool and server events (any loop)

    @Override
    public void granted(ServerConnection s) {
        checkout.granted(s);
    }

    @Override
    public void failed(ServerError error) {
        checkout.failed(error);
    }

    @Override
    public void onFrame(ServerConnection s, ByteBuf frame) {
        if (loop.inEventLoop()) {
            serverFrameThenSynthetic(s, frame);
        } else {
            context.serverFramesHandedOverTotal.increment();
            loop.execute(() -> serverFrameThenSynthetic(s, frame));
        }
    }

    /** Synthetic replies that follow a server frame go out after it, in the order the server would have used. */
    void serverFrameThenSynthetic(ServerConnection s, ByteBuf frame) {
        serverFrame(s, frame);
        if (prepared != null && s == server && state == State.ATTACHED && !listen.applying()) {
            prepared.afterServerFrame();
        }
    }

    @Override
    public boolean passThrough(ServerConnection s, ByteBuf in, int maxMessageSize) {
        return passThrough.take(s, in, maxMessageSize);
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
        if (loop.inEventLoop()) {
            serverWritability(s);
        } else {
            loop.execute(() -> serverWritability(s));
        }
    }

    private void serverWritability(ServerConnection s) {
        if (server == s && state == State.ATTACHED) {
            ctx.channel().config().setAutoRead(s.channel().isWritable());
        }
    }

    @Override
    public void onClosed(ServerConnection s, Throwable cause) {
        loop.execute(() -> checkout.serverClosed(s));
    }

    /** A server message for this client: the stages claim or rewrite it in turn; what is left is written. */
    private void serverFrame(ServerConnection s, ByteBuf frame) {
        if (s != server || state != State.ATTACHED) {
            frame.release();
            return;
        }
        if (listen.defers(frame)) {
            return;
        }
        byte type = Frames.type(frame);
        if (type == ProtocolConstants.PARAMETER_STATUS) {
            s.recordParameterStatus(frame);
        }
        if (queries.active()) {
            queries.reply(s, frame);
            return;
        }
        if (routing.replaying()) {
            if (routing.replayReply(s, frame, type) && (awaitingReady == 0 || --awaitingReady == 0)) {
                checkout.replayOnPrimary(s);
            }
            return;
        }
        if (!sessionMode && type == ProtocolConstants.ERROR_RESPONSE && serverLoss.holdsLastWords(frame)) {
            return;
        }
        if (prepared != null && (frame = prepared.fromServer(frame, type)) == null) {
            return;
        }
        switch (type) {
            case ProtocolConstants.ERROR_RESPONSE -> frame = timers.fromServerError(frame, ctx.alloc());
            case ProtocolConstants.COMMAND_COMPLETE -> {
                listen.commandComplete(frame);
                if (prepared != null && prepared.commandComplete(frame)) {
                    listen.unlistenAll(); // DISCARD ALL includes UNLISTEN *
                }
            }
            default -> {}
        }
        if ((frame = routing.fromServer(frame, type, writeToClient)) == null) {
            return;
        }
        tracer.fromServer(frame, type);
        switch (type) {
            case ProtocolConstants.READY_FOR_QUERY -> {
                readyForQuery(s, frame);
                return;
            }
            case ProtocolConstants.PARAMETER_STATUS -> parameters.parameterStatus(s, frame);
            case ProtocolConstants.ERROR_RESPONSE -> {
                String severity = ErrorFields.parse(frame).severity();
                if ("FATAL".equals(severity) || "PANIC".equals(severity)) {
                    fatalForwardedBy = s;
                }
            }
            default -> {}
        }
        ctx.write(frame, ctx.voidPromise());
    }

    private void readyForQuery(ServerConnection s, ByteBuf frame) {
        byte status = ReadyForQuery.status(frame);
        s.transactionStatus(status);
        if (awaitingReady > 0) {
            awaitingReady--;
        }
        tracer.ready(status, awaitingReady == 0 && !extendedOpen);
        timers.ready(status == ProtocolConstants.TX_IDLE && awaitingReady == 0 && !extendedOpen);
        if (listen.ready(s, frame, status, awaitingReady == 0 && !extendedOpen)) {
            return;
        }
        finishReady(s, frame, status);
    }

    /** The client's ReadyForQuery goes out; at a transaction's end the server is let go. */
    void finishReady(ServerConnection s, ByteBuf frame, byte status) {
        listen.beforeReady(status);
        ctx.write(frame, ctx.voidPromise());
        if (awaitingReady != 0 || extendedOpen) {
            return;
        }
        if (status != ProtocolConstants.TX_IDLE) {
            if (status == ProtocolConstants.TX_IN_BLOCK) {
                queries.restore(s); // a RESET inside a transaction block gives the startup value at once too
            }
            return;
        }
        if (!sessionMode) {
            queries.endOfTransaction(s);
            return;
        }
        queries.restore(s);
        checkout.releaseIfIdle(s);
    }

    // ---------------------------------------------------------------- shutdown

    /** Drain: a session that holds no server (or holds it idle in session mode) is closed with a clear error. */
    public void drainIfIdle() {
        loop.execute(() -> {
            boolean idleInSession = state == State.ATTACHED
                    && sessionMode
                    && awaitingReady == 0
                    && !extendedOpen
                    && !queries.active()
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

    void fatal(String sqlState, String message) {
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

    void releasePending() {
        ByteBuf f;
        while (pending != null && (f = pending.poll()) != null) {
            f.release();
        }
    }

    /** For logs: the client's address, user and database. */
    @Override
    public String toString() {
        return "client " + (ctx == null ? "?" : ctx.channel().remoteAddress()) + " (" + Printable.log(userName) + "@"
                + Printable.log(databaseName) + ")";
    }
}
