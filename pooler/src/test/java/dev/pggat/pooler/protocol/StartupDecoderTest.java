package dev.pggat.pooler.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class StartupDecoderTest {

    /** StartupMessage for protocol 3.0 with user=alice, database=app, written out by hand. */
    static byte[] startupBytes() {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(new byte[] {0, 3, 0, 0});
        for (String s : new String[] {"user", "alice", "database", "app"}) {
            body.writeBytes(s.getBytes(StandardCharsets.US_ASCII));
            body.write(0);
        }
        body.write(0);
        byte[] b = body.toByteArray();
        return ByteBuffer.allocate(4 + b.length).putInt(4 + b.length).put(b).array();
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static final byte[] SSL_REQUEST = {0, 0, 0, 8, 0x04, (byte) 0xd2, 0x16, 0x2f};
    private static final byte[] GSSENC_REQUEST = {0, 0, 0, 8, 0x04, (byte) 0xd2, 0x16, 0x30};
    private static final byte[] CANCEL_REQUEST = {0, 0, 0, 16, 0x04, (byte) 0xd2, 0x16, 0x2e, 0, 0, 0, 42, 0, 0, 0, 7};
    private static final byte[] QUERY_FRAME = {'Q', 0, 0, 0, 8, 's', 'e', 'l', 0};

    private static EmbeddedChannel channel() {
        return new EmbeddedChannel(new StartupDecoder(10_000, 1 << 20));
    }

    /** Feeds {@code bytes} split at {@code split} and returns everything the pipeline emitted. */
    private static List<Object> feed(EmbeddedChannel ch, byte[] bytes, int... splits) {
        int prev = 0;
        for (int s : splits) {
            ch.writeInbound(Unpooled.wrappedBuffer(bytes, prev, s - prev));
            prev = s;
        }
        ch.writeInbound(Unpooled.wrappedBuffer(bytes, prev, bytes.length - prev));
        List<Object> out = new ArrayList<>();
        Object o;
        while ((o = ch.readInbound()) != null) {
            out.add(o);
        }
        return out;
    }

    @Test
    void decodesStartupMessageFedOneByteAtATime() {
        EmbeddedChannel ch = channel();
        byte[] bytes = startupBytes();
        int[] splits = new int[bytes.length - 1];
        for (int i = 0; i < splits.length; i++) {
            splits[i] = i + 1;
        }
        List<Object> out = feed(ch, bytes, splits);
        assertThat(out)
                .containsExactly(new StartupPacket.StartupMessage(
                        ProtocolConstants.PROTOCOL_3_0, Map.of("user", "alice", "database", "app")));
        assertFalse(ch.finish());
    }

    @Test
    void sslRequestThenStartupThenQueryDecodeAtEverySplitOffset() {
        // The client waits for the answer to SSLRequest before it goes on, so that arrives on its own.
        byte[] bytes = concat(startupBytes(), QUERY_FRAME);
        for (int split = 1; split < bytes.length; split++) {
            EmbeddedChannel ch = channel();
            assertThat(feed(ch, SSL_REQUEST, 3)).containsExactly(new StartupPacket.SslRequest());
            List<Object> out = feed(ch, bytes, split);
            assertThat(out).hasSize(2);
            assertThat(out.get(0)).isInstanceOf(StartupPacket.StartupMessage.class);
            ByteBuf frame = (ByteBuf) out.get(1);
            assertThat(io.netty.buffer.ByteBufUtil.getBytes(frame)).isEqualTo(QUERY_FRAME);
            frame.release();
            assertFalse(ch.finish());
        }
    }

    @Test
    void decodesGssEncAndCancelRequests() {
        EmbeddedChannel ch = channel();
        assertThat(feed(ch, GSSENC_REQUEST, 3)).containsExactly(new StartupPacket.GssEncRequest());
        assertThat(feed(ch, CANCEL_REQUEST, 5, 11)).containsExactly(new StartupPacket.CancelRequest(42, 7));
        assertFalse(ch.finish());
    }

    @Test
    void framesTypedMessagesAfterStartup() {
        EmbeddedChannel ch = channel();
        List<Object> out = feed(ch, concat(startupBytes(), QUERY_FRAME, QUERY_FRAME));
        assertThat(out).hasSize(3);
        for (Object o : out.subList(1, 3)) {
            assertThat(io.netty.buffer.ByteBufUtil.getBytes((ByteBuf) o)).isEqualTo(QUERY_FRAME);
            io.netty.util.ReferenceCountUtil.release(o);
        }
        assertFalse(ch.finish());
    }

    private static byte[] frame(char type, int bodyLength) {
        return ByteBuffer.allocate(5 + bodyLength)
                .put((byte) type)
                .putInt(4 + bodyLength)
                .array();
    }

    @Test
    void messageBeforeLoginOverTheAuthCapIsRefusedOnItsHeaderAndTheRestDiscarded() {
        StartupDecoder decoder = new StartupDecoder(10_000, 64 << 20);
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        assertThat(feed(ch, startupBytes())).hasSize(1);
        // A 1 MB password message: refused as soon as its header is in, whatever the configured maximum.
        byte[] header = Arrays.copyOf(frame('p', 1 << 20), 5 + 1000);
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(header)))
                .cause()
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("invalid message length")
                .hasMessageContaining("at most 65535 bytes")
                .satisfies(e -> assertThat(((ProtocolException) e).sqlState()).isEqualTo("08P01"));
        for (int i = 0; i < 20; i++) {
            ch.writeInbound(Unpooled.wrappedBuffer(new byte[64 * 1024]));
            assertThat(decoder.bufferedBytes())
                    .as("bytes held after the refusal")
                    .isZero();
        }
        assertThat((Object) ch.readInbound()).isNull();
        ch.finishAndReleaseAll();
    }

    @Test
    void messageBeforeLoginAtTheAuthCapIsAccepted() {
        EmbeddedChannel ch = channel();
        List<Object> out = feed(ch, concat(startupBytes(), frame('p', StartupDecoder.MAX_AUTH_MESSAGE - 4)));
        assertThat(out).hasSize(2);
        assertThat(((ByteBuf) out.get(1)).readableBytes()).isEqualTo(StartupDecoder.MAX_AUTH_MESSAGE + 1);
        io.netty.util.ReferenceCountUtil.release(out.get(1));
        assertFalse(ch.finish());
    }

    @Test
    void onceLoginCompletedMessagesUpToTheConfiguredMaximumAreFramed() {
        StartupDecoder decoder = new StartupDecoder(10_000, 1 << 20);
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        assertThat(feed(ch, startupBytes())).hasSize(1);
        decoder.loginCompleted();
        List<Object> out = feed(ch, frame('Q', 200_000));
        assertThat(out).hasSize(1);
        io.netty.util.ReferenceCountUtil.release(out.get(0));
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(frame('Q', 1 << 20))))
                .cause()
                .hasMessageContaining("over the limit of 1048576 bytes");
        ch.finishAndReleaseAll();
    }

    @Test
    void rejectsOversizedStartupPacketBeforeReadingIt() {
        EmbeddedChannel ch = channel();
        byte[] header = {0, 0, 0x27, 0x11, 0, 3, 0, 0}; // 10001 bytes announced
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(header)))
                .isInstanceOf(DecoderException.class)
                .cause()
                .isInstanceOf(ProtocolException.class)
                .hasMessage("invalid length of startup packet");
        ch.finishAndReleaseAll();
    }

    @Test
    void rejectsTooShortLength() {
        EmbeddedChannel ch = channel();
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {0, 0, 0, 3, 0, 0, 0, 0})))
                .cause()
                .hasMessage("invalid length of startup packet");
        ch.finishAndReleaseAll();
    }

    @Test
    void rejectsProtocolVersionTwoLikePostgreSQL() {
        EmbeddedChannel ch = channel();
        byte[] v2 = {0, 0, 0, 9, 0, 2, 0, 0, 0};
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(v2)))
                .cause()
                .isInstanceOfSatisfying(
                        ProtocolException.class, e -> assertThat(e.sqlState()).isEqualTo("0A000"))
                .hasMessage("unsupported frontend protocol 2.0: server supports 3.0 to 3.0");
        ch.finishAndReleaseAll();
    }

    @Test
    void rejectsStartupMessageWithoutTerminator() {
        EmbeddedChannel ch = channel();
        byte[] bad = {0, 0, 0, 14, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'x'};
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(bad)))
                .cause()
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("invalid startup packet layout");
        ch.finishAndReleaseAll();
    }

    @Test
    void rejectsSslRequestWithWrongLength() {
        EmbeddedChannel ch = channel();
        byte[] bad = {0, 0, 0, 12, 0x04, (byte) 0xd2, 0x16, 0x2f, 0, 0, 0, 0};
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(bad)))
                .cause()
                .isInstanceOf(ProtocolException.class);
        ch.finishAndReleaseAll();
    }

    @Test
    void reportsMinorVersionAndProtocolOptions() {
        StartupPacket.StartupMessage m = new StartupPacket.StartupMessage(
                ProtocolConstants.PROTOCOL_3_0 | 2, Map.of("user", "u", "_pq_.compression", "on"));
        assertThat(m.minorVersion()).isEqualTo(2);
        assertThat(m.majorVersion()).isEqualTo(3);
        assertThat(m.protocolOptions()).containsExactly("_pq_.compression");
    }
}
