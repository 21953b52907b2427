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
    static int bodyStart(ByteBuf frame) {
        return frame.readerIndex() + 5;
    }

    static int bodyLength(ByteBuf frame) {
        return frame.readableBytes() - 5;
    }

    /** The status byte of a ReadyForQuery frame. */
    static byte readyStatus(ByteBuf frame) {
        return frame.getByte(frame.readerIndex() + 5);
    }

    /** A NUL-terminated string at absolute index {@code from}; throws on a missing terminator. */
    static String cstring(ByteBuf frame, int from) {
        int end = frame.indexOf(from, frame.writerIndex(), (byte) 0);
        if (end < 0) {
            throw new ProtocolException(SqlState.PROTOCOL_VIOLATION, "invalid string in message");
        }
        return frame.toString(from, end - from, StandardCharsets.UTF_8);
    }

    /** Index just after the NUL that ends the string at {@code from}. */
    static int skipCstring(ByteBuf frame, int from) {
        int end = frame.indexOf(from, frame.writerIndex(), (byte) 0);
        if (end < 0) {
            throw new ProtocolException(SqlState.PROTOCOL_VIOLATION, "invalid string in message");
        }
        return end + 1;
    }

    /** Query text of a Query ('Q') frame. */
    static String queryText(ByteBuf frame) {
        return cstring(frame, bodyStart(frame));
    }

    /** The type of the message that starts at {@code pos} of a buffer of messages. */
    public static byte typeAt(ByteBuf messages, int pos) {
        return messages.getByte(pos);
    }

    /**
     * Byte {@code i} of the body of the message that starts at {@code pos} of a buffer of messages, or 0 past the
     * message's end ({@code end}: its end, as {@link #messageEnd} gave it).
     */
    public static byte bodyByteAt(ByteBuf messages, int pos, int end, int i) {
        int at = pos + 5 + i;
        return at < end ? messages.getByte(at) : 0;
    }

    /**
     * Where the message that starts at {@code pos} of a buffer of messages ends (the index after it), or -1 when
     * the rest of the buffer does not hold a whole, well-framed message.
     */
    public static int messageEnd(ByteBuf messages, int pos) {
        int end = messages.writerIndex();
        if (end - pos < 5) {
            return -1;
        }
        int len = messages.getInt(pos + 1);
        if (len < 4 || len > end - pos - 1) {
            return -1;
        }
        return pos + 1 + len;
    }
}
