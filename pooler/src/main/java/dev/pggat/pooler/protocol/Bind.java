package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/** Reads a Bind ('B') frame in place, and makes a copy of it that names another statement. */
public final class Bind {
    private Bind() {}

    public static boolean portalIsUnnamed(ByteBuf frame) {
        return Views.emptyString(frame, Views.body(frame));
    }

    private static int statementAt(ByteBuf frame) {
        return Views.skip(frame, Views.body(frame));
    }

    public static boolean statementIsUnnamed(ByteBuf frame) {
        return Views.emptyString(frame, statementAt(frame));
    }

    public static String statementName(ByteBuf frame) {
        return Views.string(frame, statementAt(frame));
    }

    /** No parameter format codes and no parameter values. */
    public static boolean hasNoParameters(ByteBuf frame) {
        int pos = Views.skip(frame, statementAt(frame));
        int formats = Views.int16At(frame, pos);
        if (formats < 0) {
            return false;
        }
        pos += 2 + 2 * formats;
        return pos + 2 <= Views.end(frame) && frame.getShort(pos) == 0;
    }

    /**
     * The same Bind for the statement named {@code statement} (ASCII bytes, no NUL). The parameter values, which
     * can be large, are a retained slice of {@code frame}, not a copy; the caller still owns {@code frame}.
     */
    public static ByteBuf withStatement(ByteBufAllocator alloc, ByteBuf frame, byte[] statement) {
        int body = Views.body(frame);
        int stmtAt = statementAt(frame);
        int rest = Views.skip(frame, stmtAt);
        int portalLen = stmtAt - body; // portal name and its NUL
        int headerLen = 5 + portalLen + statement.length + 1;
        int restLen = Views.end(frame) - rest;
        ByteBuf header = alloc.buffer(headerLen);
        header.writeByte(ProtocolConstants.BIND).writeInt(headerLen - 1 + restLen);
        header.writeBytes(frame, body, portalLen);
        header.writeBytes(statement).writeByte(0);
        return alloc.compositeBuffer(2).addComponents(true, header, frame.retainedSlice(rest, restLen));
    }
}
