package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.testing.PoolerFixture;
import dev.pggat.pooler.testing.TestPostgres;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import org.junit.jupiter.api.Test;

/** pools.preparedStatementCacheSize bounds the statements each server connection keeps. */
class StatementCacheSizeTest {
    @Test
    void serverKeepsAtMostTheConfiguredNumberOfStatements() throws Exception {
        String yaml = PoolerFixture.config(TestPostgres.shared(), 1, "")
                .replace("pools:\n", "pools:\n  preparedStatementCacheSize: 2\n");
        try (PoolerFixture fx = PoolerFixture.startYaml(yaml);
                Connection c = fx.connect("appdb", "scram_user", "scram_user-secret", "prepareThreshold", "1")) {
            for (int i = 1; i <= 3; i++) {
                try (PreparedStatement ps = c.prepareStatement("SELECT ?::int + " + i)) {
                    ps.setInt(1, 10);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        assertThat(rs.getInt(1)).isEqualTo(10 + i);
                    }
                }
            }
            assertThat(fx.pooler.frontend().statements().evictions.sum()).isEqualTo(1);
            // A plain Statement is not prepared under a name, so it does not disturb what it counts.
            try (ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM pg_prepared_statements")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(2);
            }
        }
    }
}
