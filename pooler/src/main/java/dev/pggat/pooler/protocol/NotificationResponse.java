package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;

/** Reads a NotificationResponse ('A') frame in place: process id, channel, payload. */
public final class NotificationResponse {
    private NotificationResponse() {}

    public static int processId(ByteBuf frame) {
        return Views.int32At(frame, Views.body(frame));
    }

    public static String channel(ByteBuf frame) {
        return Views.string(frame, Views.body(frame) + 4);
    }
}
