package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The client-side decoder, a two-state machine: first the untyped packets of the startup phase (length-prefixed,
 * no type byte: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest), then, once a StartupMessage has been
 * decoded, typed messages framed as {@link MessageFramer} does.
 */
public final class StartupDecoder extends ProtocolDecoder {
    /**
     * The largest message accepted before login completes, its length field included: PostgreSQL reads passwords
     * and SASL messages with the same cap. A client that has not logged in cannot make the pooler buffer more.
     */
    public static final int MAX_AUTH_MESSAGE = 65535;

    private final int maxStartupPacket;
    private final int maxMessageSize;
    private boolean started;
    private boolean loggedIn;

    public StartupDecoder(int maxStartupPacket, int maxMessageSize) {
        this.maxStartupPacket = maxStartupPacket;
        this.maxMessageSize = maxMessageSize;
        // One packet per decode call: after an SSLRequest the next bytes may be a TLS handshake that another
        // handler must see.
        setSingleDecode(true);
    }

    /**
     * Bytes received but not yet decoded. After an SSLRequest this must be 0 before TLS starts: bytes the client
     * sent before the server's 'S' would otherwise be read as if they had arrived encrypted.
     */
    public int bufferedBytes() {
        return actualReadableBytes();
    }

    /** Login succeeded: from the next message on, messages up to the configured maximum size are accepted. */
    public void loginCompleted() {
        loggedIn = true;
    }

    @Override
    protected void decodeMessages(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (loggedIn) {
            MessageFramer.frames(in, out, maxMessageSize);
            return;
        }
        if (started) {
            authMessage(in, out);
            return;
        }
        if (in.readableBytes() < 4) {
            return;
        }
        int start = in.readerIndex();
        int length = in.getInt(start);
        if (length < 8 || length > maxStartupPacket) {
            throw new ProtocolException(SqlState.PROTOCOL_VIOLATION, "invalid length of startup packet");
        }
        if (in.readableBytes() < length) {
            return;
        }
        int code = in.getInt(start + 4);
        StartupPacket packet;
        switch (code) {
            case ProtocolConstants.SSL_REQUEST_CODE -> packet = fixed(in, length, 8, new StartupPacket.SslRequest());
            case ProtocolConstants.GSSENC_REQUEST_CODE ->
                packet = fixed(in, length, 8, new StartupPacket.GssEncRequest());
            case ProtocolConstants.CANCEL_REQUEST_CODE -> {
                if (length != 16) {
                    throw new ProtocolException(SqlState.PROTOCOL_VIOLATION, "invalid length of cancel request");
                }
                packet = new StartupPacket.CancelRequest(in.getInt(start + 8), in.getInt(start + 12));
            }
            default -> packet = startupMessage(in, start, length, code);
        }
        in.skipBytes(length);
        out.add(packet);
        if (packet instanceof StartupPacket.StartupMessage) {
            // The typed phase begins; bytes that follow (a password message, say) are framed from now on.
            started = true;
            setSingleDecode(false);
        }
    }

    /**
     * One message per call while logging in: it reaches the login handler before the next is framed, so that a
     * message the client sent right behind its password is framed with the limit that holds after the login.
     */
    private static void authMessage(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < 5) {
            return;
        }
        int length = in.getInt(in.readerIndex() + 1);
        if (length < 4 || length > MAX_AUTH_MESSAGE) {
            // Refused on the header, before the body is read: nothing beyond the cap is ever buffered.
            throw new ProtocolException(
                    SqlState.PROTOCOL_VIOLATION,
                    "invalid message length " + length + ": messages before login completes may be at most "
                            + MAX_AUTH_MESSAGE + " bytes");
        }
        if (in.readableBytes() < length + 1) {
            return;
        }
        out.add(in.readRetainedSlice(length + 1));
    }

    private static StartupPacket fixed(ByteBuf in, int length, int expected, StartupPacket packet) {
        if (length != expected) {
            throw new ProtocolException(SqlState.PROTOCOL_VIOLATION, "invalid length of startup packet");
        }
        return packet;
    }

    private static StartupPacket.StartupMessage startupMessage(ByteBuf in, int start, int length, int version) {
        if ((version >>> 16) != 3) {
            // Same wording as PostgreSQL for any version it does not speak (2.0, garbage, ...).
            throw new ProtocolException(
                    SqlState.FEATURE_NOT_SUPPORTED,
                    "unsupported frontend protocol " + (version >>> 16) + "." + (version & 0xFFFF)
                            + ": server supports 3.0 to 3.0");
        }
        Map<String, String> params = new LinkedHashMap<>();
        int pos = start + 8;
        int end = start + length;
        while (pos < end) {
            int nameEnd = in.indexOf(pos, end, (byte) 0);
            if (nameEnd < 0) {
                throw invalidStartup();
            }
            if (nameEnd == pos) {
                // The terminating empty name: it must be the last byte of the packet.
                if (nameEnd != end - 1) {
                    throw invalidStartup();
                }
                return new StartupPacket.StartupMessage(version, params);
            }
            int valueEnd = in.indexOf(nameEnd + 1, end, (byte) 0);
            if (valueEnd < 0) {
                throw invalidStartup();
            }
            String name = in.toString(pos, nameEnd - pos, StandardCharsets.UTF_8);
            String value = in.toString(nameEnd + 1, valueEnd - nameEnd - 1, StandardCharsets.UTF_8);
            params.put(name, value);
            pos = valueEnd + 1;
        }
        throw invalidStartup();
    }

    private static ProtocolException invalidStartup() {
        return new ProtocolException(
                SqlState.PROTOCOL_VIOLATION, "invalid startup packet layout: expected terminator as last byte");
    }
}
