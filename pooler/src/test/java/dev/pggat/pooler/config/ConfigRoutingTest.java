package dev.pggat.pooler.config;

import static dev.pggat.pooler.config.ConfigFixtures.MINIMAL;
import static dev.pggat.pooler.config.ConfigFixtures.SOURCE;
import static dev.pggat.pooler.config.ConfigFixtures.parse;
import static dev.pggat.pooler.config.ConfigFixtures.problems;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.config.RoutingConfig.Consistency;
import dev.pggat.pooler.config.RoutingConfig.ReplicaFallback;
import dev.pggat.pooler.routing.QueryClassifier;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The routing sections (top level and per database), the endpoint labels and weight. */
class ConfigRoutingTest {
    private static final String ROUTING_KEYS = "readWriteSplit, consistency, maxReplicaLag, maxReplicaLagBytes,"
            + " replicaFallback, probeInterval, primaryWait, primaryFunctions, retryReads";
    private static final String LAG_BYTES =
            "bytes as an integer, or an integer with unit B, kB, MB or GB (1024-based); or 0 for no limit";
    private static final String FUNCTION = "an SQL function name without schema (letters, digits, _ and $, not"
            + " starting with a digit), optionally ending in * to match a prefix";
    private static final String DURATION =
            "an integer with unit ms, s, m, h or d, like 500ms, 30s, 5m, 1h, 2d, at" + " most 365d";
    private static final String NAME_ACCEPTED =
            "1 to 255 characters without whitespace, unique within the database (default: host:port)";

    /** Database "app" with the given routing section (indented YAML lines), under an optional top-level section. */
    private static String appWithRouting(String topLevel, String appRouting) {
        return (topLevel == null ? "" : "routing:\n" + topLevel.indent(2)) + """
                databases:
                  app:
                    endpoints: [{host: db1}, {host: db2, role: replica}]
                    users: {alice: {password: secret}}
                """
                + (appRouting == null ? "" : "    routing:\n" + appRouting.indent(6));
    }

    private static String withRouting(String topLevelRouting) {
        return "routing:\n" + topLevelRouting.indent(2) + MINIMAL;
    }

    private static RoutingConfig appRouting(PoolerConfig config) {
        return config.databases().get("app").routing();
    }

    @Nested
    class Inheritance {
        @Test
        void withoutRoutingSectionsEveryDatabaseGetsTheBuiltInDefaults() throws Exception {
            RoutingConfig routing = appRouting(parse(MINIMAL));

            assertThat(routing)
                    .isEqualTo(new RoutingConfig(
                            true,
                            Consistency.EVENTUAL,
                            Duration.ofSeconds(10),
                            16L * 1024 * 1024,
                            ReplicaFallback.PRIMARY,
                            Duration.ofSeconds(1),
                            Duration.ofSeconds(10),
                            List.of(),
                            false));
            assertThat(routing).isEqualTo(RoutingConfig.DEFAULT);
        }

        @Test
        void topLevelRoutingAppliesToEveryDatabaseThatSetsNothing() throws Exception {
            String yaml = """
                    routing:
                      readWriteSplit: false
                      consistency: read-your-writes
                      maxReplicaLag: 2s
                      maxReplicaLagBytes: 1MB
                      replicaFallback: fail
                      probeInterval: 250ms
                      primaryWait: 0
                      primaryFunctions: [next_id, audit_*]
                    databases:
                      one: {endpoints: [{host: db1}], users: {u: {password: p}}}
                      two: {endpoints: [{host: db2}], users: {u: {password: p}}, routing: {}}
                    """;
            PoolerConfig config = parse(yaml);

            RoutingConfig expected = new RoutingConfig(
                    false,
                    Consistency.READ_YOUR_WRITES,
                    Duration.ofSeconds(2),
                    1024 * 1024,
                    ReplicaFallback.FAIL,
                    Duration.ofMillis(250),
                    Duration.ZERO,
                    List.of("next_id", "audit_*"),
                    false);
            assertThat(config.databases().get("one").routing()).isEqualTo(expected);
            assertThat(config.databases().get("two").routing()).isEqualTo(expected);
        }

        @Test
        void databaseOverridesOnlyTheKeysItSetsAndInheritsTheRestFromTheTopLevel() throws Exception {
            String yaml = appWithRouting(
                    "consistency: read-your-writes\nmaxReplicaLag: 3s\nprobeInterval: 2s\nprimaryFunctions: [f1]",
                    "maxReplicaLag: 0\nreplicaFallback: fail\nprimaryFunctions: [g*]");

            RoutingConfig routing = appRouting(parse(yaml));

            assertThat(routing.maxReplicaLag()).as("database value").isEqualTo(Duration.ZERO);
            assertThat(routing.replicaFallback()).as("database value").isEqualTo(ReplicaFallback.FAIL);
            assertThat(routing.primaryFunctions()).as("database list replaces").containsExactly("g*");
            assertThat(routing.consistency()).as("top-level value").isEqualTo(Consistency.READ_YOUR_WRITES);
            assertThat(routing.probeInterval()).as("top-level value").isEqualTo(Duration.ofSeconds(2));
            assertThat(routing.readWriteSplit()).as("built-in default").isTrue();
            assertThat(routing.maxReplicaLagBytes()).as("built-in default").isEqualTo(16L * 1024 * 1024);
            assertThat(routing.primaryWait()).as("built-in default").isEqualTo(Duration.ofSeconds(10));
        }

        @Test
        void databaseOverrideWithoutTopLevelSectionStartsFromTheBuiltInDefaults() throws Exception {
            PoolerConfig config = parse(appWithRouting(null, "readWriteSplit: off"));

            assertThat(appRouting(config))
                    .isEqualTo(new RoutingConfig(
                            false,
                            Consistency.EVENTUAL,
                            Duration.ofSeconds(10),
                            16L * 1024 * 1024,
                            ReplicaFallback.PRIMARY,
                            Duration.ofSeconds(1),
                            Duration.ofSeconds(10),
                            List.of(),
                            false));
        }

        @Test
        void emptyPrimaryFunctionsListClearsTheInheritedOneWhileAnEmptyValueInheritsIt() throws Exception {
            String yaml = """
                    routing:
                      primaryFunctions: [next_id]
                    databases:
                      cleared: {endpoints: [{host: db1}], users: {u: {password: p}}, routing: {primaryFunctions: []}}
                      inherits:
                        endpoints: [{host: db1}]
                        users: {u: {password: p}}
                        routing:
                          primaryFunctions:
                    """;
            PoolerConfig config = parse(yaml);

            assertThat(config.databases().get("cleared").routing().primaryFunctions())
                    .isEmpty();
            assertThat(config.databases().get("inherits").routing().primaryFunctions())
                    .containsExactly("next_id");
        }

        @Test
        void routingValuesTakeEnvironmentVariables() throws Exception {
            String yaml = appWithRouting(
                    "consistency: ${CONSISTENCY}\nmaxReplicaLagBytes: ${LAG:-64MB}", "primaryFunctions: ['${FN}']");

            RoutingConfig routing = appRouting(parse(yaml, Map.of("CONSISTENCY", "read-your-writes", "FN", "bump")));

            assertThat(routing.consistency()).isEqualTo(Consistency.READ_YOUR_WRITES);
            assertThat(routing.maxReplicaLagBytes()).isEqualTo(64L * 1024 * 1024);
            assertThat(routing.primaryFunctions()).containsExactly("bump");
        }

        @Test
        void invalidTopLevelValueIsReportedOnceNotForEveryDatabase() {
            String yaml = """
                    routing:
                      replicaFallback: never
                    databases:
                      one: {endpoints: [{host: db1}], users: {u: {password: p}}}
                      two: {endpoints: [{host: db2}], users: {u: {password: p}}, routing: {probeInterval: 5s}}
                    """;
            assertThat(problems(yaml))
                    .containsExactly(SOURCE + ": routing.replicaFallback: is not a known value (value 'never';"
                            + " accepted: primary or fail)");
        }

        @Test
        void copyingADatabaseWithAnotherModeOrPoolSizeKeepsItsRouting() throws Exception {
            DatabaseConfig app = parse(appWithRouting(null, "consistency: read-your-writes"))
                    .databases()
                    .get("app");

            assertThat(app.withMode(PoolMode.SESSION).routing()).isEqualTo(app.routing());
            assertThat(app.withServerConnections(1, 2).routing()).isEqualTo(app.routing());
            assertThat(app.routing()).isNotEqualTo(RoutingConfig.DEFAULT);
        }
    }

    @Nested
    class RoutingValues {
        @Test
        void unknownRoutingKeySuggestsTheClosestAtTopLevelAndInADatabase() {
            assertThat(problems(appWithRouting("readWriteSpilt: true", "maxReplicaLagByte: 1MB")))
                    .containsExactly(
                            SOURCE + ": routing.readWriteSpilt: unknown key; did you mean 'readWriteSplit'?"
                                    + " (accepted: " + ROUTING_KEYS + ")",
                            SOURCE + ": databases.app.routing.maxReplicaLagByte: unknown key; did you mean"
                                    + " 'maxReplicaLagBytes'? (accepted: " + ROUTING_KEYS + ")");
        }

        @Test
        void routingThatIsNotAMappingIsRejected() {
            assertThat(problems("routing: on\n" + MINIMAL))
                    .containsExactly(SOURCE + ": routing: must be a mapping (value 'on'; accepted: a mapping with the"
                            + " keys " + ROUTING_KEYS + ")");
        }

        @Test
        void readWriteSplitMustBeABoolean() {
            assertThat(problems(withRouting("readWriteSplit: sometimes")))
                    .containsExactly(SOURCE + ": routing.readWriteSplit: is not a boolean (value 'sometimes';"
                            + " accepted: true or false)");
        }

        @Test
        void retryReadsIsOffByDefaultABooleanAndADatabaseOverridesTheTopLevel() throws Exception {
            assertThat(appRouting(parse(appWithRouting(null, null))).retryReads())
                    .as("built-in default")
                    .isFalse();
            assertThat(appRouting(parse(withRouting("retryReads: true"))).retryReads())
                    .isTrue();
            assertThat(appRouting(parse(appWithRouting("retryReads: on", "retryReads: false")))
                            .retryReads())
                    .as("database value over the top-level one")
                    .isFalse();
            assertThat(appRouting(parse(appWithRouting("retryReads: yes", "consistency: eventual")))
                            .retryReads())
                    .as("inherited from the top level")
                    .isTrue();
            assertThat(problems(appWithRouting(null, "retryReads: always")))
                    .containsExactly(SOURCE + ": databases.app.routing.retryReads: is not a boolean (value"
                            + " 'always'; accepted: true or false)");
        }

        @Test
        void consistencyAcceptsItsTwoValuesInAnyCaseAndSuggestsOnTypos() throws Exception {
            assertThat(appRouting(parse(withRouting("consistency: Read-Your-Writes")))
                            .consistency())
                    .isEqualTo(Consistency.READ_YOUR_WRITES);
            assertThat(appRouting(parse(withRouting("consistency: eventual"))).consistency())
                    .isEqualTo(Consistency.EVENTUAL);
            assertThat(problems(appWithRouting(null, "consistency: read-your-write")))
                    .containsExactly(SOURCE + ": databases.app.routing.consistency: is not a known value; did you"
                            + " mean 'read-your-writes'? (value 'read-your-write'; accepted: eventual or"
                            + " read-your-writes)");
        }

        @Test
        void replicaFallbackAcceptsPrimaryOrFail() throws Exception {
            assertThat(appRouting(parse(withRouting("replicaFallback: FAIL"))).replicaFallback())
                    .isEqualTo(ReplicaFallback.FAIL);
            assertThat(problems(withRouting("replicaFallback: primray")))
                    .containsExactly(SOURCE + ": routing.replicaFallback: is not a known value; did you mean"
                            + " 'primary'? (value 'primray'; accepted: primary or fail)");
        }

        @Test
        void maxReplicaLagZeroMeansNoLimitAndABareNumberIsRejected() throws Exception {
            assertThat(appRouting(parse(withRouting("maxReplicaLag: 0"))).maxReplicaLag())
                    .isEqualTo(Duration.ZERO);
            assertThat(appRouting(parse(withRouting("maxReplicaLag: 1500ms"))).maxReplicaLag())
                    .isEqualTo(Duration.ofMillis(1500));
            assertThat(problems(withRouting("maxReplicaLag: 10")))
                    .containsExactly(SOURCE + ": routing.maxReplicaLag: has no unit, which is ambiguous (value '10';"
                            + " accepted: " + DURATION + "; or 0 for no limit)");
        }

        @Test
        void probeIntervalMustBeAboveZero() throws Exception {
            assertThat(appRouting(parse(withRouting("probeInterval: 100ms"))).probeInterval())
                    .isEqualTo(Duration.ofMillis(100));
            assertThat(problems(appWithRouting(null, "probeInterval: 0s")))
                    .containsExactly(SOURCE + ": databases.app.routing.probeInterval: must be above 0 (value '0s';"
                            + " accepted: " + DURATION + "; above 0)");
        }

        @Test
        void primaryWaitZeroMeansFailAtOnceAndLongerThan365DaysIsRejected() throws Exception {
            assertThat(appRouting(parse(withRouting("primaryWait: 0"))).primaryWait())
                    .isEqualTo(Duration.ZERO);
            assertThat(problems(withRouting("primaryWait: 366d")))
                    .containsExactly(SOURCE + ": routing.primaryWait: is longer than 365d (value '366d'; accepted: "
                            + DURATION + "; or 0 to fail at once)");
        }

        @Test
        void maxReplicaLagBytesTakesSizesIncludingZeroAndAbove2GB() throws Exception {
            assertThat(appRouting(parse(withRouting("maxReplicaLagBytes: 0"))).maxReplicaLagBytes())
                    .as("0 = no limit")
                    .isZero();
            assertThat(appRouting(parse(withRouting("maxReplicaLagBytes: 8GB"))).maxReplicaLagBytes())
                    .isEqualTo(8L * 1024 * 1024 * 1024);
            assertThat(appRouting(parse(withRouting("maxReplicaLagBytes: 4096")))
                            .maxReplicaLagBytes())
                    .isEqualTo(4096);
            assertThat(appRouting(parse(withRouting("maxReplicaLagBytes: 512kb")))
                            .maxReplicaLagBytes())
                    .isEqualTo(512 * 1024);
        }

        @Test
        void maxReplicaLagBytesRejectsNegativeUnknownUnitAndOverflow() {
            assertThat(problems(withRouting("maxReplicaLagBytes: -1")))
                    .containsExactly(SOURCE + ": routing.maxReplicaLagBytes: is not a size (value '-1'; accepted: "
                            + LAG_BYTES + ")");
            assertThat(problems(withRouting("maxReplicaLagBytes: 1TB")))
                    .containsExactly(SOURCE + ": routing.maxReplicaLagBytes: has an unknown unit 'TB' (value '1TB';"
                            + " accepted: " + LAG_BYTES + ")");
            assertThat(problems(withRouting("maxReplicaLagBytes: 9000000000GB")))
                    .containsExactly(SOURCE + ": routing.maxReplicaLagBytes: is too large (value '9000000000GB';"
                            + " accepted: " + LAG_BYTES + ")");
        }
    }

    @Nested
    class PrimaryFunctions {
        @Test
        void acceptsNamesPrefixesAndNonAsciiLetters() throws Exception {
            assertThat(appRouting(parse(withRouting("primaryFunctions: [nextval_x, Audit_*, f$1, _p, café]")))
                            .primaryFunctions())
                    .containsExactly("nextval_x", "Audit_*", "f$1", "_p", "café");
        }

        @Test
        void singleValueOrMappingIsNotAList() {
            assertThat(problems(withRouting("primaryFunctions: next_id")))
                    .containsExactly(SOURCE + ": routing.primaryFunctions: must be a list (value 'next_id'; accepted:"
                            + " a list of SQL function names without schema (letters, digits, _ and $), each"
                            + " optionally ending in * to match a prefix)");
            assertThat(problems(withRouting("primaryFunctions: {a: b}")))
                    .containsExactly(SOURCE + ": routing.primaryFunctions: must be a list, not a mapping (accepted: a"
                            + " list of SQL function names without schema (letters, digits, _ and $), each optionally"
                            + " ending in * to match a prefix)");
        }

        @Test
        void eachEntryThatIsNotAFunctionNameIsReportedWithItsIndex() {
            assertThat(problems(appWithRouting(null, "primaryFunctions: [ok, public.f, 1st, '*', 'a*b', 'f()', ok2*]")))
                    .containsExactly(
                            SOURCE + ": databases.app.routing.primaryFunctions[1]: is not a function name (value"
                                    + " 'public.f'; accepted: " + FUNCTION + ")",
                            SOURCE + ": databases.app.routing.primaryFunctions[2]: is not a function name (value"
                                    + " '1st'; accepted: " + FUNCTION + ")",
                            SOURCE + ": databases.app.routing.primaryFunctions[3]: is not a function name (value"
                                    + " '*'; accepted: " + FUNCTION + ")",
                            SOURCE + ": databases.app.routing.primaryFunctions[4]: is not a function name (value"
                                    + " 'a*b'; accepted: " + FUNCTION + ")",
                            SOURCE + ": databases.app.routing.primaryFunctions[5]: is not a function name (value"
                                    + " 'f()'; accepted: " + FUNCTION + ")");
        }

        @Test
        void emptyOrNestedEntryIsRejected() {
            assertThat(problems(withRouting("primaryFunctions: ['', [f]]")))
                    .containsExactly(
                            SOURCE + ": routing.primaryFunctions[0]: is empty (accepted: an SQL function name"
                                    + " without schema)",
                            SOURCE + ": routing.primaryFunctions[1]: must be a single value, not a list (accepted:"
                                    + " an SQL function name without schema)");
        }

        /** The classifier is built from this list at run time; a name the loader lets through must not break it. */
        @ParameterizedTest
        @ValueSource(strings = {"f", "F_1", "pre*", "$x", "x$", "1a", "a.b", "*", "a*b", "a b", "é*", "_", "a-b"})
        void loaderAndQueryClassifierAgreeOnWhatIsAFunctionName(String name) {
            boolean classifierAccepts;
            try {
                new QueryClassifier(List.of(name));
                classifierAccepts = true;
            } catch (IllegalArgumentException e) {
                classifierAccepts = false;
            }
            String yaml = withRouting("primaryFunctions: ['" + name + "']");
            if (classifierAccepts) {
                assertThatCode(() -> parse(yaml)).doesNotThrowAnyException();
            } else {
                assertThatThrownBy(() -> parse(yaml))
                        .isInstanceOf(ConfigException.class)
                        .hasMessageContaining("routing.primaryFunctions[0]: is not a function name");
            }
        }
    }

    @Nested
    class Endpoints {
        @Test
        void nameZoneAndWeightAreBoundAndDefaultToNoneNoneAnd100() throws Exception {
            String yaml = """
                    databases:
                      app:
                        endpoints:
                          - {host: db1, name: pg-0, zone: eu-1a, weight: 0}
                          - {host: db2, role: replica, weight: 10000}
                          - {host: db3, role: replica}
                        users: {alice: {password: secret}}
                    """;
            assertThat(parse(yaml).databases().get("app").endpoints())
                    .containsExactly(
                            new Endpoint("db1", 5432, Endpoint.Role.PRIMARY, "pg-0", "eu-1a", 0),
                            new Endpoint("db2", 5432, Endpoint.Role.REPLICA, null, null, 10000),
                            new Endpoint("db3", 5432, Endpoint.Role.REPLICA, null, null, 100));
        }

        @Test
        void weightOutside0To10000OrNotAnIntegerIsRejected() {
            String yaml = """
                    databases:
                      app:
                        endpoints:
                          - {host: db1, weight: -1}
                          - {host: db2, role: replica, weight: 10001}
                          - {host: db3, role: replica, weight: heavy}
                        users: {alice: {password: secret}}
                    """;
            assertThat(problems(yaml))
                    .containsExactly(
                            SOURCE + ": databases.app.endpoints[0].weight: is out of range (value '-1'; accepted: an"
                                    + " integer from 0 to 10000)",
                            SOURCE + ": databases.app.endpoints[1].weight: is out of range (value '10001'; accepted:"
                                    + " an integer from 0 to 10000)",
                            SOURCE + ": databases.app.endpoints[2].weight: is not a decimal integer (value 'heavy';"
                                    + " accepted: an integer from 0 to 10000)");
        }

        @Test
        void twoEndpointsWithTheSameNameAreRejected() {
            String yaml = """
                    databases:
                      app:
                        endpoints:
                          - {host: db1, name: pg}
                          - {host: db2, role: replica, name: pg}
                        users: {alice: {password: secret}}
                    """;
            assertThat(problems(yaml))
                    .containsExactly(SOURCE + ": databases.app.endpoints[1].name: is already the name of"
                            + " databases.app.endpoints[0] (value 'pg'; accepted: " + NAME_ACCEPTED + ")");
        }

        @Test
        void nameEqualToAnotherEndpointsDefaultNameIsRejected() {
            String yaml = """
                    databases:
                      app:
                        endpoints:
                          - {host: db1}
                          - {host: db2, role: replica, name: "db1:5432"}
                        users: {alice: {password: secret}}
                    """;
            assertThat(problems(yaml))
                    .containsExactly(SOURCE + ": databases.app.endpoints[1].name: is already the name of"
                            + " databases.app.endpoints[0] (value 'db1:5432'; accepted: " + NAME_ACCEPTED + ")");
        }

        @Test
        void defaultNameEqualToAnEarlierExplicitNameIsRejectedAtTheEndpoint() {
            String yaml = """
                    databases:
                      app:
                        endpoints:
                          - {host: db1, name: "db2:5432"}
                          - {host: db2, role: replica}
                        users: {alice: {password: secret}}
                    """;
            assertThat(problems(yaml))
                    .containsExactly(SOURCE + ": databases.app.endpoints[1]: has the default name host:port, which is"
                            + " already the name of databases.app.endpoints[0] (value 'db2:5432'; accepted: names"
                            + " unique within the database; set name on one of them)");
        }

        @Test
        void sameServerTwiceIsReportedOnceNotAlsoAsADuplicateName() {
            String yaml = """
                    databases:
                      app:
                        endpoints:
                          - {host: db1}
                          - {host: db1, role: replica}
                        users: {alice: {password: secret}}
                    """;
            assertThat(problems(yaml))
                    .containsExactly(SOURCE + ": databases.app.endpoints[1]: is the same server as"
                            + " databases.app.endpoints[0] (value 'db1:5432'; accepted: each host and port at most"
                            + " once per database)");
        }

        @Test
        void theSameNameInTwoDatabasesIsAccepted() throws Exception {
            String yaml = """
                    databases:
                      one: {endpoints: [{host: db1, name: pg-0}], users: {u: {password: p}}}
                      two: {endpoints: [{host: db2, name: pg-0}], users: {u: {password: p}}}
                    """;
            PoolerConfig config = parse(yaml);
            assertThat(config.databases().get("one").endpoints().get(0).name()).isEqualTo("pg-0");
            assertThat(config.databases().get("two").endpoints().get(0).name()).isEqualTo("pg-0");
        }

        @Test
        void nameAndZoneWithWhitespaceOrTooLongAreRejected() {
            String longName = "n".repeat(256);
            String yaml = """
                    databases:
                      app:
                        endpoints:
                          - {host: db1, name: "pg 0", zone: "eu\\t1"}
                          - {host: db2, role: replica, name: %s}
                        users: {alice: {password: secret}}
                    """.formatted(longName);
            assertThat(problems(yaml))
                    .containsExactly(
                            SOURCE + ": databases.app.endpoints[0].name: must not contain whitespace (value 'pg 0';"
                                    + " accepted: " + NAME_ACCEPTED + ")",
                            SOURCE + ": databases.app.endpoints[0].zone: must not contain whitespace (value 'eu\\t1';"
                                    + " accepted: a locality label of 1 to 255 characters without whitespace, like"
                                    + " eu-west-1a)",
                            SOURCE + ": databases.app.endpoints[1].name: is longer than 255 characters (value '"
                                    + "n".repeat(80) + "...'; accepted: " + NAME_ACCEPTED + ")");
        }

        @Test
        void nameOf255CharactersIsAccepted() throws Exception {
            String name = "n".repeat(255);
            PoolerConfig config = parse(MINIMAL.replace("- host: db1", "- {host: db1, name: " + name + "}"));
            assertThat(config.databases().get("app").endpoints().get(0).name()).isEqualTo(name);
        }

        @Test
        void unknownEndpointKeyListsTheNewKeys() {
            assertThat(problems(MINIMAL.replace("- host: db1", "- {host: db1, wieght: 5}")))
                    .containsExactly(SOURCE + ": databases.app.endpoints[0].wieght: unknown key; did you mean"
                            + " 'weight'? (accepted: host, port, role, name, zone, weight, serverTls)");
        }
    }
}
