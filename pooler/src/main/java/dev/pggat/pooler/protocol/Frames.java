package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;

/** Reads fields of a framed message (see {@link MessageFramer}) without moving its reader index. */
public final class Frames {
    private Frames() {}

    public static byte type(ByteBuf frame) {
        return frame.getByte(frame.readerIndex());
    }

    /** Offset of the body (after type and length) in absolute index terms. */
    public static int bodyStart(ByteBuf frame) {
        return frame.readerIndex() + 5;
    }

    public static int bodyLength(ByteBuf frame) {
        return frame.readableBytes() - 5;
    }

    /** The status byte of a ReadyForQuery frame. */
    public static byte readyStatus(ByteBuf frame) {
        return frame.getByte(frame.readerIndex() + 5);
    }

    /** A NUL-terminated string at absolute index {@code from}; throws on a missing terminator. */
    public static String cstring(ByteBuf frame, int from) {
        int end = frame.indexOf(from, frame.writerIndex(), (byte) 0);
        if (end < 0) {
            throw new ProtocolException(SqlState.PROTOCOL_VIOLATION, "invalid string in message");
        }
        return frame.toString(from, end - from, StandardCharsets.UTF_8);
    }

    /** Index just after the NUL that ends the string at {@code from}. */
    public static int skipCstring(ByteBuf frame, int from) {
        int end = frame.indexOf(from, frame.writerIndex(), (byte) 0);
        if (end < 0) {
            throw new ProtocolException(SqlState.PROTOCOL_VIOLATION, "invalid string in message");
        }
        return end + 1;
    }

    /** Query text of a Query ('Q') frame. */
    public static String queryText(ByteBuf frame) {
        return cstring(frame, bodyStart(frame));
    }
}
