package dev.pggat.pooler.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Runs a decoder over bytes delivered in a given list of chunk sizes and describes what came out, in order: each
 * startup packet, each frame (hex of its bytes), and at most one protocol error, which must be the last thing.
 * Frames are checked and released as they arrive, as the pooler's handlers do, so a leak is the decoder's.
 *
 * <p>What comes out must not depend on how TCP happened to cut the stream: fuzz targets compare the description
 * of one whole write with those of other cuts.
 */
final class DecoderRun {
    private DecoderRun() {}

    /**
     * @param decoder a fresh decoder
     * @param between a handler between the decoder and the checks (standing for the pooler's), or null
     * @param onFrame called with each frame before it is released (for checks on its content, or to tell the
     *     decoder that the login completed, as the login handler would)
     */
    static List<String> run(
            ChannelHandler decoder, byte[] input, int[] chunks, ChannelHandler between, Consumer<ByteBuf> onFrame) {
        List<String> out = new ArrayList<>();
        // A CancelRequest ends the connection: the pooler hands it on and closes, whatever else the client sent.
        boolean[] ended = {false};
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        if (between != null) {
            ch.pipeline().addLast(between);
        }
        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (ended[0]) {
                    // Decoded from leftovers as the connection closes: the pooler has already let it go.
                    ReferenceCountUtil.release(msg);
                    return;
                }
                if (msg instanceof ByteBuf frame) {
                    try {
                        int length = frame.getInt(frame.readerIndex() + 1);
                        assertThat(frame.readableBytes())
                                .as("a frame is its type byte plus its length field")
                                .isEqualTo(length + 1);
                        out.add("frame " + ByteBufUtil.hexDump(frame));
                        onFrame.accept(frame);
                    } finally {
                        frame.release();
                    }
                } else {
                    assertThat(msg).isInstanceOf(StartupPacket.class);
                    out.add(msg.toString());
                    ended[0] |= msg instanceof StartupPacket.CancelRequest;
                }
            }
        });
        int pos = 0;
        try {
            for (int i = 0; pos < input.length && !ended[0]; i++) {
                int n = i < chunks.length ? Math.min(chunks[i], input.length - pos) : input.length - pos;
                ch.writeInbound(Unpooled.wrappedBuffer(input, pos, n));
                pos += n;
                ch.runPendingTasks();
                ch.checkException();
            }
        } catch (DecoderException e) {
            // The only failure a decoder may report: a protocol violation the client is told about.
            if (!(e.getCause() instanceof ProtocolException p)) {
                throw e;
            }
            out.add("error " + p.sqlState() + " " + p.getMessage());
            // After an error everything else is discarded unread.
            if (pos < input.length) {
                ch.writeInbound(Unpooled.wrappedBuffer(input, pos, input.length - pos));
            }
        }
        try {
            ch.finishAndReleaseAll();
        } catch (DecoderException e) {
            // Bytes left behind a CancelRequest are decoded when the connection closes; the pooler ignores them.
            if (!ended[0] || !(e.getCause() instanceof ProtocolException)) {
                throw e;
            }
        }
        return out;
    }

    /**
     * Cuts that put read boundaries inside headers and bodies: byte by byte for short inputs, otherwise pieces of
     * 7 bytes, which keeps the fuzzer fast enough under the paranoid leak detector.
     */
    static int[] fine(int length) {
        return every(length, length <= 256 ? 1 : 7);
    }

    /** Chunk sizes that cut {@code length} bytes into pieces of {@code size} bytes. */
    static int[] every(int length, int size) {
        int[] chunks = new int[(length + size - 1) / size];
        java.util.Arrays.fill(chunks, size);
        return chunks;
    }
}
