package dev.pggat.pooler.tracing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;

/** Protocol messages written by hand for the tracing tests. */
final class Frames {
    private Frames() {}

    static ByteBuf query(String sql) {
        return message('Q', cstring(sql));
    }

    static ByteBuf parse(String name, String sql) {
        return message('P', concat(cstring(name), cstring(sql), new byte[] {0, 0}));
    }

    static ByteBuf sync() {
        return message('S', new byte[0]);
    }

    static ByteBuf ready(char status) {
        return message('Z', new byte[] {(byte) status});
    }

    static ByteBuf error(String sqlState, String text) {
        return message(
                'E',
                concat(
                        new byte[] {'S'},
                        cstring("ERROR"),
                        new byte[] {'C'},
                        cstring(sqlState),
                        new byte[] {'M'},
                        cstring(text),
                        new byte[] {0}));
    }

    static ByteBuf message(char type, byte[] body) {
        ByteBuf b = Unpooled.buffer(5 + body.length);
        b.writeByte(type).writeInt(4 + body.length).writeBytes(body);
        return b;
    }

    static byte[] cstring(String s) {
        return concat(s.getBytes(StandardCharsets.UTF_8), new byte[] {0});
    }

    static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] out = new byte[n];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
