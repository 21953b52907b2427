package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.testing.TestPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Routes against two real PostgreSQL servers, through pgjdbc: each matcher and combination sends a client to the
 * expected server (which the server tells by {@code inet_server_port()}), rewrites reach the server, error routes
 * answer with their SQLSTATE, and a client no route takes goes to the database it names.
 */
class RoutesTest {
    private static int portA;
    private static int portB;
    private static Pooler pooler;

    @BeforeAll
    static void start() throws Exception {
        portA = TestPostgres.shared().primary().port();
        portB = TestPostgres.replicated().primary().port();
        String yaml = """
                listen: {host: 0.0.0.0, port: 0}
                admin: {enabled: false}
                routes:
                  - name: blocked
                    match: {parameter: {application_name: "blocked-*"}}
                    error: {sqlstate: 28000, message: "blocked applications may not connect"}
                  - name: reporting
                    match: {parameter: {application_name: "reporting-*"}}
                    backend: other
                  - name: plain-users
                    match:
                      all:
                        - {database: appdb}
                        - {user: {regex: "plain_.*"}}
                    backend: other
                  - name: second-address
                    match: {localAddress: 127.0.0.2}
                    backend: other
                  - name: from-third
                    match: {clientAddress: 127.0.0.3/32}
                    backend: other
                  - name: any-not
                    match:
                      any:
                        - {database: never_named}
                        - all:
                            - {database: appdb}
                            - {parameter: {search_path: "via_any"}}
                            - {not: {tls: true}}
                    backend: other
                  - name: tenants
                    match: {database: {regex: "tenant_(.*)"}}
                    backend: other
                    rewrite:
                      database: "$1"
                      parameters:
                        statement_timeout: 30s
                        search_path: {value: "tenant_path", override: default}
                        options: {drop: true}
                  - name: inline
                    match: {database: "inline_*"}
                    backend:
                      serverDatabase: appdb
                      endpoints: [{host: 127.0.0.1, port: %2$d}]
                      users: {scram_user: {password: scram_user-secret}}
                databases:
                  appdb:
                    endpoints: [{host: 127.0.0.1, port: %1$d}]
                    users:
                      scram_user: {password: scram_user-secret}
                      plain_user: {password: plain_user-secret}
                  other:
                    serverDatabase: appdb
                    maxServerConnections: 1
                    endpoints: [{host: 127.0.0.1, port: %2$d}]
                    users:
                      scram_user: {password: scram_user-secret}
                      plain_user: {password: plain_user-secret}
                """.formatted(portA, portB);
        PoolerConfig config = ConfigLoader.parse(yaml, "routes-test.yaml", Map.of());
        pooler = new Pooler(config, 2).start();
    }

    @AfterAll
    static void stop() {
        if (pooler != null) {
            pooler.close();
        }
    }

    private static Connection connect(String host, String database, String user, Map<String, String> extra)
            throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", TestPostgres.password(user));
        p.setProperty("assumeMinServerVersion", "12");
        p.setProperty("connectTimeout", "20");
        p.setProperty("socketTimeout", "60");
        extra.forEach(p::setProperty);
        return DriverManager.getConnection("jdbc:postgresql://" + host + ":" + pooler.port() + "/" + database, p);
    }

    private static String one(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static int serverPort(String host, String database, String user, Map<String, String> extra)
            throws SQLException {
        try (Connection c = connect(host, database, user, extra)) {
            return Integer.parseInt(one(c, "SELECT inet_server_port()"));
        }
    }

    @Test
    void aClientNoRouteTakesGoesToTheDatabaseItNames() throws Exception {
        assertThat(serverPort("127.0.0.1", "appdb", "scram_user", Map.of())).isEqualTo(portA);
        assertThat(serverPort("127.0.0.1", "other", "scram_user", Map.of())).isEqualTo(portB);
        assertThat(serverPort("127.0.0.1", "appdb", "scram_user", Map.of("ApplicationName", "psql")))
                .isEqualTo(portA);
    }

    @Test
    void aStartupParameterGlobChoosesTheBackend() throws Exception {
        assertThat(serverPort("127.0.0.1", "appdb", "scram_user", Map.of("ApplicationName", "reporting-daily")))
                .isEqualTo(portB);
        // A glob matches the whole value.
        assertThat(serverPort("127.0.0.1", "appdb", "scram_user", Map.of("ApplicationName", "xreporting-daily")))
                .isEqualTo(portA);
    }

    @Test
    void allOfDatabaseAndUserRegexChoosesTheBackend() throws Exception {
        assertThat(serverPort("127.0.0.1", "appdb", "plain_user", Map.of())).isEqualTo(portB);
        assertThat(serverPort("127.0.0.1", "appdb", "scram_user", Map.of())).isEqualTo(portA);
    }

    @Test
    void theListenerAddressTheClientReachedChoosesTheBackend() throws Exception {
        assertThat(serverPort("127.0.0.2", "appdb", "scram_user", Map.of())).isEqualTo(portB);
        assertThat(serverPort("127.0.0.1", "appdb", "scram_user", Map.of())).isEqualTo(portA);
    }

    @Test
    void theClientAddressChoosesTheBackend() throws Exception {
        assertThat(serverPort("127.0.0.1", "appdb", "scram_user", Map.of("localSocketAddress", "127.0.0.3")))
                .isEqualTo(portB);
        assertThat(serverPort("127.0.0.1", "appdb", "scram_user", Map.of("localSocketAddress", "127.0.0.4")))
                .isEqualTo(portA);
    }

    @Test
    void anyWithANestedNotChoosesTheBackend() throws Exception {
        // pgjdbc sends currentSchema as the startup parameter search_path; the client is not on TLS.
        assertThat(serverPort("127.0.0.1", "appdb", "scram_user", Map.of("currentSchema", "via_any")))
                .isEqualTo(portB);
        assertThat(serverPort("127.0.0.1", "appdb", "scram_user", Map.of("currentSchema", "public")))
                .isEqualTo(portA);
    }

    @Test
    void anErrorRouteAnswersWithItsSqlstateAndMessage() {
        long before = errors("blocked");
        assertThatThrownBy(() -> connect("127.0.0.1", "appdb", "scram_user", Map.of("ApplicationName", "blocked-x")))
                .isInstanceOfSatisfying(SQLException.class, e -> {
                    assertThat(e.getSQLState()).isEqualTo("28000");
                    assertThat(e.getMessage()).contains("blocked applications may not connect");
                });
        // pgjdbc may try a refused login twice (it retries some FATAL answers): at least one was counted.
        assertThat(errors("blocked")).isGreaterThan(before);
    }

    private static long errors(String route) {
        return pooler.router().routes().entries().stream()
                .filter(e -> e.route().name().equals(route))
                .findFirst()
                .orElseThrow()
                .errorTotal()
                .sum();
    }

    @Test
    void aCaptureOfTheDatabaseMatcherNamesTheServerDatabase() throws Exception {
        try (Connection c = connect("127.0.0.1", "tenant_appdb", "scram_user", Map.of())) {
            assertThat(one(c, "SELECT current_database()")).isEqualTo("appdb");
            assertThat(one(c, "SELECT inet_server_port()")).isEqualTo(String.valueOf(portB));
        }
        // Another capture: another server database, with pools of its own.
        try (Connection c = connect("127.0.0.1", "tenant_postgres", "scram_user", Map.of())) {
            assertThat(one(c, "SELECT current_database()")).isEqualTo("postgres");
            assertThat(one(c, "SELECT inet_server_port()")).isEqualTo(String.valueOf(portB));
        }
        assertThat(pooler.router().database("other/postgres")).isNull(); // not a name clients can use
        assertThat(pooler.router().databases()).anyMatch(d -> d.name().equals("other/postgres"));
    }

    @Test
    void forcedParametersHoldAcrossCheckoutsAndDoNotReachOtherClients() throws Exception {
        // "other" has one server connection: both clients share it, transaction by transaction.
        try (Connection routed = connect(
                        "127.0.0.1",
                        "tenant_appdb",
                        "scram_user",
                        Map.of("options", "-c statement_timeout=5s -c lock_timeout=7s"));
                Connection direct = connect("127.0.0.1", "other", "scram_user", Map.of())) {
            for (int i = 0; i < 3; i++) {
                assertThat(one(routed, "SHOW statement_timeout")).isEqualTo("30s");
                // options was dropped: its lock_timeout never reached the server.
                assertThat(one(routed, "SHOW lock_timeout")).isEqualTo("0");
                assertThat(one(routed, "SHOW search_path")).isEqualTo("tenant_path");
                assertThat(one(direct, "SHOW statement_timeout")).isEqualTo("0");
                assertThat(one(direct, "SHOW search_path")).isEqualTo("\"$user\", public");
            }
        }
        // A default gives way to what the client asked for.
        try (Connection c = connect("127.0.0.1", "tenant_appdb", "scram_user", Map.of("currentSchema", "public"))) {
            assertThat(one(c, "SHOW search_path")).isEqualTo("public");
            assertThat(one(c, "SHOW statement_timeout")).isEqualTo("30s");
        }
    }

    @Test
    void anInlineBackendIsReachedThroughItsRouteOnly() throws Exception {
        assertThat(serverPort("127.0.0.1", "inline_x", "scram_user", Map.of())).isEqualTo(portB);
        assertThatThrownBy(() -> connect("127.0.0.1", "inline", "scram_user", Map.of()))
                .isInstanceOfSatisfying(
                        SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("3D000"));
    }
}
