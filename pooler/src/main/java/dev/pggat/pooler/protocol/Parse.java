package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;

/** Reads a Parse ('P') frame in place: statement name, query text, parameter type count. */
public final class Parse {
    private Parse() {}

    public static boolean isUnnamed(ByteBuf frame) {
        return Views.emptyString(frame, Views.body(frame));
    }

    public static String statementName(ByteBuf frame) {
        return Views.string(frame, Views.body(frame));
    }

    /** Index of the first byte of the query text. */
    public static int queryStart(ByteBuf frame) {
        return Views.skip(frame, Views.body(frame));
    }

    /** Index of the NUL that ends the query text. */
    public static int queryEnd(ByteBuf frame) {
        return Views.nul(frame, queryStart(frame));
    }

    /** Index of the NUL that ends the query text, or -1 when the text is not terminated. */
    public static int queryEndOrMinusOne(ByteBuf frame) {
        int from = queryStart(frame);
        return from >= Views.end(frame) ? -1 : frame.indexOf(from, Views.end(frame), (byte) 0);
    }

    public static String query(ByteBuf frame) {
        return Views.string(frame, queryStart(frame));
    }

    /** No parameter data types are declared (the count after the query text is zero). */
    public static boolean declaresNoParameterTypes(ByteBuf frame) {
        int end = queryEnd(frame);
        return end + 3 <= Views.end(frame) && frame.getShort(end + 1) == 0;
    }

    /** A copy of what follows the statement name (query text, parameter types): the statement, whatever its name. */
    public static byte[] copyStatement(ByteBuf frame) {
        int from = queryStart(frame);
        return ByteBufUtil.getBytes(frame, from, Views.end(frame) - from);
    }
}
