package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.routing.RouteHint.Reason;
import dev.pggat.pooler.routing.RouteHint.SessionAccess;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class QueryClassifierTest {
    private final QueryClassifier classifier = new QueryClassifier();

    private Reason reason(String sql) {
        return classifier.classify(sql).reason();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "SELECT 1",
                "select * from t where a = 1",
                "SeLeCt now()",
                "VALUES (1), (2)",
                "TABLE accounts",
                "SHOW search_path",
                "show all",
                "WITH x AS (SELECT 1) SELECT * FROM x",
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
                "WITH x AS MATERIALIZED (SELECT 1) SELECT * FROM x",
                "(SELECT 1) UNION (SELECT 2)",
                "EXPLAIN SELECT * FROM t",
                "EXPLAIN (COSTS OFF, FORMAT JSON) SELECT * FROM t",
                "EXPLAIN ANALYZE SELECT * FROM t",
                "EXPLAIN ANALYZE VERBOSE SELECT 1",
                "SELECT 1;",
                "SELECT 1; SELECT 2;; SELECT 3",
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()",
                "SELECT set_config('app.user', '42', false)",
                "SELECT * FROM t FOR READ ONLY",
                "SELECT overlay('abc' placing 'x' from 1 for 2)",
                "SELECT substring(s FROM 2 FOR 3) FROM t",
                "SELECT t.update, t.insert FROM t",
                "COPY t TO STDOUT",
                "COPY t (a, b) TO STDOUT WITH (FORMAT csv)",
                "COPY (SELECT * FROM t) TO STDOUT",
                "DECLARE c CURSOR FOR SELECT * FROM t",
                "DECLARE c NO SCROLL CURSOR WITH HOLD FOR SELECT 1",
                "FETCH 10 FROM c",
                "CLOSE c",
                "SET search_path TO app, public",
                "SET TIME ZONE 'UTC'",
                "RESET search_path",
                "SAVEPOINT a",
                "PREPARE q(int) AS SELECT $1",
                "SELECT nextval_count FROM stats",
                "SELECT \"NEXTVAL\"('s')",
                "SELECT my_schema.\"Nextval\"('s')",
                "BEGIN; SELECT 1; COMMIT",
                "START TRANSACTION; SELECT 1; END",
                "BEGIN; SELECT 1; ROLLBACK",
                "SELECT $1::int"
            })
    void readsMayRunOnAReplica(String sql) {
        RouteHint hint = classifier.classify(sql);
        assertThat(hint.reason()).as(sql).isEqualTo(Reason.READS);
        assertThat(hint.replicaEligible()).isTrue();
        assertThat(hint.sessionAccess()).isEqualTo(SessionAccess.UNCHANGED);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "INSERT INTO t VALUES (1)",
                "update t set a = 1",
                "DELETE FROM t",
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
                "CREATE TABLE t (id int)",
                "DROP TABLE t",
                "ALTER TABLE t ADD COLUMN b int",
                "TRUNCATE t",
                "VACUUM t",
                "ANALYZE t",
                "CALL do_things()",
                "DO $$ BEGIN PERFORM 1; END $$",
                "LOCK TABLE t IN ACCESS SHARE MODE",
                "NOTIFY chan",
                "LISTEN chan",
                "EXECUTE q(1)",
                "COPY t FROM STDIN",
                "COPY t (a, b) FROM STDIN WITH (FORMAT csv)",
                "EXPLAIN INSERT INTO t VALUES (1)",
                "EXPLAIN ANALYZE DELETE FROM t",
                "PREPARE TRANSACTION 'tx1'",
                "COMMIT PREPARED 'tx1'",
                "ROLLBACK PREPARED 'tx1'",
                "PREPARE q AS UPDATE t SET a = 1",
                "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
                "WITH x AS (SELECT id FROM t) UPDATE u SET a = 1 FROM x WHERE u.id = x.id",
                "WITH x AS (SELECT 1), y AS (SELECT 2) DELETE FROM t",
                "SELECT 1; INSERT INTO t VALUES (1)",
                "INSERT INTO t VALUES (1); SELECT 1",
                "SELECT 1; SELECT 2; CREATE INDEX ON t (a)",
                "REFRESH MATERIALIZED VIEW v",
                "GRANT SELECT ON t TO bob",
                "CHECKPOINT",
                "START",
                "somethingunknown"
            })
    void writesAndUnknownStatementsGoToThePrimary(String sql) {
        RouteHint hint = classifier.classify(sql);
        assertThat(hint.reason()).as(sql).isEqualTo(Reason.WRITE_STATEMENT);
        assertThat(hint.replicaEligible()).isFalse();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "SELECT * FROM t FOR UPDATE",
                "SELECT * FROM t WHERE id = 1 FOR NO KEY UPDATE",
                "select * from t for share",
                "SELECT * FROM t FOR KEY SHARE",
                "SELECT * FROM t FOR UPDATE OF t SKIP LOCKED",
                "SELECT * FROM t FOR UPDATE NOWAIT",
                "SELECT * FROM (SELECT * FROM t FOR UPDATE) s",
                "WITH x AS (SELECT * FROM t FOR UPDATE) SELECT * FROM x",
                "SELECT * FROM t\nFOR\n/* c */ UPDATE",
                "DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE",
                "EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE"
            })
    void lockingReadsGoToThePrimary(String sql) {
        assertThat(reason(sql)).as(sql).isEqualTo(Reason.LOCKING_READ);
    }

    @Test
    void selectIntoGoesToThePrimary() {
        assertThat(reason("SELECT * INTO new_t FROM t")).isEqualTo(Reason.SELECT_INTO);
        assertThat(reason("SELECT a, b INTO TEMP x FROM t WHERE a > 1")).isEqualTo(Reason.SELECT_INTO);
        assertThat(reason("WITH s AS (SELECT 1 AS a) SELECT a INTO UNLOGGED TABLE y FROM s"))
                .isEqualTo(Reason.SELECT_INTO);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "WITH x AS (INSERT INTO t VALUES (1) RETURNING id) SELECT * FROM x",
                "WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM x",
                "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
                "with x as materialized (delete from t returning *) select * from x",
                "WITH x AS NOT MATERIALIZED ( /* c */ UPDATE \"T\" SET a = 1 RETURNING *) SELECT 1",
                "WITH a AS (SELECT 1), b AS (MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE RETURNING *)"
                        + " SELECT * FROM b",
                "WITH RECURSIVE r AS (SELECT 1), x AS (INSERT INTO log SELECT * FROM r) SELECT 1"
            })
    void dataModifyingWithGoesToThePrimary(String sql) {
        assertThat(reason(sql)).as(sql).isEqualTo(Reason.DATA_MODIFYING_WITH);
    }

    @Test
    void aColumnNamedLikeADmlKeywordInParenthesesIsNoWrite() {
        assertThat(reason("SELECT (update) FROM t")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT count(delete) FROM t")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT (insert) + 1 FROM t")).isEqualTo(Reason.READS);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "SELECT nextval('s')",
                "SELECT NEXTVAL('s')",
                "select pg_catalog.nextval ('s')",
                "SELECT setval('s', 10)",
                "SELECT currval('s')",
                "SELECT lastval()",
                "SELECT pg_advisory_lock(1)",
                "SELECT pg_advisory_xact_lock(1, 2)",
                "SELECT pg_advisory_unlock_all()",
                "SELECT pg_try_advisory_lock(42)",
                "SELECT pg_try_advisory_xact_lock_shared(42)",
                "SELECT txid_current()",
                "SELECT pg_current_xact_id()",
                "SELECT pg_current_wal_lsn()",
                "SELECT pg_switch_wal()",
                "SELECT lo_create(0)",
                "SELECT lo_import('some-file')",
                "SELECT lo_unlink(123)",
                "SELECT lowrite(0, 'x')",
                "SELECT pg_notify('c', 'x')",
                "SELECT \"nextval\"('s')",
                "SELECT id, nextval('s') FROM t WHERE x = 'nextval('",
                "VALUES (nextval('s'))",
                "SELECT * FROM (SELECT nextval('s')) x",
                "EXPLAIN ANALYZE SELECT nextval('s')",
                "COPY (SELECT nextval('s')) TO STDOUT",
                "BEGIN READ ONLY; SELECT pg_advisory_lock(1)"
            })
    void functionsThatNeedThePrimarySendTheQueryThere(String sql) {
        assertThat(reason(sql)).as(sql).isEqualTo(Reason.PRIMARY_FUNCTION);
    }

    @Test
    void configuredFunctionsAndPrefixesSendTheQueryToThePrimary() {
        QueryClassifier custom = new QueryClassifier(List.of("audit_log", "App_Write_*"));
        assertThat(custom.classify("SELECT audit_log('x')").reason()).isEqualTo(Reason.PRIMARY_FUNCTION);
        assertThat(custom.classify("SELECT AUDIT_LOG('x')").reason()).isEqualTo(Reason.PRIMARY_FUNCTION);
        assertThat(custom.classify("SELECT app_write_order(1)").reason()).isEqualTo(Reason.PRIMARY_FUNCTION);
        assertThat(custom.classify("SELECT app_write(1)").reason()).isEqualTo(Reason.READS);
        assertThat(custom.classify("SELECT audit_logs('x')").reason()).isEqualTo(Reason.READS);
        assertThat(custom.classify("SELECT audit_log FROM t").reason()).isEqualTo(Reason.READS);
        assertThat(custom.classify("SELECT nextval('s')").reason()).isEqualTo(Reason.PRIMARY_FUNCTION);
        assertThat(classifier.classify("SELECT audit_log('x')").reason()).isEqualTo(Reason.READS);
    }

    @Test
    void manyConfiguredFunctionsAreAllFound() {
        List<String> names = new java.util.ArrayList<>();
        for (int i = 0; i < 500; i++) {
            names.add("fn_" + i);
        }
        QueryClassifier custom = new QueryClassifier(names);
        for (int i = 0; i < 500; i++) {
            assertThat(custom.classify("SELECT fn_" + i + "()").reason()).isEqualTo(Reason.PRIMARY_FUNCTION);
        }
        assertThat(custom.classify("SELECT fn_500()").reason()).isEqualTo(Reason.READS);
    }

    @Test
    void rejectsConfiguredFunctionNamesThatAreNoNamesAndSaysWhatIsAccepted() {
        for (String bad : new String[] {"", "my schema", "s.fn", "1fn", "*", "fn()"}) {
            assertThatThrownBy(() -> new QueryClassifier(List.of(bad)))
                    .as(bad)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("accepted are SQL function names");
        }
    }

    @Test
    void keywordsInsideLiteralsQuotedIdentifiersAndCommentsAreIgnored() {
        assertThat(reason("SELECT 'INSERT INTO t VALUES (1)'")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT 'it''s; DELETE FROM t'")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT E'\\'; DELETE FROM t; --'")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT e'a\\\\'; DELETE FROM t")).isEqualTo(Reason.WRITE_STATEMENT);
        assertThat(reason("SELECT $$; DELETE FROM t; $$")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT $tag$ $$ ; DROP TABLE t; $$ $tag$")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT $a$ $b$ ; FOR UPDATE $b$ $a$ FROM t")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT $a$ x $a$; DELETE FROM t")).isEqualTo(Reason.WRITE_STATEMENT);
        assertThat(reason("SELECT \"for update\", \"into\" FROM \"delete\"")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT \"a\"\"; DELETE FROM t\" FROM x")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT U&'\\0041; DELETE' FROM t")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT U&\"d\\0061t\"\"; DELETE\" FROM t")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT 1 /* ; DELETE FROM t */")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT 1 -- ; DELETE FROM t")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT 1 -- ; DELETE FROM t\n; DELETE FROM t")).isEqualTo(Reason.WRITE_STATEMENT);
        assertThat(reason("SELECT a$b FROM t")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT x FROM t WHERE y = $1; DELETE FROM t")).isEqualTo(Reason.WRITE_STATEMENT);
    }

    @Test
    void nestedBlockCommentsAreSkippedAsAWhole() {
        assertThat(reason("/* outer /* inner */ DELETE FROM t; */ SELECT 1")).isEqualTo(Reason.READS);
        assertThat(reason("/* a /* b /* c */ */ */ INSERT INTO t VALUES (1)")).isEqualTo(Reason.WRITE_STATEMENT);
        assertThat(reason("/* a /* b */ still comment INSERT */ SELECT 1")).isEqualTo(Reason.READS);
    }

    @Test
    void leadingWhitespaceAndCommentsDoNotHideTheFirstKeyword() {
        assertThat(reason("  \n\t\r\f/* hello */ -- line\n  SELECT 1")).isEqualTo(Reason.READS);
        assertThat(reason("\n\n-- c1\n-- c2\n/* c3 */\ninsert into t values (1)"))
                .isEqualTo(Reason.WRITE_STATEMENT);
        assertThat(reason("/**/select/**/1")).isEqualTo(Reason.READS);
        assertThat(reason("(((SELECT 1)))")).isEqualTo(Reason.READS);
    }

    @Test
    void emptyQueriesAreEmpty() {
        assertThat(reason("")).isEqualTo(Reason.EMPTY);
        assertThat(reason("  ;; ; ")).isEqualTo(Reason.EMPTY);
        assertThat(reason("/* only a comment */")).isEqualTo(Reason.EMPTY);
        assertThat(classifier.classify("").replicaEligible()).isTrue();
    }

    @Test
    void unterminatedLiteralsAndCommentsEndTheScanWithoutFailing() {
        assertThat(reason("SELECT 'abc")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT $$abc")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT \"abc")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT 1 /* abc /* def */")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT E'abc\\")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT $")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT $a")).isEqualTo(Reason.READS);
        assertThat(reason("DELETE '")).isEqualTo(Reason.WRITE_STATEMENT);
    }

    @Test
    void commentHintsOverrideTheStatements() {
        assertThat(reason("/* pggat:primary */ SELECT 1")).isEqualTo(Reason.PRIMARY_COMMENT);
        assertThat(reason("SELECT 1 -- pggat:primary")).isEqualTo(Reason.PRIMARY_COMMENT);
        assertThat(reason("--pggat:primary\nSELECT 1")).isEqualTo(Reason.PRIMARY_COMMENT);
        assertThat(reason("/*PGGAT:Primary*/SELECT 1")).isEqualTo(Reason.PRIMARY_COMMENT);
        assertThat(reason("/* pggat:replica */ SELECT * FROM t FOR UPDATE")).isEqualTo(Reason.REPLICA_COMMENT);
        assertThat(reason("/* pggat:replica */ /* pggat:primary */ SELECT 1")).isEqualTo(Reason.PRIMARY_COMMENT);
        assertThat(reason("SELECT 1 /* pggat:replica app=web */")).isEqualTo(Reason.REPLICA_COMMENT);
        assertThat(classifier.classify("/* pggat:replica */ SELECT 1").fromComment())
                .isTrue();
        assertThat(classifier.classify("/* pggat:replica */ SELECT 1").replicaEligible())
                .isTrue();
        assertThat(classifier.classify("/* pggat:primary */ SELECT 1").replicaEligible())
                .isFalse();
    }

    @Test
    void hintLookalikesAreNoHints() {
        assertThat(reason("SELECT '/* pggat:primary */'")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT $$-- pggat:primary$$")).isEqualTo(Reason.READS);
        assertThat(reason("/* pggat:primaryx */ SELECT 1")).isEqualTo(Reason.READS);
        assertThat(reason("/* not pggat:primary */ SELECT 1")).isEqualTo(Reason.READS);
        assertThat(reason("SELECT \"/* pggat:primary */\" FROM t")).isEqualTo(Reason.READS);
    }

    @Test
    void readOnlyTransactionsMayRunOnAReplica() {
        assertThat(reason("BEGIN READ ONLY")).isEqualTo(Reason.READ_ONLY_TRANSACTION);
        assertThat(reason("begin transaction read only")).isEqualTo(Reason.READ_ONLY_TRANSACTION);
        assertThat(reason("BEGIN WORK ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
                .isEqualTo(Reason.READ_ONLY_TRANSACTION);
        assertThat(reason("START TRANSACTION ISOLATION LEVEL READ COMMITTED READ ONLY; SELECT 1"))
                .isEqualTo(Reason.READ_ONLY_TRANSACTION);
        assertThat(reason("BEGIN; SET TRANSACTION READ ONLY; SELECT * FROM t")).isEqualTo(Reason.READ_ONLY_TRANSACTION);
        assertThat(reason("BEGIN; SET LOCAL transaction_read_only = on")).isEqualTo(Reason.READ_ONLY_TRANSACTION);
        assertThat(reason("BEGIN; SET transaction_read_only TO 'true'")).isEqualTo(Reason.READ_ONLY_TRANSACTION);
        assertThat(reason("BEGIN READ ONLY; SELECT 1; COMMIT")).isEqualTo(Reason.READS);
        assertThat(classifier.classify("BEGIN READ ONLY").replicaEligible()).isTrue();
    }

    @Test
    void transactionsLeftOpenWithoutReadOnlyStayOnThePrimary() {
        assertThat(reason("BEGIN")).isEqualTo(Reason.READ_WRITE_TRANSACTION);
        assertThat(reason("START TRANSACTION")).isEqualTo(Reason.READ_WRITE_TRANSACTION);
        assertThat(reason("BEGIN; SELECT 1")).isEqualTo(Reason.READ_WRITE_TRANSACTION);
        assertThat(reason("BEGIN READ WRITE")).isEqualTo(Reason.READ_WRITE_TRANSACTION);
        assertThat(reason("BEGIN ISOLATION LEVEL READ COMMITTED")).isEqualTo(Reason.READ_WRITE_TRANSACTION);
        assertThat(reason("BEGIN READ ONLY; SET TRANSACTION READ WRITE")).isEqualTo(Reason.READ_WRITE_TRANSACTION);
        assertThat(reason("BEGIN READ ONLY, READ WRITE")).isEqualTo(Reason.READ_WRITE_TRANSACTION);
        assertThat(reason("BEGIN; SELECT 1; COMMIT; BEGIN")).isEqualTo(Reason.READ_WRITE_TRANSACTION);
        assertThat(reason("BEGIN READ ONLY; COMMIT AND CHAIN")).isEqualTo(Reason.READ_ONLY_TRANSACTION);
        assertThat(reason("BEGIN; COMMIT AND CHAIN")).isEqualTo(Reason.READ_WRITE_TRANSACTION);
        assertThat(reason("BEGIN; COMMIT AND NO CHAIN")).isEqualTo(Reason.READS);
        assertThat(reason("BEGIN; SAVEPOINT a; ROLLBACK TO SAVEPOINT a")).isEqualTo(Reason.READ_WRITE_TRANSACTION);
        assertThat(reason("BEGIN; ROLLBACK")).isEqualTo(Reason.READS);
        assertThat(classifier.classify("BEGIN").replicaEligible()).isFalse();
    }

    @Test
    void setTransactionOutsideATransactionBlockChangesNothing() {
        assertThat(reason("SET TRANSACTION READ ONLY")).isEqualTo(Reason.READS);
        assertThat(reason("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")).isEqualTo(Reason.READS);
        assertThat(reason("SET TRANSACTION READ ONLY; BEGIN")).isEqualTo(Reason.READ_WRITE_TRANSACTION);
    }

    @Test
    void serializableTransactionsGoToThePrimaryBecauseStandbysRefuseThem() {
        assertThat(reason("BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE"))
                .isEqualTo(Reason.SERIALIZABLE);
        assertThat(reason("BEGIN READ ONLY; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
                .isEqualTo(Reason.SERIALIZABLE);
        assertThat(reason("BEGIN READ ONLY; SET transaction_isolation = 'serializable'"))
                .isEqualTo(Reason.SERIALIZABLE);
        assertThat(reason("BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT 1; COMMIT"))
                .isEqualTo(Reason.SERIALIZABLE);
    }

    @Test
    void sessionCharacteristicsAreReportedAndUsedForLaterTransactions() {
        RouteHint ro = classifier.classify("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
        assertThat(ro.sessionAccess()).isEqualTo(SessionAccess.READ_ONLY);
        assertThat(ro.reason()).isEqualTo(Reason.READS);
        assertThat(ro.sessionReadOnlyAfter(false)).isTrue();

        RouteHint rw = classifier.classify(
                "set session characteristics as transaction isolation level repeatable read, read write");
        assertThat(rw.sessionAccess()).isEqualTo(SessionAccess.READ_WRITE);
        assertThat(rw.sessionReadOnlyAfter(true)).isFalse();

        assertThat(classifier
                        .classify("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                        .sessionAccess())
                .isEqualTo(SessionAccess.UNCHANGED);
        assertThat(classifier.classify("SET default_transaction_read_only = on").sessionAccess())
                .isEqualTo(SessionAccess.READ_ONLY);
        assertThat(classifier
                        .classify("SET SESSION default_transaction_read_only TO 'off'")
                        .sessionAccess())
                .isEqualTo(SessionAccess.READ_WRITE);
        assertThat(classifier
                        .classify("SET \"default_transaction_read_only\" = 1")
                        .sessionAccess())
                .isEqualTo(SessionAccess.READ_ONLY);
        assertThat(classifier
                        .classify("SET default_transaction_read_only TO DEFAULT")
                        .sessionAccess())
                .isEqualTo(SessionAccess.READ_WRITE);
        assertThat(classifier
                        .classify("SET LOCAL default_transaction_read_only = on")
                        .sessionAccess())
                .isEqualTo(SessionAccess.UNCHANGED);
        assertThat(classifier
                        .classify("SET default_transaction_read_only = maybe")
                        .sessionAccess())
                .isEqualTo(SessionAccess.UNCHANGED);
        assertThat(classifier.classify("RESET default_transaction_read_only").sessionAccess())
                .isEqualTo(SessionAccess.READ_WRITE);
        assertThat(classifier.classify("RESET ALL").sessionAccess()).isEqualTo(SessionAccess.READ_WRITE);
        assertThat(classifier.classify("DISCARD ALL").sessionAccess()).isEqualTo(SessionAccess.READ_WRITE);
        assertThat(classifier.classify("DISCARD PLANS").sessionAccess()).isEqualTo(SessionAccess.UNCHANGED);
        assertThat(classifier.classify("SELECT 1").sessionReadOnlyAfter(true)).isTrue();
    }

    @Test
    void aReadOnlySessionMakesPlainBeginReadOnly() {
        assertThat(classifier.classify("BEGIN", true).reason()).isEqualTo(Reason.READ_ONLY_TRANSACTION);
        assertThat(classifier.classify("BEGIN READ WRITE", true).reason()).isEqualTo(Reason.READ_WRITE_TRANSACTION);
        assertThat(classifier
                        .classify("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; BEGIN")
                        .reason())
                .isEqualTo(Reason.READ_ONLY_TRANSACTION);
        assertThat(classifier
                        .classify("SET default_transaction_read_only = off; BEGIN", true)
                        .reason())
                .isEqualTo(Reason.READ_WRITE_TRANSACTION);
        // The session default only applies to transactions that start after it was set.
        assertThat(classifier
                        .classify("BEGIN; SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                        .reason())
                .isEqualTo(Reason.READ_WRITE_TRANSACTION);
        assertThat(classifier.classify("INSERT INTO t VALUES (1)", true).reason())
                .isEqualTo(Reason.WRITE_STATEMENT);
    }

    @Test
    void standardConformingStringsOffMakesBackslashEscapeQuotes() {
        String sql = "SELECT 'a\\'; DELETE FROM t; --'";
        assertThat(classifier.classify(sql, false, true).reason()).isEqualTo(Reason.WRITE_STATEMENT);
        assertThat(classifier.classify(sql, false, false).reason()).isEqualTo(Reason.READS);
    }

    @Test
    void theFirstReasonFoundWins() {
        assertThat(reason("SELECT nextval('s') FROM t FOR UPDATE")).isEqualTo(Reason.PRIMARY_FUNCTION);
        assertThat(reason("SELECT * FROM t FOR UPDATE; SELECT nextval('s')")).isEqualTo(Reason.LOCKING_READ);
        assertThat(reason("BEGIN; INSERT INTO t VALUES (1)")).isEqualTo(Reason.WRITE_STATEMENT);
    }

    @Test
    void resultsAreSharedConstants() {
        assertThat(classifier.classify("SELECT 1")).isSameAs(classifier.classify("select 2"));
        assertThat(RouteHint.of(Reason.READS, SessionAccess.READ_ONLY))
                .isSameAs(classifier.classify("SET default_transaction_read_only = on"));
    }

    @Test
    void randomTextNeverThrows() {
        Random random = new Random(42);
        String alphabet = "SELECT FROM INSERT FOR UPDATE ( ) ' \" $ $$ $a$ -- /* */ ; \\ E' U& \n 1 . , :: = WITH AS";
        String[] pieces = alphabet.split(" ");
        for (int i = 0; i < 20_000; i++) {
            StringBuilder sb = new StringBuilder();
            int n = random.nextInt(12);
            for (int j = 0; j < n; j++) {
                sb.append(pieces[random.nextInt(pieces.length)]);
                if (random.nextBoolean()) {
                    sb.append(' ');
                }
            }
            String sql = sb.toString();
            RouteHint hint = classifier.classify(sql, random.nextBoolean(), random.nextBoolean());
            assertThat(hint).as(sql).isNotNull();
        }
    }

    @Test
    void classifyingAllocatesAlmostNothing() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        String sql = "/* app */ WITH recent AS (SELECT id, \"Name\" FROM orders WHERE ts > now() - interval '1 day')"
                + " SELECT r.id, 'x;y' FROM recent r JOIN items i ON i.order_id = r.id WHERE i.x = $1 LIMIT 10";
        int rounds = 200_000;
        for (int i = 0; i < rounds; i++) {
            classifier.classify(sql);
        }
        long tid = Thread.currentThread().getId();
        long before = threads.getThreadAllocatedBytes(tid);
        for (int i = 0; i < rounds; i++) {
            classifier.classify(sql);
        }
        long perCall = (threads.getThreadAllocatedBytes(tid) - before) / rounds;
        // One small scanner object per call, or none once escape analysis removes it.
        assertThat(perCall).isLessThanOrEqualTo(96);
    }
}
