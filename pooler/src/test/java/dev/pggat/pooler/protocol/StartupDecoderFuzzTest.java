package dev.pggat.pooler.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.util.List;

/**
 * Everything a client sends before and right after login, through the startup decoder: StartupMessage, SSLRequest,
 * GSSENCRequest, CancelRequest, then password and SASL messages under the pre-login size cap, then the typed
 * messages of the session. Seeds are the client halves of real psql, pgbench and pgjdbc sessions.
 *
 * <p>Checked on every input: the decoder emits only startup packets and whole frames, refuses only with a
 * protocol error, never lets a message past the pre-login cap before the login completes, leaks nothing, and
 * emits the same whatever the cuts between TCP reads (all at once, in small pieces, in three pieces).
 */
class StartupDecoderFuzzTest {
    private static final int MAX_STARTUP = 10_000;
    private static final int MAX_MESSAGE = 1 << 16;

    @FuzzTest(maxDuration = "30s")
    void clientBytes(byte[] input) {
        List<String> whole = decode(input, new int[] {input.length});
        assertThat(decode(input, DecoderRun.fine(input.length))).isEqualTo(whole);
        int third = Math.max(1, input.length / 3);
        assertThat(decode(input, new int[] {third, third})).isEqualTo(whole);
    }

    /** Decodes as the login handler drives the decoder: the login completes with the first typed message. */
    private static List<String> decode(byte[] input, int[] chunks) {
        StartupDecoder decoder = new StartupDecoder(MAX_STARTUP, MAX_MESSAGE);
        boolean[] loggedIn = {false};
        return DecoderRun.run(decoder, input, chunks, new ResumeAfterDeclinedRequest(), frame -> {
            if (!loggedIn[0]) {
                assertThat(frame.readableBytes()).isLessThanOrEqualTo(StartupDecoder.MAX_AUTH_MESSAGE + 1);
                decoder.loginCompleted();
                loggedIn[0] = true;
            } else {
                assertThat(frame.readableBytes()).isLessThanOrEqualTo(MAX_MESSAGE + 1);
            }
        });
    }

    /**
     * The login handler's part after an SSLRequest or GSSENCRequest it declines: the decoder stops after such a
     * request (TLS might start), so the handler has it go on with bytes that came in the same read.
     */
    static final class ResumeAfterDeclinedRequest extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof StartupPacket.SslRequest || msg instanceof StartupPacket.GssEncRequest) {
                ctx.channel().eventLoop().execute(() -> ctx.pipeline().fireChannelRead(Unpooled.EMPTY_BUFFER));
            }
            ctx.fireChannelRead(msg);
        }
    }
}
