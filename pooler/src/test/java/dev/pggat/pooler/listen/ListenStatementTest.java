package dev.pggat.pooler.listen;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Which statements the pooler answers for the LISTEN relay, and the channel name it reads from them. */
class ListenStatementTest {

    @Test
    void unquotedChannelNamesAreFoldedToLowerCaseAndQuotedOnesKept() {
        assertThat(ListenStatement.parse("LISTEN Orders")).isEqualTo(new ListenStatement(true, "orders"));
        assertThat(ListenStatement.parse("listen \"Orders\"")).isEqualTo(new ListenStatement(true, "Orders"));
        assertThat(ListenStatement.parse("LISTEN \"a \"\"b\"\" c\"")).isEqualTo(new ListenStatement(true, "a \"b\" c"));
        assertThat(ListenStatement.parse("LISTEN Ünïcode_Ä")).isEqualTo(new ListenStatement(true, "Ünïcode_Ä"));
        assertThat(ListenStatement.parse("LISTEN ch$1")).isEqualTo(new ListenStatement(true, "ch$1"));
    }

    @Test
    void whiteSpaceCommentsAndOneSemicolonAroundTheStatementAreAccepted() {
        assertThat(ListenStatement.parse("  -- comment\n LISTEN /* a /* nested */ one */ jobs ;  \n"))
                .isEqualTo(new ListenStatement(true, "jobs"));
        assertThat(ListenStatement.parse("UNLISTEN jobs;")).isEqualTo(new ListenStatement(false, "jobs"));
        assertThat(ListenStatement.parse("UNLISTEN *")).isEqualTo(new ListenStatement(false, null));
        assertThat(ListenStatement.parse("unlisten\t*;")).isEqualTo(new ListenStatement(false, null));
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "LISTEN",
                "LISTEN *",
                "LISTEN a b",
                "LISTEN a; LISTEN b",
                "LISTEN a;;",
                "LISTEN select",
                "LISTEN \"\"",
                "LISTEN \"unterminated",
                "LISTEN U&\"d0061t\"",
                "LISTEN a /* unterminated",
                "LISTEN 1abc",
                "LISTENING a",
                "NOTIFY a",
                "SELECT 1",
                "LISTEN a_name_that_is_longer_than_the_sixty_three_bytes_postgresql_keeps_x",
            })
    void statementsThePoolerCannotReadExactlyAsTheServerAreLeftToTheServer(String sql) {
        assertThat(ListenStatement.parse(sql)).isNull();
    }

    @Test
    void onlyTextsStartingWithListenOrUnlistenOrACommentAreParsed() {
        assertThat(mayBe("  LISTEN jobs")).isTrue();
        assertThat(mayBe("unlisten *")).isTrue();
        assertThat(mayBe("UnListen\"x\"")).isTrue();
        assertThat(mayBe("-- c\nLISTEN jobs")).isTrue();
        assertThat(mayBe("UPDATE t SET a = 1")).isFalse();
        assertThat(mayBe("listening")).isFalse();
        assertThat(mayBe("LISTEN")).isFalse();
        assertThat(mayBe("SELECT 1")).isFalse();
    }

    private static boolean mayBe(String sql) {
        ByteBuf b = Unpooled.copiedBuffer(sql, StandardCharsets.UTF_8);
        try {
            return ListenStatement.mayBe(b, b.readerIndex(), b.writerIndex());
        } finally {
            b.release();
        }
    }

    @Test
    void theRelayAlwaysSendsAQuotedIdentifier() {
        assertThat(new ListenStatement(true, "orders").sql()).isEqualTo("LISTEN \"orders\"");
        assertThat(new ListenStatement(false, "a\"b").sql()).isEqualTo("UNLISTEN \"a\"\"b\"");
        assertThat(new ListenStatement(false, null).sql()).isEqualTo("UNLISTEN *");
    }
}
