package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;

/**
 * Reads a client's 'p' frame in place, which is one of three messages depending on what the pooler asked for: a
 * PasswordMessage (cleartext password or MD5 response), a SASLInitialResponse, or a SASLResponse.
 */
public final class PasswordMessage {
    private PasswordMessage() {}

    /** PasswordMessage: the cleartext password, or the MD5 response. */
    public static String password(ByteBuf frame) {
        return Views.string(frame, Views.body(frame));
    }

    /** SASLInitialResponse: the mechanism the client chose. */
    public static String saslMechanism(ByteBuf frame) {
        return Views.string(frame, Views.body(frame));
    }

    /** SASLInitialResponse: the client's first message (empty when it sent none, length -1). */
    public static byte[] saslInitialData(ByteBuf frame) {
        int pos = Views.skip(frame, Views.body(frame));
        int len = Views.int32At(frame, pos);
        if (len < -1 || len > Views.end(frame) - pos - 4) {
            throw new ProtocolException(SqlState.PROTOCOL_VIOLATION, "malformed SASL message");
        }
        return len <= 0 ? new byte[0] : ByteBufUtil.getBytes(frame, pos + 4, len);
    }

    /** SASLResponse: the whole body. */
    public static byte[] saslData(ByteBuf frame) {
        int body = Views.body(frame);
        return ByteBufUtil.getBytes(frame, body, Views.end(frame) - body);
    }
}
