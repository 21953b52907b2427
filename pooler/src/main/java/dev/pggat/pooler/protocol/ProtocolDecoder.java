package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * A decoder that stops at the first protocol error: the error goes up the pipeline once (the handler answers
 * with a FATAL ErrorResponse and closes), and whatever else arrives before the close is discarded unread.
 */
abstract class ProtocolDecoder extends ByteToMessageDecoder {
    private boolean failed;

    @Override
    protected final void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return;
        }
        try {
            decodeMessages(ctx, in, out);
        } catch (ProtocolException e) {
            failed = true;
            in.skipBytes(in.readableBytes());
            throw e;
        }
    }

    /** Decodes what is complete in {@code in}; throws {@link ProtocolException} on a violation. */
    protected abstract void decodeMessages(ChannelHandlerContext ctx, ByteBuf in, List<Object> out);
}
