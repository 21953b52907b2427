package dev.pggat.pooler.sql;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The token API every user of the lexer relies on: types, names, literal values, and the byte view. */
class SqlLexerTest {

    /** "type:text" per token, with the text as identifier() or stringValue() reads it when there is one. */
    private static List<String> tokens(CharSequence sql, boolean scs) {
        SqlLexer lx = new SqlLexer(sql, scs);
        List<String> out = new ArrayList<>();
        while (lx.next() != SqlLexer.END) {
            String text =
                    switch (lx.type()) {
                        case SqlLexer.WORD, SqlLexer.QUOTED_IDENT -> String.valueOf(lx.identifier());
                        case SqlLexer.STRING -> String.valueOf(lx.stringValue());
                        case SqlLexer.PUNCT -> String.valueOf(lx.punct());
                        default -> lx.text(lx.start(), lx.end());
                    };
            out.add(lx.type() + ":" + text);
        }
        return out;
    }

    private static List<String> tokens(String sql) {
        return tokens(sql, true);
    }

    @Test
    void wordsAreFoldedAndQuotedNamesKeptWithDoubledQuotesUndone() {
        assertThat(tokens("SELECT Foo, \"Bar\"\"x\", ünï_Ä$1"))
                .containsExactly("1:select", "1:foo", "5:,", "2:Bar\"x", "5:,", "1:ünï_Ä$1");
        SqlLexer u = new SqlLexer("U&\"d\\0061t\"");
        u.next();
        assertThat(u.type()).isEqualTo(SqlLexer.QUOTED_IDENT);
        assertThat(u.kind()).isEqualTo(SqlLexer.UNICODE);
        assertThat(u.identifier()).isNull();
        assertThat(u.nameIs("dat")).isFalse();
    }

    @Test
    void everyQuotingFormIsOneTokenWithItsValueWhenItIsAConstant() {
        assertThat(tokens("'it''s'")).containsExactly("3:it's");
        assertThat(tokens("''")).containsExactly("3:");
        assertThat(tokens("E'plain'")).containsExactly("3:plain");
        assertThat(tokens("e'a\\'b'")).containsExactly("3:null"); // escapes: not read as a constant
        assertThat(tokens("U&'\\0041'")).containsExactly("3:null");
        assertThat(tokens("$$a 'b' ; c$$")).containsExactly("3:a 'b' ; c");
        assertThat(tokens("$t$ $$ x $$ $t$")).containsExactly("3: $$ x $$ ");
        assertThat(tokens("$t$$t$")).containsExactly("3:");
        assertThat(tokens("$1, $23")).containsExactly("6:$1", "5:,", "6:$23");
        assertThat(tokens("a$b$ $")).containsExactly("1:a$b$", "5:$");
        assertThat(tokens("1.5e3 .5")).containsExactly("4:1.5e3", "4:.5");
    }

    @Test
    void standardConformingStringsOffMakesABackslashEscapeInPlainLiterals() {
        assertThat(tokens("'a\\'b' c", false)).containsExactly("3:null", "1:c");
        assertThat(tokens("'a\\'b' c", true)).containsExactly("3:a\\", "1:b", "3:null");
    }

    @Test
    void commentsNestAndAreSkippedWithTheirHints() {
        SqlLexer lx = new SqlLexer("/* pggat:primary /* a */ b */ x -- pggat:replica\n y /* b /* pggat:primary */ */");
        assertThat(lx.next()).isEqualTo(SqlLexer.WORD);
        assertThat(lx.identifier()).isEqualTo("x");
        assertThat(lx.next()).isEqualTo(SqlLexer.WORD);
        assertThat(lx.identifier()).isEqualTo("y");
        assertThat(lx.next()).isEqualTo(SqlLexer.END);
        assertThat(lx.primaryHint()).isTrue();
        assertThat(lx.replicaHint()).isTrue();
        assertThat(lx.unterminated()).isFalse();
    }

    @Test
    void whatRunsToTheEndUnclosedIsReported() {
        for (String sql : List.of("'abc", "E'a\\", "\"abc", "$$abc", "$t$ abc $t", "/* a /* b */", "x /*")) {
            SqlLexer lx = new SqlLexer(sql);
            while (lx.next() != SqlLexer.END) {
                // all tokens
            }
            assertThat(lx.unterminated()).as(sql).isTrue();
        }
        for (String sql : List.of("'a'", "$$a$$", "\"a\"", "/* a */", "-- a")) {
            SqlLexer lx = new SqlLexer(sql);
            while (lx.next() != SqlLexer.END) {
                // all tokens
            }
            assertThat(lx.unterminated()).as(sql).isFalse();
        }
    }

    @Test
    void lookingAheadDoesNotMove() {
        SqlLexer lx = new SqlLexer("for no key update (x)");
        lx.next();
        assertThat(lx.nextKeywordsAre("no", "key", "update")).isTrue();
        assertThat(lx.nextKeywordsAre("no", "key", "share")).isFalse();
        assertThat(lx.kw("for")).isTrue();
        assertThat(lx.peekType()).isEqualTo(SqlLexer.WORD);
        assertThat(lx.nextIsPunct('(')).isFalse();
        lx.next();
        assertThat(lx.kw("no")).isTrue();
        lx.skipStatement();
        assertThat(lx.atStatementEnd()).isTrue();
    }

    @Test
    void theBytesOfUtf8TextLexLikeTheString() {
        Random random = new Random(11);
        String[] pieces = {
            "SELECT",
            "ü",
            "Ä",
            "'é''s'",
            "\"Nämé\"",
            "\"a\"\"b\"",
            "$$ö$$",
            "$ä$ x $ä$",
            "E'x\\'y'",
            "U&'z'",
            "--c\n",
            "/* ü /* ö */ */",
            ";",
            "(",
            ")",
            ",",
            "$1",
            "1.5",
            " ",
            "\n",
            "'",
            "\"",
            "$",
            "set_config"
        };
        for (int i = 0; i < 5_000; i++) {
            StringBuilder sb = new StringBuilder();
            int n = random.nextInt(12);
            for (int j = 0; j < n; j++) {
                sb.append(pieces[random.nextInt(pieces.length)]);
                if (random.nextBoolean()) {
                    sb.append(' ');
                }
            }
            String sql = sb.toString();
            ByteBuf b = Unpooled.copiedBuffer("\0" + sql + "\0", StandardCharsets.UTF_8);
            try {
                boolean scs = random.nextBoolean();
                assertThat(tokens(new Utf8Text(b, 1, b.writerIndex() - 1), scs))
                        .as(sql)
                        .isEqualTo(tokens(sql, scs));
            } finally {
                b.release();
            }
        }
    }

    @Test
    void randomTextNeverThrowsAndAlwaysEnds() {
        Random random = new Random(3);
        String alphabet = "'\"$e E U & \\ / * - ; ( ) , : . a 1 \n ü";
        String[] pieces = alphabet.split(" ");
        for (int i = 0; i < 50_000; i++) {
            StringBuilder sb = new StringBuilder();
            int n = random.nextInt(16);
            for (int j = 0; j < n; j++) {
                sb.append(pieces[random.nextInt(pieces.length)]);
            }
            String sql = sb.toString();
            SqlLexer lx = new SqlLexer(sql, random.nextBoolean());
            int count = 0;
            int last = -1;
            while (lx.next() != SqlLexer.END) {
                assertThat(lx.start()).as(sql).isGreaterThanOrEqualTo(0);
                assertThat(lx.end()).as(sql).isLessThanOrEqualTo(sql.length());
                assertThat(lx.end()).as(sql).isGreaterThan(last);
                last = lx.end();
                lx.identifier();
                lx.stringValue();
                assertThat(++count).as(sql).isLessThanOrEqualTo(sql.length());
            }
        }
    }
}
