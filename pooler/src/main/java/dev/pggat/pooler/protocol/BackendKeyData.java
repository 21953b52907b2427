package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;

/** Reads a BackendKeyData ('K', from a server) frame in place: the key a CancelRequest for it carries. */
public final class BackendKeyData {
    private BackendKeyData() {}

    public static int processId(ByteBuf frame) {
        return Views.int32At(frame, Views.body(frame));
    }

    public static int secretKey(ByteBuf frame) {
        return Views.int32At(frame, Views.body(frame) + 4);
    }
}
