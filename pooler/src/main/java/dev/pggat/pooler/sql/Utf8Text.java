package dev.pggat.pooler.sql;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;

/**
 * The SQL text of a message as a {@link CharSequence} of its bytes, one char per byte, without copying or
 * decoding: what {@link SqlLexer} needs to find keywords and punctuation in every Query on the hot path. ASCII
 * reads as itself; the bytes of a multi-byte UTF-8 character read as chars above 0x7F. {@link #decode} makes a
 * real String of a part of it. The view is only valid while the buffer is.
 */
public final class Utf8Text implements CharSequence {
    private ByteBuf buf;
    private int offset;
    private int length;

    /** An empty view, pointed at a message with {@link #over}: the one {@link SqlTokens} reuses. */
    Utf8Text() {
        this.buf = io.netty.buffer.Unpooled.EMPTY_BUFFER;
    }

    /** Now the bytes [from, to) of {@code buf}. */
    void over(ByteBuf buffer, int from, int to) {
        this.buf = buffer;
        this.offset = from;
        this.length = to - from;
    }

    /** The bytes [from, to) of {@code buf}. */
    public Utf8Text(ByteBuf buf, int from, int to) {
        this.buf = buf;
        this.offset = from;
        this.length = to - from;
    }

    @Override
    public int length() {
        return length;
    }

    @Override
    public char charAt(int index) {
        return (char) (buf.getByte(offset + index) & 0xFF);
    }

    @Override
    public CharSequence subSequence(int start, int end) {
        return new Utf8Text(buf, offset + start, offset + end);
    }

    /** The characters of positions [from, to), decoded from UTF-8. */
    public String decode(int from, int to) {
        return buf.toString(offset + from, to - from, StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return decode(0, length);
    }
}
