package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import java.util.ArrayList;
import java.util.List;

/** Reads an Authentication ('R', from a server) frame in place: its request code and what the code carries. */
public final class Authentication {
    private Authentication() {}

    /** The request: {@link ProtocolConstants#AUTH_OK}, {@link ProtocolConstants#AUTH_MD5_PASSWORD}, ... */
    public static int code(ByteBuf frame) {
        return Views.int32At(frame, Views.body(frame));
    }

    /** The 4-byte salt of an MD5 password request. */
    public static byte[] md5Salt(ByteBuf frame) {
        int at = Views.body(frame) + 4;
        if (at + 4 > Views.end(frame)) {
            throw Views.malformed(frame);
        }
        return ByteBufUtil.getBytes(frame, at, 4);
    }

    /** The mechanisms a SASL request offers, in the server's order. */
    public static List<String> saslMechanisms(ByteBuf frame) {
        List<String> mechanisms = new ArrayList<>(2);
        int pos = Views.body(frame) + 4;
        while (!Views.emptyString(frame, pos)) {
            mechanisms.add(Views.string(frame, pos));
            pos = Views.skip(frame, pos);
        }
        return mechanisms;
    }

    /** The data of a SASLContinue or SASLFinal: everything after the code. */
    public static byte[] saslData(ByteBuf frame) {
        int at = Views.body(frame) + 4;
        if (at > Views.end(frame)) {
            throw Views.malformed(frame);
        }
        return ByteBufUtil.getBytes(frame, at, Views.end(frame) - at);
    }
}
