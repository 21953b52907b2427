package dev.pggat.pooler.routing;

import static dev.pggat.pooler.testing.TestPostgres.DATABASE;
import static dev.pggat.pooler.testing.TestPostgres.SUPERUSER;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.testing.TestPostgres;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The classifier's verdicts checked against a real hot standby: what it sends to replicas runs there, and what it
 * keeps on the primary because the statement writes or needs the primary is refused there, while being valid SQL
 * that the primary runs.
 */
class QueryClassifierOnStandbyTest {
    private static final QueryClassifier CLASSIFIER = new QueryClassifier();
    private static PostgresCluster cluster;

    @BeforeAll
    static void schema() throws Exception {
        cluster = TestPostgres.replicated();
        try (Connection c = TestPostgres.connect(cluster.primary(), DATABASE, SUPERUSER);
                Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS cls_t(id int PRIMARY KEY, a int);"
                    + "INSERT INTO cls_t VALUES (1, 1) ON CONFLICT DO NOTHING;"
                    + "CREATE SEQUENCE IF NOT EXISTS cls_s");
        }
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (true) {
            try (Connection c = TestPostgres.connect(standby(), DATABASE, SUPERUSER);
                    Statement st = c.createStatement();
                    ResultSet rs = st.executeQuery("SELECT count(*) FROM cls_t")) {
                rs.next();
                if (rs.getInt(1) == 1 && exists(c, "cls_s")) {
                    return;
                }
            } catch (SQLException notYet) {
                // The table has not been replayed yet.
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the standby did not replay the test schema within 60 s");
            }
            Thread.sleep(50);
        }
    }

    private static boolean exists(Connection c, String relation) throws SQLException {
        try (Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT to_regclass('" + relation + "') IS NOT NULL")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    private static PostgresCluster.Node standby() {
        return cluster.replicas().get(0);
    }

    private static void run(PostgresCluster.Node node, String sql, boolean rollback) throws SQLException {
        try (Connection c = TestPostgres.connect(node, DATABASE, SUPERUSER)) {
            c.setAutoCommit(!rollback);
            try (Statement st = c.createStatement()) {
                st.execute(sql);
            } finally {
                if (rollback) {
                    c.rollback();
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "SELECT 1",
                "SELECT * FROM cls_t WHERE id = 1",
                "VALUES (1), (2)",
                "TABLE cls_t",
                "SHOW transaction_read_only",
                "WITH x AS (SELECT * FROM cls_t) SELECT count(*) FROM x",
                "EXPLAIN SELECT * FROM cls_t",
                "EXPLAIN ANALYZE SELECT * FROM cls_t",
                "SELECT * FROM cls_t FOR READ ONLY",
                "SELECT set_config('application_name', 'x', false)",
                "SELECT pg_last_wal_replay_lsn(), pg_is_in_recovery()",
                "BEGIN READ ONLY",
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT 1; COMMIT",
                "BEGIN READ ONLY; DECLARE c CURSOR FOR SELECT * FROM cls_t; FETCH 1 FROM c; COMMIT",
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                "PREPARE q(int) AS SELECT $1",
                "/* pggat:replica */ SELECT 1"
            })
    void whatGoesToAReplicaRunsOnAStandby(String sql) {
        assertThat(CLASSIFIER.classify(sql).replicaEligible()).as(sql).isTrue();
        assertThatCode(() -> run(standby(), sql, false)).as(sql).doesNotThrowAnyException();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "INSERT INTO cls_t VALUES (2, 2)",
                "UPDATE cls_t SET a = a + 1",
                "SELECT * FROM cls_t FOR UPDATE",
                "SELECT * FROM cls_t FOR NO KEY UPDATE",
                "SELECT * FROM cls_t FOR SHARE",
                "SELECT * FROM cls_t FOR KEY SHARE",
                "SELECT * INTO cls_copy FROM cls_t",
                "WITH x AS (UPDATE cls_t SET a = a RETURNING *) SELECT * FROM x",
                "WITH x AS (SELECT 1) DELETE FROM cls_t WHERE id = 99",
                "SELECT nextval('cls_s')",
                "SELECT setval('cls_s', 5)",
                "SELECT txid_current()",
                "SELECT pg_current_xact_id()",
                "SELECT pg_current_wal_lsn()",
                "SELECT pg_notify('chan', 'x')",
                "SELECT lo_create(0)",
                "NOTIFY chan",
                "LISTEN chan",
                "CREATE TABLE cls_new(id int)",
                "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY; SELECT 1; COMMIT"
            })
    void whatStaysOnThePrimaryIsRefusedByAStandbyButRunsOnThePrimary(String sql) throws SQLException {
        assertThat(CLASSIFIER.classify(sql).replicaEligible()).as(sql).isFalse();
        SQLException refused = catchThrowableOfType(SQLException.class, () -> run(standby(), sql, false));
        assertThat((Throwable) refused).as(sql).isNotNull();
        // Class 42 would mean the statement is broken, not that a standby cannot run it.
        assertThat(refused.getSQLState()).as(sql + ": " + refused.getMessage()).doesNotStartWith("42");
        run(cluster.primary(), sql, !sql.startsWith("BEGIN"));
    }
}
