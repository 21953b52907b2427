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
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reloading the YAML file moves a database to new endpoints while running; an invalid file changes nothing. */
class ConfigReloaderTest {

    private static String yaml(int port) {
        return """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                databases:
                  appdb:
                    endpoints: [{host: 127.0.0.1, port: %d}]
                    users:
                      scram_user: {password: scram_user-secret}
                """.formatted(port);
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
            reloader.reload();
            EndpointSet set = pooler.router().database("appdb").endpoints();
            assertThat(set.version()).isEqualTo(2);
            assertThat(set.primary().port()).isEqualTo(replica);
            assertThat(serverPort(pooler)).isEqualTo(replica);

            Files.writeString(file, "databases: [not, a, mapping]\n");
            reloader.reload();
            assertThat(pooler.router().database("appdb").endpoints().version()).isEqualTo(2);
            assertThat(serverPort(pooler)).isEqualTo(replica);
        }
    }
}
