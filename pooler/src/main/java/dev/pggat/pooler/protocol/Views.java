package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;

/**
 * Bounds-checked reads shared by the typed views ({@link Parse}, {@link Bind}, ...). Every read stays inside the
 * frame; a field that is missing or runs past the frame's end is a protocol violation, never an index error.
 */
final class Views {
    private Views() {}

    static int body(ByteBuf frame) {
        return frame.readerIndex() + 5;
    }

    static int end(ByteBuf frame) {
        return frame.writerIndex();
    }

    static ProtocolException malformed(ByteBuf frame) {
        return new ProtocolException(
                SqlState.PROTOCOL_VIOLATION, "invalid message format (" + (char) Frames.type(frame) + ")");
    }

    /** Index of the NUL that ends the string at {@code from}. */
    static int nul(ByteBuf frame, int from) {
        int end = from >= end(frame) ? -1 : frame.indexOf(from, end(frame), (byte) 0);
        if (end < 0) {
            throw malformed(frame);
        }
        return end;
    }

    /** Index just after the string at {@code from}. */
    static int skip(ByteBuf frame, int from) {
        return nul(frame, from) + 1;
    }

    static String string(ByteBuf frame, int from) {
        int end = nul(frame, from);
        return frame.toString(from, end - from, StandardCharsets.UTF_8);
    }

    static byte byteAt(ByteBuf frame, int at) {
        if (at >= end(frame)) {
            throw malformed(frame);
        }
        return frame.getByte(at);
    }

    static int int16At(ByteBuf frame, int at) {
        if (at + 2 > end(frame)) {
            throw malformed(frame);
        }
        return frame.getShort(at);
    }

    static int int32At(ByteBuf frame, int at) {
        if (at + 4 > end(frame)) {
            throw malformed(frame);
        }
        return frame.getInt(at);
    }

    /** Whether the string at {@code at} is empty, i.e. its first byte is the NUL. */
    static boolean emptyString(ByteBuf frame, int at) {
        return byteAt(frame, at) == 0;
    }
}
