package dev.pggat.pooler.sql;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The lexer under the classifier and the session's statement readers, on any bytes a Query or Parse can carry. The
 * same text is lexed twice, as the bytes of a message ({@link Utf8Text}, as the pooler reads it) and as a String of
 * the same characters, with standard_conforming_strings on and off. Seeds are the classifier's (statements of real
 * psql, pgbench and pgjdbc sessions, hand-written quoting) plus lexer corner cases.
 *
 * <p>Checked on every input: lexing ends, each token lies inside the text after the one before it, both readings
 * give the same tokens, the readers of a token ({@link SqlLexer#identifier()}, {@link SqlLexer#stringValue()})
 * never throw, and looking ahead does not move the lexer.
 */
class SqlLexerFuzzTest {

    @FuzzTest(maxDuration = "30s")
    void sqlBytes(byte[] input) {
        ByteBuf buf = Unpooled.wrappedBuffer(input);
        String latin1 = new String(input, StandardCharsets.ISO_8859_1);
        for (boolean standardStrings : new boolean[] {true, false}) {
            List<String> bytes =
                    tokens(new SqlLexer(new Utf8Text(buf, 0, input.length), standardStrings), input.length);
            List<String> chars = tokens(new SqlLexer(latin1, standardStrings), input.length);
            assertThat(bytes)
                    .as("tokens of the bytes and of the same characters")
                    .isEqualTo(chars);
        }
    }

    private static List<String> tokens(SqlLexer lexer, int length) {
        List<String> out = new ArrayList<>();
        int lastEnd = 0;
        // Plain checks, not AssertJ: they run per token, and the fuzzer's speed is what finds things.
        // Every token but END consumes at least one character.
        for (int i = 0; i <= length + 1; i++) {
            int peeked = lexer.peekType();
            boolean semicolonNext = lexer.nextIsPunct(';');
            int type = lexer.next();
            check(type == peeked, "peekType() saw " + peeked + ", next() returned " + type, out);
            check(semicolonNext == (type == SqlLexer.PUNCT && lexer.punct() == ';'), "nextIsPunct(';')", out);
            int start = lexer.start();
            int end = lexer.end();
            check(start >= 0 && start <= end && end <= length, "token " + start + "-" + end + " in " + length, out);
            if (type == SqlLexer.END) {
                check(start == length, "END before the end", out);
                out.add("END");
                return out;
            }
            // A quoted identifier's text starts after its opening quote; everything else after the last token.
            check(start >= lastEnd, "token at " + start + " overlaps the one ending at " + lastEnd, out);
            lastEnd = end;
            // Decoded differently (UTF-8, Latin-1), so compared only as present or not.
            boolean identifier = lexer.identifier() != null;
            boolean value = lexer.stringValue() != null;
            out.add(type + ":" + lexer.kind() + ":" + start + "-" + end + ":" + lexer.unterminated() + ":" + identifier
                    + ":" + value);
        }
        throw new AssertionError("the lexer did not reach the end of " + length + " characters: " + out);
    }

    private static void check(boolean ok, String what, List<String> tokensSoFar) {
        if (!ok) {
            throw new AssertionError(what + " after tokens " + tokensSoFar);
        }
    }
}
