package dev.pggat.pooler.frontend;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerError;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.pool.ServerReset;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.routing.EndpointState;
import dev.pggat.pooler.routing.RouteStage;
import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.tracing.PacketTraces;
import dev.pggat.pooler.util.Printable;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A session's server: checked out of the pool the routing stage picks at the first message of a transaction
 * (waiting for it, re-routing when its endpoint goes away, waiting for a writable primary), attached, and given
 * back at a transaction's end (transaction mode), after a 25006 replay, or when the client leaves.
 */
final class Checkout {
    private static final Logger log = LoggerFactory.getLogger(Checkout.class);

    private final ClientSession session;
    /** The pool of the server attached or asked for. */
    Pool pool;
    /** The endpoint of that pool, for its outstanding-query count. */
    private EndpointState endpoint;
    /** The endpoint's outstanding-query count includes this client's current server. */
    private boolean begun;

    Pool.Waiter waiter;

    Checkout(ClientSession session) {
        this.session = session;
    }

    /** The client is gone: give its server back clean, or close it when its state is unknown. */
    void leaveServer(ServerConnection s) {
        s.listener(null);
        s.channel().config().setAutoRead(true);
        endQuery();
        boolean clean = session.awaitingReady == 0
                && !session.queries.active()
                && !session.extendedOpen
                && s.transactionStatus() == ProtocolConstants.TX_IDLE;
        if (!clean || session.parameters.pinned() != null) {
            // Mid-transaction or mid-query: stop what runs, then close so the server rolls back and drops
            // locks.
            // A pinned server holds what only closing it undoes (session locks, temporary tables, LISTEN).
            if (session.awaitingReady > 0) {
                CancelForwarder.cancel(session.context.transport, session.loop, s);
            }
            pool.discard(s);
        } else if (session.sessionMode) {
            Pool p = pool;
            s.whenNoCancelsInFlight(() -> ServerReset.resetAndRelease(p, s));
        } else {
            Pool p = pool;
            s.whenNoCancelsInFlight(() -> p.release(s));
        }
    }

    // ---------------------------------------------------------------- session.routing and checkout

    void checkOut() {
        if (!session.beforeTransaction()) {
            return; // a reload's routes ended the session
        }
        session.tracer.transactionStarted(session.pending().peekFirst());
        if (!routed(session.routing.route(session.pending().peekFirst()))) {
            return;
        }
        session.state = ClientSession.State.WAITING;
        session.user.clientMoved(Router.User.ClientState.IDLE, Router.User.ClientState.WAITING);
        Pool.Waiter queued = pool.acquire(session.loop, session);
        if (queued != null) {
            waiter = queued; // else granted or failed already (a retry may have queued a waiter of its own)
        }
        if (session.state == ClientSession.State.WAITING) {
            // Stop reading only when the client really waits: a server granted at once is attached before acquire
            // returns, and switching reads off and on again costs two epoll_ctl calls per transaction.
            session.ctx.channel().config().setAutoRead(false);
            if (waiter != null && session.routing.rechecks()) {
                session.loop.schedule(recheckRoute, RECHECK_MILLIS, TimeUnit.MILLISECONDS);
            }
        }
    }

    private static final long RECHECK_MILLIS = 100;
    private static final long PRIMARY_RETRY_MILLIS = 50;
    private final Runnable recheckRoute = this::recheckRoute;
    private final Runnable retryPrimary = this::retryPrimary;

    /** A client waiting for a server whose endpoint went stale is routed again: nothing has run yet. */
    private void recheckRoute() {
        if (session.state != ClientSession.State.WAITING || waiter == null || endpoint == null) {
            return;
        }
        if (session.routing.stale()) {
            waiter.cancel();
            waiter = null;
            session.routing.rerouted("rerouted:endpoint_unavailable");
            if (routed(session.routing.reroute(session.pending().peekFirst()))) {
                waiter = pool.acquire(session.loop, session);
            }
        }
        if (session.state == ClientSession.State.WAITING && waiter != null) {
            session.loop.schedule(recheckRoute, RECHECK_MILLIS, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * Acts on the session.routing stage's decision: sets {@link #pool} and returns true, or fails the client, or waits for a
     * writable primary and returns false.
     */
    private boolean routed(RouteStage.Outcome outcome) {
        switch (outcome) {
            case ROUTED -> {
                pool = session.routing.pool();
                endpoint = session.routing.endpoint();
                session.tracer.routed(
                        pool.endpoint(),
                        replica(),
                        pool.address().host(),
                        pool.address().port());
                return true;
            }
            case FAILED -> {
                // No server can take the client's queued work: a FATAL error, as a failed connection would
                // give.
                session.releasePending();
                session.fatal(session.routing.failureSqlState(), session.routing.failure());
                return false;
            }
            default -> {
                if (session.state == ClientSession.State.IDLE) {
                    session.state = ClientSession.State.WAITING;
                    session.user.clientMoved(Router.User.ClientState.IDLE, Router.User.ClientState.WAITING);
                    session.ctx.channel().config().setAutoRead(false);
                }
                session.loop.schedule(retryPrimary, PRIMARY_RETRY_MILLIS, TimeUnit.MILLISECONDS);
                return false;
            }
        }
    }

    private void retryPrimary() {
        if (session.state == ClientSession.State.WAITING
                && waiter == null
                && session.server == null
                && routed(session.routing.waitedForPrimary())) {
            waiter = pool.acquire(session.loop, session);
        }
    }

    /** The pool's answer (on any loop); the session is the pool's callback, so the console can tell who waits. */
    void granted(ServerConnection s) {
        // One transaction, one thread: a server on another loop moves to the client's once, here, instead of
        // every message it sends crossing threads (docs/architecture.md, threads). The move ends on the
        // client's loop, so it costs no more hand-offs than the grant itself.
        if (session.context.moveServers && s.moveTo(session.loop, () -> onGranted(s))) {
            session.context.serverMovesTotal.increment();
            return;
        }
        if (session.loop.inEventLoop()) {
            onGranted(s);
        } else {
            session.loop.execute(() -> onGranted(s));
        }
    }

    void failed(ServerError error) {
        if (session.loop.inEventLoop()) {
            onFailed(error);
        } else {
            session.loop.execute(() -> onFailed(error));
        }
    }

    private void onGranted(ServerConnection s) {
        waiter = null;
        if (session.state == ClientSession.State.CLOSED) {
            pool.release(s);
            return;
        }
        if (!s.isUsable()) {
            pool.discard(s);
            waiter = pool.acquire(session.loop, session);
            return;
        }
        session.server = s;
        session.state = ClientSession.State.ATTACHED;
        session.tracer.waitEnded();
        if (session.context.packetTraces.any()) {
            PacketTraces.followServer(session.ctx.channel(), s.channel(), () -> s.listener() == session);
        }
        session.user.clientMoved(Router.User.ClientState.WAITING, Router.User.ClientState.ACTIVE);
        if (endpoint != null) {
            endpoint.beginQuery();
            begun = true;
        }
        s.listener(session);
        if (session.prepared != null) {
            session.prepared.attached(s.statements(), s.channel());
        }
        session.listen.attached();
        session.queries.sync(s);
        ByteBuf frame;
        while ((frame = session.pending().poll()) != null && session.state == ClientSession.State.ATTACHED) {
            session.forward(frame);
        }
        if (frame != null) {
            frame.release();
        }
        if (session.server != null) {
            session.server.channel().flush();
        }
        session.ctx.channel().config().setAutoRead(true);
    }

    private void onFailed(ServerError error) {
        waiter = null;
        if (session.state == ClientSession.State.CLOSED) {
            return;
        }
        if (error.retryElsewhere() && session.state == ClientSession.State.WAITING) {
            session.routing.rerouted("rerouted:endpoint_removed");
            if (routed(session.routing.reroute(session.pending().peekFirst()))) {
                waiter = pool.acquire(session.loop, session);
            }
            return;
        }
        log.info("{}: no server: {}", session, Printable.log(error.getMessage()));
        session.fatal(error.sqlState() == null ? SqlState.CONNECTION_FAILURE : error.sqlState(), error.getMessage());
    }

    /** At a transaction boundary: transaction mode gives the server back; session mode keeps it. */
    void releaseIfIdle(ServerConnection s) {
        if (session.awaitingReady != 0 || session.extendedOpen || session.queries.active()) {
            return;
        }
        if ((session.sessionMode || session.parameters.pinned() != null) && !pool.isClosed()) {
            // The server stays: whatever the client queued meanwhile goes to it now.
            ByteBuf f;
            while (session.state == ClientSession.State.ATTACHED
                    && (f = session.pending().poll()) != null) {
                session.forward(f);
            }
            if (session.server != null) {
                session.server.channel().flush();
            }
            session.ctx.channel().config().setAutoRead(true);
            return;
        }
        // Session mode on a drained endpoint moves to the current set at this boundary, like transaction mode.
        session.ctx.flush();
        session.server = null;
        session.state = ClientSession.State.IDLE;
        endQuery();
        session.user.clientMoved(Router.User.ClientState.ACTIVE, Router.User.ClientState.IDLE);
        s.listener(null);
        s.channel().config().setAutoRead(true);
        s.lastOwner(session, session.parameters.version());
        if (s.hasCancelsInFlight()) {
            Pool p = pool;
            s.whenNoCancelsInFlight(() -> p.release(s));
        } else {
            pool.release(s);
        }
        if (!session.nothingPending() && !session.context.draining) {
            // The client's next transaction arrived while the pooler finished the last one: route it now (a
            // LISTEN is answered without a server, like one that arrives while idle).
            if (session.listen.takes(session.firstPending())) {
                session.listen.resumePending();
            } else {
                checkOut();
            }
        } else {
            session.ctx.channel().config().setAutoRead(true);
        }
        if (session.context.draining) {
            // Draining: told to go at this transaction boundary; a client that starts its next transaction at
            // once would otherwise never be seen idle by the drain and be cut off mid-transaction at its end.
            session.fatal(SqlState.ADMIN_SHUTDOWN, "terminating connection due to administrator command");
        }
    }

    /** The replica is idle after a 25006: it goes back, and the kept frames go to the primary first. */
    void replayOnPrimary(ServerConnection s) {
        ArrayDeque<ByteBuf> again = session.routing.endReplay();
        session.server = null;
        endQuery();
        s.listener(null);
        s.channel().config().setAutoRead(true);
        if (s.transactionStatus() == ProtocolConstants.TX_IDLE && !session.extendedOpen) {
            pool.release(s);
        } else {
            pool.discard(s);
        }
        session.extendedOpen = false;
        // The kept frames go first, then whatever the client sent since.
        ArrayDeque<ByteBuf> pending = session.pending();
        again.addAll(pending);
        pending.clear();
        session.pending().addAll(again);
        session.state = ClientSession.State.WAITING;
        session.user.clientMoved(Router.User.ClientState.ACTIVE, Router.User.ClientState.WAITING);
        session.ctx.channel().config().setAutoRead(false);
        session.tracer.replayed();
        if (routed(session.routing.replayOnPrimary())) {
            waiter = pool.acquire(session.loop, session);
        }
    }

    private boolean replica() {
        return endpoint != null && endpoint.member().role() == Endpoint.Role.REPLICA;
    }

    /**
     * The server died before anything decisive of a read's reply reached the client: the kept frames go first to
     * another server (RouteStage#retryElsewhere), once. The caller reset what was owed by the dead server.
     */
    void retryElsewhere() {
        EndpointState lost = endpoint;
        ArrayDeque<ByteBuf> again = session.routing.takeForRetry();
        ArrayDeque<ByteBuf> pending = session.pending();
        again.addAll(pending);
        pending.clear();
        pending.addAll(again);
        session.state = ClientSession.State.WAITING;
        session.user.clientMoved(Router.User.ClientState.ACTIVE, Router.User.ClientState.WAITING);
        session.ctx.channel().config().setAutoRead(false);
        if (routed(session.routing.retryElsewhere(lost))) {
            waiter = pool.acquire(session.loop, session);
        }
    }

    void serverClosed(ServerConnection s) {
        if (s != session.server || session.state == ClientSession.State.CLOSED) {
            return;
        }
        // The server died under this client (terminated, crashed, network). Other clients are not affected.
        session.server = null;
        endQuery();
        pool.discard(s);
        if (!session.sessionMode) {
            lostInTransactionMode(s);
            return;
        }
        log.info("{}: server {} closed the connection", session, s);
        // Session mode: the session's state was on that server and is gone, so the client goes too.
        if (session.fatalForwardedBy == s) {
            // The client already has the server's reason (pg_terminate_backend, shutdown): PostgreSQL sends one
            // error and closes, and so does the pooler.
            session.ctx.channel().config().setAutoRead(false);
            session.ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        session.fatal(SqlState.CONNECTION_FAILURE, "server connection closed unexpectedly");
    }

    /**
     * Transaction mode: the client's session is the pooler's, not the server's, so it goes on. A read that had no
     * effect and showed nothing yet is sent again to another server, once; otherwise the work in flight fails with
     * an ERROR and, inside a transaction, the client's next statements get 25P02 until it ends it.
     */
    private void lostInTransactionMode(ServerConnection s) {
        ErrorFields last = session.serverLoss.takeLastWords();
        s.listener(null);
        if (session.routing.retryable() && !session.queries.active()) {
            log.debug("{}: server {} was lost before answering a read; sending it again elsewhere", session, s);
            session.awaitingReady = 0;
            session.extendedOpen = false;
            session.queries.lost();
            retryElsewhere();
            return;
        }
        session.routing.releaseReplay();
        session.db.serverLossErrorsTotal.increment();
        boolean inTransaction = s.transactionStatus() != ProtocolConstants.TX_IDLE;
        log.info(
                "{}: server {} closed the connection; {} fails with an error, the client stays",
                session,
                s,
                inTransaction ? "its transaction" : "the statement in flight");
        // Only the pooler's queries after the client's transaction ended were lost: the client owes nothing.
        int owed = session.queries.afterTransaction ? 0 : session.awaitingReady;
        session.serverLoss.serverLost(owed, session.extendedOpen, inTransaction, last, session.writeToClient);
        session.awaitingReady = 0;
        session.extendedOpen = false;
        session.queries.lost();
        session.state = ClientSession.State.IDLE;
        session.user.clientMoved(Router.User.ClientState.ACTIVE, Router.User.ClientState.IDLE);
        session.ctx.flush();
        session.ctx.channel().config().setAutoRead(true);
        // What the client queued meanwhile is handled as if it came now.
        ArrayDeque<ByteBuf> pending = session.pending();
        if (!pending.isEmpty()) {
            ArrayDeque<ByteBuf> queued = new ArrayDeque<>(pending);
            pending.clear();
            ByteBuf f;
            while ((f = queued.poll()) != null) {
                if (session.state == ClientSession.State.CLOSED) {
                    f.release();
                } else {
                    session.channelRead(session.ctx, f);
                }
            }
        }
    }

    void endQuery() {
        session.timers.serverReleased();
        if (begun) {
            begun = false;
            endpoint.endQuery();
        }
    }
}
