package dev.pggat.pooler.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class MessageFramerTest {
    // Parse "", "select 1", no parameter types; Bind; Execute; Sync — the bytes pgjdbc would send.
    private static final byte[] PARSE = {'P', 0, 0, 0, 16, 0, 's', 'e', 'l', 'e', 'c', 't', ' ', '1', 0, 0, 0};
    private static final byte[] BIND = {'B', 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0};
    private static final byte[] EXECUTE = {'E', 0, 0, 0, 9, 0, 0, 0, 0, 0};
    private static final byte[] SYNC = {'S', 0, 0, 0, 4};

    private static byte[] stream() {
        return StartupDecoderTest.concat(PARSE, BIND, EXECUTE, SYNC);
    }

    private static List<byte[]> drain(EmbeddedChannel ch) {
        List<byte[]> out = new ArrayList<>();
        ByteBuf f;
        while ((f = ch.readInbound()) != null) {
            out.add(ByteBufUtil.getBytes(f));
            f.release();
        }
        return out;
    }

    @Test
    void framesEveryMessageWholeAtEverySplitOffset() {
        byte[] bytes = stream();
        for (int split = 0; split <= bytes.length; split++) {
            EmbeddedChannel ch = new EmbeddedChannel(new MessageFramer(1024));
            ch.writeInbound(Unpooled.wrappedBuffer(bytes, 0, split));
            ch.writeInbound(Unpooled.wrappedBuffer(bytes, split, bytes.length - split));
            assertThat(drain(ch)).containsExactly(PARSE, BIND, EXECUTE, SYNC);
            assertFalse(ch.finish());
        }
    }

    @Test
    void framesMessagesFedOneByteAtATime() {
        EmbeddedChannel ch = new EmbeddedChannel(new MessageFramer(1024));
        List<byte[]> out = new ArrayList<>();
        for (byte b : stream()) {
            ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {b}));
            out.addAll(drain(ch));
        }
        assertThat(out).containsExactly(PARSE, BIND, EXECUTE, SYNC);
        assertFalse(ch.finish());
    }

    @Test
    void framesAreSlicesOfTheReadBufferNotCopies() {
        EmbeddedChannel ch = new EmbeddedChannel(new MessageFramer(1024));
        ByteBuf in = Unpooled.directBuffer().writeBytes(stream());
        long address = in.memoryAddress();
        ch.writeInbound(in);
        ByteBuf first = ch.readInbound();
        assertThat(first.memoryAddress()).isEqualTo(address);
        first.release();
        drain(ch);
        assertFalse(ch.finish());
    }

    @Test
    void rejectsMessageOverTheSizeLimitFromItsHeader() {
        EmbeddedChannel ch = new EmbeddedChannel(new MessageFramer(1024));
        byte[] header = {'Q', 0, 0, 0x04, 0x01}; // 1025 bytes announced, none sent
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(header)))
                .cause()
                .isInstanceOfSatisfying(ProtocolException.class, e -> assertThat(e.sqlState())
                        .isEqualTo(SqlState.PROGRAM_LIMIT_EXCEEDED))
                .hasMessageContaining("over the limit of 1024 bytes");
        ch.finishAndReleaseAll();
    }

    @Test
    void rejectsLengthBelowFour() {
        EmbeddedChannel ch = new EmbeddedChannel(new MessageFramer(1024));
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {'Q', 0, 0, 0, 3})))
                .cause()
                .hasMessage("invalid message length");
        ch.finishAndReleaseAll();
    }

    @Test
    void errorResponseEncodesAndParsesBack() {
        ByteBuf err = Messages.errorResponse(Unpooled.buffer().alloc(), "FATAL", "28P01", "password failed");
        assertThat(Frames.type(err)).isEqualTo((byte) 'E');
        assertThat(err.getInt(1)).isEqualTo(err.readableBytes() - 1);
        assertThat(ErrorFields.parse(err)).isEqualTo(new ErrorFields("FATAL", "28P01", "password failed"));
        err.release();
    }
}
