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

    public static String text(ByteBuf frame) {
        return Views.string(frame, Views.body(frame));
    }
}
