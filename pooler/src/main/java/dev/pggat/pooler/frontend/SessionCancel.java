package dev.pggat.pooler.frontend;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.routing.Router;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cancel stage: a client's CancelRequest (forwarded to its server, or answered for work still queued), and
 * the session's side of the timers stage's expiries (it is the timers' {@link SessionTimers.Owner}). From the
 * client it claims the rest of an extended batch whose queued start was canceled, up to its Sync.
 */
final class SessionCancel implements SessionTimers.Owner {
    private static final Logger log = LoggerFactory.getLogger(SessionCancel.class);
    /** PostgreSQL's idle_in_transaction_session_timeout SQLSTATE. */
    private static final String IDLE_IN_TRANSACTION_SESSION_TIMEOUT = "25P03";

    private final ClientSession session;
    /** A cancel arrived while the client's extended batch was queued: frames are dropped up to its Sync. */
    private boolean untilSync;

    /** The session's cancel key, once registered (processId 0: not yet). */
    private int keyProcessId;

    private int keySecret;

    SessionCancel(ClientSession session) {
        this.session = session;
    }

    /** Takes (drops) {@code frame} when it belongs to a canceled batch; its Sync is answered with the cancel. */
    boolean claims(ByteBuf frame) {
        if (!untilSync) {
            return false;
        }
        byte t = Frames.type(frame);
        frame.release();
        if (t == ProtocolConstants.SYNC) {
            untilSync = false;
            answerCanceled();
        }
        return true;
    }

    /** Registers the session's cancel key; returns the BackendKeyData that tells the client. */
    ByteBuf register(ByteBufAllocator alloc) {
        int[] key = session.context.cancels.register(session);
        keyProcessId = key[0];
        keySecret = key[1];
        return Messages.backendKeyData(alloc, keyProcessId, keySecret);
    }

    void unregister() {
        if (keyProcessId != 0) {
            session.context.cancels.unregister(keyProcessId, session);
        }
    }

    /** A CancelRequest carrying this session's key arrived (on any loop). */
    void requested(int secretKey) {
        if ((secretKey ^ keySecret) != 0) {
            return;
        }
        session.loop.execute(this::requested);
    }

    /** The client's CancelRequest, on the session's loop: the running query is canceled, or the queued one. */
    void requested() {
        ClientSession s = session;
        if (s.state == ClientSession.State.ATTACHED && s.server != null && s.awaitingReady > 0) {
            CancelForwarder.cancel(s.context.transport, s.loop, s.server);
        } else if (s.state == ClientSession.State.WAITING && s.checkout.waiter != null) {
            cancelQueued();
        }
    }

    /**
     * A cancel for work that never reached a server: the first queued query (or extended batch up to its Sync)
     * fails with PostgreSQL's cancel error; anything the client queued after it still runs.
     */
    private void cancelQueued() {
        ArrayDeque<ByteBuf> pending = session.pending();
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
            untilSync = true;
            session.ctx.channel().config().setAutoRead(true);
        } else {
            answerCanceled();
        }
        if (pending.isEmpty()) {
            session.checkout.waiter.cancel();
            session.checkout.waiter = null;
            session.state = ClientSession.State.IDLE;
            session.user.clientMoved(Router.User.ClientState.WAITING, Router.User.ClientState.IDLE);
            session.ctx.channel().config().setAutoRead(true);
        }
    }

    private void answerCanceled() {
        session.ctx.write(Messages.errorResponse(
                session.ctx.alloc(), "ERROR", SqlState.QUERY_CANCELED, "canceling statement due to user request"));
        session.ctx.writeAndFlush(Messages.readyForQueryIdle());
    }

    // ---------------------------------------------------------------- what the timers see and do

    @Override
    public SessionTimers.Waiting waitingOn() {
        ClientSession s = session;
        if (s.state == ClientSession.State.IDLE) {
            return SessionTimers.Waiting.CLIENT_IDLE;
        }
        if (s.state != ClientSession.State.ATTACHED || s.server == null) {
            return SessionTimers.Waiting.NOTHING; // queued for a server: queryWait applies
        }
        if (s.awaitingReady > 0) {
            return SessionTimers.Waiting.SERVER;
        }
        if (s.queries.active()) {
            return SessionTimers.Waiting.NOTHING;
        }
        return s.extendedOpen || s.server.transactionStatus() != ProtocolConstants.TX_IDLE
                ? SessionTimers.Waiting.CLIENT_IN_TRANSACTION
                : SessionTimers.Waiting.CLIENT_IDLE;
    }

    @Override
    public boolean open() {
        return session.state != ClientSession.State.CLOSED;
    }

    @Override
    public void clientIdleExpired() {
        session.context.timeouts.clientIdle.increment();
        session.fatal(SqlState.IDLE_SESSION_TIMEOUT, "terminating connection due to idle-session timeout");
    }

    @Override
    public void idleInTransactionExpired() {
        // Closing the server rolls the transaction back and releases its locks (see ClientSession.leaveServer).
        session.context.timeouts.idleInTransaction.increment();
        session.fatal(IDLE_IN_TRANSACTION_SESSION_TIMEOUT, "terminating connection due to idle-in-transaction timeout");
    }

    @Override
    public void cancelQuery() {
        session.context.timeouts.query.increment();
        CancelForwarder.cancel(session.context.transport, session.loop, session.server);
    }

    @Override
    public void cancelIgnored(long graceMillis) {
        // The server did not end a timed-out query when asked: its state is unknown, so it and the client go.
        session.context.timeouts.queryCancelUnanswered.increment();
        ServerConnection s = session.server;
        session.server = null;
        session.checkout.endQuery();
        s.listener(null);
        session.checkout.pool.discard(s);
        log.warn("{}: server {} did not answer the cancel of a query past timeouts.query; closed it", session, s);
        session.fatal(
                SqlState.QUERY_CANCELED,
                "terminating connection because the server did not stop a statement past the statement timeout"
                        + " (timeouts.query) within " + graceMillis + " ms of the cancel request");
    }
}
