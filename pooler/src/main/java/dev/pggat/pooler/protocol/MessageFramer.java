package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import java.util.List;

/**
 * Frames typed protocol messages (type byte, int32 length, body) and emits each whole message, header included,
 * as a retained slice of the bytes read: nothing is copied or decoded here, so a frame can be forwarded as is.
 * The receiver owns each frame and must release it or pass it on.
 */
public class MessageFramer extends ProtocolDecoder {
    public static final String NAME = "pg-framer";
    protected final int maxMessageSize;

    public MessageFramer(int maxMessageSize) {
        this.maxMessageSize = maxMessageSize;
    }

    @Override
    protected void decodeMessages(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        frames(in, out, maxMessageSize);
    }

    /** Emits every whole message in {@code in} as a retained slice; leaves a partial one for the next read. */
    static void frames(ByteBuf in, List<Object> out, int maxMessageSize) {
        frames(in, out, maxMessageSize, Integer.MAX_VALUE);
    }

    /** Emits at most {@code limit} whole messages of {@code in} as retained slices. */
    protected static void frames(ByteBuf in, List<Object> out, int maxMessageSize, int limit) {
        int emitted = 0;
        while (emitted < limit && in.readableBytes() >= 5) {
            int start = in.readerIndex();
            int length = in.getInt(start + 1);
            if (length < 4) {
                throw new ProtocolException(SqlState.PROTOCOL_VIOLATION, "invalid message length");
            }
            if (length > maxMessageSize) {
                throw new ProtocolException(
                        SqlState.PROGRAM_LIMIT_EXCEEDED,
                        "message of type '" + printable(in.getByte(start)) + "' is " + length
                                + " bytes long, over the limit of " + maxMessageSize + " bytes");
            }
            if (in.readableBytes() < length + 1) {
                return;
            }
            out.add(in.readRetainedSlice(length + 1));
            emitted++;
        }
    }

    private static String printable(byte b) {
        return b >= 0x20 && b < 0x7f ? String.valueOf((char) b) : String.format("0x%02x", b & 0xff);
    }
}
