package dev.pggat.pooler.console;

import dev.pggat.pooler.frontend.ClientInfo;
import dev.pggat.pooler.frontend.ConsoleGate;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.ProtocolException;
import dev.pggat.pooler.protocol.Query;
import dev.pggat.pooler.protocol.SqlState;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One console client after its login: reads Query messages, runs one command at a time (reading nothing more until
 * it is answered, which is how PAUSE and WAIT_CLOSE hold their client), and answers like a PostgreSQL server would.
 * The extended query protocol is refused with an error, and skipped up to its Sync as PostgreSQL does after an
 * error, so that a driver that tried it can go on with simple queries.
 */
final class ConsoleSession extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(ConsoleSession.class);
    static final String NAME = "pg-console";

    private final Commands commands;
    private final ClientInfo client;
    private final ConsoleGate.Access access;
    private ChannelHandlerContext ctx;
    /** After a refused extended-protocol message: everything up to the next Sync is dropped. */
    private boolean skipUntilSync;
    /** A command runs (PAUSE may take long): what the client sent behind it waits here, in order. */
    private boolean busy;

    private final ArrayDeque<ByteBuf> queued = new ArrayDeque<>(2);

    ConsoleSession(Commands commands, ClientInfo client, ConsoleGate.Access access) {
        this.commands = commands;
        this.client = client;
        this.access = access;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    ClientInfo client() {
        return client;
    }

    boolean isAdmin() {
        return access == ConsoleGate.Access.ADMIN;
    }

    ChannelHandlerContext ctx() {
        return ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf frame)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (busy) {
            // Frames decoded from the same read as the running command; a client that pipelines waits its turn.
            queued.add(frame);
            return;
        }
        handle(ctx, frame);
    }

    private void handle(ChannelHandlerContext ctx, ByteBuf frame) {
        byte type;
        String sql = null;
        try {
            type = Frames.type(frame);
            if (type == ProtocolConstants.QUERY && !skipUntilSync) {
                sql = Query.text(frame);
            }
        } finally {
            frame.release();
        }
        switch (type) {
            case ProtocolConstants.QUERY -> {
                if (skipUntilSync) {
                    return;
                }
                // One command at a time: the next is read once this one is answered.
                busy = true;
                ctx.channel().config().setAutoRead(false);
                commands.run(this, sql);
            }
            case ProtocolConstants.TERMINATE -> ctx.close();
            case ProtocolConstants.SYNC -> {
                skipUntilSync = false;
                ctx.writeAndFlush(Messages.readyForQueryIdle());
            }
            case ProtocolConstants.FLUSH -> ctx.flush();
            case ProtocolConstants.PARSE,
                    ProtocolConstants.BIND,
                    ProtocolConstants.DESCRIBE,
                    ProtocolConstants.EXECUTE,
                    ProtocolConstants.CLOSE -> {
                if (!skipUntilSync) {
                    skipUntilSync = true;
                    ctx.writeAndFlush(Messages.errorResponse(
                            ctx.alloc(),
                            "ERROR",
                            SqlState.FEATURE_NOT_SUPPORTED,
                            "extended query protocol not supported by admin console"));
                }
            }
            case ProtocolConstants.FUNCTION_CALL -> {
                ctx.write(Messages.errorResponse(
                        ctx.alloc(),
                        "ERROR",
                        SqlState.FEATURE_NOT_SUPPORTED,
                        "function calls not supported by admin console"));
                ctx.writeAndFlush(Messages.readyForQueryIdle());
            }
            default -> fatal(SqlState.PROTOCOL_VIOLATION, "invalid frontend message type " + (char) type);
        }
    }

    /** The answer to the command in progress (rows or a tag, written by the caller), then ReadyForQuery. */
    void done(ByteBuf answer) {
        if (!ctx.channel().isActive()) {
            answer.release();
            return;
        }
        ctx.write(answer);
        ctx.writeAndFlush(Messages.readyForQueryIdle());
        busy = false;
        ByteBuf next;
        while (!busy && (next = queued.poll()) != null) {
            handle(ctx, next);
        }
        if (!busy) {
            ctx.channel().config().setAutoRead(true);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        ByteBuf f;
        while ((f = queued.poll()) != null) {
            f.release();
        }
        ctx.fireChannelInactive();
    }

    void error(String sqlState, String message) {
        done(Messages.errorResponse(ctx.alloc(), "ERROR", sqlState, message));
    }

    void fatal(String sqlState, String message) {
        ctx.channel().config().setAutoRead(false);
        ctx.writeAndFlush(Messages.errorResponse(ctx.alloc(), "FATAL", sqlState, message))
                .addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof DecoderException && cause.getCause() != null) {
            cause = cause.getCause();
        }
        if (cause instanceof ProtocolException pe) {
            fatal(pe.sqlState(), pe.getMessage());
        } else if (cause instanceof IOException) {
            ctx.close();
        } else {
            log.warn("console client {}: unexpected error", ctx.channel().remoteAddress(), cause);
            fatal(SqlState.INTERNAL_ERROR, "internal error in the pooler");
        }
    }
}
