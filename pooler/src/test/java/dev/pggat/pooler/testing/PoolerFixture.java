package dev.pggat.pooler.testing;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.demo.PostgresCluster;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Map;
import java.util.Properties;

/**
 * A pooler in front of the shared test PostgreSQL, configured from YAML written in the test. Databases:
 * {@code appdb} (transaction mode), {@code appdb_session} (session mode, same server database), each with the
 * fixture's users: scram_user (scram-sha-256), md5_user (md5), plain_user (password), trust_user (trust).
 */
public final class PoolerFixture implements AutoCloseable {
    public final PostgresCluster cluster;
    public final Pooler pooler;

    private PoolerFixture(PostgresCluster cluster, Pooler pooler) {
        this.cluster = cluster;
        this.pooler = pooler;
    }

    public static PoolerFixture start(int poolSize, String extraYaml) throws Exception {
        PostgresCluster cluster = TestPostgres.shared();
        String yaml = config(cluster, poolSize, extraYaml);
        Pooler pooler = new Pooler(ConfigLoader.parse(yaml, "test.yaml", Map.of()), 2).start();
        return new PoolerFixture(cluster, pooler);
    }

    /** A pooler from a whole YAML configuration written by the test. */
    public static PoolerFixture startYaml(String yaml) throws Exception {
        PostgresCluster cluster = TestPostgres.shared();
        Pooler pooler = new Pooler(ConfigLoader.parse(yaml, "test.yaml", Map.of()), 2).start();
        return new PoolerFixture(cluster, pooler);
    }

    public static String config(PostgresCluster cluster, int poolSize, String extraYaml) {
        int port = cluster.primary().port();
        String users = """
                      scram_user:
                        password: scram_user-secret
                        auth: scram-sha-256
                      md5_user:
                        password: md5_user-secret
                        auth: md5
                      plain_user:
                        password: plain_user-secret
                        auth: password
                      trust_user:
                        auth: trust
                        serverPassword: trust_user-secret
                """;
        return """
                listen:
                  host: 127.0.0.1
                  port: 0
                admin:
                  host: 127.0.0.1
                  port: 0
                %s
                pools:
                  maxServerConnections: %d
                databases:
                  appdb:
                    endpoints:
                      - host: 127.0.0.1
                        port: %d
                    users:
                %s
                  appdb_session:
                    serverDatabase: appdb
                    mode: session
                    endpoints:
                      - host: 127.0.0.1
                        port: %d
                    users:
                %s
                """.formatted(extraYaml, poolSize, port, users, port, users);
    }

    public int port() {
        return pooler.port();
    }

    /** A pgjdbc connection through the pooler. */
    public Connection connect(String database, String user, String password, String... extra) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", user);
        // Without it pgjdbc runs "SET extra_float_digits = 3" right after login, which needs a server.
        // Tests that want that behaviour pass their own value.
        p.setProperty("assumeMinServerVersion", "12");
        if (password != null) {
            p.setProperty("password", password);
        }
        for (int i = 0; i + 1 < extra.length; i += 2) {
            p.setProperty(extra[i], extra[i + 1]);
        }
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port() + "/" + database, p);
    }

    public Connection connect(String database, String user) throws SQLException {
        return connect(database, user, user + "-secret");
    }

    /** A direct superuser connection to the primary, to look at pg_stat_activity and pg_locks. */
    public Connection superuser() throws SQLException {
        return TestPostgres.connect(cluster.primary(), "appdb", "postgres");
    }

    @Override
    public void close() {
        pooler.close();
    }
}
