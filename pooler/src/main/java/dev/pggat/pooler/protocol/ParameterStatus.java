package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;

/** Reads a ParameterStatus ('S', from a server) frame in place. */
public final class ParameterStatus {
    private ParameterStatus() {}

    public static String name(ByteBuf frame) {
        return Views.string(frame, Views.body(frame));
    }

    public static String value(ByteBuf frame) {
        return Views.string(frame, Views.skip(frame, Views.body(frame)));
    }
}
