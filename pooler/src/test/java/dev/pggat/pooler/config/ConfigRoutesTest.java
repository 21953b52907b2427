package dev.pggat.pooler.config;

import static dev.pggat.pooler.config.ConfigFixtures.MINIMAL;
import static dev.pggat.pooler.config.ConfigFixtures.parse;
import static dev.pggat.pooler.config.ConfigFixtures.problems;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The routes section: its shapes, what it builds, and the messages for what is wrong. */
class ConfigRoutesTest {
    private static String withRoutes(String routes) {
        return MINIMAL + "routes:\n" + routes.indent(2);
    }

    private static RouteMatcher.Client client(String db, String user, Map<String, String> params) {
        return new RouteMatcher.Client(db, user, params, false, InetAddress.getLoopbackAddress(), null);
    }

    @SuppressWarnings("unchecked")
    private static boolean matches(RouteConfig r, RouteMatcher.Client c) {
        return r.match().matches(c, new List[1]);
    }

    @Test
    void routesAreKeptInOrderWithTheirMatchersAndActions() throws Exception {
        PoolerConfig c = parse(withRoutes("""
                - name: refuse
                  match: {not: {tls: true}, clientAddress: [10.0.0.0/8, 192.168.1.7]}
                  error: {sqlstate: 28000, message: use TLS}
                - name: reporting
                  match: {parameter: {application_name: "reporting-*"}}
                  backend: app
                """));
        assertThat(c.routes()).extracting(RouteConfig::name).containsExactly("refuse", "reporting");
        RouteConfig refuse = c.routes().get(0);
        assertThat(refuse.error()).isEqualTo(new RouteConfig.Error("28000", "use TLS"));
        RouteConfig reporting = c.routes().get(1);
        assertThat(reporting.backend()).isEqualTo("app");
        assertThat(reporting.inlineBackend()).isFalse();
        assertThat(matches(reporting, client("x", "u", Map.of("application_name", "reporting-1"))))
                .isTrue();
        assertThat(matches(reporting, client("x", "u", Map.of("application_name", "web"))))
                .isFalse();
        assertThat(matches(reporting, client("x", "u", Map.of()))).isFalse();
    }

    @Test
    void globsMatchWholeValuesAndCaptureEachStar() {
        TextPattern p = TextPattern.glob("tenant_*_db*");
        assertThat(p.match("tenant_a_db")).containsExactly("tenant_a_db", "a", "");
        assertThat(p.match("tenant_a.b_db2")).containsExactly("tenant_a.b_db2", "a.b", "2");
        assertThat(p.match("xtenant_a_db")).isNull();
        // Regex characters in a glob are literal.
        assertThat(TextPattern.glob("a.c").match("abc")).isNull();
        assertThat(TextPattern.glob("app").match("app")).containsExactly("app");
    }

    @Test
    void aRegularExpressionThatBacktracksWithoutEndIsStoppedNotRun() {
        TextPattern p = TextPattern.regex("((a+)*)+b");
        String value = "a".repeat(40);
        assertThatThrownBy(() -> p.match(value)).isInstanceOf(TextPattern.StepLimitExceeded.class);
        assertThat(p.match("aab")).isNotNull();
    }

    @Test
    void anInlineBackendIsADatabaseNamedAfterItsRoute() throws Exception {
        PoolerConfig c = parse(withRoutes("""
                - name: tenants
                  match: {database: {regex: "tenant_(.*)"}}
                  backend:
                    endpoints: [{host: db9}]
                    users: {alice: {password: secret}}
                  rewrite:
                    database: $1
                    user: tenant_owner
                    password: ${TENANT_PASSWORD}
                    parameters:
                      statement_timeout: 30s
                      search_path: {value: app, override: default}
                      options: {drop: true}
                """), Map.of("TENANT_PASSWORD", "s3cret"));
        RouteConfig r = c.routes().get(0);
        assertThat(r.inlineBackend()).isTrue();
        DatabaseConfig backend = c.databases().get("tenants");
        assertThat(backend.endpoints()).extracting(Endpoint::host).containsExactly("db9");
        UserConfig alice = backend.users().get("alice");
        assertThat(alice.serverUser()).isEqualTo("tenant_owner");
        assertThat(alice.serverPassword()).isEqualTo("s3cret");
        assertThat(r.rewrite().database(List.of("tenant_x", "x"))).isEqualTo("x");
        assertThat(r.rewrite().parameters())
                .containsExactly(
                        Map.entry("statement_timeout", new RouteRewrite.Parameter("30s", RouteRewrite.Mode.FORCE)),
                        Map.entry("search_path", new RouteRewrite.Parameter("app", RouteRewrite.Mode.DEFAULT)),
                        Map.entry("options", new RouteRewrite.Parameter(null, RouteRewrite.Mode.DROP)));
        // What the server gets: options dropped first, then forced and default values.
        Map<String, String> session = r.rewrite().applyTo(Map.of("statement_timeout", "5s", "search_path", "x"));
        assertThat(session).containsEntry("statement_timeout", "30s").containsEntry("search_path", "x");
        assertThat(r.rewrite().dropFrom(Map.of("options", "-c a=b", "user", "u")))
                .doesNotContainKey("options");
    }

    @Test
    void aUserRewriteOnANamedBackendGivesTheRouteItsOwnPools() throws Exception {
        PoolerConfig c = parse(withRoutes("""
                - name: as-reader
                  match: {user: alice, parameter: {application_name: report*}}
                  backend: app
                  rewrite: {user: reader, password: r}
                """));
        assertThat(c.routes().get(0).backend()).isEqualTo("as-reader");
        assertThat(c.routes().get(0).inlineBackend()).isTrue();
        assertThat(c.databases().get("as-reader").users().get("alice").serverUser())
                .isEqualTo("reader");
        assertThat(c.databases().get("app").users().get("alice").serverUser()).isEqualTo("alice");
    }

    @Test
    void routesWithoutDatabasesAreEnough() throws Exception {
        PoolerConfig c = parse("""
                routes:
                  - name: only
                    backend:
                      endpoints: [{host: db1}]
                      users: {alice: {password: secret}}
                """);
        assertThat(c.routes().get(0).match()).isEqualTo(RouteMatcher.ALWAYS);
        assertThat(c.databases()).containsOnlyKeys("only");
    }

    @Test
    void everyMistakeIsNamedWithItsKeyAndValue() {
        List<String> p = problems(withRoutes("""
                - name: bad-regex
                  match: {database: {regex: "tenant_(.*"}}
                  backend: app
                - name: bad-state
                  error: {sqlstate: "00000", message: hi}
                - name: no-backend
                  backend: nowhere
                - name: capture
                  match: {user: alice}
                  backend: app
                  rewrite: {database: $1}
                - name: capture
                  match: {tls: maybe, clientAddress: 10.1.0.0/8, parameter: {"bad name": x}}
                  error: {sqlstate: 28000}
                - name: both
                  backend: app
                  error: {sqlstate: 28000, message: x}
                - name: param
                  backend: app
                  rewrite: {parameters: {user: x, a: {drop: true, value: y}, b: {value: 1, override: sometimes}}}
                - match: {colour: red}
                  backend: app
                """));
        assertThat(p)
                .contains(
                        "test.yaml: routes[0].match.database.regex: is not a valid regular expression: Unclosed"
                                + " group near index 10 (value 'tenant_(.*'; accepted: a name, a glob with * (like"
                                + " tenant_*), or {regex: <Java regular expression matching the whole value>} of at"
                                + " most 1000 characters)",
                        "test.yaml: routes[1].error.sqlstate: is not an error SQLSTATE (value '00000'; accepted:"
                                + " five digits or upper-case letters, of an error class (not 00, 01 or 02), like"
                                + " 28000 or 08004)",
                        "test.yaml: routes[2].backend: names no database under databases (value 'nowhere';"
                                + " accepted: one of [app])",
                        "test.yaml: routes[3].rewrite.database: uses $1, but the route's match has no database"
                                + " matcher to capture from (value '$1'; accepted: $0 (the whole name) up to $0, each"
                                + " * of a glob or group of a regex is one capture)",
                        "test.yaml: routes[4].name: is used by an earlier route (value 'capture'; accepted: a name"
                                + " unique among routes)",
                        "test.yaml: routes[4].match.tls: is not a boolean (value 'maybe'; accepted: true or false)",
                        "test.yaml: routes[4].match.clientAddress: '10.1.0.0/8' has bits set beyond its prefix"
                                + " length (value '10.1.0.0/8'; accepted: IP addresses or CIDR ranges like"
                                + " 10.0.0.0/8, or all)",
                        "test.yaml: routes[4].match.parameter.\"bad name\": is not a parameter name (value 'bad"
                                + " name'; accepted: a setting name: letters, digits, _ and ., at most 63)",
                        "test.yaml: routes[4].error.message: is required (accepted: the text the client is shown)",
                        "test.yaml: routes[5]: has both backend and error (accepted: exactly one of backend (a"
                                + " database name, or a database definition) and error)",
                        "test.yaml: routes[6].rewrite.parameters.user: cannot be rewritten as a parameter (value"
                                + " 'user'; accepted: rewrite.database or rewrite.user for these; any other startup"
                                + " parameter)",
                        "test.yaml: routes[6].rewrite.parameters.a: has drop: true with a value or override"
                                + " (accepted: a value (forced), or {value: <text>, override: force|default}, or"
                                + " {drop: true})",
                        "test.yaml: routes[6].rewrite.parameters.b.override: is not a mode (value 'sometimes';"
                                + " accepted: force or default)",
                        "test.yaml: routes[7].name: is required (accepted: a name for logs and metrics, unique"
                                + " among routes)");
        assertThat(p).anyMatch(s -> s.startsWith("test.yaml: routes[7].match.colour: unknown key"));
    }

    @Test
    void aRouteRewritePasswordIsNeverShown() {
        List<String> p = problems(withRoutes("""
                - name: r
                  backend: app
                  rewrite: {password: "${NOPE}"}
                """));
        assertThat(String.join("\n", p)).contains("routes[0].rewrite.password").doesNotContain("NOPE}'");
    }

    @Test
    void tooLongARegularExpressionIsRefused() {
        List<String> p = problems(withRoutes("""
                - name: r
                  match: {user: {regex: "%s"}}
                  backend: app
                """.formatted("a".repeat(1001))));
        assertThat(p).anyMatch(s -> s.contains("routes[0].match.user.regex: is longer than 1000 characters"));
    }
}
