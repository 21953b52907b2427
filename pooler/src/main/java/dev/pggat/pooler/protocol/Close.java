package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;

/** Reads a Close ('C', from a client) frame in place: a statement ('S') or a portal ('P'), and its name. */
public final class Close {
    private Close() {}

    public static boolean isStatement(ByteBuf frame) {
        return Views.byteAt(frame, Views.body(frame)) == 'S';
    }

    public static boolean isPortal(ByteBuf frame) {
        return Views.byteAt(frame, Views.body(frame)) == 'P';
    }

    public static boolean isUnnamed(ByteBuf frame) {
        return Views.emptyString(frame, Views.body(frame) + 1);
    }

    public static String name(ByteBuf frame) {
        return Views.string(frame, Views.body(frame) + 1);
    }
}
