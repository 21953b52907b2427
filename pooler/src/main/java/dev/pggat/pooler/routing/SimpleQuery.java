package dev.pggat.pooler.routing;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerError;
import dev.pggat.pooler.backend.ServerListener;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ProtocolConstants;
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
 * Runs one simple Query on an idle server connection the caller owns and returns the first row as text (null for
 * SQL NULL), once the server says ReadyForQuery. A server error, a closed connection or the timeout fail the
 * future; on timeout the connection is aborted, since its state is then unknown.
 */
final class SimpleQuery implements ServerListener {
    private final ServerConnection server;
    private final Promise<List<String>> promise;
    private List<String> row;
    private ServerError error;
    private ScheduledFuture<?> timeout;

    private SimpleQuery(ServerConnection server) {
        this.server = server;
        this.promise = server.eventLoop().newPromise();
    }

    /** Call on the connection's event loop. */
    static Future<List<String>> run(ServerConnection server, String sql, Duration timeout) {
        SimpleQuery q = new SimpleQuery(server);
        server.listener(q);
        q.timeout = server.eventLoop()
                .schedule(
                        () -> q.fail(new ServerError(
                                SqlState.QUERY_CANCELED,
                                "no answer from server " + server.address().host() + ":"
                                        + server.address().port() + " within " + timeout.toMillis() + " ms",
                                true,
                                null)),
                        timeout.toMillis(),
                        TimeUnit.MILLISECONDS);
        server.channel()
                .writeAndFlush(Messages.query(server.channel().alloc(), sql))
                .addListener(f -> {
                    if (!f.isSuccess()) {
                        q.fail(new ServerError(
                                SqlState.CONNECTION_FAILURE,
                                "could not send a query to server "
                                        + server.address().host() + ":"
                                        + server.address().port() + ": "
                                        + f.cause().getMessage(),
                                true,
                                f.cause()));
                    }
                });
        return q.promise;
    }

    @Override
    public void onFrame(ServerConnection s, ByteBuf frame) {
        try {
            switch (Frames.type(frame)) {
                case ProtocolConstants.DATA_ROW -> {
                    if (row == null) {
                        row = dataRow(frame);
                    }
                }
                case ProtocolConstants.ERROR_RESPONSE -> {
                    if (error == null) {
                        ErrorFields e = ErrorFields.parse(frame);
                        error = new ServerError(e.sqlState(), e.message(), false, null);
                    }
                }
                case ProtocolConstants.READY_FOR_QUERY -> {
                    s.transactionStatus(Frames.readyStatus(frame));
                    finish();
                }
                default -> {
                    // RowDescription, CommandComplete, notices, ParameterStatus: nothing the caller needs.
                }
            }
        } finally {
            frame.release();
        }
    }

    private void finish() {
        timeout.cancel(false);
        if (server.listener() == this) {
            server.listener(null);
        }
        if (error != null) {
            promise.tryFailure(error);
        } else {
            promise.trySuccess(row != null ? row : List.of());
        }
    }

    private void fail(ServerError e) {
        if (promise.tryFailure(e)) {
            timeout.cancel(false);
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
        fail(new ServerError(
                SqlState.CONNECTION_FAILURE,
                "server " + s.address().host() + ":" + s.address().port() + " closed the connection",
                true,
                cause));
    }

    private static List<String> dataRow(ByteBuf frame) {
        int pos = Frames.bodyStart(frame);
        int columns = frame.getUnsignedShort(pos);
        pos += 2;
        List<String> values = new ArrayList<>(columns);
        for (int i = 0; i < columns; i++) {
            int len = frame.getInt(pos);
            pos += 4;
            if (len < 0) {
                values.add(null);
            } else {
                values.add(frame.toString(pos, len, StandardCharsets.UTF_8));
                pos += len;
            }
        }
        return Collections.unmodifiableList(values);
    }
}
