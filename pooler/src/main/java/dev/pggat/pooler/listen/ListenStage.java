package dev.pggat.pooler.listen;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.protocol.Bind;
import dev.pggat.pooler.protocol.Close;
import dev.pggat.pooler.protocol.Describe;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Execute;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.NotificationResponse;
import dev.pggat.pooler.protocol.Parse;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.ProtocolException;
import dev.pggat.pooler.protocol.Query;
import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.sql.SqlTokens;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoop;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The LISTEN stage (transaction mode with pools.listenRelay): a LISTEN or UNLISTEN is answered by the pooler
 * through the relay of the client's (database, user) instead of pinning a server, outside a transaction block at
 * once, inside one in its place among the server's replies and applied at COMMIT; relayed notifications reach the
 * client between transactions, as PostgreSQL delivers them.
 *
 * <p>From the client it claims a LISTEN/UNLISTEN alone in a Query or in an unnamed extended batch; from the server
 * it holds a committing transaction's ReadyForQuery (and what follows) until the relay listens. It works on its
 * session's state ({@link Session}), on the session's event loop. Off (session mode, or no relay configured), every
 * hook returns at its first test.
 */
public final class ListenStage implements ListenRelay.Subscriber {
    /** What the stage needs of its client session. */
    public interface Session {
        /** The session's lexed view of the message at hand, shared with its other stages; null: none. */
        default SqlTokens sql() {
            return null;
        }

        ChannelHandlerContext client();

        EventLoop loop();

        /** The client's (database, user): its relay is that pair's. */
        Router.User user();

        /** What the client sent that waits for a server or for this stage. */
        ArrayDeque<ByteBuf> pending();

        boolean closed();

        boolean idle();

        boolean attached();

        /** Routes the first pending message and asks for a server. */
        void checkOut();

        /** Reads {@code frame} again, as if the client had just sent it. */
        void reread(ByteBuf frame);

        ServerConnection server();

        int awaitingReady();

        boolean extendedOpen();

        /** An extended-protocol message was answered here: the batch is open until its Sync. */
        void extendedOpened();

        /** The replies made up for {@code reply} go out in its place among the server's ({@link #reply}). */
        void expectReply(Object reply);

        /** A Parse the stage sends after all: the server's ParseComplete is not the client's. */
        void expectAddedParse();

        /** A frame answered here still belongs to a replica transaction that may be replayed. */
        void keepForReplay(ByteBuf frame);

        /** A Parse the stage sends to the server after all: its session effects are noted as for any other. */
        void noteParse(ByteBuf parse);

        /** A reply for the client, in order with the server's. */
        void toClient(ByteBuf frame);

        /** The client's ReadyForQuery goes out, and the server is let go at a transaction's end. */
        void finishReady(ServerConnection s, ByteBuf frame, byte status);

        /** A server frame held while the relay listened is handled now. */
        void serverFrame(ServerConnection s, ByteBuf frame);

        /** Made-up replies that follow a server frame go out. */
        void afterServerFrame();
    }

    private final Session session;
    /** The client's relay, found at its first use; null while it has none. */
    private final ListenRelays relays;

    /** The channels this client listens to through the relay; made at the first LISTEN. */
    private Set<String> listening;

    private ListenRelay relay;
    /** An extended-protocol LISTEN/UNLISTEN (unnamed Parse, Bind, Describe, Execute), answered at its Sync. */
    private ArrayDeque<ByteBuf> listenBatch;

    private ListenStatement listenBatchStatement;
    /** A LISTEN waits for the relay to listen: what the client sends meanwhile waits in the session's pending queue. */
    private boolean listenWaiting;
    /** Relayed notifications that arrived while the client was inside a transaction: sent at its end. */
    private ArrayDeque<ByteBuf> heldNotifications;
    /** LISTEN/UNLISTEN the pooler answered inside a transaction block, applied at COMMIT; null when off. */
    final ListenRelayTransaction listenTx;
    /** The relay is being told about a commit's LISTENs: the server's replies wait in {@link #deferred}. */
    private boolean listenApplying;

    private ArrayDeque<ByteBuf> deferred;

    /**
     * {@code relays}: null when the relay is off, and the stage then claims nothing. {@code transactionMode}: the
     * transaction is followed (even with the relay off, a LISTEN in a failed transaction does not pin), and the
     * stage claims with a relay; in session mode a LISTEN is the server's.
     */
    public ListenStage(Session session, ListenRelays relays, boolean transactionMode) {
        this.session = session;
        this.relays = transactionMode ? relays : null;
        this.listenTx = transactionMode ? new ListenRelayTransaction() : null;
    }

    // ---------------------------------------------------------------- LISTEN through the relay (no server)

    private static final byte[] SIMPLE_REPLIES = {ProtocolConstants.COMMAND_COMPLETE};
    private static final String CONFIGURATION_LIMIT_EXCEEDED = "53400";
    /** Messages of an extended-protocol LISTEN batch beyond which it is left to a server. */
    private static final int MAX_LISTEN_BATCH = 8;

    /**
     * No server attached, no transaction open: a LISTEN or UNLISTEN alone in a Query, or in an unnamed
     * Parse/Bind/Describe/Execute batch up to its Sync, is answered by the pooler once the relay listens, so the
     * client needs no server of its own. Returns true when {@code frame} was taken here.
     */
    public boolean idleFrame(ByteBuf frame) {
        if (relays == null) {
            return false;
        }
        if (listenWaiting) {
            session.pending().add(frame);
            return true;
        }
        if (listenBatch != null) {
            return listenBatchFrame(frame, Frames.type(frame));
        }
        if (!session.pending().isEmpty()) {
            return false;
        }
        ListenStatement st = listenStatement(frame, session.sql());
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

    /** Would the stage answer {@code first} without a server (it is a LISTEN or UNLISTEN it takes)? */
    public boolean takes(ByteBuf first) {
        return relays != null && listenStatement(first, session.sql()) != null;
    }

    /**
     * The LISTEN or UNLISTEN a Query or unnamed Parse (without declared parameter types) holds, or null; a
     * malformed frame is left to the server, which answers it as PostgreSQL does.
     */
    static ListenStatement listenStatement(ByteBuf frame) {
        return listenStatement(frame, null);
    }

    /** As {@link #listenStatement(ByteBuf)}, reading the text through the session's lexed view ({@code sql}). */
    static ListenStatement listenStatement(ByteBuf frame, SqlTokens sql) {
        byte type = Frames.type(frame);
        if (type != ProtocolConstants.PARSE && type != ProtocolConstants.QUERY) {
            return null;
        }
        try {
            boolean parse = type == ProtocolConstants.PARSE;
            if (parse && !Parse.isUnnamed(frame)) {
                return null; // named statements stay with the server
            }
            int start = parse ? Parse.queryStart(frame) : Query.textStart(frame);
            int end = parse ? Parse.queryEndOrMinusOne(frame) : Query.textEndOrMinusOne(frame);
            if (end <= start
                    || !(sql == null
                            ? ListenStatement.mayBe(frame, start, end)
                            : ListenStatement.mayBe(
                                    sql.of(frame, start, end, true).lexer()))) {
                return null;
            }
            if (parse && !Parse.declaresNoParameterTypes(frame)) {
                return null;
            }
            return ListenStatement.parse(frame.toString(start, end - start, StandardCharsets.UTF_8));
        } catch (ProtocolException malformed) {
            return null;
        }
    }

    /** A message of an unnamed batch the stage may answer itself (no parameters, unnamed portal and statement)? */
    private static boolean plainBatchMessage(ByteBuf frame, byte type) {
        try {
            return switch (type) {
                case ProtocolConstants.BIND ->
                    Bind.portalIsUnnamed(frame) && Bind.statementIsUnnamed(frame) && Bind.hasNoParameters(frame);
                case ProtocolConstants.DESCRIBE -> Describe.isUnnamed(frame);
                case ProtocolConstants.EXECUTE -> Execute.portalIsUnnamed(frame);
                case ProtocolConstants.SYNC -> true;
                default -> false;
            };
        } catch (ProtocolException malformed) {
            return false;
        }
    }

    private boolean listenBatchFrame(ByteBuf frame, byte type) {
        boolean fits = plainBatchMessage(frame, type);
        byte[] replies = fits && type == ProtocolConstants.SYNC ? listenBatchReplies() : null;
        if (type == ProtocolConstants.TERMINATE) {
            releaseListenBatch();
            return false;
        }
        if (!fits || listenBatch.size() >= MAX_LISTEN_BATCH || (type == ProtocolConstants.SYNC && replies == null)) {
            // Not a batch the pooler can answer exactly as the server would (Flush, parameters, named portals):
            // it goes to a server, as any other batch.
            session.pending().addAll(listenBatch);
            listenBatch = null;
            session.pending().add(frame);
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

    /** The replies the server would give to the batch, in order; null when the batch is not a plain one. */
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
                    if (Describe.isStatement(f)) {
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
            relay = relays.relay(session.user());
        }
        return relay;
    }

    private Set<String> listening() {
        if (listening == null) {
            listening = new HashSet<>(4);
        }
        return listening;
    }

    private boolean listensTo(String channel) {
        return listening != null && listening.contains(channel);
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
        if (listensTo(channel)) {
            answerListen(st, replies, null);
            return;
        }
        int max = relays.maxChannelsPerClient();
        if (listening().size() >= max) {
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
        session.client().channel().config().setAutoRead(false);
        relay().subscribe(this, channel, error -> session.loop().execute(() -> listenDone(st, replies, error)));
    }

    private void listenDone(ListenStatement st, byte[] replies, ErrorFields error) {
        if (session.closed()) {
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
        ChannelHandlerContext ctx = session.client();
        for (byte r : replies) {
            if (r == ProtocolConstants.COMMAND_COMPLETE && error != null) {
                ctx.write(Messages.errorResponse(ctx.alloc(), "ERROR", error.sqlState(), error.message()));
                break;
            }
            ctx.write(made(r, st), ctx.voidPromise());
        }
        ctx.writeAndFlush(Messages.readyForQueryIdle());
    }

    /** The reply of kind {@code kind} the server would give to {@code st}. */
    private ByteBuf made(byte kind, ListenStatement st) {
        ByteBuf out = session.client().alloc().buffer(16);
        out.writeByte(kind).writeInt(4);
        if (kind == ProtocolConstants.PARAMETER_DESCRIPTION) {
            out.writeShort(0);
        } else if (kind == ProtocolConstants.COMMAND_COMPLETE) {
            out.writeBytes((st.listen() ? "LISTEN" : "UNLISTEN").getBytes(StandardCharsets.US_ASCII))
                    .writeByte(0);
        }
        return out.setInt(1, out.writerIndex() - 1);
    }

    /** What the client sent while the pooler answered it by itself is read again, in order. */
    public void resumePending() {
        ArrayDeque<ByteBuf> again = new ArrayDeque<>(session.pending());
        session.pending().clear();
        ByteBuf f;
        while ((f = again.poll()) != null) {
            session.reread(f);
        }
        if (session.idle() && !listenWaiting) {
            session.client().channel().config().setAutoRead(true);
        }
    }

    /** UNLISTENs (answered by the pooler, or sent to a server): the relay stops delivering those channels. */
    public void unlistened(List<ListenStatement> unlisten) {
        for (ListenStatement u : unlisten) {
            if (u.channel() == null) {
                unlistenAll();
            } else if (listening != null && listening.remove(u.channel())) {
                relay().unsubscribe(this, u.channel());
            }
        }
    }

    /** UNLISTEN * (also part of DISCARD ALL). */
    public void unlistenAll() {
        if (listening != null && !listening.isEmpty()) {
            relay().unsubscribeAll(this, List.copyOf(listening));
            listening.clear();
        }
    }

    @Override
    public void notification(String channel, ByteBuf frame) {
        session.loop().execute(() -> relayedNotification(channel, frame));
    }

    private void relayedNotification(String channel, ByteBuf frame) {
        if (session.closed() || !listensTo(channel)) {
            frame.release();
            return;
        }
        ServerConnection server = session.server();
        boolean inTransaction = session.attached()
                && (session.awaitingReady() > 0
                        || session.extendedOpen()
                        || server == null
                        || server.transactionStatus() != ProtocolConstants.TX_IDLE);
        if (inTransaction) {
            if (heldNotifications == null) {
                heldNotifications = new ArrayDeque<>(2);
            }
            heldNotifications.add(frame);
            return;
        }
        session.client().writeAndFlush(frame, session.client().voidPromise());
    }

    /**
     * Before the client's ReadyForQuery: at a transaction's end, as PostgreSQL does, the notifications that came
     * during it go out (of channels the client still listens to: an UNLISTEN may have come since).
     */
    public void beforeReady(byte status) {
        if (heldNotifications == null || status != ProtocolConstants.TX_IDLE) {
            return;
        }
        ByteBuf f;
        while ((f = heldNotifications.poll()) != null) {
            if (listensTo(NotificationResponse.channel(f))) {
                session.client().write(f, session.client().voidPromise());
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

    /** Replies the pooler gives in place of the server's; a CommandComplete records the statement as taken. */
    record ListenReply(ListenStatement statement, byte[] replies) {}

    /**
     * A message of the client's on its way to the server. Inside a transaction block (the server said so and
     * nothing is in flight, or the batch began it), a LISTEN or UNLISTEN alone in a Query, or as the unnamed
     * statement of an extended batch, is answered by the pooler in its place among the server's replies and
     * applied to the relay if the transaction commits, as PostgreSQL applies it at COMMIT. Returns true when
     * {@code frame} was taken here. {@code pinned}: the client keeps its server, whose LISTEN then works as is.
     */
    public boolean claims(ByteBuf frame, byte type, boolean pinned) {
        if (relays == null || pinned) {
            return false;
        }
        ListenRelayTransaction tx = listenTx;
        ServerConnection server = session.server();
        ListenReply reply;
        try {
            switch (type) {
                case ProtocolConstants.QUERY -> {
                    if (!tx.mayTakeQuery(server.transactionStatus(), session.awaitingReady(), session.extendedOpen())) {
                        return false;
                    }
                    ListenStatement st = listenStatement(frame, session.sql());
                    if (st == null) {
                        return false;
                    }
                    reply = new ListenReply(st, SIMPLE_IN_TRANSACTION);
                }
                case ProtocolConstants.PARSE -> {
                    if (!Parse.isUnnamed(frame)) {
                        return false;
                    }
                    ListenStatement st = tx.mayTakeParse(server.transactionStatus(), session.awaitingReady())
                            ? listenStatement(frame, session.sql())
                            : null;
                    // Any unnamed Parse replaces the unnamed statement, the pooler's included.
                    tx.dropUnnamed();
                    if (st == null) {
                        return false;
                    }
                    session.keepForReplay(frame);
                    tx.unnamed = st;
                    tx.unnamedParse = frame;
                    session.extendedOpened();
                    session.expectReply(new ListenReply(st, PARSED));
                    return true;
                }
                case ProtocolConstants.BIND -> {
                    if (tx.unnamed == null && !tx.portal) {
                        return false;
                    }
                    boolean unnamedPortal = Bind.portalIsUnnamed(frame);
                    if (Bind.statementIsUnnamed(frame) && tx.unnamed != null) {
                        if (unnamedPortal && Bind.hasNoParameters(frame)) {
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
                    if (!Describe.isUnnamed(frame)) {
                        return false;
                    }
                    if (Describe.isStatement(frame) && tx.unnamed != null) {
                        reply = new ListenReply(tx.unnamed, DESCRIBED_STATEMENT);
                    } else if (Describe.isPortal(frame) && tx.portal) {
                        reply = new ListenReply(tx.unnamed, DESCRIBED_PORTAL);
                    } else {
                        return false;
                    }
                }
                case ProtocolConstants.EXECUTE -> {
                    if (!tx.portal || !Execute.portalIsUnnamed(frame)) {
                        return false;
                    }
                    reply = new ListenReply(tx.unnamed, EXECUTED);
                }
                case ProtocolConstants.CLOSE -> {
                    if (!Close.isUnnamed(frame)) {
                        return false;
                    }
                    if (Close.isStatement(frame) && tx.unnamed != null) {
                        tx.dropUnnamed();
                    } else if (Close.isPortal(frame) && tx.portal) {
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
        } catch (ProtocolException malformed) {
            return false; // the server answers it as PostgreSQL does
        }
        session.keepForReplay(frame);
        frame.release();
        if (type != ProtocolConstants.QUERY) {
            session.extendedOpened();
        }
        session.expectReply(reply);
        if (type == ProtocolConstants.QUERY) {
            session.client().flush(); // nothing goes to the server, so no reply of its own will flush this one
        }
        return true;
    }

    /** The pooler's unnamed LISTEN statement is needed on the server: it is parsed there now. */
    private void sendUnnamedListen() {
        ByteBuf parse = listenTx.unnamedParse;
        listenTx.unnamedParse = null;
        listenTx.dropUnnamed();
        session.noteParse(parse);
        session.expectAddedParse(); // the client already has its ParseComplete
        ServerConnection server = session.server();
        server.channel().write(parse, server.channel().voidPromise());
    }

    /** The replies made up for a message {@link #claims} took, released in its place among the server's. */
    public void reply(Object payload) {
        ListenReply r = (ListenReply) payload;
        for (byte kind : r.replies()) {
            if (kind == ProtocolConstants.READY_FOR_QUERY) {
                session.toClient(Messages.readyForQuery(session.client().alloc(), ProtocolConstants.TX_IN_BLOCK));
                continue;
            }
            if (kind == ProtocolConstants.COMMAND_COMPLETE) {
                listenTx.taken(r.statement());
            }
            session.toClient(made(kind, r.statement()));
        }
    }

    /** A Sync ({@code true}) or an Execute ({@code false}) of the client's went to the server. */
    public void sent(boolean sync) {
        if (listenTx == null) {
            return;
        }
        if (sync) {
            listenTx.synced();
        } else {
            listenTx.executed();
        }
    }

    /**
     * Whether a Query or Parse sent now runs in a failed transaction (the server runs nothing but its end): a
     * LISTEN there does not pin. Asked before the message counts as sent.
     */
    public boolean inFailedTransaction() {
        return listenTx != null
                && session.awaitingReady() == 0
                && session.server().transactionStatus() == ProtocolConstants.TX_FAILED
                && !listenTx.batchEnds();
    }

    /** A Query or Parse of the client's went to the server: what it does to the transaction is noted. */
    public void clientStatement(ByteBuf frame, byte type, SqlTokens sql, boolean onlyQuery) {
        if (listenTx != null) {
            boolean parse = type == ProtocolConstants.PARSE;
            listenTx.clientStatement(sql.lexer(), parse, parse && Parse.isUnnamed(frame), onlyQuery);
        }
    }

    /** A CommandComplete of the client's own statements (COMMIT, ROLLBACK, SAVEPOINT). */
    public void commandComplete(ByteBuf frame) {
        if (listenTx != null) {
            listenTx.commandTag(frame);
        }
    }

    /** Server frames wait while the relay is told about a commit's LISTENs; returns true when {@code frame} does. */
    public boolean defers(ByteBuf frame) {
        if (!listenApplying) {
            return false;
        }
        deferred.add(frame);
        return true;
    }

    /** The relay is being told about a commit's LISTENs: made-up replies wait with the server's frames. */
    public boolean applying() {
        return listenApplying;
    }

    /** A new server: whatever the last transaction left is forgotten. */
    public void attached() {
        if (listenTx != null) {
            listenTx.clear();
        }
    }

    /**
     * The server's ReadyForQuery for the client. Returns true when the stage holds it: a committed transaction's
     * LISTEN/UNLISTEN reach the relay before the client hears ReadyForQuery, so a NOTIFY sent once its COMMIT
     * returned is delivered. {@code batchOver}: nothing else is in flight.
     */
    public boolean ready(ServerConnection s, ByteBuf frame, byte status, boolean batchOver) {
        if (listenTx == null) {
            return false;
        }
        if (batchOver) {
            listenTx.synced();
        }
        List<ListenStatement> committed = listenTx.ready(status);
        return !committed.isEmpty() && applyCommittedListens(committed, s, frame, status);
    }

    /**
     * Returns true when that ReadyForQuery now waits for the relay; a channel the relay cannot listen to is reported
     * as a WARNING and the client stays unsubscribed.
     */
    private boolean applyCommittedListens(
            List<ListenStatement> committed, ServerConnection s, ByteBuf frame, byte status) {
        Set<String> target = ListenRelayTransaction.after(listening == null ? Set.of() : listening, committed);
        List<String> gone = new ArrayList<>();
        for (String ch : listening()) {
            if (!target.contains(ch)) {
                gone.add(ch);
            }
        }
        if (!gone.isEmpty()) {
            gone.forEach(listening::remove);
            relay().unsubscribeAll(this, gone);
        }
        int max = relays.maxChannelsPerClient();
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
            relay().subscribe(this, ch, error -> session.loop().execute(() -> {
                if (session.closed()) {
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
        session.client()
                .write(Messages.noticeResponse(
                        session.client().alloc(),
                        "WARNING",
                        sqlState,
                        "LISTEN " + ListenStatement.quote(channel)
                                + " was committed, but the pooler could not listen to that channel: " + message
                                + "; this client gets no notifications of it"));
    }

    private void committedListensApplied(ServerConnection s, ByteBuf frame, byte status) {
        listenApplying = false;
        if (session.server() != s || !session.attached()) {
            frame.release();
            releaseDeferred();
            return;
        }
        session.finishReady(s, frame, status);
        if (session.server() == s && session.attached()) {
            session.afterServerFrame();
        }
        ByteBuf f;
        while (deferred != null && (f = deferred.poll()) != null) {
            session.serverFrame(s, f);
        }
        if (session.server() == s) {
            s.channel().config().setAutoRead(session.client().channel().isWritable());
        }
        session.client().flush();
    }

    private void releaseDeferred() {
        listenApplying = false;
        if (deferred != null) {
            deferred.forEach(ByteBuf::release);
            deferred.clear();
        }
    }

    /** The client is gone: it leaves the relay, and what the stage holds is released. */
    public void closed() {
        unlistenAll();
        releaseListenBatch();
        if (heldNotifications != null) {
            heldNotifications.forEach(ByteBuf::release);
            heldNotifications = null;
        }
        if (listenTx != null) {
            listenTx.clear();
        }
        releaseDeferred();
    }
}
