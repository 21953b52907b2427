package dev.pggat.pooler.config;

import static dev.pggat.pooler.config.ConfigFixtures.MINIMAL;
import static dev.pggat.pooler.config.ConfigFixtures.SOURCE;
import static dev.pggat.pooler.config.ConfigFixtures.parse;
import static dev.pggat.pooler.config.ConfigFixtures.problems;
import static dev.pggat.pooler.config.ConfigFixtures.repoRoot;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.pggat.pooler.auth.Secret;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
    private static final Map<String, String> EXAMPLE_ENV = Map.of(
            "ALICE_PASSWORD", "alice-from-env",
            "REPORTING_ROLE_PASSWORD", "reporting-from-env",
            "OLDUSER_PASSWORD", "olduser-from-env",
            "APP_REPLICA_HOST", "replica.internal");

    @Test
    void referenceExampleLoadsWithEveryValueAsDocumented() throws Exception {
        Path example = repoRoot().resolve("examples/pggat.yaml");

        PoolerConfig config = ConfigLoader.load(example, EXAMPLE_ENV);

        assertThat(config.listen()).isEqualTo(new Listen("0.0.0.0", 6432));
        assertThat(config.admin())
                .isEqualTo(new Admin(true, "127.0.0.1", 9930, null, List.of("alice"), List.of("olduser")));
        assertThat(config.limits()).isEqualTo(new Limits(10_000, 10_000, 64 * 1024 * 1024));
        assertThat(config.timeouts()).isEqualTo(Timeouts.DEFAULT);
        assertThat(config.pools()).isEqualTo(PoolDefaults.DEFAULT);
        // The tenants route's backend is defined inside the route: a database named after the route.
        assertThat(config.databases()).containsOnlyKeys("app", "orders", "legacy", "tenants");
        assertThat(new ArrayList<>(config.databases().keySet())).containsExactly("app", "orders", "legacy", "tenants");
        assertThat(config.routes())
                .extracting(RouteConfig::name)
                .containsExactly("tls-from-outside", "reporting", "tenants");
        assertThat(config.discovery().sources()).containsOnlyKeys("ha", "gcp", "do");
        assertThat(config.discovery().targets()).containsOnlyKeys("orders");
        assertThat(config.discovery().targets().get("orders")).isEqualTo(new DiscoveryConfig.Target("ha", null));
        assertThat(config.databases().get("orders").endpoints()).isEmpty();
        DiscoveryConfig.Patroni ha =
                (DiscoveryConfig.Patroni) config.discovery().sources().get("ha");
        assertThat(ha.members()).hasSize(2);
        assertThat(ha.maxLagBytes()).isEqualTo(16L * 1024 * 1024);
        assertThat(ha.schedule())
                .isEqualTo(new DiscoveryConfig.Schedule(
                        Duration.ofSeconds(1), Duration.ofSeconds(2), Duration.ofSeconds(10)));
        DiscoveryConfig.CloudSql gcp =
                (DiscoveryConfig.CloudSql) config.discovery().sources().get("gcp");
        assertThat(gcp.ipType()).isEqualTo(DiscoveryConfig.IpType.PRIVATE);
        assertThat(gcp.labels()).containsExactly(Map.entry("env", "prod"));
        assertThat(gcp.schedule()).isEqualTo(DiscoveryConfig.CloudSql.DEFAULT_SCHEDULE);
        DiscoveryConfig.DigitalOcean digitalOcean =
                (DiscoveryConfig.DigitalOcean) config.discovery().sources().get("do");
        assertThat(digitalOcean.privateNetwork()).isTrue();
        assertThat(digitalOcean.tokenEnv()).isEqualTo("DIGITALOCEAN_TOKEN");

        DatabaseConfig app = config.databases().get("app");
        assertThat(app.serverDatabase()).isEqualTo("app");
        assertThat(app.endpoints())
                .containsExactly(
                        new Endpoint("127.0.0.1", 5432, Endpoint.Role.PRIMARY, "app-0", "zone-a", 100),
                        new Endpoint("replica.internal", 5433, Endpoint.Role.REPLICA, "app-1", "zone-b", 100));
        assertThat(app.routing())
                .isEqualTo(new RoutingConfig(
                        true,
                        RoutingConfig.Consistency.READ_YOUR_WRITES,
                        Duration.ofSeconds(10),
                        16L * 1024 * 1024,
                        RoutingConfig.ReplicaFallback.PRIMARY,
                        Duration.ofSeconds(1),
                        Duration.ofSeconds(10),
                        List.of("app_next_id", "audit_*"),
                        false));
        assertThat(app.mode()).isEqualTo(PoolMode.TRANSACTION);
        assertThat(app.maxServerConnections()).isEqualTo(20);
        assertThat(app.minServerConnections()).isEqualTo(2);
        assertThat(app.resetQuery()).isEqualTo("DISCARD ALL");

        UserConfig alice = app.users().get("alice");
        assertThat(alice.password()).isEqualTo(new Secret.Plain("alice-from-env"));
        assertThat(alice.auth()).isEqualTo(AuthMethod.SCRAM_SHA_256);
        assertThat(alice.serverUser()).isEqualTo("alice");
        assertThat(alice.serverPassword()).isEqualTo("alice-from-env");

        UserConfig reporter = app.users().get("reporter");
        assertThat(reporter.password()).isInstanceOfSatisfying(Secret.Scram.class, s -> assertThat(s.iterations())
                .isEqualTo(4096));
        assertThat(reporter.serverUser()).isEqualTo("reporting_role");
        assertThat(reporter.serverPassword()).isEqualTo("reporting-from-env");

        DatabaseConfig legacy = config.databases().get("legacy");
        assertThat(legacy.serverDatabase()).isEqualTo("legacy_db");
        assertThat(legacy.endpoints()).containsExactly(Endpoint.primary("127.0.0.1", 5432));
        assertThat(legacy.routing())
                .as("the example's routing section holds the defaults")
                .isEqualTo(RoutingConfig.DEFAULT);
        assertThat(legacy.mode()).isEqualTo(PoolMode.SESSION);
        assertThat(legacy.maxServerConnections()).isEqualTo(5);
        assertThat(legacy.minServerConnections()).isZero();
        assertThat(legacy.users().get("olduser").password()).isInstanceOf(Secret.Md5.class);
        assertThat(legacy.users().get("olduser").auth()).isEqualTo(AuthMethod.MD5);
        assertThat(legacy.users().get("olduser").serverPassword()).isEqualTo("olduser-from-env");
        UserConfig monitor = legacy.users().get("monitor");
        assertThat(monitor.auth()).isEqualTo(AuthMethod.TRUST);
        assertThat(monitor.password()).isNull();
        assertThat(monitor.serverPassword()).isNull();
    }

    @Test
    void referenceExampleWithoutItsEnvironmentNamesEachMissingVariable() {
        List<String> problems;
        try {
            ConfigLoader.load(repoRoot().resolve("examples/pggat.yaml"), Map.of());
            throw new AssertionError("expected a ConfigException");
        } catch (ConfigException e) {
            problems = e.problems();
        }
        assertThat(problems).hasSize(3);
        assertThat(problems.get(0))
                .endsWith("examples/pggat.yaml: databases.app.users.alice.password:"
                        + " environment variable ALICE_PASSWORD is not set and has no default (value '<redacted>';"
                        + " accepted: set ALICE_PASSWORD, or give a default as ${ALICE_PASSWORD:-default})");
        assertThat(problems.get(1))
                .contains("databases.app.users.reporter.serverPassword: environment variable"
                        + " REPORTING_ROLE_PASSWORD is not set");
        assertThat(problems.get(2))
                .contains("databases.legacy.users.olduser.serverPassword: environment variable"
                        + " OLDUSER_PASSWORD is not set");
    }

    @Test
    void referenceExampleSetsEveryKeyOfTheSchema() throws Exception {
        JsonNode root = new ObjectMapper(new YAMLFactory())
                .readTree(repoRoot().resolve("examples/pggat.yaml").toFile());
        Map<String, List<String>> schema = ConfigBinder.schemaKeys();

        assertHasKeys(root, schema.get(""), "root");
        for (String section : List.of("listen", "admin", "limits", "timeouts", "pools", "routing")) {
            assertHasKeys(root.get(section), schema.get(section), section);
        }
        List<JsonNode> databases = new ArrayList<>();
        root.get("databases").forEach(databases::add);
        // discovery and endpoints exclude each other: one database shows every other key, another discovery.
        List<String> databaseKeys = new ArrayList<>(schema.get("databases.<name>"));
        databaseKeys.remove("discovery");
        assertThat(databases)
                .as("some database sets every database key but discovery")
                .anySatisfy(db -> assertHasKeys(db, databaseKeys, "database"));
        assertThat(databases)
                .as("some database names a discovery source")
                .anySatisfy(db -> assertThat(db.get("discovery")).isNotNull());
        for (String kind : List.of("patroni", "cloudSql", "digitalOcean")) {
            List<JsonNode> sources = new ArrayList<>();
            root.get("discovery").forEach(sources::add);
            assertThat(sources)
                    .as("some source is of kind %s and sets every key", kind)
                    .anySatisfy(src -> {
                        List<String> keys = new ArrayList<>(schema.get("discovery.<name>." + kind));
                        keys.remove("tokenFile"); // excludes tokenEnv; the example names it in a comment
                        assertHasKeys(src.get(kind), keys, kind);
                    });
        }
        List<JsonNode> endpoints = new ArrayList<>();
        List<JsonNode> users = new ArrayList<>();
        for (JsonNode db : databases) {
            if (db.get("endpoints") != null) {
                db.get("endpoints").forEach(endpoints::add);
            }
            if (db.get("users") != null) {
                db.get("users").forEach(users::add);
            }
        }
        assertThat(endpoints).anySatisfy(e -> assertHasKeys(e, schema.get("databases.<name>.endpoints[]"), "endpoint"));
        // A database's routing section shows overriding a subset; every key it sets must be a routing key.
        assertThat(databases).anySatisfy(db -> assertThat(db.get("routing")).isNotNull());
        for (JsonNode db : databases) {
            if (db.get("routing") != null) {
                List<String> names = new ArrayList<>();
                db.get("routing").fieldNames().forEachRemaining(names::add);
                assertThat(schema.get("databases.<name>.routing")).containsAll(names);
            }
        }
        assertThat(users).anySatisfy(u -> assertHasKeys(u, schema.get("databases.<name>.users.<name>"), "user"));

        List<JsonNode> routes = new ArrayList<>();
        root.get("routes").forEach(routes::add);
        List<String> routeKeys = new ArrayList<>(schema.get("routes[]"));
        routeKeys.remove("error"); // excludes backend: another route shows it
        assertThat(routes).anySatisfy(r -> assertHasKeys(r, routeKeys, "route"));
        assertThat(routes).anySatisfy(r -> assertHasKeys(r.get("error"), schema.get("routes[].error"), "error"));
        List<String> rewriteKeys = new ArrayList<>();
        routes.forEach(r -> {
            if (r.get("rewrite") != null) {
                r.get("rewrite").fieldNames().forEachRemaining(rewriteKeys::add);
            }
        });
        assertThat(rewriteKeys).containsAll(schema.get("routes[].rewrite"));
        List<String> matchKeys = new ArrayList<>();
        routes.forEach(r -> collectMatchKeys(r.get("match"), matchKeys));
        assertThat(matchKeys).containsAll(schema.get("routes[].match"));
        List<String> parameterKeys = new ArrayList<>();
        for (JsonNode r : routes) {
            if (r.get("rewrite") != null && r.get("rewrite").get("parameters") != null) {
                r.get("rewrite").get("parameters").forEach(p -> p.fieldNames().forEachRemaining(parameterKeys::add));
            }
        }
        assertThat(parameterKeys).containsAll(schema.get("routes[].rewrite.parameters.<name>"));
    }

    private static void collectMatchKeys(JsonNode match, List<String> out) {
        if (match == null) {
            return;
        }
        if (match.isArray()) {
            match.forEach(m -> collectMatchKeys(m, out));
            return;
        }
        match.fields().forEachRemaining(e -> {
            out.add(e.getKey());
            if (List.of("all", "any", "not").contains(e.getKey())) {
                collectMatchKeys(e.getValue(), out);
            }
        });
    }

    @Test
    void configurationDocsDescribeEveryKeyOfTheSchema() throws Exception {
        String docs = Files.readString(repoRoot().resolve("docs/configuration.md"), StandardCharsets.UTF_8);
        for (List<String> keys : ConfigBinder.schemaKeys().values()) {
            for (String key : keys) {
                assertThat(docs).as("docs/configuration.md mentions `%s`", key).contains("`" + key + "`");
            }
        }
    }

    private static void assertHasKeys(JsonNode node, List<String> keys, String what) {
        assertThat(node).as(what).isNotNull();
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        assertThat(names).as("keys of " + what).containsAll(keys);
    }

    @Test
    void minimalConfigurationGetsEveryDefault() throws Exception {
        PoolerConfig config = parse(MINIMAL);

        assertThat(config.listen()).isEqualTo(new Listen("0.0.0.0", 6432));
        assertThat(config.admin()).isEqualTo(new Admin(true, "127.0.0.1", 9930));
        assertThat(config.limits()).isEqualTo(new Limits(10_000, 10_000, 67_108_864));
        assertThat(config.timeouts())
                .isEqualTo(new Timeouts(
                        Duration.ofSeconds(15),
                        Duration.ofSeconds(30),
                        Duration.ofSeconds(5),
                        Duration.ofSeconds(30),
                        Duration.ofMinutes(10),
                        Duration.ofHours(1),
                        Duration.ofSeconds(30)));
        assertThat(config.pools()).isEqualTo(new PoolDefaults(PoolMode.TRANSACTION, 20, 0, "DISCARD ALL"));
        DatabaseConfig app = config.databases().get("app");
        assertThat(app)
                .isEqualTo(new DatabaseConfig(
                        "app",
                        "app",
                        List.of(new Endpoint("db1", 5432, Endpoint.Role.PRIMARY)),
                        PoolMode.TRANSACTION,
                        20,
                        0,
                        "DISCARD ALL",
                        Map.of(
                                "alice",
                                new UserConfig(
                                        "alice",
                                        new Secret.Plain("secret"),
                                        AuthMethod.SCRAM_SHA_256,
                                        "alice",
                                        "secret"))));
    }

    @Test
    void databaseInheritsPoolDefaultsAndOverridesOnlyWhatItSets() throws Exception {
        PoolerConfig config = parse("""
                pools:
                  mode: session
                  maxServerConnections: 7
                  minServerConnections: 1
                  resetQuery: RESET ALL
                databases:
                  inherits:
                    endpoints: [{host: db1}]
                    users: {u: {password: p}}
                  overrides:
                    serverDatabase: real_name
                    mode: transaction
                    maxServerConnections: 3
                    minServerConnections: 2
                    resetQuery: ""
                    endpoints: [{host: db2}]
                    users: {u: {password: p}}
                """);

        DatabaseConfig inherits = config.databases().get("inherits");
        assertThat(inherits.mode()).isEqualTo(PoolMode.SESSION);
        assertThat(inherits.maxServerConnections()).isEqualTo(7);
        assertThat(inherits.minServerConnections()).isEqualTo(1);
        assertThat(inherits.resetQuery()).isEqualTo("RESET ALL");
        DatabaseConfig overrides = config.databases().get("overrides");
        assertThat(overrides.serverDatabase()).isEqualTo("real_name");
        assertThat(overrides.mode()).isEqualTo(PoolMode.TRANSACTION);
        assertThat(overrides.maxServerConnections()).isEqualTo(3);
        assertThat(overrides.minServerConnections()).isEqualTo(2);
        assertThat(overrides.resetQuery()).as("empty resetQuery means none").isEmpty();
    }

    @Test
    void databasesKeepFileOrder() throws Exception {
        PoolerConfig config = parse("""
                databases:
                  zeta: {endpoints: [{host: db1}], users: {u: {password: p}}}
                  alpha: {endpoints: [{host: db1}], users: {z: {password: p}, a: {password: p}}}
                  mid: {endpoints: [{host: db1}], users: {u: {password: p}}}
                """);

        assertThat(new ArrayList<>(config.databases().keySet())).containsExactly("zeta", "alpha", "mid");
        assertThat(new ArrayList<>(config.databases().get("alpha").users().keySet()))
                .containsExactly("z", "a");
    }

    @Test
    void emptySectionsAndEmptyValuesMeanDefaults() throws Exception {
        PoolerConfig config = parse("""
                listen:
                admin: {}
                timeouts:
                  queryWait:
                limits:
                  maxMessageSize: ~
                """ + MINIMAL);

        assertThat(config.listen()).isEqualTo(Listen.DEFAULT);
        assertThat(config.admin()).isEqualTo(Admin.DEFAULT);
        assertThat(config.timeouts().queryWait()).isEqualTo(Duration.ofSeconds(30));
        assertThat(config.limits().maxMessageSize()).isEqualTo(64 * 1024 * 1024);
    }

    @Test
    void loadsFromAFileAndNamesTheFileInProblems(@TempDir Path dir) throws Exception {
        Path good = dir.resolve("good.yaml");
        Files.writeString(good, MINIMAL.replace("db1", "db-from-file"));
        assertThat(ConfigLoader.load(good, Map.of())
                        .databases()
                        .get("app")
                        .endpoints()
                        .get(0)
                        .host())
                .isEqualTo("db-from-file");

        Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, "listen:\n  port: 70000\n" + MINIMAL);
        assertThatThrownBy(() -> ConfigLoader.load(bad, Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessage(
                        bad + ": listen.port: is out of range (value '70000'; accepted: an integer from 0 to 65535 (0:"
                                + " any free port))");
    }

    @Test
    void missingFileIsReportedWithItsName(@TempDir Path dir) {
        Path missing = dir.resolve("nope.yaml");
        assertThatThrownBy(() -> ConfigLoader.load(missing, Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessage(missing + ": cannot read the configuration file: it does not exist");
    }

    @Test
    void fileThatIsNotUtf8IsReported(@TempDir Path dir) throws Exception {
        Path latin1 = dir.resolve("latin1.yaml");
        Files.write(latin1, "listen:\n  host: caf\u00e9\n".getBytes(StandardCharsets.ISO_8859_1));
        assertThatThrownBy(() -> ConfigLoader.load(latin1, Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessage(latin1 + ": cannot read the configuration file: it is not UTF-8 text");
    }

    @Test
    void reportsEveryProblemAtOnceOnePerLine() {
        String yaml = """
                listen:
                  port: 70000
                timeouts:
                  clientLogin: 30
                pools:
                  mode: sometimes
                """ + MINIMAL;
        ConfigException e = null;
        try {
            parse(yaml);
        } catch (ConfigException caught) {
            e = caught;
        }
        assertThat(e).isNotNull();
        assertThat(e.problems())
                .containsExactly(
                        SOURCE + ": listen.port: is out of range (value '70000'; accepted: an integer from 0 to 65535"
                                + " (0: any free port))",
                        SOURCE + ": timeouts.clientLogin: has no unit, which is ambiguous (value '30'; accepted: an"
                                + " integer with unit ms, s, m, h or d, like 500ms, 30s, 5m, 1h, 2d, at most 365d;"
                                + " above 0)",
                        SOURCE + ": pools.mode: is not a known value (value 'sometimes'; accepted: transaction or"
                                + " session)");
        assertThat(e.getMessage()).isEqualTo(String.join("\n", e.problems()));
    }

    @Test
    void parsesYamlBuiltInCode() throws Exception {
        String yaml = "listen: {host: 127.0.0.1, port: 16432}\n" + MINIMAL;
        assertThat(problemsFreeParse(yaml).listen()).isEqualTo(new Listen("127.0.0.1", 16432));
    }

    private static PoolerConfig problemsFreeParse(String yaml) throws ConfigException {
        return ConfigLoader.parse(yaml, "demo", Map.of());
    }

    @Test
    void codeBuiltConfigUsesTheSameDefaultsAsTheLoader() throws Exception {
        PoolerConfig built = PoolerConfig.defaults(List.of(DatabaseConfig.of(
                "app",
                List.of(Endpoint.primary("db1", 5432)),
                List.of(UserConfig.of("alice", "secret", AuthMethod.SCRAM_SHA_256)))));

        assertThat(built).isEqualTo(parse(MINIMAL));
        assertThat(built.withListen(new Listen("127.0.0.1", 0)).listen().port()).isZero();
    }

    @Test
    void rootThatIsNotAMappingIsRejected() {
        assertThat(problems("[]"))
                .containsExactly(SOURCE + ": must be a mapping, not a list (accepted: a mapping"
                        + " with the keys listen, admin, limits, timeouts, pools, routing, databases, routes, tls,"
                        + " auth, credentials, discovery, tracing)");
    }
}
