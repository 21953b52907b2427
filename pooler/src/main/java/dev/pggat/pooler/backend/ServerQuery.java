package dev.pggat.pooler.backend;

import dev.pggat.pooler.protocol.CommandComplete;
import dev.pggat.pooler.protocol.DataRow;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.ReadyForQuery;
import dev.pggat.pooler.protocol.SqlState;
import io.netty.buffer.ByteBuf;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The one way the pooler runs a query of its own on a server connection it holds (health probes, auth query, the
 * reset of a session-mode server): sends it, collects rows as text, command tags and the first error, and
 * completes at ReadyForQuery, leaving the connection without a listener and its transaction status updated.
 *
 * <p>An SQL error is part of the {@link Result}, since the connection is still fine; the future fails only when
 * the connection is not: it closed, the query could not be sent, or no ReadyForQuery came within the timeout (the
 * connection is then aborted, since its state is unknown). ParameterStatus messages are recorded on the
 * connection. Call on the connection's event loop, while nothing else is in flight on it.
 *
 * <p>A server a client holds is the other case: the pooler's queries (the client's settings, their read-back at a
 * transaction's end) go in line with the client's messages, and their replies come back through the client's
 * listener in order. {@link InSession} runs them there: it counts what is owed and hands each reply to the caller.
 */
public final class ServerQuery implements ServerListener {
    /** Rows kept in a result; more are counted but dropped (the pooler's own queries return a handful). */
    public static final int MAX_ROWS = 10_000;

    /**
     * What the server answered.
     *
     * @param rows the data rows (at most {@link #MAX_ROWS}), each value as text or null for SQL NULL
     * @param rowCount how many rows the server sent, including those not kept
     * @param commandTags one per completed statement, in order
     * @param error the first ErrorResponse, or null
     * @param transactionStatus the status of the closing ReadyForQuery
     */
    public record Result(
            List<List<String>> rows,
            int rowCount,
            List<String> commandTags,
            ServerError error,
            byte transactionStatus) {
        /** The first row, or an empty list when there was none. */
        public List<String> firstRow() {
            return rows.isEmpty() ? List.of() : rows.get(0);
        }

        public boolean failed() {
            return error != null;
        }
    }

    private final ServerConnection server;
    private final Promise<Result> promise;
    private final List<List<String>> rows = new ArrayList<>(1);
    private final List<String> tags = new ArrayList<>(1);
    private int rowCount;
    private ServerError error;
    private ScheduledFuture<?> timeout;

    private ServerQuery(ServerConnection server) {
        this.server = server;
        this.promise = server.eventLoop().newPromise();
    }

    /**
     * Runs {@code sql} (one or several statements) as a simple Query.
     *
     * @param timeout how long to wait for ReadyForQuery; null for no limit
     */
    public static Future<Result> simple(ServerConnection server, String sql, Duration timeout) {
        ServerQuery q = new ServerQuery(server);
        return q.send(Messages.query(server.channel().alloc(), sql), timeout);
    }

    /**
     * Runs one statement with {@code parameter} as its text parameter $1 (Parse, Bind, Execute, Sync of the unnamed
     * statement), so that the value never needs quoting.
     *
     * @param maxRows the most rows the server sends (0 for all): past them the statement is suspended, not run on
     */
    public static Future<Result> withParameter(
            ServerConnection server, String sql, String parameter, int maxRows, Duration timeout) {
        ServerQuery q = new ServerQuery(server);
        ByteBuf out = server.channel().alloc().buffer();
        writeExtendedQuery(out, sql, parameter, maxRows);
        return q.send(out, timeout);
    }

    /** Parse, Bind with {@code param} as $1 (text), Execute, Sync. */
    static void writeExtendedQuery(ByteBuf out, String sql, String param, int maxRows) {
        byte[] q = sql.getBytes(StandardCharsets.UTF_8);
        byte[] p = param.getBytes(StandardCharsets.UTF_8);
        out.writeByte(ProtocolConstants.PARSE).writeInt(4 + 1 + q.length + 1 + 2);
        out.writeByte(0).writeBytes(q).writeByte(0).writeShort(0);
        out.writeByte(ProtocolConstants.BIND).writeInt(4 + 1 + 1 + 2 + 2 + 4 + p.length + 2);
        out.writeByte(0)
                .writeByte(0)
                .writeShort(0)
                .writeShort(1)
                .writeInt(p.length)
                .writeBytes(p)
                .writeShort(0);
        out.writeByte(ProtocolConstants.EXECUTE)
                .writeInt(4 + 1 + 4)
                .writeByte(0)
                .writeInt(maxRows);
        out.writeByte(ProtocolConstants.SYNC).writeInt(4);
    }

    private Future<Result> send(ByteBuf message, Duration timeoutAfter) {
        server.listener(this);
        if (timeoutAfter != null) {
            timeout = server.eventLoop()
                    .schedule(
                            () -> fail(new ServerError(
                                    SqlState.QUERY_CANCELED,
                                    "no answer from server " + where() + " within " + timeoutAfter.toMillis() + " ms",
                                    true,
                                    null)),
                            timeoutAfter.toMillis(),
                            TimeUnit.MILLISECONDS);
        }
        // Not a client's query: the server's statistics leave its ReadyForQuery out.
        server.poolerQuerySent();
        server.channel().writeAndFlush(message).addListener(f -> {
            if (!f.isSuccess()) {
                fail(new ServerError(
                        SqlState.CONNECTION_FAILURE,
                        "could not send a query to server " + where() + ": "
                                + f.cause().getMessage(),
                        true,
                        f.cause()));
            }
        });
        return promise;
    }

    private String where() {
        return server.address().host() + ":" + server.address().port();
    }

    @Override
    public void onFrame(ServerConnection s, ByteBuf frame) {
        try {
            switch (Frames.type(frame)) {
                case ProtocolConstants.DATA_ROW -> {
                    if (rowCount++ < MAX_ROWS) {
                        rows.add(dataRow(frame));
                    }
                }
                case ProtocolConstants.COMMAND_COMPLETE -> tags.add(CommandComplete.tag(frame));
                case ProtocolConstants.ERROR_RESPONSE -> {
                    if (error == null) {
                        ErrorFields e = ErrorFields.parse(frame);
                        error = new ServerError(e.sqlState(), e.message(), false, null);
                    }
                }
                case ProtocolConstants.PARAMETER_STATUS -> s.recordParameterStatus(frame);
                case ProtocolConstants.READY_FOR_QUERY -> finish(ReadyForQuery.status(frame));
                default -> {
                    // RowDescription, ParseComplete, BindComplete, notices: nothing a caller needs.
                }
            }
        } finally {
            frame.release();
        }
    }

    private void finish(byte status) {
        server.transactionStatus(status);
        if (timeout != null) {
            timeout.cancel(false);
        }
        if (server.listener() == this) {
            server.listener(null);
        }
        promise.trySuccess(new Result(
                Collections.unmodifiableList(rows), rowCount, Collections.unmodifiableList(tags), error, status));
    }

    private void fail(ServerError e) {
        if (promise.tryFailure(e)) {
            if (timeout != null) {
                timeout.cancel(false);
            }
            if (server.listener() == this) {
                server.listener(null);
            }
            server.abort();
        }
    }

    @Override
    public void onReadComplete(ServerConnection s) {}

    @Override
    public void onClosed(ServerConnection s, Throwable cause) {
        fail(new ServerError(SqlState.CONNECTION_FAILURE, "server " + where() + " closed the connection", true, cause));
    }

    private static List<String> dataRow(ByteBuf frame) {
        int columns = DataRow.columnCount(frame);
        List<String> values = new ArrayList<>(columns);
        for (int i = 0; i < columns; i++) {
            values.add(DataRow.column(frame, i));
        }
        return Collections.unmodifiableList(values);
    }

    /**
     * The pooler's own queries on a server a client session holds, in line with the client's messages: the
     * session stays the server's listener and passes every frame to {@link #reply} while {@link #active()}. One
     * object per session, made at its first query.
     */
    public static final class InSession {
        /** What a session does with the replies to its queries. */
        public interface Replies {
            void dataRow(ServerConnection s, ByteBuf frame);

            /** ParameterStatus (already recorded on the connection). */
            void parameterStatus(ServerConnection s, ByteBuf frame);

            void error(ServerConnection s, ErrorFields error);

            /** A ReadyForQuery ended one query; the connection's transaction status is updated. */
            void done(ServerConnection s);
        }

        /** ReadyForQuery messages that end queries sent here and not answered yet. */
        private int owed;

        /** Whether replies to queries sent here are still due: the session's server frames go to {@link #reply}. */
        public boolean active() {
            return owed > 0;
        }

        /** Queues {@code sql} as a simple Query on {@code s}, behind what is already written; the caller flushes. */
        public void send(ServerConnection s, String sql) {
            owed++;
            // Not the client's query: the server's statistics leave its ReadyForQuery out.
            s.poolerQuerySent();
            s.channel()
                    .write(Messages.query(s.channel().alloc(), sql), s.channel().voidPromise());
        }

        /** One reply of the server's, taken (and released) here. */
        public void reply(ServerConnection s, ByteBuf frame, Replies to) {
            try {
                switch (Frames.type(frame)) {
                    case ProtocolConstants.READY_FOR_QUERY -> {
                        owed--;
                        s.transactionStatus(ReadyForQuery.status(frame));
                        to.done(s);
                    }
                    case ProtocolConstants.PARAMETER_STATUS -> to.parameterStatus(s, frame);
                    case ProtocolConstants.DATA_ROW -> to.dataRow(s, frame);
                    case ProtocolConstants.ERROR_RESPONSE -> to.error(s, ErrorFields.parse(frame));
                    default -> {
                        // RowDescription, CommandComplete, notices: nothing the session needs.
                    }
                }
            } finally {
                frame.release();
            }
        }
    }
}
