package dev.pggat.pooler.listen;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * The LISTEN stage's choice of what it may answer without a server, on plain frames; what it then does is tested
 * end to end against PostgreSQL in ListenRelayTest and the asyncpg/pgjdbc conformance tests.
 */
class ListenStageTest {
    private static ByteBuf frame(char type, Object... parts) {
        ByteBuf b = Unpooled.buffer().writeByte(type).writeInt(0);
        for (Object p : parts) {
            if (p instanceof String s) {
                b.writeBytes(s.getBytes(StandardCharsets.UTF_8)).writeByte(0);
            } else if (p instanceof Short s) {
                b.writeShort(s);
            } else if (p instanceof Integer i) {
                b.writeInt(i);
            }
        }
        return b.setInt(1, b.writerIndex() - 1);
    }

    private static ListenStatement of(ByteBuf f) {
        try {
            return ListenStage.listenStatement(f);
        } finally {
            f.release();
        }
    }

    @Test
    void aListenAloneInAQueryOrAnUnnamedParseIsTaken() {
        ListenStatement q = of(frame('Q', "LISTEN ch1"));
        assertThat(q.listen()).isTrue();
        assertThat(q.channel()).isEqualTo("ch1");
        ListenStatement p = of(frame('P', "", "UNLISTEN ch2", (short) 0));
        assertThat(p.listen()).isFalse();
        assertThat(p.channel()).isEqualTo("ch2");
    }

    @Test
    void namedStatementsDeclaredTypesAndOtherSqlAreLeftToTheServer() {
        assertThat(of(frame('P', "s1", "LISTEN ch1", (short) 0))).isNull();
        assertThat(of(frame('P', "", "LISTEN ch1", (short) 1, 25))).isNull();
        assertThat(of(frame('Q', "SELECT 'LISTEN ch1'"))).isNull();
        assertThat(of(frame('Q', ""))).isNull();
        assertThat(of(frame('S'))).isNull();
    }

    @Test
    void aParseCutShortIsNotReadPastItsEnd() {
        // The query text's NUL is the frame's last byte: no parameter-type count follows.
        assertThat(of(frame('P', "", "LISTEN ch1"))).isNull();
    }
}
