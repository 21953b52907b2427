package dev.pggat.pooler.testing;

import dev.pggat.pooler.demo.PostgresCluster;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.List;
import java.util.Properties;

/**
 * Real PostgreSQL servers shared by the tests of one JVM. Both clusters are started on first use and stopped by
 * {@link PostgresCluster}'s shutdown hook.
 *
 * <p>Database {@value #DATABASE}; users (all LOGIN, password {@code <name>-secret}, see {@link #password}):
 * {@value #SCRAM_USER} (hba scram-sha-256), {@value #MD5_USER} (password stored as md5, hba md5),
 * {@value #PLAIN_USER} (hba password), {@value #TRUST_USER} (hba trust), and the superuser {@value #SUPERUSER}
 * (hba scram-sha-256) reachable over TCP. The four users are members of the role owning {@value #DATABASE}, so
 * each may create and drop objects in its public schema; objects belong to the user that created them.
 */
public final class TestPostgres {
    public static final String DATABASE = "appdb";
    public static final String SCRAM_USER = "scram_user";
    public static final String MD5_USER = "md5_user";
    public static final String PLAIN_USER = "plain_user";
    public static final String TRUST_USER = "trust_user";
    public static final String SUPERUSER = "postgres";
    public static final List<String> APP_USERS = List.of(SCRAM_USER, MD5_USER, PLAIN_USER, TRUST_USER);

    private static PostgresCluster shared;
    private static PostgresCluster replicated;
    private static long sharedStartMillis = -1;
    private static long replicatedStartMillis = -1;

    private TestPostgres() {}

    /** One primary per test JVM, started on first use. */
    public static synchronized PostgresCluster shared() {
        if (shared == null) {
            long t0 = System.nanoTime();
            shared = start(0);
            sharedStartMillis = (System.nanoTime() - t0) / 1_000_000;
        }
        return shared;
    }

    /** A separate primary with 2 streaming replicas, one per test JVM, with the same users as {@link #shared()}. */
    public static synchronized PostgresCluster replicated() {
        if (replicated == null) {
            long t0 = System.nanoTime();
            replicated = start(2);
            replicatedStartMillis = (System.nanoTime() - t0) / 1_000_000;
        }
        return replicated;
    }

    /** How long the first {@link #shared()} call took, or -1 before it. */
    public static synchronized long sharedStartMillis() {
        return sharedStartMillis;
    }

    /** How long the first {@link #replicated()} call took, or -1 before it. */
    public static synchronized long replicatedStartMillis() {
        return replicatedStartMillis;
    }

    public static String password(String user) {
        return user + "-secret";
    }

    /** A direct pgjdbc connection (no pooler) to a node, logging in with the user's fixture password. */
    public static Connection connect(PostgresCluster.Node n, String db, String user) throws SQLException {
        return connect(n, db, user, password(user));
    }

    public static Connection connect(PostgresCluster.Node n, String db, String user, String password)
            throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", user);
        props.setProperty("password", password);
        props.setProperty("connectTimeout", "10");
        props.setProperty("socketTimeout", "60");
        props.setProperty("ApplicationName", "pggat-tests");
        return DriverManager.getConnection(n.jdbcUrl(db), props);
    }

    /** A cluster of its own (the caller closes it), with the same users and database as {@link #shared()}. */
    public static PostgresCluster startOwn(int replicas) {
        return start(replicas);
    }

    private static PostgresCluster start(int replicas) {
        try {
            return PostgresCluster.builder()
                    .replicas(replicas)
                    .superuserPassword(password(SUPERUSER))
                    .hbaLines(
                            "host all " + SCRAM_USER + " 127.0.0.1/32 scram-sha-256",
                            "host all " + MD5_USER + " 127.0.0.1/32 md5",
                            "host all " + PLAIN_USER + " 127.0.0.1/32 password",
                            "host all " + TRUST_USER + " 127.0.0.1/32 trust")
                    .bootstrapSql(
                            "CREATE ROLE " + SCRAM_USER + " LOGIN PASSWORD '" + password(SCRAM_USER) + "';"
                                    + "CREATE ROLE " + PLAIN_USER + " LOGIN PASSWORD '" + password(PLAIN_USER) + "';"
                                    + "CREATE ROLE " + TRUST_USER + " LOGIN PASSWORD '" + password(TRUST_USER) + "';"
                                    // md5 auth needs the password stored as md5, not as a SCRAM verifier.
                                    + "SET password_encryption = 'md5';"
                                    + "CREATE ROLE " + MD5_USER + " LOGIN PASSWORD '" + password(MD5_USER) + "';"
                                    + "RESET password_encryption;"
                                    + "CREATE ROLE appdb_owner NOLOGIN;"
                                    + "GRANT appdb_owner TO " + String.join(", ", APP_USERS) + ";",
                            "CREATE DATABASE " + DATABASE + " OWNER appdb_owner",
                            "\\c " + DATABASE,
                            "GRANT ALL ON SCHEMA public TO " + String.join(", ", APP_USERS) + ";"
                                    + "GRANT ALL ON DATABASE " + DATABASE + " TO " + String.join(", ", APP_USERS))
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("could not start the test PostgreSQL: " + e.getMessage(), e);
        }
    }
}
