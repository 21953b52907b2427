package dev.pggat.pooler.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Two non-JVM drivers that name their statements: psycopg 3 (named after a threshold, or with prepare=True) and
 * asyncpg (named and cached by default). The scenarios are the scripts in {@code conformance/python/}; each prints
 * its observations, which must match the direct run line by line.
 */
class PythonConformanceTest {
    private static final String USER = "scram_user";

    static ConformanceFixture fx;
    static final Conformance conformance = new Conformance();

    @BeforeAll
    static void start() throws Exception {
        fx = ConformanceFixture.start(2, 8);
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    private List<String> script(Target t, String script, String scenario, String... setup) throws Exception {
        fx.directly(USER, setup);
        ExternalClients.Result r = ExternalClients.run(
                List.of(ExternalClients.python().toString(), script, scenario),
                fx.endpoint(t, USER).libpqEnvironment(),
                ExternalClients.conformanceDir().resolve("python"),
                Duration.ofSeconds(90));
        // A traceback is a broken script or an error the script did not expect: either way not an observation.
        assertThat(r.exitCode())
                .as("%s %s %s:\n%s", script, scenario, t, r.describe())
                .isZero();
        List<String> out = new ArrayList<>(r.stdoutLines());
        if (!r.stderr().isBlank()) {
            out.add("stderr: " + r.stderr());
        }
        return out;
    }

    private static final String[] PSYCOPG_TABLE = {
        "DROP TABLE IF EXISTS conf_psycopg", "CREATE TABLE conf_psycopg (id int PRIMARY KEY, note text)"
    };
    private static final String[] PSYCOPG_DDL_TABLE = {
        "DROP TABLE IF EXISTS conf_psycopg_ddl",
        "CREATE TABLE conf_psycopg_ddl (id int, v int)",
        "INSERT INTO conf_psycopg_ddl VALUES (1, 10)"
    };
    private static final String[] ASYNCPG_TABLE = {
        "DROP TABLE IF EXISTS conf_asyncpg", "CREATE TABLE conf_asyncpg (id int PRIMARY KEY, note text)"
    };
    private static final String[] ASYNCPG_DDL_TABLE = {
        "DROP TABLE IF EXISTS conf_asyncpg_ddl",
        "CREATE TABLE conf_asyncpg_ddl (id int, v int)",
        "INSERT INTO conf_asyncpg_ddl VALUES (1, 10)"
    };

    // ------------------------------------------------------------------ psycopg 3

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = Target.class,
            names = {"TRANSACTION", "SESSION"})
    void psycopgWithUnnamedStatementsBehavesAsDirectly(Target target) throws Exception {
        conformance.check("psycopg basics", target, t -> script(t, "psycopg_scenarios.py", "basics", PSYCOPG_TABLE));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void psycopgWithPreparedStatementsBehavesAsDirectly(Target target) throws Exception {
        conformance.check(
                "psycopg prepared", target, t -> script(t, "psycopg_scenarios.py", "prepared", PSYCOPG_TABLE));
    }

    @Test
    void psycopgWithPreparedStatementsBehavesAsDirectlyInTransactionMode() throws Exception {
        conformance.check(
                "psycopg prepared",
                Target.TRANSACTION,
                t -> script(t, "psycopg_scenarios.py", "prepared", PSYCOPG_TABLE));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = Target.class,
            names = {"TRANSACTION", "SESSION"})
    void psycopgListenerReceivesNotifications(Target target) throws Exception {
        conformance.check("psycopg listen", target, t -> script(t, "psycopg_scenarios.py", "listen"));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void psycopgPreparedStatementWhoseResultTypeChangesBehavesAsDirectly(Target target) throws Exception {
        conformance.check("psycopg ddl", target, t -> script(t, "psycopg_scenarios.py", "ddl", PSYCOPG_DDL_TABLE));
    }

    /**
     * Not "as directly": psycopg keeps its prepared statement after "cached plan must not change result type", so
     * directly every later execution fails too. Through pggat in transaction mode each server's stale plan fails
     * once (at most one error per server of the pool), then pggat prepares the statement again and the
     * executions see the new row shape.
     */
    @Test
    void psycopgPreparedStatementWhoseResultTypeChangesHealsInTransactionMode() throws Exception {
        List<String> direct = script(Target.DIRECT, "psycopg_scenarios.py", "ddl", PSYCOPG_DDL_TABLE);
        List<String> pooled = script(Target.TRANSACTION, "psycopg_scenarios.py", "ddl", PSYCOPG_DDL_TABLE);
        assertThat(direct).as("directly, psycopg keeps failing after each DDL").contains("ERROR 0A000");
        List<List<String>> rounds = rounds(pooled);
        List<List<String>> directRounds = rounds(direct);
        // Without rounds the loop below would check nothing.
        assertThat(directRounds).as("rounds directly: " + direct).isNotEmpty();
        assertThat(rounds).hasSize(directRounds.size());
        // The executions before the first DDL: the original row shape.
        String before = pooled.get(0);
        assertThat(before).as(pooled.toString()).startsWith("[(1, ");
        for (int i = 0; i < rounds.size(); i++) {
            List<String> round = rounds.get(i);
            assertThat(round.get(0))
                    .as("round " + i)
                    .isEqualTo(directRounds.get(i).get(0));
            List<String> results = round.subList(1, round.size());
            long errors = results.stream().filter(l -> l.equals("ERROR 0A000")).count();
            assertThat(errors)
                    .as(pooled + ": at most one error per server of the pool")
                    .isLessThanOrEqualTo(fx.transactionPoolSize());
            // Which server each execution lands on depends on timing, so the errors may come at any point of the
            // round; what must hold is that the executions that do not fail read the new row shape.
            List<String> rows =
                    results.stream().filter(l -> !l.equals("ERROR 0A000")).toList();
            assertThat(rows).as(pooled + ": round " + i + " heals").isNotEmpty();
            assertThat(rows).as(pooled + ": one row shape per round").allMatch(r -> r.equals(rows.get(0)));
            assertThat(rows.get(0)).as(pooled.toString()).startsWith("[(1, ");
            assertThat(rows.get(0))
                    .as(pooled + ": round " + i + " reads the new row shape")
                    .isNotEqualTo(before);
            before = rows.get(0);
        }
    }

    /** Splits the scenario's output at each DDL line (kept as the first line of its round). */
    private static List<List<String>> rounds(List<String> lines) {
        List<List<String>> out = new java.util.ArrayList<>();
        List<String> cur = null;
        for (String l : lines) {
            if (l.startsWith("ALTER TABLE")) {
                cur = new java.util.ArrayList<>();
                out.add(cur);
            }
            if (cur != null) {
                cur.add(l);
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ asyncpg

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = Target.class,
            names = {"TRANSACTION", "SESSION"})
    void asyncpgWithoutStatementCacheBehavesAsDirectly(Target target) throws Exception {
        conformance.check("asyncpg unnamed", target, t -> script(t, "asyncpg_scenarios.py", "unnamed", ASYNCPG_TABLE));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void asyncpgWithItsStatementCacheBehavesAsDirectly(Target target) throws Exception {
        conformance.check("asyncpg named", target, t -> script(t, "asyncpg_scenarios.py", "named", ASYNCPG_TABLE));
    }

    @Test
    void asyncpgWithItsStatementCacheBehavesAsDirectlyInTransactionMode() throws Exception {
        conformance.check(
                "asyncpg named", Target.TRANSACTION, t -> script(t, "asyncpg_scenarios.py", "named", ASYNCPG_TABLE));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void asyncpgCachedStatementWhoseResultTypeChangesBehavesAsDirectly(Target target) throws Exception {
        conformance.check("asyncpg ddl", target, t -> script(t, "asyncpg_scenarios.py", "ddl", ASYNCPG_DDL_TABLE));
    }

    @Test
    void asyncpgCachedStatementWhoseResultTypeChangesBehavesAsDirectlyInTransactionMode() throws Exception {
        conformance.check(
                "asyncpg ddl", Target.TRANSACTION, t -> script(t, "asyncpg_scenarios.py", "ddl", ASYNCPG_DDL_TABLE));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void asyncpgListenerReceivesNotifications(Target target) throws Exception {
        conformance.check("asyncpg listen", target, t -> script(t, "asyncpg_scenarios.py", "listen"));
    }

    @Test
    void asyncpgListenerReceivesNotificationsInTransactionMode() throws Exception {
        conformance.check("asyncpg listen", Target.TRANSACTION, t -> script(t, "asyncpg_scenarios.py", "listen"));
    }
}
