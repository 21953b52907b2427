package dev.pggat.pooler.frontend;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ProtocolConstants;
import io.netty.buffer.ByteBuf;
import java.util.ArrayDeque;
import java.util.List;

/**
 * The LISTEN stage (transaction mode with pools.listenRelay): a LISTEN or UNLISTEN is answered by the pooler
 * through the relay of the client's (database, user) instead of pinning a server, outside a transaction block at
 * once, inside one in its place among the server's replies and applied at COMMIT; relayed notifications reach the
 * client between transactions, as PostgreSQL delivers them.
 *
 * <p>From the client it claims a LISTEN/UNLISTEN alone in a Query or in an unnamed extended batch; from the server
 * it holds a committing transaction's ReadyForQuery (and what follows) until the relay listens. It works on its
 * session's state, on the session's event loop.
 */
final class ListenStage implements ListenRelay.Subscriber {
    private final ClientSession session;
    /** Transaction mode with the LISTEN relay: the channels this client listens to through it. */
    final java.util.Set<String> listening = new java.util.HashSet<>(2);

    ListenRelay relay;
    /** An extended-protocol LISTEN/UNLISTEN (unnamed Parse, Bind, Describe, Execute), answered at its Sync. */
    ArrayDeque<ByteBuf> listenBatch;

    ListenStatement listenBatchStatement;
    /** A LISTEN waits for the relay to listen: what the client sends meanwhile waits in the session's pending queue. */
    boolean listenWaiting;
    /** Relayed notifications that arrived while the client was inside a transaction: sent at its end. */
    ArrayDeque<ByteBuf> heldNotifications;
    /** Transaction mode: LISTEN/UNLISTEN the pooler answered inside a transaction block, applied at COMMIT. */
    final ListenRelayTransaction listenTx;
    /** The relay is being told about a commit's LISTENs: the server's replies wait in {@link #deferred}. */
    boolean listenApplying;

    ArrayDeque<ByteBuf> deferred;

    ListenStage(ClientSession session, boolean sessionMode) {
        this.session = session;
        this.listenTx = sessionMode ? null : new ListenRelayTransaction();
    }

    // ---------------------------------------------------------------- LISTEN through the relay (transaction mode)

    private static final byte[] SIMPLE_REPLIES = {ProtocolConstants.COMMAND_COMPLETE};
    private static final String CONFIGURATION_LIMIT_EXCEEDED = "53400";
    /** Messages of an extended-protocol LISTEN batch beyond which it is left to a session.server. */
    private static final int MAX_LISTEN_BATCH = 8;

    /**
     * No server attached, no transaction open: a LISTEN or UNLISTEN alone in a Query, or in an unnamed
     * Parse/Bind/Describe/Execute batch up to its Sync, is answered by the pooler once the relay listens, so the
     * client needs no server of its own. Returns true when {@code frame} was taken here.
     */
    boolean listenRelayed(ByteBuf frame) {
        if (listenWaiting) {
            session.pending.add(frame);
            return true;
        }
        if (listenBatch != null) {
            return listenBatchFrame(frame, Frames.type(frame));
        }
        if (!session.pending.isEmpty()) {
            return false;
        }
        ListenStatement st = listenStatement(frame);
        if (st == null) {
            return false;
        }
        if (Frames.type(frame) == ProtocolConstants.QUERY) {
            frame.release();
            listenCommand(st, SIMPLE_REPLIES);
        } else {
            listenBatch = new ArrayDeque<>(4);
            listenBatch.add(frame);
            listenBatchStatement = st;
        }
        return true;
    }

    /** The LISTEN or UNLISTEN a Query or unnamed Parse (without declared parameter types) holds, or null. */
    static ListenStatement listenStatement(ByteBuf frame) {
        byte type = Frames.type(frame);
        int start = Frames.bodyStart(frame);
        if (type == ProtocolConstants.PARSE) {
            if (frame.getByte(start) != 0) {
                return null; // named statements stay with the server
            }
            start++;
        } else if (type != ProtocolConstants.QUERY) {
            return null;
        }
        int end = frame.indexOf(start, frame.writerIndex(), (byte) 0);
        if (end <= start || !ListenStatement.mayBe(frame, start, end)) {
            return null;
        }
        if (type == ProtocolConstants.PARSE && (end + 3 > frame.writerIndex() || frame.getShort(end + 1) != 0)) {
            return null;
        }
        return ListenStatement.parse(frame.toString(start, end - start, java.nio.charset.StandardCharsets.UTF_8));
    }

    private boolean listenBatchFrame(ByteBuf frame, byte type) {
        int body = Frames.bodyStart(frame);
        int end = frame.writerIndex();
        boolean fits =
                switch (type) {
                    case ProtocolConstants.BIND ->
                        body + 2 <= end
                                && frame.getByte(body) == 0
                                && frame.getByte(body + 1) == 0
                                && bindsNoParameters(frame, body + 2);
                    case ProtocolConstants.DESCRIBE -> body + 2 <= end && frame.getByte(body + 1) == 0;
                    case ProtocolConstants.EXECUTE -> body < end && frame.getByte(body) == 0;
                    case ProtocolConstants.SYNC -> true;
                    default -> false;
                };
        byte[] replies = fits && type == ProtocolConstants.SYNC ? listenBatchReplies() : null;
        if (type == ProtocolConstants.TERMINATE) {
            releaseListenBatch();
            return false;
        }
        if (!fits || listenBatch.size() >= MAX_LISTEN_BATCH || (type == ProtocolConstants.SYNC && replies == null)) {
            // Not a batch the pooler can answer exactly as the server would (Flush, parameters, named portals):
            // it goes to a server, as any other batch.
            session.pending.addAll(listenBatch);
            listenBatch = null;
            session.pending.add(frame);
            session.checkOut();
            return true;
        }
        if (type != ProtocolConstants.SYNC) {
            listenBatch.add(frame);
            return true;
        }
        frame.release();
        ListenStatement st = listenBatchStatement;
        releaseListenBatch();
        listenCommand(st, replies);
        return true;
    }

    private static boolean bindsNoParameters(ByteBuf bind, int pos) {
        int end = bind.writerIndex();
        if (pos + 2 > end) {
            return false;
        }
        pos += 2 + 2 * bind.getShort(pos);
        return pos + 2 <= end && bind.getShort(pos) == 0;
    }

    /** The replies the session.server would give to the batch, in order; null when the batch is not a plain one. */
    private byte[] listenBatchReplies() {
        byte[] out = new byte[2 * listenBatch.size()];
        int n = 0;
        boolean bound = false;
        boolean executed = false;
        for (ByteBuf f : listenBatch) {
            switch (Frames.type(f)) {
                case ProtocolConstants.PARSE -> out[n++] = ProtocolConstants.PARSE_COMPLETE;
                case ProtocolConstants.BIND -> {
                    bound = true;
                    out[n++] = ProtocolConstants.BIND_COMPLETE;
                }
                case ProtocolConstants.DESCRIBE -> {
                    if (f.getByte(Frames.bodyStart(f)) == 'S') {
                        out[n++] = ProtocolConstants.PARAMETER_DESCRIPTION;
                    } else if (!bound) {
                        return null;
                    }
                    out[n++] = ProtocolConstants.NO_DATA;
                }
                case ProtocolConstants.EXECUTE -> {
                    if (!bound || executed) {
                        return null;
                    }
                    executed = true;
                    out[n++] = ProtocolConstants.COMMAND_COMPLETE;
                }
                default -> {
                    return null;
                }
            }
        }
        return java.util.Arrays.copyOf(out, n);
    }

    private void releaseListenBatch() {
        if (listenBatch != null) {
            listenBatch.forEach(ByteBuf::release);
            listenBatch = null;
            listenBatchStatement = null;
        }
    }

    private ListenRelay relay() {
        if (relay == null) {
            relay = session.context.listenRelays.relay(session.user);
        }
        return relay;
    }

    /** Runs a LISTEN or UNLISTEN through the relay and answers the client with {@code replies}. */
    private void listenCommand(ListenStatement st, byte[] replies) {
        boolean executes = false;
        for (byte r : replies) {
            executes |= r == ProtocolConstants.COMMAND_COMPLETE;
        }
        if (!executes) {
            answerListen(st, replies, null);
            return;
        }
        if (!st.listen()) {
            unlistened(List.of(st));
            answerListen(st, replies, null);
            return;
        }
        String channel = st.channel();
        if (listening.contains(channel)) {
            answerListen(st, replies, null);
            return;
        }
        int max = session.context.listenRelays.maxChannelsPerClient();
        if (listening.size() >= max) {
            answerListen(
                    st,
                    replies,
                    new ErrorFields(
                            "ERROR",
                            CONFIGURATION_LIMIT_EXCEEDED,
                            "too many LISTEN channels: this client already listens to " + max
                                    + " channels through the pooler (limit set by pools.listenRelayMaxChannels)"));
            return;
        }
        listening.add(channel);
        listenWaiting = true;
        session.ctx.channel().config().setAutoRead(false);
        relay().subscribe(this, channel, error -> session.loop.execute(() -> listenDone(st, replies, error)));
    }

    private void listenDone(ListenStatement st, byte[] replies, ErrorFields error) {
        if (session.state == ClientSession.State.CLOSED) {
            return;
        }
        listenWaiting = false;
        if (error != null) {
            listening.remove(st.channel());
        }
        answerListen(st, replies, error);
        resumePending();
    }

    private void answerListen(ListenStatement st, byte[] replies, ErrorFields error) {
        for (byte r : replies) {
            if (r == ProtocolConstants.COMMAND_COMPLETE && error != null) {
                session.ctx.write(
                        Messages.errorResponse(session.ctx.alloc(), "ERROR", error.sqlState(), error.message()));
                break;
            }
            ByteBuf out = session.ctx.alloc().buffer(16);
            out.writeByte(r).writeInt(4);
            if (r == ProtocolConstants.PARAMETER_DESCRIPTION) {
                out.writeShort(0);
            } else if (r == ProtocolConstants.COMMAND_COMPLETE) {
                out.writeBytes((st.listen() ? "LISTEN" : "UNLISTEN")
                                .getBytes(java.nio.charset.StandardCharsets.US_ASCII))
                        .writeByte(0);
            }
            out.setInt(1, out.writerIndex() - 1);
            session.ctx.write(out, session.ctx.voidPromise());
        }
        session.ctx.writeAndFlush(Messages.readyForQueryIdle());
    }

    /** What the client sent while the pooler answered it by itself is read again, in order. */
    void resumePending() {
        ArrayDeque<ByteBuf> again = new ArrayDeque<>(session.pending);
        session.pending.clear();
        ByteBuf f;
        while ((f = again.poll()) != null) {
            session.channelRead(session.ctx, f);
        }
        if (session.state == ClientSession.State.IDLE && !listenWaiting) {
            session.ctx.channel().config().setAutoRead(true);
        }
    }

    /** UNLISTENs (answered by the pooler, or sent to a session.server): the relay stops delivering those channels. */
    void unlistened(List<ListenStatement> unlisten) {
        for (ListenStatement u : unlisten) {
            if (u.channel() == null) {
                unlistenAll();
            } else if (listening.remove(u.channel())) {
                relay().unsubscribe(this, u.channel());
            }
        }
    }

    void unlistenAll() {
        if (!listening.isEmpty()) {
            relay().unsubscribeAll(this, List.copyOf(listening));
            listening.clear();
        }
    }

    void leaveListenRelay() {
        unlistenAll();
        releaseListenBatch();
        if (heldNotifications != null) {
            heldNotifications.forEach(ByteBuf::release);
            heldNotifications = null;
        }
    }

    @Override
    public void notification(String channel, ByteBuf frame) {
        session.loop.execute(() -> relayedNotification(channel, frame));
    }

    private void relayedNotification(String channel, ByteBuf frame) {
        if (session.state == ClientSession.State.CLOSED || !listening.contains(channel)) {
            frame.release();
            return;
        }
        boolean inTransaction = session.state == ClientSession.State.ATTACHED
                && (session.awaitingReady > 0
                        || session.extendedOpen
                        || session.server == null
                        || session.server.transactionStatus() != ProtocolConstants.TX_IDLE);
        if (inTransaction) {
            if (heldNotifications == null) {
                heldNotifications = new ArrayDeque<>(2);
            }
            heldNotifications.add(frame);
            return;
        }
        session.ctx.writeAndFlush(frame, session.ctx.voidPromise());
    }

    /** Writes the held notifications of channels the client still listens to (an UNLISTEN may have come since). */
    void flushNotifications() {
        ByteBuf f;
        while ((f = heldNotifications.poll()) != null) {
            if (listening.contains(Frames.cstring(f, Frames.bodyStart(f) + 4))) {
                session.ctx.write(f, session.ctx.voidPromise());
            } else {
                f.release();
            }
        }
        heldNotifications = null;
    }

    // ---------------------------------------------------------------- LISTEN inside a transaction block

    private static final byte[] SIMPLE_IN_TRANSACTION = {
        ProtocolConstants.COMMAND_COMPLETE, ProtocolConstants.READY_FOR_QUERY
    };
    private static final byte[] PARSED = {ProtocolConstants.PARSE_COMPLETE};
    private static final byte[] BOUND = {ProtocolConstants.BIND_COMPLETE};
    private static final byte[] DESCRIBED_STATEMENT = {
        ProtocolConstants.PARAMETER_DESCRIPTION, ProtocolConstants.NO_DATA
    };
    private static final byte[] DESCRIBED_PORTAL = {ProtocolConstants.NO_DATA};
    private static final byte[] EXECUTED = {ProtocolConstants.COMMAND_COMPLETE};
    private static final byte[] CLOSED = {ProtocolConstants.CLOSE_COMPLETE};

    /** Replies the pooler gives in place of the session.server's; a CommandComplete records the statement as taken. */
    record ListenReply(ListenStatement statement, byte[] replies) {}

    /**
     * Inside a transaction block (the server said so and nothing is in flight, or the batch began it), a LISTEN or
     * UNLISTEN alone in a Query, or as the unnamed statement of an extended batch, is answered by the pooler in
     * its place among the server's replies and applied to the relay if the transaction commits, as PostgreSQL
     * applies it at COMMIT. Returns true when {@code frame} was taken here.
     */
    boolean takeListen(ByteBuf frame, byte type) {
        ListenRelayTransaction tx = listenTx;
        int body = Frames.bodyStart(frame);
        ListenReply reply;
        switch (type) {
            case ProtocolConstants.QUERY -> {
                if (!tx.mayTakeQuery(session.server.transactionStatus(), session.awaitingReady, session.extendedOpen)) {
                    return false;
                }
                ListenStatement st = listenStatement(frame);
                if (st == null) {
                    return false;
                }
                reply = new ListenReply(st, SIMPLE_IN_TRANSACTION);
            }
            case ProtocolConstants.PARSE -> {
                if (frame.getByte(body) != 0) {
                    return false;
                }
                ListenStatement st = tx.mayTakeParse(session.server.transactionStatus(), session.awaitingReady)
                        ? listenStatement(frame)
                        : null;
                // Any unnamed Parse replaces the unnamed statement, the pooler's included.
                tx.dropUnnamed();
                if (st == null) {
                    return false;
                }
                keepForReplay(frame);
                tx.unnamed = st;
                tx.unnamedParse = frame;
                session.extendedOpen = true;
                session.prepared.tracker.add(
                        ResponseTracker.SYNTHETIC_REPLY, new ListenReply(st, PARSED), session.prepared);
                return true;
            }
            case ProtocolConstants.BIND -> {
                if (tx.unnamed == null && !tx.portal) {
                    return false;
                }
                boolean unnamedPortal = frame.getByte(body) == 0;
                int stmtAt = Frames.skipCstring(frame, body);
                if (frame.getByte(stmtAt) == 0 && tx.unnamed != null) {
                    if (unnamedPortal && bindsNoParameters(frame, stmtAt + 1)) {
                        tx.portal = true;
                        reply = new ListenReply(tx.unnamed, BOUND);
                    } else {
                        // A use the pooler does not answer (parameters, a named portal): the server gets the
                        // statement after all, and the client keeps that server as before.
                        sendUnnamedListen();
                        return false;
                    }
                } else {
                    if (unnamedPortal) {
                        tx.portal = false;
                    }
                    return false;
                }
            }
            case ProtocolConstants.DESCRIBE -> {
                if (body + 2 > frame.writerIndex() || frame.getByte(body + 1) != 0) {
                    return false;
                }
                if (frame.getByte(body) == 'S' && tx.unnamed != null) {
                    reply = new ListenReply(tx.unnamed, DESCRIBED_STATEMENT);
                } else if (frame.getByte(body) == 'P' && tx.portal) {
                    reply = new ListenReply(tx.unnamed, DESCRIBED_PORTAL);
                } else {
                    return false;
                }
            }
            case ProtocolConstants.EXECUTE -> {
                if (!tx.portal || frame.getByte(body) != 0) {
                    return false;
                }
                reply = new ListenReply(tx.unnamed, EXECUTED);
            }
            case ProtocolConstants.CLOSE -> {
                if (frame.getByte(body + 1) != 0) {
                    return false;
                }
                if (frame.getByte(body) == 'S' && tx.unnamed != null) {
                    tx.dropUnnamed();
                } else if (frame.getByte(body) == 'P' && tx.portal) {
                    tx.portal = false;
                } else {
                    return false;
                }
                reply = new ListenReply(null, CLOSED);
            }
            default -> {
                return false;
            }
        }
        keepForReplay(frame);
        frame.release();
        if (type != ProtocolConstants.QUERY) {
            session.extendedOpen = true;
        }
        session.prepared.tracker.add(ResponseTracker.SYNTHETIC_REPLY, reply, session.prepared);
        if (type == ProtocolConstants.QUERY) {
            session.ctx.flush(); // nothing goes to the server, so no reply of its own will flush this one
        }
        return true;
    }

    /** A frame the pooler answers itself is still part of what a replayed replica transaction sends again. */
    private void keepForReplay(ByteBuf frame) {
        session.routing.keep(frame);
    }

    /** The pooler's unnamed LISTEN statement is needed on the session.server: it is parsed there now. */
    private void sendUnnamedListen() {
        ByteBuf parse = listenTx.unnamedParse;
        listenTx.unnamedParse = null;
        listenTx.dropUnnamed();
        session.noteSessionEffects(parse, ProtocolConstants.PARSE, false);
        session.prepared.tracker.add(
                ResponseTracker.ADDED_PARSE, null, session.prepared); // the client already has its ParseComplete
        session.server.channel().write(parse, session.server.channel().voidPromise());
    }

    void listenReply(ListenReply r) {
        for (byte kind : r.replies()) {
            ByteBuf out;
            if (kind == ProtocolConstants.READY_FOR_QUERY) {
                out = Messages.readyForQuery(session.ctx.alloc(), ProtocolConstants.TX_IN_BLOCK);
            } else {
                out = session.ctx.alloc().buffer(16);
                out.writeByte(kind).writeInt(4);
                if (kind == ProtocolConstants.PARAMETER_DESCRIPTION) {
                    out.writeShort(0);
                } else if (kind == ProtocolConstants.COMMAND_COMPLETE) {
                    listenTx.taken(r.statement());
                    out.writeBytes((r.statement().listen() ? "LISTEN" : "UNLISTEN")
                                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII))
                            .writeByte(0);
                }
                out.setInt(1, out.writerIndex() - 1);
            }
            session.toClient(out);
        }
    }

    /**
     * A committed transaction's LISTEN/UNLISTEN reach the relay before the client hears ReadyForQuery, so a
     * NOTIFY sent once its COMMIT returned is delivered. Returns true when that ReadyForQuery now waits for the
     * relay; a channel the relay cannot listen to is reported as a WARNING and the client stays unsubscribed.
     */
    boolean applyCommittedListens(List<ListenStatement> committed, ServerConnection s, ByteBuf frame, byte status) {
        java.util.Set<String> target = ListenRelayTransaction.after(listening, committed);
        List<String> gone = new java.util.ArrayList<>();
        for (String ch : listening) {
            if (!target.contains(ch)) {
                gone.add(ch);
            }
        }
        if (!gone.isEmpty()) {
            gone.forEach(listening::remove);
            relay().unsubscribeAll(this, gone);
        }
        int max = session.context.listenRelays.maxChannelsPerClient();
        int[] left = {0};
        for (String ch : target) {
            if (listening.contains(ch)) {
                continue;
            }
            if (listening.size() >= max) {
                committedListenFailed(
                        ch,
                        CONFIGURATION_LIMIT_EXCEEDED,
                        "this client already listens to " + max
                                + " channels through the pooler (limit set by pools.listenRelayMaxChannels)");
                continue;
            }
            listening.add(ch);
            left[0]++;
            relay().subscribe(
                            this,
                            ch,
                            error -> session.loop.execute(() -> {
                                if (session.state == ClientSession.State.CLOSED) {
                                    if (--left[0] == 0) {
                                        frame.release();
                                        releaseDeferred();
                                    }
                                    return;
                                }
                                if (error != null) {
                                    listening.remove(ch);
                                    committedListenFailed(ch, error.sqlState(), error.message());
                                }
                                if (--left[0] == 0) {
                                    committedListensApplied(s, frame, status);
                                }
                            }));
        }
        if (left[0] == 0) {
            return false;
        }
        listenApplying = true;
        if (deferred == null) {
            deferred = new ArrayDeque<>(2);
        }
        s.channel().config().setAutoRead(false);
        return true;
    }

    private void committedListenFailed(String channel, String sqlState, String message) {
        session.ctx.write(Messages.noticeResponse(
                session.ctx.alloc(),
                "WARNING",
                sqlState,
                "LISTEN " + ListenStatement.quote(channel)
                        + " was committed, but the pooler could not listen to that channel: " + message
                        + "; this client gets no notifications of it"));
    }

    private void committedListensApplied(ServerConnection s, ByteBuf frame, byte status) {
        listenApplying = false;
        if (session.server != s || session.state != ClientSession.State.ATTACHED) {
            frame.release();
            releaseDeferred();
            return;
        }
        session.finishReady(s, frame, status);
        if (session.server == s && session.state == ClientSession.State.ATTACHED) {
            session.prepared.afterServerFrame();
        }
        ByteBuf f;
        while (deferred != null && (f = deferred.poll()) != null) {
            session.serverFrameThenSynthetic(s, f);
        }
        if (session.server == s) {
            s.channel().config().setAutoRead(session.ctx.channel().isWritable());
        }
        session.ctx.flush();
    }

    void releaseDeferred() {
        listenApplying = false;
        if (deferred != null) {
            deferred.forEach(ByteBuf::release);
            deferred.clear();
        }
    }
}
