package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.testing.PoolerFixture;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Client authentication and routing errors, compared with what PostgreSQL itself answers. */
class LoginTest {
    static PoolerFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = PoolerFixture.start(2, "");
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    @ParameterizedTest(name = "{0} logs in with its method through the pooler")
    @CsvSource({"scram_user", "md5_user", "plain_user"})
    void logsInWithEachPasswordMethod(String user) throws Exception {
        try (Connection c = fx.connect("appdb", user);
                ResultSet rs = c.createStatement().executeQuery("SELECT current_user, current_database()")) {
            rs.next();
            assertThat(rs.getString(1)).isEqualTo(user);
            assertThat(rs.getString(2)).isEqualTo("appdb");
        }
    }

    @Test
    void trustUserLogsInWithoutPassword() throws Exception {
        try (Connection c = fx.connect("appdb", "trust_user", null);
                ResultSet rs = c.createStatement().executeQuery("SELECT current_user")) {
            rs.next();
            assertThat(rs.getString(1)).isEqualTo("trust_user");
        }
    }

    @ParameterizedTest(name = "wrong password for {0} fails with 28P01 like PostgreSQL")
    @CsvSource({"scram_user", "md5_user", "plain_user"})
    void wrongPasswordFailsLikePostgres(String user) {
        SQLException viaPooler = catchSql(() -> fx.connect("appdb", user, "wrong"));
        SQLException direct = catchSql(
                () -> dev.pggat.pooler.testing.TestPostgres.connect(fx.cluster.primary(), "appdb", user, "wrong"));
        assertThat(viaPooler.getSQLState()).isEqualTo("28P01").isEqualTo(direct.getSQLState());
        assertThat(viaPooler.getMessage()).contains("password authentication failed for user \"" + user + "\"");
    }

    @Test
    void unknownUserFailsLikeAnyWrongPassword() {
        SQLException e = catchSql(() -> fx.connect("appdb", "nobody", "whatever"));
        SQLException direct = catchSql(() ->
                dev.pggat.pooler.testing.TestPostgres.connect(fx.cluster.primary(), "appdb", "nobody", "whatever"));
        // PostgreSQL does not reveal whether a role exists to a password-authenticating client, nor does the pooler.
        assertThat(e.getSQLState()).isEqualTo("28P01").isEqualTo(direct.getSQLState());
        assertThat(e.getMessage()).contains("password authentication failed for user \"nobody\"");
    }

    @Test
    void unknownDatabaseFailsWith3D000() {
        SQLException e = catchSql(() -> fx.connect("nosuchdb", "scram_user"));
        SQLException direct = catchSql(
                () -> dev.pggat.pooler.testing.TestPostgres.connect(fx.cluster.primary(), "nosuchdb", "postgres"));
        assertThat(e.getSQLState()).isEqualTo("3D000").isEqualTo(direct.getSQLState());
        assertThat(e.getMessage()).contains("database \"nosuchdb\" does not exist");
    }

    @Test
    void startupParametersFollowTheClient() throws Exception {
        try (Connection a = fx.connect(
                        "appdb",
                        "scram_user",
                        "scram_user-secret",
                        "ApplicationName",
                        "client-a",
                        "options",
                        "-c statement_timeout=1234");
                // pgjdbc sends application_name with SET after login when it assumes an old server: a SET of a
                // reported parameter must follow the client the same way.
                Connection b = fx.connect(
                        "appdb",
                        "scram_user",
                        "scram_user-secret",
                        "ApplicationName",
                        "client-b",
                        "assumeMinServerVersion",
                        "8.4")) {
            for (int i = 0; i < 5; i++) {
                assertThat(show(a, "application_name")).isEqualTo("client-a");
                assertThat(show(a, "statement_timeout")).isEqualTo("1234ms");
                assertThat(show(b, "application_name")).isEqualTo("client-b");
                assertThat(show(b, "statement_timeout")).isEqualTo("0");
            }
        }
    }

    private static String show(Connection c, String name) throws SQLException {
        try (ResultSet rs = c.createStatement().executeQuery("SHOW " + name)) {
            rs.next();
            return rs.getString(1);
        }
    }

    interface SqlAction {
        Object run() throws SQLException;
    }

    static SQLException catchSql(SqlAction a) {
        try {
            Object o = a.run();
            if (o instanceof AutoCloseable ac) {
                try {
                    ac.close();
                } catch (Exception ignored) {
                    // closing a connection that should not exist
                }
            }
        } catch (SQLException e) {
            return e;
        }
        throw new AssertionError("expected an SQLException");
    }
}
