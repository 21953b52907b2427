package dev.pggat.pooler.backend;

import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.ReadyForQuery;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;

/**
 * Measures one server connection for its pool's {@link ServerStats}: what is written to the server passes here (the
 * last handler of the pipeline, so the first outbound one), and the backend handler reports each frame the server
 * sends. All of it runs on the connection's event loop, so the per-connection state needs no locking.
 *
 * <p>A query runs from its first message written to the ReadyForQuery that ends it; when several were pipelined (one
 * ReadyForQuery is owed per Query, Sync and FunctionCall written), the next one starts where the previous one ended.
 * A transaction runs from the first write while the server was idle to the ReadyForQuery that reports it idle again.
 *
 * <p>A round trip runs from the write that carries a message the server must answer (Query, Sync, FunctionCall) to
 * the first frame the server sends after it: the server's and the network's latency, before the size of the result
 * counts. Its samples feed the endpoint's latency average that the replica choice weighs.
 */
final class ServerMeter extends ChannelOutboundHandlerAdapter {
    static final String NAME = "pg-meter";

    private final ServerStats stats;
    private long queryStart;
    private long transactionStart;
    /** ReadyForQuery messages the server still owes. */
    private int owed;
    /** ReadyForQuery messages that end the pooler's own queries: not counted as the clients'. */
    private int poolerQueries;
    /** Login traffic (startup, authentication) is not a client's: measuring starts at the first ReadyForQuery. */
    private boolean loggedIn;
    /** When the message that started the round trip in flight was written; 0 = none in flight. */
    private long roundTripStart;

    ServerMeter(ServerStats stats) {
        this.stats = stats;
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
        if (loggedIn && msg instanceof ByteBuf b) {
            int n = b.readableBytes();
            if (n > 0) {
                stats.bytesToServer.add(n);
                int before = owed;
                long now = 0;
                if (before == 0) {
                    now = System.nanoTime();
                    queryStart = now;
                    if (transactionStart == 0) {
                        transactionStart = now;
                    }
                }
                if (!countMessages(b)) {
                    owed = Math.max(owed, 1);
                }
                if (owed > before && roundTripStart == 0) {
                    // Pipelined behind a reply already on its way: rare, and then worth a clock read of its own.
                    roundTripStart = now != 0 ? now : System.nanoTime();
                }
            }
        }
        ctx.write(msg, promise);
    }

    /**
     * Counts the messages of a buffer of whole messages: Parse and Bind for the statistics, and the ReadyForQuery
     * each Query, Sync and FunctionCall is owed. Returns false at anything that does not frame.
     */
    private boolean countMessages(ByteBuf b) {
        int pos = b.readerIndex();
        int end = b.writerIndex();
        while (pos < end) {
            int next = Frames.messageEnd(b, pos);
            if (next < 0) {
                return false;
            }
            switch (Frames.typeAt(b, pos)) {
                case ProtocolConstants.PARSE -> stats.serverParses.increment();
                case ProtocolConstants.BIND -> stats.binds.increment();
                case ProtocolConstants.QUERY, ProtocolConstants.SYNC, ProtocolConstants.FUNCTION_CALL -> owed++;
                default -> {}
            }
            pos = next;
        }
        return true;
    }

    void loggedIn() {
        loggedIn = true;
    }

    void poolerQuery() {
        poolerQueries++;
    }

    /**
     * Whole messages the server sent that went to the client on the pass-through path: none of them a
     * ReadyForQuery or an ErrorResponse (those always come through {@link #received}).
     */
    void receivedPassedThrough(int bytes) {
        stats.bytesFromServer.add(bytes);
        if (roundTripStart != 0) {
            stats.roundTrip(System.nanoTime() - roundTripStart);
            roundTripStart = 0;
        }
    }

    /** A frame the server sent after login; the frame stays the caller's. */
    void received(ByteBuf frame) {
        stats.bytesFromServer.add(frame.readableBytes());
        byte type = Frames.type(frame);
        long now = 0;
        if (roundTripStart != 0) {
            now = System.nanoTime();
            stats.roundTrip(now - roundTripStart);
            roundTripStart = 0;
        }
        if (type == ProtocolConstants.READY_FOR_QUERY) {
            ready(ReadyForQuery.status(frame), now != 0 ? now : System.nanoTime());
        } else if (type == ProtocolConstants.ERROR_RESPONSE) {
            int sqlStateClass = ErrorFields.sqlStateClass(frame);
            if (sqlStateClass >= 0) {
                stats.error((byte) (sqlStateClass >> 8), (byte) sqlStateClass);
            }
        }
    }

    private void ready(byte status, long now) {
        if (poolerQueries > 0) {
            poolerQueries--;
        } else {
            stats.query(now - queryStart);
            if (status == ProtocolConstants.TX_IDLE && transactionStart != 0) {
                stats.transaction(now - transactionStart);
            }
        }
        if (owed > 0) {
            owed--;
        }
        // A query already pipelined behind this one starts now; with none, the next write starts one.
        queryStart = now;
        if (status == ProtocolConstants.TX_IDLE) {
            transactionStart = owed > 0 ? now : 0;
        }
    }
}
