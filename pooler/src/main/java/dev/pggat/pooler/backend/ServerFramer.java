package dev.pggat.pooler.backend;

import dev.pggat.pooler.protocol.MessageFramer;
import dev.pggat.pooler.tracing.PacketTraces;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import java.util.List;

/**
 * The server channel's framer, with the pass-through fast path: before the bytes read are cut into frames, the
 * connection's listener may take the whole messages at their front that no stage needs to see, as one slice
 * ({@link ServerListener#passThrough}). What it leaves goes out one frame at a time (the listener is asked again
 * after each, as that frame may change what it needs to see), or all at once while it takes nothing. A partial
 * message stays in the cumulation buffer either way. Not during login, nor while a packet trace follows the
 * server (the trace handler sits behind this one and must see every frame).
 */
final class ServerFramer extends MessageFramer {
    private final ServerConnection connection;
    /** Bytes went out on the fast path during the current read: nothing was fired up the pipeline for them. */
    private boolean passedThisRead;

    ServerFramer(int maxMessageSize, ServerConnection connection) {
        super(maxMessageSize);
        this.connection = connection;
    }

    @Override
    protected void decodeMessages(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        ServerListener l = connection.listener();
        if (l != null && connection.loggedIn() && !PacketTraces.traced(ctx.pipeline())) {
            int before = in.readerIndex();
            boolean on = l.passThrough(connection, in, maxMessageSize);
            int taken = in.readerIndex() - before;
            if (taken > 0) {
                passedThisRead = true;
                ServerMeter meter = connection.meter();
                if (meter != null) {
                    meter.receivedPassedThrough(taken);
                }
            }
            if (on) {
                frames(in, out, maxMessageSize, 1);
                return;
            }
        }
        super.decodeMessages(ctx, in, out);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) throws Exception {
        boolean passed = passedThisRead;
        passedThisRead = false;
        if (passed && !ctx.channel().config().isAutoRead()) {
            // The decoder asks for another read when it fired nothing and auto-read is off; here the bytes did
            // go on (to a client whose full socket turned auto-read off), so that read would defeat the pacing.
            ctx.fireChannelReadComplete();
            return;
        }
        super.channelReadComplete(ctx);
    }
}
