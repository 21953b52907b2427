package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;

/** Reads a CommandComplete ('C', from a server) frame in place. */
public final class CommandComplete {
    private CommandComplete() {}

    public static String tag(ByteBuf frame) {
        return Views.string(frame, Views.body(frame));
    }

    /** Whether the tag is exactly {@code tag} (ASCII), without decoding it. */
    public static boolean tagIs(ByteBuf frame, byte[] tag) {
        int body = Views.body(frame);
        if (Views.end(frame) - body != tag.length + 1 || frame.getByte(body + tag.length) != 0) {
            return false;
        }
        for (int i = 0; i < tag.length; i++) {
            if (frame.getByte(body + i) != tag[i]) {
                return false;
            }
        }
        return true;
    }

    public static byte[] ascii(String tag) {
        return tag.getBytes(StandardCharsets.US_ASCII);
    }
}
