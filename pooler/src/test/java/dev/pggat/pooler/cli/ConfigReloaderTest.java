package dev.pggat.pooler.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.routing.EndpointSet;
import dev.pggat.pooler.testing.TestPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reloading the YAML file moves a database to new endpoints while running; an invalid file changes nothing. */
class ConfigReloaderTest {

    private static String yaml(int port) {
        return yaml(port, "scram_user-secret", "30s");
    }

    private static String yaml(int port, String password, String queryWait) {
        return """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                timeouts: {queryWait: %s}
                databases:
                  appdb:
                    endpoints: [{host: 127.0.0.1, port: %d}]
                    users:
                      scram_user: {password: %s, serverPassword: scram_user-secret}
                """.formatted(queryWait, port, password);
    }

    private static int serverPort(Pooler pooler) throws Exception {
        Properties p = new Properties();
        p.setProperty("user", "scram_user");
        p.setProperty("password", "scram_user-secret");
        p.setProperty("assumeMinServerVersion", "12");
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + pooler.port() + "/appdb", p);
                ResultSet rs = c.createStatement().executeQuery("SELECT inet_server_port()")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    @Test
    void changedEndpointsApplyLiveAndInvalidFilesAreIgnored(@TempDir Path dir) throws Exception {
        // Two independent primaries with the same users and database: the database moves from one to the other.
        int primary = TestPostgres.shared().primary().port();
        int replica = TestPostgres.replicated().primary().port();
        Path file = dir.resolve("pggat.yaml");
        Files.writeString(file, yaml(primary));
        PoolerConfig cfg = ConfigLoader.load(file, Map.of());
        try (Pooler pooler = new Pooler(cfg, 2).start();
                ConfigReloader reloader = new ConfigReloader(file, Map.of(), pooler, cfg)) {
            assertThat(serverPort(pooler)).isEqualTo(primary);

            // Point the database at the other server and reload.
            Files.writeString(file, yaml(replica));
            ConfigReloader.Outcome outcome = reloader.reload();
            assertThat(outcome.applied()).containsExactly("databases.appdb.endpoints");
            assertThat(outcome.needRestart()).isEmpty();
            EndpointSet set = pooler.router().database("appdb").endpoints();
            assertThat(set.version()).isEqualTo(2);
            assertThat(set.primary().port()).isEqualTo(replica);
            assertThat(serverPort(pooler)).isEqualTo(replica);

            // Compared with what runs now (the applied endpoints), the same file again changes nothing.
            assertThat(reloader.reload()).isEqualTo(new ConfigReloader.Outcome(true, List.of(), List.of()));

            Files.writeString(file, "databases: [not, a, mapping]\n");
            assertThat(reloader.reload().valid()).isFalse();
            assertThat(pooler.router().database("appdb").endpoints().version()).isEqualTo(2);
            assertThat(serverPort(pooler)).isEqualTo(replica);
        }
    }

    @Test
    void aDatabaseWithItsOwnLimitsMovesAndTheNextReloadFindsNothingToRestart(@TempDir Path dir) throws Exception {
        int primary = TestPostgres.shared().primary().port();
        int other = TestPostgres.replicated().primary().port();
        String limits = """
                    maxDatabaseConnections: 7
                    reservePoolSize: 2
                    reservePoolTimeout: 3s
                    preparedStatementCacheSize: 50
                """;
        Path file = dir.resolve("pggat.yaml");
        Files.writeString(file, yaml(primary).replace("    users:\n", limits + "    users:\n"));
        PoolerConfig cfg = ConfigLoader.load(file, Map.of());
        assertThat(cfg.databases().get("appdb").limits().maxDatabaseConnections())
                .isEqualTo(7);
        try (Pooler pooler = new Pooler(cfg, 2).start();
                ConfigReloader reloader = new ConfigReloader(file, Map.of(), pooler, cfg)) {
            Files.writeString(file, yaml(other).replace("    users:\n", limits + "    users:\n"));
            ConfigReloader.Outcome moved = reloader.reload();
            assertThat(moved.applied()).containsExactly("databases.appdb.endpoints");
            assertThat(moved.needRestart()).isEmpty();
            // The running configuration kept the database's limits: the same file is no change at all.
            assertThat(reloader.reload()).isEqualTo(new ConfigReloader.Outcome(true, List.of(), List.of()));
            assertThat(serverPort(pooler)).isEqualTo(other);
        }
    }

    @Test
    void changesApplyLiveAndARestartIsNamedOnlyForTheListenAddress(@TempDir Path dir) throws Exception {
        int port = TestPostgres.shared().primary().port();
        Path file = dir.resolve("pggat.yaml");
        Files.writeString(file, yaml(port));
        PoolerConfig cfg = ConfigLoader.load(file, Map.of());
        try (Pooler pooler = new Pooler(cfg, 2).start();
                ConfigReloader reloader = new ConfigReloader(file, Map.of(), pooler, cfg)) {
            // The client password (checked by the pooler) changes; the server password stays.
            Files.writeString(file, yaml(port, "rotated-client-secret", "45s"));
            ConfigReloader.Outcome outcome = reloader.reload();
            assertThat(outcome.needRestart()).isEmpty();
            assertThat(outcome.applied())
                    .containsExactly("timeouts.queryWait", "databases.appdb.users.scram_user.password");
            assertThat(String.join(" ", outcome.applied())).doesNotContain("rotated-client-secret");
            assertThat(pooler.router().database("appdb").settings().queryWait()).hasSeconds(45);
            // Applied: the old password no longer logs in.
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> serverPort(pooler))
                    .isInstanceOf(java.sql.SQLException.class);

            Files.writeString(file, yaml(port).replace("port: 0}", "port: 1}"));
            ConfigReloader.Outcome back = reloader.reload();
            assertThat(back.needRestart()).containsExactly("listen.port");
            assertThat(serverPort(pooler)).isEqualTo(port);
            // Named again while it stands; gone once the file matches what runs.
            assertThat(reloader.reload().needRestart()).containsExactly("listen.port");
            Files.writeString(file, yaml(port));
            assertThat(reloader.reload()).isEqualTo(new ConfigReloader.Outcome(true, List.of(), List.of()));
        }
    }

    @Test
    void aChangedTracingSectionAppliesWithoutARestart(@TempDir Path dir) throws Exception {
        int port = TestPostgres.shared().primary().port();
        Path file = dir.resolve("pggat.yaml");
        Files.writeString(file, yaml(port));
        PoolerConfig cfg = ConfigLoader.load(file, Map.of());
        // No exporter to reach in a test: the SDK the file's section sets up sends its spans nowhere.
        String exporter = System.getProperty("otel.traces.exporter");
        System.setProperty("otel.traces.exporter", "none");
        try (Pooler pooler = new Pooler(cfg, 2).start();
                ConfigReloader reloader = new ConfigReloader(file, Map.of(), pooler, cfg)) {
            Files.writeString(file, yaml(port) + "tracing: {enabled: true, samplerRatio: 0.5}\n");
            ConfigReloader.Outcome outcome = reloader.reload();
            assertThat(outcome.valid()).isTrue();
            assertThat(outcome.needRestart()).isEmpty();
            assertThat(outcome.applied()).containsExactlyInAnyOrder("tracing.enabled", "tracing.samplerRatio");
            assertThat(pooler.config().tracing().samplerRatio()).isEqualTo(0.5);
            assertThat(pooler.frontend().tracing().enabled()).isTrue();
            assertThat(serverPort(pooler)).isEqualTo(port);
            // And off again.
            Files.writeString(file, yaml(port));
            assertThat(reloader.reload().applied())
                    .containsExactlyInAnyOrder("tracing.enabled", "tracing.samplerRatio");
            assertThat(pooler.frontend().tracing().enabled()).isFalse();
            assertThat(serverPort(pooler)).isEqualTo(port);
        } finally {
            if (exporter == null) {
                System.clearProperty("otel.traces.exporter");
            } else {
                System.setProperty("otel.traces.exporter", exporter);
            }
        }
    }
}
