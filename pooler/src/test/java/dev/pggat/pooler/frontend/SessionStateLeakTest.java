package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.testing.PoolerFixture;
import dev.pggat.pooler.testing.TestPostgres;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Transaction mode, pgjdbc in simple-query mode (so a text of several statements is one Query, as psql and
 * psycopg send it): a setting a client changes follows it to every server it gets, and never reaches another
 * client, however the SQL changed it. Three servers per pool; other clients hold servers in open transactions so
 * that the client moves between them.
 */
class SessionStateLeakTest {
    private static final String VALUE = "7777kB";
    static PoolerFixture fx;
    static PoolerFixture strict;
    static String defaultWorkMem;

    @BeforeAll
    static void start() throws Exception {
        try (Connection c = TestPostgres.connect(TestPostgres.shared().primary(), "appdb", "postgres");
                Statement st = c.createStatement()) {
            st.execute("CREATE OR REPLACE PROCEDURE leak_test_proc() LANGUAGE plpgsql AS"
                    + " $$BEGIN PERFORM set_config('work_mem', '" + VALUE + "', false); END$$");
            st.execute("CREATE OR REPLACE FUNCTION leak_test_fn() RETURNS int LANGUAGE plpgsql AS"
                    + " $$BEGIN PERFORM set_config('work_mem', '" + VALUE + "', false); RETURN 1; END$$");
            st.execute("CREATE OR REPLACE FUNCTION leak_test_lock() RETURNS int LANGUAGE plpgsql AS"
                    + " $$BEGIN PERFORM pg_advisory_lock(4242); RETURN 1; END$$");
            try (ResultSet rs = st.executeQuery("SELECT current_setting('work_mem')")) {
                rs.next();
                defaultWorkMem = rs.getString(1);
            }
        }
        assertThat(defaultWorkMem).isNotEqualTo(VALUE);
        fx = PoolerFixture.startYaml(yaml(false));
        strict = PoolerFixture.startYaml(yaml(true));
    }

    private static String yaml(boolean strictMode) {
        return """
                listen: {host: 127.0.0.1, port: 0}
                admin: {host: 127.0.0.1, port: 0}
                pools:
                  maxServerConnections: 3
                  strictSessionState: %s
                databases:
                  appdb:
                    endpoints: [{host: 127.0.0.1, port: %d}]
                    users:
                      scram_user: {password: scram_user-secret}
                """.formatted(strictMode, TestPostgres.shared().primary().port());
    }

    @AfterAll
    static void stop() {
        if (fx != null) {
            fx.close();
        }
        if (strict != null) {
            strict.close();
        }
    }

    private static Connection client(PoolerFixture f) throws SQLException {
        return f.connect("appdb", "scram_user", "scram_user-secret", "preferQueryMode", "simple");
    }

    /** [backend pid, work_mem] */
    private static String[] read(Connection c) throws SQLException {
        try (Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT pg_backend_pid(), current_setting('work_mem')")) {
            rs.next();
            return new String[] {rs.getString(1), rs.getString(2)};
        }
    }

    /**
     * Client A runs {@code sql}. Then, round after round, three other clients hold all three servers at once in open
     * transactions (so one of them has A's last server) and must see the default; one of them lets its server go,
     * and A, reading on that one, must see its value.
     */
    private static void assertFollowsAAndReachesNoOneElse(PoolerFixture f, String sql) throws Exception {
        try (Connection a = client(f);
                Connection b1 = client(f);
                Connection b2 = client(f);
                Connection b3 = client(f)) {
            Connection[] others = {b1, b2, b3};
            for (Connection b : others) {
                b.setAutoCommit(false);
            }
            try (Statement st = a.createStatement()) {
                st.execute(sql);
            }
            Set<String> serversOfA = new HashSet<>();
            for (int round = 0; round < 6; round++) {
                Set<String> held = new HashSet<>();
                for (Connection b : others) {
                    String[] seen = read(b);
                    held.add(seen[0]);
                    assertThat(seen[1])
                            .as("another client's work_mem after A ran: " + sql)
                            .isEqualTo(defaultWorkMem);
                }
                assertThat(held).as("servers held at once").hasSize(3);
                others[round % 3].commit();
                String[] seen = read(a);
                serversOfA.add(seen[0]);
                assertThat(seen[1]).as("A's own work_mem after: " + sql).isEqualTo(VALUE);
                for (Connection b : others) {
                    b.commit();
                }
            }
            assertThat(serversOfA).as("servers A ran on").hasSizeGreaterThanOrEqualTo(2);
        }
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "BEGIN; SET work_mem = '" + VALUE + "'; COMMIT",
                "SELECT 1; SET work_mem TO '" + VALUE + "'",
                "SELECT set_config('work_mem', '" + VALUE + "', false)",
                "SELECT pg_catalog.set_config('work_mem', '7777' || 'kB', false)",
                "SELECT set_config(s, '" + VALUE + "', false) FROM (VALUES ('work_mem')) v (s)",
                "DO $$BEGIN PERFORM set_config('work_mem', '" + VALUE + "', false); END$$",
                "DO $$BEGIN EXECUTE 'SET work_mem = ''" + VALUE + "'''; END$$",
                "CALL leak_test_proc()",
            })
    void aSettingChangedAnyVisibleWayFollowsItsClientAndNoOther(String sql) throws Exception {
        assertFollowsAAndReachesNoOneElse(fx, sql);
    }

    @Test
    void strictModeCatchesASettingChangedInsideAFunction() throws Exception {
        assertFollowsAAndReachesNoOneElse(strict, "SELECT leak_test_fn()");
    }

    @Test
    void strictModePinsASessionLockTakenInsideAFunction() throws Exception {
        long before = strict.pooler.frontend().pins().getOrDefault("advisory_lock", 0L);
        try (Connection a = client(strict);
                Connection b = client(strict)) {
            try (Statement st = a.createStatement()) {
                st.execute("SELECT leak_test_lock()");
            }
            // The read-back runs once the client has its answer; the client's next query waits for it.
            String pid = read(a)[0];
            assertThat(strict.pooler.frontend().pins()).containsEntry("advisory_lock", before + 1);
            b.setAutoCommit(false);
            for (int i = 0; i < 4; i++) {
                read(b);
                assertThat(read(a)[0])
                        .as("A keeps the server that holds its lock")
                        .isEqualTo(pid);
                b.commit();
            }
        }
    }

    @Test
    void aStringOrCommentNamingALockFunctionDoesNotPinButTheCallDoes() throws Exception {
        long before = fx.pooler.frontend().pins().getOrDefault("advisory_lock", 0L);
        try (Connection a = client(fx);
                Statement st = a.createStatement()) {
            st.execute("SELECT 'pg_advisory_lock'");
            st.execute("SELECT 1 /* pg_advisory_lock(1) */");
            st.execute("SELECT $$pg_advisory_lock(1)$$, \"pg_advisory_lock\" FROM (SELECT 1) t (\"pg_advisory_lock\")");
            assertThat(fx.pooler.frontend().pins().getOrDefault("advisory_lock", 0L))
                    .isEqualTo(before);
        }
        try (Connection a = client(fx);
                Statement st = a.createStatement()) {
            st.execute("SELECT pg_advisory_lock(1), pg_advisory_xact_lock(2)");
            assertThat(fx.pooler.frontend().pins().getOrDefault("advisory_lock", 0L))
                    .isEqualTo(before + 1);
            st.execute("SELECT pg_advisory_unlock(1)");
        }
    }
}
