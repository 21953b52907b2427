package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * Encoders for the messages the pooler writes itself. Messages it only forwards are never re-encoded. Constant
 * messages are shared read-only buffers; write {@code duplicate()}s of them.
 */
public final class Messages {
    private Messages() {}

    private static ByteBuf constant(int... values) {
        byte[] bytes = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            bytes[i] = (byte) values[i];
        }
        return Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(bytes).asReadOnly());
    }

    private static final ByteBuf AUTH_OK = constant('R', 0, 0, 0, 8, 0, 0, 0, 0);
    private static final ByteBuf AUTH_CLEARTEXT = constant('R', 0, 0, 0, 8, 0, 0, 0, 3);
    private static final ByteBuf READY_IDLE = constant('Z', 0, 0, 0, 5, 'I');
    private static final ByteBuf SSL_NO = constant('N');
    private static final ByteBuf SYNC = constant('S', 0, 0, 0, 4);
    private static final ByteBuf TERMINATE = constant('X', 0, 0, 0, 4);

    public static ByteBuf authenticationOk() {
        return AUTH_OK.duplicate();
    }

    public static ByteBuf authenticationCleartextPassword() {
        return AUTH_CLEARTEXT.duplicate();
    }

    public static ByteBuf readyForQueryIdle() {
        return READY_IDLE.duplicate();
    }

    /** The single byte 'N' that declines SSLRequest and GSSENCRequest. */
    public static ByteBuf encryptionDeclined() {
        return SSL_NO.duplicate();
    }

    public static ByteBuf sync() {
        return SYNC.duplicate();
    }

    public static ByteBuf terminate() {
        return TERMINATE.duplicate();
    }

    public static ByteBuf readyForQuery(ByteBufAllocator alloc, byte status) {
        if (status == ProtocolConstants.TX_IDLE) {
            return readyForQueryIdle();
        }
        return alloc.buffer(6).writeByte('Z').writeInt(5).writeByte(status);
    }

    public static ByteBuf authenticationMd5Password(ByteBufAllocator alloc, byte[] salt) {
        return alloc.buffer(13).writeByte('R').writeInt(12).writeInt(5).writeBytes(salt, 0, 4);
    }

    public static ByteBuf authenticationSasl(ByteBufAllocator alloc, List<String> mechanisms) {
        ByteBuf buf = alloc.buffer(64);
        buf.writeByte('R').writeInt(0).writeInt(ProtocolConstants.AUTH_SASL);
        for (String m : mechanisms) {
            writeCString(buf, m);
        }
        buf.writeByte(0);
        return finishLength(buf);
    }

    public static ByteBuf authenticationSaslContinue(ByteBufAllocator alloc, byte[] data) {
        return alloc.buffer(9 + data.length)
                .writeByte('R')
                .writeInt(8 + data.length)
                .writeInt(ProtocolConstants.AUTH_SASL_CONTINUE)
                .writeBytes(data);
    }

    public static ByteBuf authenticationSaslFinal(ByteBufAllocator alloc, byte[] data) {
        return alloc.buffer(9 + data.length)
                .writeByte('R')
                .writeInt(8 + data.length)
                .writeInt(ProtocolConstants.AUTH_SASL_FINAL)
                .writeBytes(data);
    }

    public static ByteBuf parameterStatus(ByteBufAllocator alloc, String name, String value) {
        ByteBuf buf = alloc.buffer(8 + name.length() + value.length());
        buf.writeByte('S').writeInt(0);
        writeCString(buf, name);
        writeCString(buf, value);
        return finishLength(buf);
    }

    public static ByteBuf backendKeyData(ByteBufAllocator alloc, int processId, int secretKey) {
        return alloc.buffer(13).writeByte('K').writeInt(12).writeInt(processId).writeInt(secretKey);
    }

    /** NegotiateProtocolVersion: the newest minor version of 3 supported and the options not recognised. */
    public static ByteBuf negotiateProtocolVersion(ByteBufAllocator alloc, int minor, List<String> unsupported) {
        ByteBuf buf = alloc.buffer(32);
        buf.writeByte('v')
                .writeInt(0)
                .writeInt(ProtocolConstants.PROTOCOL_3_0 | minor)
                .writeInt(unsupported.size());
        for (String option : unsupported) {
            writeCString(buf, option);
        }
        return finishLength(buf);
    }

    /** ErrorResponse (or NoticeResponse with type 'N') with severity, SQLSTATE and message. */
    public static ByteBuf errorResponse(ByteBufAllocator alloc, String severity, String sqlState, String message) {
        return errorOrNotice(alloc, ProtocolConstants.ERROR_RESPONSE, severity, sqlState, message, null);
    }

    public static ByteBuf errorResponse(
            ByteBufAllocator alloc, String severity, String sqlState, String message, String detail) {
        return errorOrNotice(alloc, ProtocolConstants.ERROR_RESPONSE, severity, sqlState, message, detail);
    }

    public static ByteBuf noticeResponse(ByteBufAllocator alloc, String severity, String sqlState, String message) {
        return errorOrNotice(alloc, ProtocolConstants.NOTICE_RESPONSE, severity, sqlState, message, null);
    }

    private static ByteBuf errorOrNotice(
            ByteBufAllocator alloc, byte type, String severity, String sqlState, String message, String detail) {
        ByteBuf buf = alloc.buffer(32 + message.length());
        buf.writeByte(type).writeInt(0);
        buf.writeByte('S');
        writeCString(buf, severity);
        buf.writeByte('V');
        writeCString(buf, severity);
        buf.writeByte('C');
        writeCString(buf, sqlState);
        buf.writeByte('M');
        writeCString(buf, message);
        if (detail != null) {
            buf.writeByte('D');
            writeCString(buf, detail);
        }
        buf.writeByte(0);
        return finishLength(buf);
    }

    // Frontend messages the pooler sends to servers.

    public static ByteBuf startupMessage(ByteBufAllocator alloc, Map<String, String> params) {
        ByteBuf buf = alloc.buffer(128);
        buf.writeInt(0).writeInt(ProtocolConstants.PROTOCOL_3_0);
        for (Map.Entry<String, String> e : params.entrySet()) {
            writeCString(buf, e.getKey());
            writeCString(buf, e.getValue());
        }
        buf.writeByte(0);
        buf.setInt(0, buf.writerIndex());
        return buf;
    }

    public static ByteBuf cancelRequest(ByteBufAllocator alloc, int processId, int secretKey) {
        return alloc.buffer(16)
                .writeInt(16)
                .writeInt(ProtocolConstants.CANCEL_REQUEST_CODE)
                .writeInt(processId)
                .writeInt(secretKey);
    }

    public static ByteBuf query(ByteBufAllocator alloc, String sql) {
        ByteBuf buf = alloc.buffer(6 + sql.length() * 2);
        buf.writeByte('Q').writeInt(0);
        writeCString(buf, sql);
        return finishLength(buf);
    }

    /** Parse of the statement {@code name} (ASCII, no NUL) whose query text and types are {@code statement}. */
    public static ByteBuf parse(ByteBufAllocator alloc, byte[] name, byte[] statement) {
        int len = 4 + name.length + 1 + statement.length;
        return alloc.buffer(len + 1)
                .writeByte(ProtocolConstants.PARSE)
                .writeInt(len)
                .writeBytes(name)
                .writeByte(0)
                .writeBytes(statement);
    }

    /** Describe ('S') or Close ('S') of the statement {@code name} (ASCII, no NUL). */
    public static ByteBuf statementMessage(ByteBufAllocator alloc, byte type, byte[] name) {
        return alloc.buffer(7 + name.length)
                .writeByte(type)
                .writeInt(6 + name.length)
                .writeByte('S')
                .writeBytes(name)
                .writeByte(0);
    }

    /** A message with an empty body: ParseComplete, BindComplete, CloseComplete, NoData. */
    public static ByteBuf empty(ByteBufAllocator alloc, byte type) {
        return alloc.buffer(5).writeByte(type).writeInt(4);
    }

    /** CommandComplete with {@code tag}. */
    public static ByteBuf commandComplete(ByteBufAllocator alloc, String tag) {
        ByteBuf buf = alloc.buffer(6 + tag.length());
        buf.writeByte(ProtocolConstants.COMMAND_COMPLETE).writeInt(0);
        writeCString(buf, tag);
        return finishLength(buf);
    }

    /** ParameterDescription of a statement without parameters. */
    public static ByteBuf noParameters(ByteBufAllocator alloc) {
        return alloc.buffer(7)
                .writeByte(ProtocolConstants.PARAMETER_DESCRIPTION)
                .writeInt(6)
                .writeShort(0);
    }

    public static ByteBuf passwordMessage(ByteBufAllocator alloc, String password) {
        ByteBuf buf = alloc.buffer(6 + password.length() * 2);
        buf.writeByte('p').writeInt(0);
        writeCString(buf, password);
        return finishLength(buf);
    }

    public static ByteBuf saslInitialResponse(ByteBufAllocator alloc, String mechanism, byte[] data) {
        ByteBuf buf = alloc.buffer(16 + mechanism.length() + data.length);
        buf.writeByte('p').writeInt(0);
        writeCString(buf, mechanism);
        buf.writeInt(data.length).writeBytes(data);
        return finishLength(buf);
    }

    public static ByteBuf saslResponse(ByteBufAllocator alloc, byte[] data) {
        return alloc.buffer(5 + data.length)
                .writeByte('p')
                .writeInt(4 + data.length)
                .writeBytes(data);
    }

    private static void writeCString(ByteBuf buf, String s) {
        ByteBufUtil.writeUtf8(buf, s);
        buf.writeByte(0);
    }

    private static ByteBuf finishLength(ByteBuf buf) {
        buf.setInt(1, buf.writerIndex() - 1);
        return buf;
    }

    /** Bytes of a string as the protocol carries it. */
    public static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
