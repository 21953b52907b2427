package dev.pggat.pooler.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import java.io.ByteArrayOutputStream;
import java.util.List;

/**
 * The framer on both sides of the pooler (clients after login, servers) and the readers the pooler applies to
 * frames it acts on. Seeds are both halves of real psql, pgbench and pgjdbc sessions past the startup packet.
 *
 * <p>Checked on every input: frames are exactly the input's bytes, in order, none lost or repeated; a frame over
 * the limit or with a length under 4 is refused with a protocol error before its body is buffered; the result does
 * not depend on how the bytes were cut; the ErrorResponse reader and the string readers fail only with a protocol
 * error; nothing leaks.
 */
class MessageFramerFuzzTest {
    private static final int MAX_MESSAGE = 4096;

    @FuzzTest(maxDuration = "30s")
    void serverOrClientBytes(byte[] input) {
        ByteArrayOutputStream framed = new ByteArrayOutputStream();
        List<String> whole =
                DecoderRun.run(new MessageFramer(MAX_MESSAGE), input, new int[] {input.length}, null, frame -> {
                    framed.writeBytes(ByteBufUtil.getBytes(frame));
                    read(frame);
                });
        byte[] f = framed.toByteArray();
        assertThat(f.length).isLessThanOrEqualTo(input.length);
        assertThat(java.util.Arrays.equals(f, 0, f.length, input, 0, f.length))
                .as("frames are the input's bytes in order")
                .isTrue();
        if (!whole.isEmpty() && whole.get(whole.size() - 1).startsWith("error")) {
            // Refused at the first bad header: everything before it was framed, nothing after.
            assertThat(input.length - f.length).isGreaterThanOrEqualTo(5);
        } else {
            // Only an incomplete last message may be left over.
            int rest = input.length - f.length;
            assertThat(rest < 5 || rest < 1 + readInt(input, f.length + 1)).isTrue();
        }
        assertThat(DecoderRun.run(
                        new MessageFramer(MAX_MESSAGE), input, DecoderRun.fine(input.length), null, frame -> {}))
                .isEqualTo(whole);
        int third = Math.max(1, input.length / 3);
        assertThat(DecoderRun.run(new MessageFramer(MAX_MESSAGE), input, new int[] {third, third}, null, frame -> {}))
                .isEqualTo(whole);
    }

    /** What the pooler reads from frames it acts on; any other failure than a protocol error is a finding. */
    private static void read(ByteBuf frame) {
        int readerIndex = frame.readerIndex();
        try {
            switch (Frames.type(frame)) {
                case ProtocolConstants.ERROR_RESPONSE, ProtocolConstants.NOTICE_RESPONSE -> ErrorFields.parse(frame);
                case ProtocolConstants.QUERY -> Frames.queryText(frame);
                case ProtocolConstants.READY_FOR_QUERY -> {
                    if (Frames.bodyLength(frame) >= 1) {
                        Frames.readyStatus(frame);
                    }
                }
                default -> {
                    if (Frames.bodyLength(frame) > 0) {
                        Frames.skipCstring(frame, Frames.bodyStart(frame));
                    }
                }
            }
        } catch (ProtocolException expected) {
            assertThat(expected.sqlState()).isEqualTo(SqlState.PROTOCOL_VIOLATION);
        }
        assertThat(frame.readerIndex()).as("readers do not move the frame").isEqualTo(readerIndex);
    }

    private static int readInt(byte[] b, int at) {
        return (b[at] & 0xff) << 24 | (b[at + 1] & 0xff) << 16 | (b[at + 2] & 0xff) << 8 | (b[at + 3] & 0xff);
    }
}
