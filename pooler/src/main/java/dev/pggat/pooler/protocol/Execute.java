package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;

/** Reads an Execute ('E', from a client) frame in place. */
public final class Execute {
    private Execute() {}

    public static boolean portalIsUnnamed(ByteBuf frame) {
        return Views.emptyString(frame, Views.body(frame));
    }
}
