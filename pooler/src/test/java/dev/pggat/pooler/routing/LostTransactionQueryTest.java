package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.config.RoutingConfig;
import dev.pggat.pooler.conformance.ExternalClients;
import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.routing.ReplicaRoutingTest.Setup;
import dev.pggat.pooler.testing.TestPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A transaction whose server was lost, ended by a Query of several statements, through pggat in transaction mode
 * with psql: answered as PostgreSQL answers the same script in a transaction that failed with an error of its own.
 * The same script runs against the server directly (the transaction failed by a division by zero) and through
 * pggat (the transaction's backend ends itself with pg_terminate_backend, which pggat tells as an ERROR); the
 * outputs must be the same but for the SQLSTATE of that first error.
 */
class LostTransactionQueryTest {
    /** psql's {@code \;} sends the statements around it as one Query. */
    private static final String SCRIPT = """
            \\set VERBOSITY sqlstate
            BEGIN;
            SELECT 'in';
            %1$s;
            SELECT 'refused';
            ROLLBACK \\; SELECT 'one';
            BEGIN;
            %1$s;
            SELECT 'skipped' \\; ROLLBACK \\; SELECT 'also skipped';
            COMMIT \\; SELECT 'two' \\; SELECT 'three';
            SELECT 'idle again';
            BEGIN;
            %1$s;
            END \\; SELECT 'four';
            """;

    @Test
    void aQueryEndingTheLostTransactionRunsItsRestAsPostgresDoes() throws Exception {
        PostgresCluster cluster = TestPostgres.replicated();
        RoutingConfig r = Setup.eventual();
        RoutingConfig primaryOnly = new RoutingConfig(
                false,
                r.consistency(),
                r.maxReplicaLag(),
                r.maxReplicaLagBytes(),
                r.replicaFallback(),
                r.probeInterval(),
                r.primaryWait(),
                r.primaryFunctions(),
                false);
        ExternalClients.Result direct = psql(cluster.primary().port(), "SELECT 1/0");
        try (Setup setup = Setup.start(cluster, primaryOnly)) {
            long lost = setup.database().serverLossErrorsTotal.sum();
            ExternalClients.Result pooled =
                    psql(setup.pooler.port(), "SELECT pg_catalog.pg_terminate_backend(pg_catalog.pg_backend_pid())");
            System.out.printf("psql through pggat after server losses:%n%s%s", pooled.stdout(), pooled.stderr());
            assertThat(direct.stdout().lines().toList())
                    .as("PostgreSQL itself")
                    .containsExactly(
                            "BEGIN",
                            "in",
                            "ROLLBACK",
                            "one",
                            "BEGIN",
                            "ROLLBACK",
                            "two",
                            "three",
                            "idle again",
                            "BEGIN",
                            "ROLLBACK",
                            "four");
            assertThat(direct.stderr().lines().toList())
                    .containsExactly(
                            "psql:lost.sql:4: ERROR:  22012",
                            "psql:lost.sql:5: ERROR:  25P02",
                            "psql:lost.sql:8: ERROR:  22012",
                            "psql:lost.sql:9: ERROR:  25P02",
                            "psql:lost.sql:13: ERROR:  22012");
            assertThat(pooled.exitCode()).isZero();
            assertThat(pooled.stdout()).isEqualTo(direct.stdout());
            assertThat(pooled.stderr())
                    .as("the loss is told as an ERROR with what the server said (57P01), the rest as PostgreSQL")
                    .isEqualTo(direct.stderr().replace("ERROR:  22012", "ERROR:  57P01"));
            assertThat(setup.database().serverLossErrorsTotal.sum() - lost).isEqualTo(3);
        }
    }

    private static ExternalClients.Result psql(int port, String abort) throws Exception {
        Path work = Files.createTempDirectory("pggat-lost-query");
        Files.writeString(work.resolve("lost.sql"), SCRIPT.formatted(abort));
        ExternalClients.Result result = ExternalClients.run(
                List.of(ExternalClients.postgresProgram("psql").toString(), "-X", "-A", "-t", "-f", "lost.sql"),
                Map.of(
                        "PGHOST",
                        "127.0.0.1",
                        "PGPORT",
                        Integer.toString(port),
                        "PGUSER",
                        Setup.USER,
                        "PGPASSWORD",
                        TestPostgres.password(Setup.USER),
                        "PGDATABASE",
                        Setup.DB,
                        "PGCONNECT_TIMEOUT",
                        "10"),
                work,
                Duration.ofMinutes(2));
        assertThat(result.exitCode()).as(result.stderr()).isZero();
        return result;
    }
}
