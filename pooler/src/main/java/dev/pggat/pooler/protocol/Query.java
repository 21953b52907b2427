package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;

/** Reads a Query ('Q') frame in place. */
public final class Query {
    private Query() {}

    /** Index of the first byte of the query text. */
    public static int textStart(ByteBuf frame) {
        return Views.body(frame);
    }

    /** Index of the NUL that ends the query text. */
    public static int textEnd(ByteBuf frame) {
        return Views.nul(frame, Views.body(frame));
    }

    /** Index of the NUL that ends the query text, or -1 when the text is not terminated. */
    public static int textEndOrMinusOne(ByteBuf frame) {
        int from = Views.body(frame);
        return from >= Views.end(frame) ? -1 : frame.indexOf(from, Views.end(frame), (byte) 0);
    }

    public static String text(ByteBuf frame) {
        return Views.string(frame, Views.body(frame));
    }
}
