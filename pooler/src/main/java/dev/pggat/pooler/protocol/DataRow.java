package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;

/** Reads a DataRow ('D', from a server) frame in place, column by column. */
public final class DataRow {
    private DataRow() {}

    public static int columnCount(ByteBuf frame) {
        return Views.int16At(frame, Views.body(frame)) & 0xFFFF;
    }

    /** Column {@code i} as text, or null when it is SQL NULL. */
    public static String column(ByteBuf frame, int i) {
        if (i < 0 || i >= columnCount(frame)) {
            throw new IndexOutOfBoundsException("column " + i + " of " + columnCount(frame));
        }
        int pos = Views.body(frame) + 2;
        for (int c = 0; ; c++) {
            int len = Views.int32At(frame, pos);
            pos += 4;
            // Compared as what is left, not as pos + len: a length near 2^31 would overflow past the check.
            if (len > Views.end(frame) - pos) {
                throw Views.malformed(frame);
            }
            if (c == i) {
                return len < 0 ? null : frame.toString(pos, len, StandardCharsets.UTF_8);
            }
            if (len > 0) {
                pos += len;
            }
        }
    }
}
