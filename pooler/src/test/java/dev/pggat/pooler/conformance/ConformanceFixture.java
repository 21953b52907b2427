package dev.pggat.pooler.conformance;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.testing.TestPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Map;
import java.util.Properties;

/**
 * The three targets of the conformance suite over the shared test PostgreSQL: the server itself, and one pggat
 * with database {@code appdb} in transaction mode and {@code appdb_session} (same server database) in session
 * mode. The two pools get their own sizes: transaction mode is meant to be oversubscribed, while session mode
 * needs a server per connected client.
 */
public final class ConformanceFixture implements AutoCloseable {
    private static final String DATABASE = TestPostgres.DATABASE;
    private static final String SESSION_DATABASE = "appdb_session";

    public final PostgresCluster cluster;
    public final Pooler pooler;
    private final int transactionPool;
    private final int sessionPool;

    private ConformanceFixture(PostgresCluster cluster, Pooler pooler, int transactionPool, int sessionPool) {
        this.cluster = cluster;
        this.pooler = pooler;
        this.transactionPool = transactionPool;
        this.sessionPool = sessionPool;
    }

    public int transactionPoolSize() {
        return transactionPool;
    }

    public static ConformanceFixture start(int transactionPool, int sessionPool) throws Exception {
        PostgresCluster cluster = TestPostgres.shared();
        String yaml = config(cluster.primary().port(), transactionPool, sessionPool);
        Pooler pooler = new Pooler(ConfigLoader.parse(yaml, "conformance.yaml", Map.of()), 2).start();
        return new ConformanceFixture(cluster, pooler, transactionPool, sessionPool);
    }

    private static String config(int serverPort, int transactionPool, int sessionPool) {
        String users = """
                      scram_user:
                        password: scram_user-secret
                      trust_user:
                        auth: trust
                        serverPassword: trust_user-secret
                """;
        return """
                listen:
                  host: 127.0.0.1
                  port: 0
                admin:
                  enabled: false
                timeouts:
                  queryWait: 30s
                databases:
                  %s:
                    mode: transaction
                    maxServerConnections: %d
                    endpoints:
                      - host: 127.0.0.1
                        port: %d
                    users:
                %s
                  %s:
                    serverDatabase: %s
                    mode: session
                    maxServerConnections: %d
                    endpoints:
                      - host: 127.0.0.1
                        port: %d
                    users:
                %s
                """.formatted(
                        DATABASE,
                        transactionPool,
                        serverPort,
                        users,
                        SESSION_DATABASE,
                        DATABASE,
                        sessionPool,
                        serverPort,
                        users);
    }

    /** Where {@code user} reaches the target; every fixture user's password is {@code <user>-secret}. */
    public Endpoint endpoint(Target target, String user) {
        String password = TestPostgres.password(user);
        return switch (target) {
            case DIRECT -> new Endpoint("127.0.0.1", cluster.primary().port(), DATABASE, user, password);
            case TRANSACTION -> new Endpoint("127.0.0.1", pooler.port(), DATABASE, user, password);
            case SESSION -> new Endpoint("127.0.0.1", pooler.port(), SESSION_DATABASE, user, password);
        };
    }

    /** Server connections the target lets a (database, user) pair have at once; PostgreSQL's own limit directly. */
    public int poolSize(Target target) {
        return switch (target) {
            case DIRECT -> Integer.MAX_VALUE;
            case TRANSACTION -> transactionPool;
            case SESSION -> sessionPool;
        };
    }

    /** A pgjdbc connection to the target; {@code properties} are name/value pairs added to the defaults. */
    public Connection jdbc(Target target, String user, String... properties) throws SQLException {
        Endpoint e = endpoint(target, user);
        Properties p = new Properties();
        p.setProperty("user", e.user());
        p.setProperty("password", e.password());
        p.setProperty("connectTimeout", "10");
        p.setProperty("socketTimeout", "60");
        p.setProperty("ApplicationName", "pggat-conformance");
        // Lets pgjdbc send extra_float_digits in the startup packet instead of a SET right after login, which in
        // transaction mode would stay on whichever server ran it (see docs/compatibility.md).
        p.setProperty("assumeMinServerVersion", "12");
        for (int i = 0; i + 1 < properties.length; i += 2) {
            p.setProperty(properties[i], properties[i + 1]);
        }
        return DriverManager.getConnection(e.jdbcUrl(), p);
    }

    /** Runs statements directly on PostgreSQL as {@code user}: setup that must not depend on the target. */
    public void directly(String user, String... sql) throws SQLException {
        try (Connection c = TestPostgres.connect(cluster.primary(), DATABASE, user);
                Statement s = c.createStatement()) {
            for (String q : sql) {
                s.execute(q);
            }
        }
    }

    /** A direct superuser connection, to look at pg_stat_activity and pg_locks. */
    public Connection superuser() throws SQLException {
        return TestPostgres.connect(cluster.primary(), DATABASE, TestPostgres.SUPERUSER);
    }

    @Override
    public void close() {
        pooler.close();
    }
}
