package dev.pggat.pooler.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** psql running a script with COPY in both directions, \gset, \copy, and errors it carries on after. */
class PsqlConformanceTest {
    private static final String USER = "scram_user";

    static ConformanceFixture fx;
    static final Conformance conformance = new Conformance();

    @BeforeAll
    static void start() throws Exception {
        fx = ConformanceFixture.start(2, 4);
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Target.class)
    void scriptWithCopyGsetAndErrorsPrintsWhatItPrintsDirectly(Target target) throws Exception {
        List<String> out = conformance.check("psql script", target, this::psqlScript);
        assertThat(out)
                .as("the script ran to its end")
                .contains("stdout: connected to appdb as " + USER)
                .anySatisfy(l -> assertThat(l).contains("ERROR:  division by zero"))
                .anySatisfy(l -> assertThat(l).contains("also, from a file"));
    }

    private List<String> psqlScript(Target t) throws Exception {
        fx.directly(USER, "DROP TABLE IF EXISTS conf_psql", "CREATE TABLE conf_psql (id int PRIMARY KEY, note text)");
        ExternalClients.Result r = ExternalClients.run(
                List.of(
                        ExternalClients.postgresProgram("psql").toString(),
                        "-X",
                        "-q",
                        "-v",
                        "VERBOSITY=default",
                        "-f",
                        "copy_gset_errors.sql"),
                fx.endpoint(t, USER).libpqEnvironment(),
                ExternalClients.conformanceDir().resolve("psql"),
                Duration.ofSeconds(60));
        List<String> out = new ArrayList<>();
        out.add("exit code " + r.exitCode());
        r.stdoutLines().forEach(l -> out.add("stdout: " + l));
        for (String l : r.stderr().split("\n", -1)) {
            out.add("stderr: " + l);
        }
        return out;
    }

    /**
     * RESET, RESET ALL and DISCARD ALL give the client back its own startup value (here PGDATESTYLE), as PostgreSQL
     * does, not the server connection's default; also inside a transaction block, and with other clients' work on the
     * same servers in between.
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(Target.class)
    void resetGoesBackToTheClientsStartupValue(Target target) throws Exception {
        List<String> out = conformance.check("RESET to startup values", target, this::resets);
        assertThat(out)
                .as("each SHOW after a reset says the client's startup value")
                .containsSubsequence(
                        "stdout: ISO, MDY",
                        "stdout: Postgres, MDY",
                        "stdout: Postgres, MDY",
                        "stdout: ISO, MDY",
                        "stdout: Postgres, MDY",
                        "stdout: Postgres, MDY",
                        "stdout: Postgres, MDY");
    }

    private List<String> resets(Target t) throws Exception {
        java.util.Map<String, String> env =
                new java.util.LinkedHashMap<>(fx.endpoint(t, USER).libpqEnvironment());
        env.put("PGDATESTYLE", "Postgres, MDY");
        String script = String.join(
                "\n",
                "SET datestyle TO iso;",
                "SHOW datestyle;",
                "RESET datestyle;",
                "SHOW datestyle;",
                "SET datestyle TO iso;",
                "RESET ALL;",
                "SHOW datestyle;",
                "SET datestyle TO iso;",
                "SHOW datestyle;",
                "DISCARD ALL;",
                "SHOW datestyle;",
                "BEGIN;",
                "SET datestyle TO 'SQL, DMY';",
                "RESET datestyle;",
                "SHOW datestyle;",
                "COMMIT;",
                "SHOW datestyle;",
                "");
        // A file, so that psql sends each statement as its own Query (with -c it would send them as one).
        java.nio.file.Path file = java.nio.file.Files.createTempFile("pggat-reset", ".sql");
        java.nio.file.Files.writeString(file, script);
        ExternalClients.Result r;
        try {
            r = ExternalClients.run(
                    List.of(
                            ExternalClients.postgresProgram("psql").toString(),
                            "-X",
                            "-q",
                            "-A",
                            "-t",
                            "-f",
                            file.toString()),
                    env,
                    ExternalClients.conformanceDir().resolve("psql"),
                    Duration.ofSeconds(60));
        } finally {
            java.nio.file.Files.deleteIfExists(file);
        }
        List<String> out = new ArrayList<>();
        out.add("exit code " + r.exitCode());
        r.stdoutLines().forEach(l -> out.add("stdout: " + l));
        for (String l : r.stderr().split("\n", -1)) {
            out.add("stderr: " + l);
        }
        return out;
    }
}
