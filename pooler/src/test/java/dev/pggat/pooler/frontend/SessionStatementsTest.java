package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.listen.ListenStatement;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** What a transaction-mode client's SQL does to its session, read from every statement of the text. */
class SessionStatementsTest {

    private static SessionStatements.Effect analyse(String sql) {
        return SessionStatements.analyse(sql);
    }

    @Test
    void everyStatementOfAQueryIsAnalysedNotOnlyTheFirst() {
        assertThat(analyse("BEGIN; SET work_mem = '7777kB'; COMMIT").settings()).containsExactly("work_mem");
        assertThat(analyse("SELECT 1; RESET search_path").settings()).containsExactly("search_path");
        assertThat(analyse("select 1;set statement_timeout to 5; set Lock_Timeout=3")
                        .settings())
                .containsExactly("statement_timeout", "lock_timeout");
        assertThat(analyse("BEGIN; SELECT pg_advisory_lock(1); COMMIT").pinReason())
                .isEqualTo("advisory_lock");
        assertThat(analyse("SELECT 1; DISCARD ALL").resetAll()).isTrue();
        assertThat(analyse("SELECT 1; RESET ALL").resetAll()).isTrue();
        assertThat(analyse("/* c */ SELECT 1; CREATE TEMP TABLE t (a int)").pinReason())
                .isEqualTo("temp_table");
    }

    @Test
    void theSpecialFormsOfSetNameTheirSetting() {
        assertThat(analyse("SET TIME ZONE 'UTC'").settings()).containsExactly("timezone");
        assertThat(analyse("SET SCHEMA 'x'").settings()).containsExactly("search_path");
        assertThat(analyse("SET NAMES 'UTF8'").settings()).containsExactly("client_encoding");
        assertThat(analyse("SET XML OPTION DOCUMENT").settings()).containsExactly("xmloption");
        assertThat(analyse("SET ROLE someone").settings()).containsExactly("role");
        assertThat(analyse("SET SESSION work_mem = 1").settings()).containsExactly("work_mem");
        assertThat(analyse("SET myapp.Tenant = 'a'").settings()).containsExactly("myapp.tenant");
        assertThat(analyse("SET \"MyApp\".\"x\" = 'a'").settings()).containsExactly("MyApp.x");
        assertThat(analyse("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                        .settings())
                .containsExactly(
                        "default_transaction_isolation",
                        "default_transaction_read_only",
                        "default_transaction_deferrable");
        assertThat(analyse("RESET TIME ZONE").settings()).containsExactly("timezone");
    }

    @Test
    void transactionScopedSetsChangeNothingThatOutlivesTheTransaction() {
        assertThat(analyse("SET LOCAL work_mem = 1").isNone()).isTrue();
        assertThat(analyse("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").isNone())
                .isTrue();
        assertThat(analyse("SET CONSTRAINTS ALL DEFERRED").isNone()).isTrue();
        assertThat(analyse("SELECT set_config('work_mem', '1MB', true)").isNone())
                .isTrue();
    }

    @Test
    void setConfigWithConstantsIsASetOfThatName() {
        assertThat(analyse("SELECT set_config('work_mem','7777kB', false)").settings())
                .containsExactly("work_mem");
        assertThat(analyse("SELECT pg_catalog.set_config('Search_Path', $1, false)")
                        .settings())
                .containsExactly("search_path");
        assertThat(analyse("select 1, \"set_config\"('a.b', 'x' || 'y', 'f')").settings())
                .containsExactly("a.b");
        assertThat(analyse("SELECT set_config($$statement_timeout$$, (SELECT '5s'), off)")
                        .settings())
                .containsExactly("statement_timeout");
        assertThat(analyse("UPDATE t SET a = set_config('work_mem', '1MB', false)")
                        .settings())
                .containsExactly("work_mem");
        assertThat(analyse("SELECT set_config('work_mem','1MB', false)").unknownSettings())
                .isFalse();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "SELECT set_config(name, '1', false) FROM t",
                "SELECT set_config('work_mem', '1MB', is_local) FROM t",
                "SELECT set_config($1, $2, $3)",
                "SELECT set_config(E'work\\_mem', '1MB', false)",
                "SELECT set_config('work_mem', '1MB', false OR x)",
                "SELECT set_config('work_mem'",
                "DO $$BEGIN PERFORM 1; END$$",
                "do language plpgsql 'begin null; end'",
                "CALL my_procedure(1)",
                "SELECT 1; CALL p()",
            })
    void whatMayChangeSettingsOutOfSightAsksForAReadBack(String sql) {
        assertThat(analyse(sql).unknownSettings()).as(sql).isTrue();
        assertThat(analyse(sql).pinReason()).as(sql).isNull();
    }

    @Test
    void aDoBodyIsReadForWhatPins() {
        SessionStatements.Effect e = analyse("DO $$ BEGIN PERFORM set_config('work_mem', '7777kB', false); END $$");
        assertThat(e.unknownSettings()).isTrue();
        assertThat(e.settings()).containsExactly("work_mem");
        assertThat(analyse("DO $x$BEGIN PERFORM pg_advisory_lock(1); END$x$").pinReason())
                .isEqualTo("advisory_lock");
        assertThat(analyse("DO 'BEGIN CREATE TEMP TABLE t (a int); END'").pinReason())
                .isEqualTo("temp_table");
        assertThat(analyse("DO $$BEGIN PERFORM pg_advisory_xact_lock(1); END$$").pinReason())
                .isNull();
        assertThat(analyse("DO $$BEGIN RAISE NOTICE 'pg_advisory_lock(1)'; END$$")
                        .pinReason())
                .isNull();
    }

    @Test
    void sessionAdvisoryLocksPinAndTransactionLocksDoNot() {
        assertThat(analyse("SELECT pg_advisory_lock(1), pg_advisory_xact_lock(2)")
                        .pinReason())
                .isEqualTo("advisory_lock");
        assertThat(analyse("SELECT pg_catalog.pg_try_advisory_lock_shared(1, 2)")
                        .pinReason())
                .isEqualTo("advisory_lock");
        assertThat(analyse("SELECT PG_ADVISORY_LOCK (1)").pinReason()).isEqualTo("advisory_lock");
        assertThat(analyse("select \"pg_advisory_lock\"(1)").pinReason()).isEqualTo("advisory_lock");
        assertThat(analyse("SELECT pg_advisory_xact_lock(1)").isNone()).isTrue();
        assertThat(analyse("SELECT pg_try_advisory_xact_lock_shared(1)").isNone())
                .isTrue();
        assertThat(analyse("SELECT pg_advisory_unlock_all()").isNone()).isTrue();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "SELECT 'pg_advisory_lock'",
                "SELECT 'pg_advisory_lock(1)'",
                "SELECT E'pg_advisory_lock(1)\\''",
                "SELECT U&'pg_advisory_lock(1)'",
                "SELECT $$pg_advisory_lock(1)$$",
                "SELECT $t$ pg_advisory_lock(1) $t$",
                "SELECT \"pg_advisory_lock\" FROM t",
                "SELECT 1 /* pg_advisory_lock(1) */",
                "SELECT 1 /* a /* nested */ pg_advisory_lock(1) */",
                "SELECT 1 -- pg_advisory_lock(1)",
                "SELECT pg_advisory_lock_count FROM t",
                "SELECT my_pg_advisory_lock(1)",
                "SELECT 'set work_mem = 1'",
                "SELECT $$; SET work_mem = 1; $$",
                "SELECT 'x'';SET work_mem = 1; --'",
                "SELECT \"set_config\" FROM t",
                "SELECT 'set_config(''a'', ''b'', false)'",
                "SELECT 1 /* ; DO $$ x $$ */",
                "SELECT 'a' -- ; CALL p()",
                "SELECT 'CREATE TEMP TABLE t'",
                "INSERT INTO temp VALUES (1)",
                "SELECT * FROM settings WHERE name = 'SET'",
                "SELECT do, call FROM t",
            })
    void stringsCommentsAndNamesDoNotCount(String sql) {
        assertThat(analyse(sql)).as(sql).isEqualTo(SessionStatements.Effect.NONE);
    }

    @Test
    void statementsThatCannotFollowTheClientPin() {
        assertThat(analyse("LISTEN jobs").pinReason()).isEqualTo("listen");
        assertThat(analyse("PREPARE q AS SELECT 1").pinReason()).isEqualTo("sql_prepare");
        assertThat(analyse("PREPARE TRANSACTION 'gid'").pinReason()).isNull();
        assertThat(analyse("DECLARE c CURSOR WITH HOLD FOR SELECT 1").pinReason())
                .isEqualTo("with_hold_cursor");
        assertThat(analyse("DECLARE c CURSOR FOR SELECT 'with hold'").pinReason())
                .isNull();
        assertThat(analyse("CREATE TEMPORARY TABLE t (a int)").pinReason()).isEqualTo("temp_table");
        assertThat(analyse("CREATE LOCAL TEMP VIEW v AS SELECT 1").pinReason()).isEqualTo("temp_table");
        assertThat(analyse("CREATE OR REPLACE TEMP VIEW v AS SELECT 1").pinReason())
                .isEqualTo("temp_table");
        assertThat(analyse("SELECT 1 INTO TEMP t").pinReason()).isEqualTo("temp_table");
        assertThat(analyse("CREATE TABLE temp (a int)").pinReason()).isNull();
        assertThat(analyse("SET SESSION AUTHORIZATION someone").pinReason()).isEqualTo("session_authorization");
        assertThat(analyse("RESET SESSION AUTHORIZATION").pinReason()).isEqualTo("session_authorization");
    }

    @Test
    void standardConformingStringsOffMakesBackslashEscapeQuotes() {
        String sql = "SELECT 'a\\'; SELECT pg_advisory_lock(1); --'";
        assertThat(SessionStatements.analyse(sql, true).pinReason()).isEqualTo("advisory_lock");
        assertThat(SessionStatements.analyse(sql, false).isNone()).isTrue();
    }

    @Test
    void theBytesOfAMessageGiveTheSameAnswerAsTheText() {
        for (String sql : List.of(
                "SET \"Ünï\" = 1; SELECT set_config('é.x', 'ü', false)",
                "SELECT 'ü'; SET work_mem = 1",
                "UNLISTEN \"Kanäl\"")) {
            ByteBuf b = Unpooled.copiedBuffer("xx" + sql + "\0", StandardCharsets.UTF_8);
            try {
                assertThat(SessionStatements.analyse(b, 2, b.writerIndex() - 1, true))
                        .as(sql)
                        .isEqualTo(analyse(sql));
            } finally {
                b.release();
            }
        }
        assertThat(analyse("SET \"Ünï\" = 1; SELECT set_config('é.x', 'ü', false)")
                        .settings())
                .containsExactly("Ünï", "é.x");
    }

    @Test
    void randomTextNeverThrows() {
        Random random = new Random(7);
        String alphabet = "SET RESET set_config pg_advisory_lock DO CALL CREATE TEMP LISTEN UNLISTEN DECLARE WITH HOLD"
                + " FOR PREPARE ( ) , ' \" $ $$ $a$ -- /* */ ; \\ E' U& \n 1 . :: = false true $1 INTO";
        String[] pieces = alphabet.split(" ");
        for (int i = 0; i < 30_000; i++) {
            StringBuilder sb = new StringBuilder();
            int n = random.nextInt(14);
            for (int j = 0; j < n; j++) {
                sb.append(pieces[random.nextInt(pieces.length)]);
                if (random.nextBoolean()) {
                    sb.append(' ');
                }
            }
            String sql = sb.toString();
            assertThat(SessionStatements.analyse(sql, random.nextBoolean()))
                    .as(sql)
                    .isNotNull();
        }
    }

    @Test
    void anOrdinaryQueryIsAnalysedWithoutAllocatingPerToken() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        String sql = "/* app */ WITH recent AS (SELECT id, \"Name\" FROM orders WHERE ts > now() - interval '1 day')"
                + " SELECT r.id, 'x;y' FROM recent r JOIN items i ON i.order_id = r.id WHERE i.x = $1 LIMIT 10";
        ByteBuf b = Unpooled.copiedBuffer(sql, StandardCharsets.UTF_8);
        try {
            int rounds = 200_000;
            for (int i = 0; i < rounds; i++) {
                SessionStatements.analyse(b, 0, b.writerIndex(), true);
            }
            long tid = Thread.currentThread().getId();
            long before = threads.getThreadAllocatedBytes(tid);
            for (int i = 0; i < rounds; i++) {
                SessionStatements.analyse(b, 0, b.writerIndex(), true);
            }
            long perCall = (threads.getThreadAllocatedBytes(tid) - before) / rounds;
            // A view, a lexer and an empty analysis per call at most, whatever the length of the text.
            assertThat(perCall).isLessThanOrEqualTo(160);
        } finally {
            b.release();
        }
    }

    @Test
    void unlistenSentToAServerIsSeenSoTheRelayStopsToo() {
        SessionStatements.Effect e = SessionStatements.analyse("BEGIN; UNLISTEN Jobs; UNLISTEN *; COMMIT");
        assertThat(e.unlisten()).containsExactly(new ListenStatement(false, "jobs"), new ListenStatement(false, null));
        assertThat(e.pinReason()).isNull();
        assertThat(SessionStatements.analyse("BEGIN; LISTEN jobs").pinReason()).isEqualTo("listen");
    }
}
