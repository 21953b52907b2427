package dev.pggat.pooler.listen;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.sql.SqlTokens;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** How the LISTEN relay reads the client's statements that begin and end transactions (the SQL lexer's tokens). */
class ListenRelayTransactionTest {

    private static void query(ListenRelayTransaction tx, String sql) {
        ByteBuf b = Unpooled.copiedBuffer("Q" + sql + "\0", StandardCharsets.UTF_8);
        try {
            tx.clientStatement(
                    new SqlTokens().of(b, 1, b.writerIndex() - 1, true).lexer(), false, false, true);
        } finally {
            b.release();
        }
    }

    /** A LISTEN right behind this Query may be taken: the Query began a transaction and is alone. */
    private static boolean beganAlone(String sql) {
        ListenRelayTransaction tx = new ListenRelayTransaction();
        query(tx, sql);
        return tx.mayTakeQuery((byte) 'I', 1, false);
    }

    @ParameterizedTest
    @ValueSource(strings = {"BEGIN", "begin;", "  /* a /* b */ */ BEGIN -- c\n ;", "START TRANSACTION", "Begin Work;;"})
    void aLoneBeginIsSeenThroughCommentsAndCase(String sql) {
        assertThat(beganAlone(sql)).as(sql).isTrue();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "BEGIN; SELECT 1",
                "SELECT 'BEGIN'",
                "\"begin\"",
                "$$BEGIN$$",
                "/* BEGIN */ SELECT 1",
                "-- BEGIN\nSELECT 1",
                "BEGINNING",
                "BEGIN; /* ; */ LISTEN x",
                "E'BEGIN'",
            })
    void anythingElseIsNoLoneBegin(String sql) {
        assertThat(beganAlone(sql)).as(sql).isFalse();
    }

    @Test
    void statementsThatEndTheTransactionAreKeywordsNotText() {
        for (String sql :
                new String[] {"COMMIT", "end", "ROLLBACK TO s", "abort", "PREPARE TRANSACTION 'g'", "release s"}) {
            ListenRelayTransaction tx = new ListenRelayTransaction();
            query(tx, sql);
            assertThat(tx.batchEnds()).as(sql).isTrue();
        }
        for (String sql :
                new String[] {"SELECT 'commit'", "/* commit */ SELECT 1", "committed", "\"end\"", "$x$end$x$"}) {
            ListenRelayTransaction tx = new ListenRelayTransaction();
            query(tx, sql);
            assertThat(tx.batchEnds()).as(sql).isFalse();
        }
    }

    @Test
    void aSavepointStopsTakingListens() {
        ListenRelayTransaction tx = new ListenRelayTransaction();
        query(tx, "SELECT 'savepoint'");
        assertThat(tx.mayTakeQuery((byte) 'T', 0, false)).isTrue();
        query(tx, "/**/SAVEPOINT a");
        assertThat(tx.mayTakeQuery((byte) 'T', 0, false)).isFalse();
    }

    @Test
    void randomTextNeverThrows() {
        Random random = new Random(5);
        String[] pieces = "BEGIN COMMIT SAVEPOINT ; ' \" $$ $a$ /* */ -- \n ( E' U& \\ x".split(" ");
        for (int i = 0; i < 20_000; i++) {
            StringBuilder sb = new StringBuilder();
            int n = random.nextInt(10);
            for (int j = 0; j < n; j++) {
                sb.append(pieces[random.nextInt(pieces.length)]).append(random.nextBoolean() ? " " : "");
            }
            ListenRelayTransaction tx = new ListenRelayTransaction();
            query(tx, sb.toString());
            tx.mayTakeQuery((byte) 'I', 1, false);
        }
    }
}
