package dev.pggat.pooler.sql;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** A message's SQL lexed once and replayed: every reader sees what lexing the text again would have shown. */
class SqlTokensTest {
    private static final String[] PIECES = {
        "SELECT", " ", "set", "\n", "'a''b'", "E'x\\'y'", "$$ do $$", "$t$ x $t$", "\"Q\"\"n\"", "U&\"d\"", "--c\n",
        "/* pggat:replica */", "/* pggat:primary */", "/* a /* b */ c */", ";", "(", ")", ",", "*", "1.5e3", "$1", "é",
        "'open", "/* open", "\"open", "listen", "x", "::", "-", "/"
    };

    /** Everything a reader can ask at the current token, as text. */
    private static String state(SqlLexer lx) {
        int t = lx.type();
        return t + "[" + lx.start() + "," + lx.end() + ")"
                + (t == SqlLexer.PUNCT ? " p=" + lx.punct() : "")
                + (t == SqlLexer.STRING || t == SqlLexer.QUOTED_IDENT ? " k=" + lx.kind() : "")
                + " u=" + lx.unterminated() + " id=" + lx.identifier() + " v=" + lx.stringValue() + " end="
                + lx.atStatementEnd();
    }

    /** Walks the text with lookahead at every token, as the stages do. */
    private static List<String> walk(SqlLexer lx) {
        List<String> out = new ArrayList<>();
        while (true) {
            out.add("peek=" + lx.peekType() + " punct(=" + lx.nextIsPunct('(') + " kw="
                    + lx.nextKeywordsAre("set", "x", null));
            int t = lx.next();
            out.add(state(lx));
            if (t == SqlLexer.END) {
                break;
            }
        }
        out.add("hints=" + lx.primaryHint() + "/" + lx.replicaHint() + " u=" + lx.unterminated());
        return out;
    }

    @Test
    void replayingTheRecordedTokensAnswersAsLexingTheTextAgain() {
        Random random = new Random(12);
        SqlTokens tokens = new SqlTokens();
        for (int round = 0; round < 3000; round++) {
            StringBuilder sb = new StringBuilder();
            int n = random.nextInt(14);
            for (int i = 0; i < n; i++) {
                sb.append(PIECES[random.nextInt(PIECES.length)]);
            }
            boolean conforming = random.nextBoolean();
            ByteBuf buf = Unpooled.copiedBuffer("Q" + sb + "\0", StandardCharsets.UTF_8);
            try {
                int end = buf.writerIndex() - 1;
                tokens.forget();
                tokens.of(buf, 1, end, conforming);
                assertThat(tokens.recorded()).isTrue();
                List<String> expected = walk(new SqlLexer(new Utf8Text(buf, 1, end), conforming));
                assertThat(walk(tokens.lexer())).as("text: %s", sb).isEqualTo(expected);
                // A second reader of the same message replays it from the start too.
                assertThat(walk(tokens.lexer())).as("again: %s", sb).isEqualTo(expected);
            } finally {
                buf.release();
            }
        }
    }

    @Test
    void aNewMessageIsLexedAfreshEvenInABufferAtTheSamePlace() {
        SqlTokens tokens = new SqlTokens();
        ByteBuf buf = Unpooled.buffer();
        buf.writeCharSequence("QSET x = 1\0", StandardCharsets.US_ASCII);
        SqlLexer lx = tokens.of(buf, 1, 10, true).lexer();
        lx.next();
        assertThat(lx.kw("set")).isTrue();
        // The same buffer object now holds the next message at the same offsets (as a recycled buffer would).
        buf.setCharSequence(1, "SHOW y   ", StandardCharsets.US_ASCII);
        tokens.forget();
        lx = tokens.of(buf, 1, 10, true).lexer();
        lx.next();
        assertThat(lx.kw("show")).isTrue();
        // Without a new message, asking again replays the recorded tokens.
        assertThat(tokens.of(buf, 1, 10, true)).isSameAs(tokens);
        // Another standard_conforming_strings is another reading of the text: lexed again.
        lx = tokens.of(buf, 1, 10, false).lexer();
        lx.next();
        assertThat(lx.kw("show")).isTrue();
        buf.release();
    }

    @Test
    void aLongTextIsNotRecordedButStillReadsTheSame() {
        String text = "SELECT " + "a,".repeat(SqlTokens.MAX_RECORDED / 2) + "b";
        ByteBuf buf = Unpooled.copiedBuffer(text, StandardCharsets.US_ASCII);
        SqlTokens tokens = new SqlTokens();
        tokens.of(buf, 0, buf.writerIndex(), true);
        assertThat(tokens.recorded()).isFalse();
        SqlLexer lx = tokens.lexer();
        int words = 0;
        while (lx.next() != SqlLexer.END) {
            if (lx.type() == SqlLexer.WORD) {
                words++;
            }
        }
        assertThat(words).isEqualTo(SqlTokens.MAX_RECORDED / 2 + 2);
        buf.release();
    }
}
