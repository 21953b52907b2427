package dev.pggat.pooler.tracing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.protocol.PacketFormat;
import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Lines of packet traces, and the TRACE command's words. */
class PacketFormatTest {
    private static String describe(ByteBuf b, String direction, boolean values) {
        try {
            return PacketFormat.describe(b, 0, direction, values);
        } finally {
            b.release();
        }
    }

    /** Bind of the unnamed statement with one text parameter and one NULL. */
    private static ByteBuf bind(String value) {
        byte[] v = value.getBytes(StandardCharsets.UTF_8);
        byte[] body = Frames.concat(
                Frames.cstring(""),
                Frames.cstring("s1"),
                new byte[] {0, 0}, // no format codes: all text
                new byte[] {0, 2},
                new byte[] {0, 0, 0, (byte) v.length},
                v,
                new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff},
                new byte[] {0, 0});
        return Frames.message('B', body);
    }

    @Test
    void bindValuesOnlyWhenAskedFor() {
        assertThat(describe(bind("secret"), PacketFormat.CLIENT_TO_POOLER, false))
                .isEqualTo("Bind 'B' len=" + (4 + 1 + 3 + 2 + 2 + 4 + 6 + 4 + 2) + " portal=\"\" statement=\"s1\""
                        + " parameters=2")
                .doesNotContain("secret");
        assertThat(describe(bind("secret"), PacketFormat.POOLER_TO_SERVER, true))
                .endsWith("parameters=2 values=['secret', NULL]");
    }

    @Test
    void passwordsAndAuthenticationBodiesAreNeverShown() {
        String line = describe(Frames.message('p', Frames.cstring("hunter2")), PacketFormat.CLIENT_TO_POOLER, true);
        assertThat(line).isEqualTo("PasswordMessage/SASLResponse 'p' len=12 (body not shown)");
        ByteBuf sasl = Frames.message('R', Frames.concat(new byte[] {0, 0, 0, 11}, "r=nonce,s=salt,i=4096".getBytes()));
        assertThat(describe(sasl, PacketFormat.POOLER_TO_CLIENT, true))
                .endsWith("kind=11")
                .doesNotContain("nonce");
        ByteBuf key = Frames.message('K', new byte[] {0, 0, 0, 9, 1, 2, 3, 4});
        assertThat(describe(key, PacketFormat.POOLER_TO_CLIENT, true)).endsWith("pid=9 key=<hidden>");
    }

    @Test
    void sqlIsEscapedOntoOneLine() {
        assertThat(describe(Frames.query("SELECT 1;\nSELECT \"x\""), PacketFormat.CLIENT_TO_POOLER, false))
                .isEqualTo("Query 'Q' len=25 sql=\"SELECT 1;\\nSELECT \\\"x\\\"\"");
    }

    @Test
    void errorsShowSeveritySqlstateAndMessage() {
        assertThat(describe(
                        Frames.error("42P01", "relation \"t\" does not exist"), PacketFormat.SERVER_TO_POOLER, false))
                .contains("ErrorResponse 'E'")
                .contains("sqlstate=\"42P01\"")
                .contains("message=\"relation \\\"t\\\" does not exist\"");
    }

    @Test
    void aTruncatedBodyIsReportedAsMalformed() {
        ByteBuf b = Frames.message('B', new byte[] {0, 0, 0});
        assertThat(describe(b, PacketFormat.CLIENT_TO_POOLER, true)).endsWith("(malformed)");
    }

    @Test
    void traceCommandsParse() {
        TraceCommand c = TraceCommand.parse("client 7 for 20 messages for 30s with values to file 'traces/x y'");
        assertThat(c.spec().kind()).isEqualTo(PacketTrace.Kind.CLIENT);
        assertThat(c.spec().target()).isEqualTo("7");
        assertThat(c.spec().messages()).isEqualTo(20L);
        assertThat(c.spec().duration()).isEqualTo(Duration.ofSeconds(30));
        assertThat(c.spec().withValues()).isTrue();
        assertThat(c.spec().file()).hasToString("traces/x y");
        assertThat(TraceCommand.parse("CLIENT 10.0.0.1:5555").spec().kind()).isEqualTo(PacketTrace.Kind.ADDRESS);
        assertThat(TraceCommand.parse("DATABASE \"my db\"").spec().target()).isEqualTo("my db");
        assertThat(TraceCommand.parse("OFF").off()).isNull();
        assertThat(TraceCommand.parse("off 3").off()).isEqualTo(3);
        assertThatThrownBy(() -> TraceCommand.parse("USER")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> TraceCommand.parse("CLIENT host.example"))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> TraceCommand.parse("USER a FOR 5 MINUTES"))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void boundsAreEnforced() {
        PacketTraces traces = new PacketTraces();
        assertThatThrownBy(() -> traces.start(new PacketTrace.Spec(
                        PacketTrace.Kind.USER, "a", PacketTrace.MAX_MESSAGES + 1, null, false, null)))
                .hasMessageContaining("message count");
        assertThatThrownBy(() -> traces.start(new PacketTrace.Spec(
                        PacketTrace.Kind.USER, "a", null, PacketTrace.MAX_DURATION.plusSeconds(1), false, null)))
                .hasMessageContaining("duration");
        for (int i = 0; i < PacketTraces.MAX_TRACES; i++) {
            traces.start(new PacketTrace.Spec(PacketTrace.Kind.USER, "u" + i, null, null, false, null));
        }
        assertThatThrownBy(
                        () -> traces.start(new PacketTrace.Spec(PacketTrace.Kind.USER, "x", null, null, false, null)))
                .hasMessageContaining("at most");
        assertThat(traces.match(-1, "127.0.0.1:1", "u3", "db")).isNotNull();
        assertThat(traces.stop(null)).isEqualTo(PacketTraces.MAX_TRACES);
        assertThat(traces.any()).isFalse();
        assertThat(traces.match(-1, "127.0.0.1:1", "u3", "db")).isNull();
    }

    @Test
    void aTraceEndsAfterItsMessageCount() {
        PacketTrace t = PacketTrace.open(1, new PacketTrace.Spec(PacketTrace.Kind.USER, "u", 2L, null, false, null));
        assertThat(t.over()).isFalse();
        t.line("one");
        t.line("two");
        assertThat(t.over()).isTrue();
        assertThat(t.logged()).isEqualTo(2);
    }
}
