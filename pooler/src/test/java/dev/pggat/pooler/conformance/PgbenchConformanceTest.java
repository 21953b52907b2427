package dev.pggat.pooler.conformance;

import static dev.pggat.pooler.conformance.Jdbc.query;

import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * pgbench in its three query modes, eight clients over a pool of three servers in transaction mode, running a
 * script whose end state is known: client k adds k+1 to its own row in every transaction.
 */
class PgbenchConformanceTest {
    private static final String USER = "scram_user";
    private static final int CLIENTS = 8;
    private static final int TRANSACTIONS = 50;

    static ConformanceFixture fx;
    static final Conformance conformance = new Conformance();

    @BeforeAll
    static void start() throws Exception {
        // Session mode keeps a server per pgbench client for the whole run, so its pool must fit them all.
        fx = ConformanceFixture.start(3, CLIENTS);
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = Target.class,
            names = {"TRANSACTION", "SESSION"})
    void simpleQueryModeBehavesAsDirectly(Target target) throws Exception {
        conformance.check("simple", target, t -> pgbench(t, "simple"));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(
            value = Target.class,
            names = {"TRANSACTION", "SESSION"})
    void extendedQueryModeBehavesAsDirectly(Target target) throws Exception {
        conformance.check("extended", target, t -> pgbench(t, "extended"));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Target.class, names = "SESSION")
    void preparedQueryModeBehavesAsDirectly(Target target) throws Exception {
        conformance.check("prepared", target, t -> pgbench(t, "prepared"));
    }

    @Test
    void preparedQueryModeBehavesAsDirectlyInTransactionMode() throws Exception {
        conformance.check("prepared", Target.TRANSACTION, t -> pgbench(t, "prepared"));
    }

    private List<String> pgbench(Target t, String mode) throws Exception {
        fx.directly(
                USER,
                "DROP TABLE IF EXISTS conf_bench",
                "CREATE TABLE conf_bench (id int PRIMARY KEY, n bigint NOT NULL)",
                "INSERT INTO conf_bench SELECT g, 0 FROM generate_series(0, " + (CLIENTS - 1) + ") g");
        ExternalClients.Result r = ExternalClients.run(
                List.of(
                        ExternalClients.postgresProgram("pgbench").toString(),
                        "-n",
                        "-c",
                        Integer.toString(CLIENTS),
                        "-j",
                        "2",
                        "-t",
                        Integer.toString(TRANSACTIONS),
                        "-M",
                        mode,
                        "-f",
                        "increment.sql"),
                fx.endpoint(t, USER).libpqEnvironment(),
                ExternalClients.conformanceDir().resolve("pgbench"),
                Duration.ofSeconds(120));
        List<String> out = new ArrayList<>();
        out.add("exit code " + r.exitCode());
        // Timings differ from run to run; what was done and what failed must not.
        for (String l : r.stdoutLines()) {
            if (l.startsWith("query mode")
                    || l.startsWith("number of clients")
                    || l.startsWith("number of transactions")
                    || l.startsWith("number of failed")) {
                out.add(l);
            }
        }
        for (String l : r.stderr().split("\n")) {
            if (!l.isBlank() && !l.startsWith("pgbench (")) {
                out.add("stderr: " + l.replaceAll("client [0-9]+", "client N").replaceAll("P0_[0-9]+", "P0_n"));
            }
        }
        try (Connection c = fx.jdbc(Target.DIRECT, USER)) {
            out.add("rows: " + query(c, "SELECT string_agg(id || '=' || n, ' ' ORDER BY id) AS rows FROM conf_bench"));
        }
        return out;
    }
}
