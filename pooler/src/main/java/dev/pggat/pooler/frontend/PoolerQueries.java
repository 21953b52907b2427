package dev.pggat.pooler.frontend;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerQuery;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ProtocolConstants;
import io.netty.buffer.ByteBuf;

/**
 * The pooler's own queries on the server a client holds, run in line with the client's messages through {@link
 * ServerQuery.InSession}: the client's settings before its first message on a server, their restore after a
 * RESET, and at a transaction's end (transaction mode) the read-back of what it changed, a DEALLOCATE ALL after a
 * stale plan, and the WAL position after a write. Their replies are eaten, except that a failed parameter sync warns
 * the client.
 */
final class PoolerQueries implements ServerQuery.InSession.Replies {
    private final ClientSession session;
    /** Made at the first query: many clients never need one. */
    private ServerQuery.InSession queries;
    /** Running the queries that end a transaction: the client's next messages wait for the server to go back. */
    boolean afterTransaction;

    PoolerQueries(ClientSession session) {
        this.session = session;
    }

    /** The server died: whatever the pooler's queries awaited there is gone with it. */
    void lost() {
        queries = null;
        afterTransaction = false;
    }

    /** Replies to the pooler's queries are due: the session's server frames go to {@link #reply}. */
    boolean active() {
        return queries != null && queries.active();
    }

    void reply(ServerConnection s, ByteBuf frame) {
        queries.reply(s, frame, this);
    }

    private void send(ServerConnection s, String sql) {
        if (queries == null) {
            queries = new ServerQuery.InSession();
        }
        queries.send(s, sql);
    }

    /** The client's settings go in front of its own messages on the server it was given. */
    void sync(ServerConnection s) {
        String query = session.parameters.syncQuery(s);
        if (query != null) {
            send(s, query);
        }
    }

    /** After a RESET: the client's startup values are set back. */
    void restore(ServerConnection s) {
        String query = session.parameters.restoreQuery(s);
        if (query != null) {
            send(s, query);
            s.channel().flush();
        }
    }

    /**
     * The transaction is over and the server idle: before letting the server go, read back settings the
     * transaction changed (committed or rolled back, SET LOCAL or not, the server knows the result), deallocate
     * statements after a stale plan, and note the WAL position after a write. One step per round trip; the server
     * goes back after the last.
     */
    void endOfTransaction(ServerConnection s) {
        if (session.awaitingReady != 0 || session.extendedOpen || s.transactionStatus() != ProtocolConstants.TX_IDLE) {
            // The client already sent more: the pooler's queries wait for the next idle moment, so that they
            // never interleave with the client's.
            afterTransaction = false;
            return;
        }
        afterTransaction = true;
        String query = session.parameters.restoreQuery(s);
        if (query == null) {
            // RESET ALL / DISCARD ALL: the server is back at its own defaults; the client at its startup values.
            query = session.parameters.readBackQuery(s);
        }
        if (query == null && s.statements().invalidated()) {
            // Whatever the client sends next reaches the server after this, so the cache is empty from now on.
            s.statements().clear();
            query = "DEALLOCATE ALL";
        }
        if (query == null) {
            query = session.routing.walPositionQuery();
        }
        if (query != null) {
            send(s, query);
            s.channel().flush();
            return;
        }
        afterTransaction = false;
        session.checkout.releaseIfIdle(s);
    }

    @Override
    public void done(ServerConnection s) {
        session.parameters.pin(session.parameters.poolerQueryDone(s), session.context);
        session.tracer.pinned(session.parameters.pinned());
        session.routing.poolerQueryDone();
        if (!queries.active() && afterTransaction) {
            endOfTransaction(s);
        }
    }

    @Override
    public void parameterStatus(ServerConnection s, ByteBuf frame) {
        if (session.parameters.restoring()) {
            // The client's own value is back; the client is not told between queries (drivers such as pgjdbc
            // take a ParameterStatus outside a query's replies for a protocol error).
            session.parameters.parameterStatus(s, frame);
        }
    }

    @Override
    public void dataRow(ServerConnection s, ByteBuf frame) {
        SessionParameters parameters = session.parameters;
        if (parameters.checkingState()) {
            parameters.stateRow(frame);
        } else if (parameters.capturing()) {
            parameters.captured(s, frame);
        } else if (session.routing.capturingWalPosition()) {
            session.routing.walPosition(frame);
        }
    }

    @Override
    public void error(ServerConnection s, ErrorFields err) {
        if (afterTransaction) {
            return;
        }
        // A value the server rejects (PostgreSQL would have refused the connection): stop asking for it, and warn
        // the client instead of failing its query.
        session.parameters.rejected(s);
        session.ctx.write(Messages.noticeResponse(
                session.ctx.alloc(),
                "WARNING",
                err.sqlState(),
                "pooler could not apply session parameters from the startup packet: " + err.message()));
    }
}
