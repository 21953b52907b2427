package dev.pggat.pooler.tracing;

import dev.pggat.pooler.protocol.PacketFormat;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import java.util.function.BooleanSupplier;

/**
 * Logs the protocol messages that pass one channel, both ways, while its {@link PacketTrace} runs, then removes
 * itself. On a client channel it sits in front of the login handler or the session, on a server channel behind the
 * framer, so it sees whole messages: one per read, one or more per write. It never changes or keeps a message.
 */
final class PacketTraceHandler extends ChannelDuplexHandler {
    public static final String NAME = "pg-packet-trace";

    private final PacketTrace trace;
    private final String label;
    private final boolean server;
    /** Server side: whether the traced client still holds this server; null on the client side. */
    private final BooleanSupplier owned;

    PacketTraceHandler(PacketTrace trace, String label, boolean server, BooleanSupplier owned) {
        this.trace = trace;
        this.label = label;
        this.server = server;
        this.owned = owned;
    }

    PacketTrace trace() {
        return trace;
    }

    String label() {
        return label;
    }

    boolean over() {
        return trace.over();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        if (msg instanceof ByteBuf b && live(ctx)) {
            describeAll(b, server ? PacketFormat.SERVER_TO_POOLER : PacketFormat.CLIENT_TO_POOLER);
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
        if (msg instanceof ByteBuf b && live(ctx)) {
            describeAll(b, server ? PacketFormat.POOLER_TO_SERVER : PacketFormat.POOLER_TO_CLIENT);
        }
        ctx.write(msg, promise);
    }

    /** Whether to log: the trace runs and (server side) the client still holds the server; else goes away. */
    private boolean live(ChannelHandlerContext ctx) {
        if (trace.over() || (owned != null && !owned.getAsBoolean())) {
            if (!ctx.isRemoved()) {
                ctx.pipeline().remove(this);
            }
            return false;
        }
        return true;
    }

    /** Each whole message in {@code b}, read in place. */
    private void describeAll(ByteBuf b, String direction) {
        PacketFormat.describeAll(b, direction, trace.withValues(), line -> trace.line(label + " " + line));
    }
}
