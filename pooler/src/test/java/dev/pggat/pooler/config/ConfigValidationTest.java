package dev.pggat.pooler.config;

import static dev.pggat.pooler.config.ConfigFixtures.MINIMAL;
import static dev.pggat.pooler.config.ConfigFixtures.SOURCE;
import static dev.pggat.pooler.config.ConfigFixtures.parse;
import static dev.pggat.pooler.config.ConfigFixtures.problems;
import static dev.pggat.pooler.config.ConfigFixtures.withAlice;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.auth.Secret;
import java.time.Duration;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ConfigValidationTest {
    private static final String DURATION_ABOVE_0 =
            "an integer with unit ms, s, m, h or d, like 500ms, 30s, 5m, 1h," + " 2d, at most 365d; above 0";
    private static final String DURATION_OR_0 =
            "an integer with unit ms, s, m, h or d, like 500ms, 30s, 5m, 1h," + " 2d, at most 365d; or 0 to disable";
    private static final String SIZE =
            "bytes as an integer, or an integer with unit B, kB, MB or GB (1024-based)," + " above 0 and below 2GB";
    private static final String PASSWORD = "plain text, an md5 hash 'md5<32 hex digits>', or a verifier"
            + " 'SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>'";
    private static final String NAME = "1 to 63 bytes (UTF-8), without NUL characters";
    private static final String ENDPOINTS =
            "a list of endpoints, each with host, port and role; exactly one with role primary";

    /** A SCRAM-SHA-256 verifier (of the password "example-only"). */
    static final String VERIFIER = "SCRAM-SHA-256$4096:cGdnYXQtZXhhbXBsZS1zYWx0$"
            + "jR72eW+IsqrtDrnbkFU3a4I6W4znzjRHcz8y7UpC2j8=:Qchiw+oCwBT9g6G8JHyFeu+VJaZodg59WBIl+1t3Oeo=";

    static final String MD5_HASH = "md53fc2f9e886a15bc70426244c7903210c";

    @Nested
    class Keys {
        @Test
        void unknownKeySuggestsTheClosestKnownKey() {
            assertThat(problems("listen:\n  prot: 6432\n" + MINIMAL))
                    .containsExactly(
                            SOURCE + ": listen.prot: unknown key; did you mean 'port'? (accepted: host, port)");
        }

        @Test
        void unknownKeySuggestsAcrossCaseAndLongerTypos() {
            assertThat(problems("pools:\n  MaxServerConnection: 3\n" + MINIMAL.replace("databases:", "databse:")))
                    .containsExactly(
                            SOURCE + ": databse: unknown key; did you mean 'databases'? (accepted: listen, admin,"
                                    + " limits, timeouts, pools, routing, databases, routes, tls, auth, credentials,"
                                    + " discovery, tracing)",
                            SOURCE + ": pools.MaxServerConnection: unknown key; did you mean 'maxServerConnections'?"
                                    + " (accepted: mode, maxServerConnections, minServerConnections, resetQuery,"
                                    + " maxDatabaseConnections, maxUserConnections, reservePoolSize,"
                                    + " reservePoolTimeout, preparedStatementCacheSize, listenRelay,"
                                    + " listenRelayMaxChannels, strictSessionState)",
                            SOURCE + ": databases: at least one database is required (accepted: a mapping from the"
                                    + " database name clients use to its settings)");
        }

        @Test
        void unknownKeyFarFromAnyKnownKeyGetsNoSuggestion() {
            assertThat(problems("admin:\n  banana: 1\n" + MINIMAL))
                    .containsExactly(SOURCE
                            + ": admin.banana: unknown key (accepted: enabled, host, port, token, users, statsUsers)");
        }

        @Test
        void unknownKeyInsideEndpointAndUserIsReportedWithItsPath() {
            String yaml = """
                    databases:
                      app:
                        endpoints:
                          - host: db1
                            rol: replica
                        users:
                          alice:
                            password: secret
                            serveruser: bob
                    """;
            assertThat(problems(yaml))
                    .containsExactly(
                            SOURCE + ": databases.app.endpoints[0].rol: unknown key; did you mean 'role'? (accepted:"
                                    + " host, port, role, name, zone, weight, serverTls)",
                            SOURCE + ": databases.app.users.alice.serveruser: unknown key; did you mean"
                                    + " 'serverUser'? (accepted: password, auth, serverUser, serverPassword,"
                                    + " passThrough, maxUserConnections)");
        }

        @Test
        void duplicateKeyIsRejected() {
            assertThat(problems("listen:\n  port: 1\n  port: 2\n" + MINIMAL))
                    .containsExactly(SOURCE + ": listen.port: duplicate key (accepted: each key at most once in a"
                            + " mapping)");
        }

        @Test
        void databaseNameWithDotsIsQuotedInThePath() {
            String yaml = MINIMAL.replace("app:", "\"my.db\":").replace("- host: db1", "- host: db1\n        port: 0");
            assertThat(problems(yaml))
                    .containsExactly(SOURCE + ": databases.\"my.db\".endpoints[0].port: is out of range (value '0';"
                            + " accepted: an integer from 1 to 65535)");
        }
    }

    @Nested
    class Types {
        @Test
        void sectionThatIsNotAMappingIsRejected() {
            assertThat(problems("listen: 6432\n" + MINIMAL))
                    .containsExactly(SOURCE + ": listen: must be a mapping (value '6432'; accepted: a mapping with"
                            + " the keys host, port)");
        }

        @Test
        void listWhereAValueBelongsIsRejected() {
            assertThat(problems("listen:\n  port: [1, 2]\n" + MINIMAL))
                    .containsExactly(SOURCE + ": listen.port: must be a single value, not a list (accepted: an"
                            + " integer from 0 to 65535 (0: any free port))");
        }

        @Test
        void mappingWhereAValueBelongsIsRejected() {
            assertThat(problems("admin:\n  enabled: {a: b}\n" + MINIMAL))
                    .containsExactly(SOURCE + ": admin.enabled: must be a single value, not a mapping (accepted:"
                            + " true or false)");
        }

        @Test
        void textWhereAnIntegerBelongsIsRejected() {
            assertThat(problems("limits:\n  maxClientConnections: many\n" + MINIMAL))
                    .containsExactly(SOURCE + ": limits.maxClientConnections: is not a decimal integer (value"
                            + " 'many'; accepted: an integer of at least 1)");
        }

        @Test
        void hexadecimalAndFractionalIntegersAreRejected() {
            assertThat(problems("listen:\n  port: 0x1F90\nlimits:\n  maxClientConnections: 1.5\n" + MINIMAL))
                    .containsExactly(
                            SOURCE + ": listen.port: is not a decimal integer (value '0x1F90'; accepted: an integer"
                                    + " from 0 to 65535 (0: any free port))",
                            SOURCE + ": limits.maxClientConnections: is not a decimal integer (value '1.5'; accepted:"
                                    + " an integer of at least 1)");
        }

        @Test
        void quotedIntegerIsAccepted() throws Exception {
            assertThat(parse("listen:\n  port: \"7000\"\n" + MINIMAL).listen().port())
                    .isEqualTo(7000);
        }

        @Test
        void booleanAcceptsYamlWordsAndRejectsOthers() throws Exception {
            assertThat(parse("admin:\n  enabled: no\n" + MINIMAL).admin().enabled())
                    .isFalse();
            assertThat(parse("admin:\n  enabled: \"TRUE\"\n" + MINIMAL).admin().enabled())
                    .isTrue();
            assertThat(problems("admin:\n  enabled: maybe\n" + MINIMAL))
                    .containsExactly(
                            SOURCE + ": admin.enabled: is not a boolean (value 'maybe'; accepted: true or" + " false)");
        }

        @Test
        void unknownEnumValueSuggestsTheClosest() {
            assertThat(problems("pools:\n  mode: sesion\n" + MINIMAL))
                    .containsExactly(SOURCE + ": pools.mode: is not a known value; did you mean 'session'? (value"
                            + " 'sesion'; accepted: transaction or session)");
        }

        @Test
        void enumValuesIgnoreCase() throws Exception {
            PoolerConfig config = parse(withAlice("password: secret\nauth: SCRAM-SHA-256")
                    .replace("databases:", "pools:\n  mode: Session\ndatabases:"));
            assertThat(config.pools().mode()).isEqualTo(PoolMode.SESSION);
            assertThat(config.databases().get("app").users().get("alice").auth())
                    .isEqualTo(AuthMethod.SCRAM_SHA_256);
        }

        @Test
        void hostWithWhitespaceIsRejected() {
            assertThat(problems("listen:\n  host: \"local host\"\n" + MINIMAL))
                    .containsExactly(SOURCE + ": listen.host: must not contain whitespace (value 'local host';"
                            + " accepted: a host name or IP address)");
        }
    }

    @Nested
    class Ports {
        @ParameterizedTest
        @CsvSource({"65536", "-1"})
        void listenPortOutsideZeroTo65535IsRejected(String port) {
            assertThat(problems("listen:\n  port: " + port + "\n" + MINIMAL))
                    .containsExactly(SOURCE + ": listen.port: is out of range (value '" + port + "'; accepted: an"
                            + " integer from 0 to 65535 (0: any free port))");
        }

        @Test
        void listenAndAdminPortZeroMeanAnyFreePort() throws Exception {
            PoolerConfig config = parse("listen:\n  port: 0\nadmin:\n  port: 0\n" + MINIMAL);
            assertThat(config.listen().port()).isZero();
            assertThat(config.admin().port()).isZero();
        }

        @Test
        void portBoundariesAreAccepted() throws Exception {
            PoolerConfig config = parse("listen:\n  port: 1\nadmin:\n  port: 65535\n" + MINIMAL);
            assertThat(config.listen().port()).isEqualTo(1);
            assertThat(config.admin().port()).isEqualTo(65535);
        }

        @Test
        void adminAndEndpointPortsAreChecked() {
            String yaml = "admin:\n  port: 99999999999999999999\n"
                    + MINIMAL.replace("- host: db1", "- {host: db1, port: 70000}");
            assertThat(problems(yaml))
                    .containsExactly(
                            SOURCE + ": admin.port: is out of range (value '99999999999999999999'; accepted: an"
                                    + " integer from 0 to 65535 (0: any free port))",
                            SOURCE + ": databases.app.endpoints[0].port: is out of range (value '70000'; accepted:"
                                    + " an integer from 1 to 65535)");
        }

        @Test
        void adminPortEqualToListenPortOnOverlappingAddressIsRejected() {
            assertThat(problems("listen:\n  port: 7000\nadmin:\n  port: 7000\n" + MINIMAL))
                    .containsExactly(SOURCE + ": admin.port: is the same port as listen.port on an overlapping"
                            + " address (value '7000'; accepted: a port other than 7000, or admin.enabled: false)");
        }

        @Test
        void adminPortMayEqualListenPortWhenAdminIsDisabledOrAddressesDiffer() throws Exception {
            assertThat(parse("listen:\n  port: 7000\nadmin:\n  enabled: false\n  port: 7000\n" + MINIMAL)
                            .admin()
                            .enabled())
                    .isFalse();
            assertThat(parse("listen:\n  host: 10.0.0.1\n  port: 7000\nadmin:\n  host: 127.0.0.1\n  port: 7000\n"
                                    + MINIMAL)
                            .admin()
                            .port())
                    .isEqualTo(7000);
        }
    }

    @Nested
    class Durations {
        @ParameterizedTest
        @CsvSource({"500ms, PT0.5S", "30s, PT30S", "5m, PT5M", "1h, PT1H", "2d, PT48H", "'1 h', PT1H", "365d, PT8760H"})
        void acceptsIntegerWithUnit(String text, String expected) throws Exception {
            assertThat(parse("timeouts:\n  serverConnect: " + text + "\n" + MINIMAL)
                            .timeouts()
                            .serverConnect())
                    .isEqualTo(Duration.parse(expected));
        }

        @Test
        void zeroDisablesQueryWaitServerIdleAndServerLifetime() throws Exception {
            Timeouts t = parse("timeouts:\n  queryWait: 0\n  serverIdle: 0s\n  serverLifetime: 0ms\n" + MINIMAL)
                    .timeouts();
            assertThat(t.queryWait()).isEqualTo(Duration.ZERO);
            assertThat(t.serverIdle()).isEqualTo(Duration.ZERO);
            assertThat(t.serverLifetime()).isEqualTo(Duration.ZERO);
        }

        @Test
        void zeroIsRejectedWhereItCannotMeanDisabled() {
            String yaml = "timeouts:\n  clientLogin: 0\n  serverConnect: 0s\n  serverConnectBackoffMax: 0ms\n"
                    + "  shutdown: 0\n" + MINIMAL;
            assertThat(problems(yaml))
                    .containsExactly(
                            SOURCE + ": timeouts.clientLogin: must be above 0 (value '0'; accepted: " + DURATION_ABOVE_0
                                    + ")",
                            SOURCE + ": timeouts.serverConnect: must be above 0 (value '0s'; accepted: "
                                    + DURATION_ABOVE_0 + ")",
                            SOURCE + ": timeouts.serverConnectBackoffMax: must be above 0 (value '0ms'; accepted: "
                                    + DURATION_ABOVE_0 + ")",
                            SOURCE + ": timeouts.shutdown: must be above 0 (value '0'; accepted: " + DURATION_ABOVE_0
                                    + ")");
        }

        @Test
        void bareIntegerIsRejectedAsAmbiguous() {
            assertThat(problems("timeouts:\n  serverIdle: 600\n" + MINIMAL))
                    .containsExactly(SOURCE + ": timeouts.serverIdle: has no unit, which is ambiguous (value '600';"
                            + " accepted: " + DURATION_OR_0 + ")");
        }

        @Test
        void unknownUnitFractionAndNegativeAreRejected() {
            String yaml = "timeouts:\n  clientLogin: 5 minutes\n  queryWait: 1.5s\n  serverIdle: -1s\n  shutdown: 30S\n"
                    + MINIMAL;
            assertThat(problems(yaml))
                    .containsExactly(
                            SOURCE + ": timeouts.clientLogin: has an unknown unit 'minutes' (value '5 minutes';"
                                    + " accepted: " + DURATION_ABOVE_0 + ")",
                            SOURCE + ": timeouts.queryWait: is not a duration (value '1.5s'; accepted: " + DURATION_OR_0
                                    + ")",
                            SOURCE + ": timeouts.serverIdle: is not a duration (value '-1s'; accepted: " + DURATION_OR_0
                                    + ")",
                            SOURCE + ": timeouts.shutdown: has an unknown unit 'S' (value '30S'; accepted: "
                                    + DURATION_ABOVE_0 + ")");
        }

        @Test
        void durationLongerThan365DaysIsRejected() {
            assertThat(problems(
                            "timeouts:\n  serverLifetime: 8761h\n  serverIdle: 99999999999999999999999d\n" + MINIMAL))
                    .containsExactly(
                            SOURCE + ": timeouts.serverIdle: is longer than 365d (value '99999999999999999999999d';"
                                    + " accepted: " + DURATION_OR_0 + ")",
                            SOURCE + ": timeouts.serverLifetime: is longer than 365d (value '8761h'; accepted: "
                                    + DURATION_OR_0 + ")");
        }
    }

    @Nested
    class Sizes {
        @ParameterizedTest
        @CsvSource({
            "512, 512",
            "512B, 512",
            "1kB, 1024",
            "16 kB, 16384",
            "64MB, 67108864",
            "1GB, 1073741824",
            "1gb, 1073741824",
            "2147483647, 2147483647"
        })
        void acceptsBytesAndUnitsOf1024(String text, int expected) throws Exception {
            assertThat(parse("limits:\n  maxMessageSize: " + text + "\n" + MINIMAL)
                            .limits()
                            .maxMessageSize())
                    .isEqualTo(expected);
        }

        @Test
        void zeroTooLargeUnknownUnitAndNegativeAreRejected() {
            String yaml = "limits:\n  maxStartupPacketSize: 0kB\n  maxMessageSize: 2GB\n" + MINIMAL;
            assertThat(problems(yaml))
                    .containsExactly(
                            SOURCE + ": limits.maxStartupPacketSize: must be above 0 (value '0kB'; accepted: " + SIZE
                                    + ")",
                            SOURCE + ": limits.maxMessageSize: is too large (value '2GB'; accepted: " + SIZE + ")");
            assertThat(problems("limits:\n  maxMessageSize: 10TB\n  maxStartupPacketSize: -5\n" + MINIMAL))
                    .containsExactly(
                            SOURCE + ": limits.maxStartupPacketSize: is not a size (value '-5'; accepted: " + SIZE
                                    + ")",
                            SOURCE + ": limits.maxMessageSize: has an unknown unit 'TB' (value '10TB'; accepted: "
                                    + SIZE + ")");
        }
    }

    @Nested
    class ConnectionCounts {
        @Test
        void maxBelowOneIsRejected() {
            assertThat(problems("pools:\n  maxServerConnections: 0\nlimits:\n  maxClientConnections: 0\n" + MINIMAL))
                    .containsExactly(
                            SOURCE + ": limits.maxClientConnections: is out of range (value '0'; accepted: an integer"
                                    + " of at least 1)",
                            SOURCE + ": pools.maxServerConnections: is out of range (value '0'; accepted: an integer"
                                    + " of at least 1)");
        }

        @Test
        void negativeMinIsRejected() {
            assertThat(problems(MINIMAL.replace("users:", "minServerConnections: -1\n    users:")))
                    .containsExactly(SOURCE + ": databases.app.minServerConnections: is out of range (value '-1';"
                            + " accepted: an integer of at least 0)");
        }

        @Test
        void poolsMinAboveMaxIsRejectedOnce() {
            assertThat(problems("pools:\n  maxServerConnections: 2\n  minServerConnections: 5\n" + MINIMAL))
                    .containsExactly(SOURCE + ": pools.minServerConnections: is greater than"
                            + " pools.maxServerConnections (2) (value '5'; accepted: an integer from 0 to"
                            + " maxServerConnections)");
        }

        @Test
        void databaseMinAboveInheritedMaxIsRejected() {
            assertThat(problems(MINIMAL.replace("users:", "minServerConnections: 30\n    users:")))
                    .containsExactly(SOURCE + ": databases.app.minServerConnections: minServerConnections (30) is"
                            + " greater than maxServerConnections (20, from pools.maxServerConnections) (value '30';"
                            + " accepted: minServerConnections <= maxServerConnections)");
        }

        @Test
        void databaseMaxBelowInheritedMinIsRejected() {
            String yaml = "pools:\n  minServerConnections: 2\n"
                    + MINIMAL.replace("users:", "maxServerConnections: 1\n    users:");
            assertThat(problems(yaml))
                    .containsExactly(SOURCE + ": databases.app.maxServerConnections: minServerConnections (2, from"
                            + " pools.minServerConnections) is greater than maxServerConnections (1) (value '1';"
                            + " accepted: minServerConnections <= maxServerConnections)");
        }

        @Test
        void minEqualToMaxIsAccepted() throws Exception {
            DatabaseConfig db = parse(MINIMAL.replace(
                            "users:", "minServerConnections: 3\n    maxServerConnections: 3\n    users:"))
                    .databases()
                    .get("app");
            assertThat(db.minServerConnections()).isEqualTo(3);
            assertThat(db.maxServerConnections()).isEqualTo(3);
        }
    }

    @Nested
    class Structure {
        @Test
        void atLeastOneDatabaseIsRequired() {
            String expected = SOURCE + ": databases: at least one database is required (accepted: a mapping from the"
                    + " database name clients use to its settings)";
            assertThat(problems("databases: {}\n")).containsExactly(expected);
            assertThat(problems("listen:\n  port: 6432\n")).containsExactly(expected);
        }

        @Test
        void emptyFileIsRejected() {
            assertThat(problems("# nothing here\n"))
                    .containsExactly(SOURCE + ": the configuration is empty (accepted: a YAML mapping with at least"
                            + " the key 'databases')");
        }

        @Test
        void atLeastOneEndpointIsRequired() {
            String expected = SOURCE + ": databases.app.endpoints: at least one endpoint is required (accepted: "
                    + ENDPOINTS + ")";
            assertThat(problems(MINIMAL.replace("endpoints:\n      - host: db1", "endpoints: []")))
                    .containsExactly(expected);
            assertThat(problems(MINIMAL.replace("    endpoints:\n      - host: db1\n", "")))
                    .containsExactly(expected);
        }

        @Test
        void endpointsMustBeAList() {
            assertThat(problems(MINIMAL.replace("endpoints:\n      - host: db1", "endpoints:\n      host: db1")))
                    .containsExactly(SOURCE + ": databases.app.endpoints: must be a list, not a mapping (accepted: "
                            + ENDPOINTS + ")");
        }

        @Test
        void twoEndpointsDefaultingToPrimaryAreRejected() {
            assertThat(problems(MINIMAL.replace("- host: db1", "- host: db1\n      - host: db2")))
                    .containsExactly(SOURCE + ": databases.app.endpoints: 2 endpoints have role primary ([0], [1];"
                            + " role defaults to primary) (accepted: exactly one endpoint with role primary, the"
                            + " others role replica)");
        }

        @Test
        void databaseWithOnlyReplicasIsRejected() {
            assertThat(problems(MINIMAL.replace("- host: db1", "- {host: db1, role: replica}")))
                    .containsExactly(SOURCE + ": databases.app.endpoints: no endpoint has role primary (accepted:"
                            + " exactly one endpoint with role primary, which is the default role)");
        }

        @Test
        void primaryWithReplicasIsAccepted() throws Exception {
            DatabaseConfig db = parse(
                            MINIMAL.replace(
                                    "- host: db1",
                                    "- {host: r1, role: replica}\n      - {host: db1}\n      - {host: r2, port: 5433, role: replica}"))
                    .databases()
                    .get("app");
            assertThat(db.primary()).isEqualTo(Endpoint.primary("db1", 5432));
            assertThat(db.replicas()).containsExactly(Endpoint.replica("r1", 5432), Endpoint.replica("r2", 5433));
        }

        @Test
        void unknownRoleIsRejectedWithSuggestion() {
            assertThat(problems(MINIMAL.replace("- host: db1", "- {host: db1, role: primry}")))
                    .containsExactly(SOURCE + ": databases.app.endpoints[0].role: is not a known value; did you mean"
                            + " 'primary'? (value 'primry'; accepted: primary or replica)");
        }

        @Test
        void endpointHostIsRequired() {
            assertThat(problems(MINIMAL.replace("- host: db1", "- port: 5432")))
                    .containsExactly(SOURCE + ": databases.app.endpoints[0].host: is required (accepted: a host name"
                            + " or IP address)");
        }

        @Test
        void sameServerTwiceInOneDatabaseIsRejected() {
            assertThat(problems(MINIMAL.replace("- host: db1", "- host: db1\n      - {host: DB1, role: replica}")))
                    .containsExactly(SOURCE + ": databases.app.endpoints[1]: is the same server as"
                            + " databases.app.endpoints[0] (value 'DB1:5432'; accepted: each host and port at most"
                            + " once per database)");
        }

        @Test
        void atLeastOneUserIsRequired() {
            String expected = SOURCE + ": databases.app.users: at least one user is required (accepted: a mapping"
                    + " from the user name clients log in as to its settings)";
            assertThat(problems(MINIMAL.replace("users:\n      alice:\n        password: secret", "users: {}")))
                    .containsExactly(expected);
            assertThat(problems(MINIMAL.replace("    users:\n      alice:\n        password: secret\n", "")))
                    .containsExactly(expected);
        }

        @Test
        void yamlAliasesAreRejected() {
            String yaml = MINIMAL.replace("host: db1", "host: &h db1\n      - {host: *h, port: 5433, role: replica}");
            assertThat(problems(yaml))
                    .containsExactly(SOURCE + ": databases.app.endpoints[1].host: YAML aliases (*name) are not"
                            + " supported (accepted: the value written out in full)");
        }

        @Test
        void secondYamlDocumentIsRejected() {
            assertThat(problems(MINIMAL + "---\nlisten: {port: 1}\n"))
                    .containsExactly(SOURCE + ": line 9, column 1: a second YAML document starts here (accepted: a"
                            + " single document; remove the '---' separator)");
        }

        @Test
        void yamlSyntaxErrorGivesLineAndColumn() {
            assertThat(problems("listen:\n  port: 1\n    host: x\n" + MINIMAL))
                    .containsExactly(SOURCE + ": line 3, column 9: invalid YAML: mapping values are not allowed here");
        }
    }

    @Nested
    class Names {
        @Test
        void databaseNameOf63BytesIsAcceptedAnd64IsRejected() throws Exception {
            String ok = "d".repeat(63);
            assertThat(parse(MINIMAL.replace("app:", ok + ":")).databases()).containsOnlyKeys(ok);
            String tooLong = "d".repeat(64);
            assertThat(problems(MINIMAL.replace("app:", tooLong + ":")))
                    .containsExactly(SOURCE + ": databases." + tooLong + ": database name is longer than 63 bytes"
                            + " (value '" + tooLong + "'; accepted: " + NAME + ")");
        }

        @Test
        void nameLengthCountsUtf8Bytes() throws Exception {
            String ok = "\u00e9".repeat(31) + "u"; // 63 bytes
            assertThat(parse(MINIMAL.replace("alice:", ok + ":"))
                            .databases()
                            .get("app")
                            .users())
                    .containsOnlyKeys(ok);
            String tooLong = "\u00e9".repeat(32); // 32 characters, 64 bytes
            assertThat(problems(MINIMAL.replace("alice:", tooLong + ":")))
                    .containsExactly(SOURCE + ": databases.app.users." + tooLong + ": user name is longer than 63"
                            + " bytes (value '" + tooLong + "'; accepted: " + NAME + ")");
        }

        @Test
        void emptyNamesAreRejected() {
            assertThat(problems(MINIMAL.replace("app:", "\"\":").replace("alice:", "'':")))
                    .containsExactly(
                            SOURCE + ": databases.\"\": database name is empty (value ''; accepted: " + NAME + ")",
                            SOURCE + ": databases.\"\".users.\"\": user name is empty (value ''; accepted: " + NAME
                                    + ")");
        }

        @Test
        void serverDatabaseAndServerUserFollowTheSameRule() {
            String tooLong = "s".repeat(64);
            String yaml = MINIMAL.replace("endpoints:", "serverDatabase: " + tooLong + "\n    endpoints:")
                    .replace("password: secret", "password: secret\n        serverUser: " + tooLong);
            assertThat(problems(yaml))
                    .containsExactly(
                            SOURCE + ": databases.app.serverDatabase: is longer than 63 bytes (value '" + tooLong
                                    + "'; accepted: " + NAME + ")",
                            SOURCE + ": databases.app.users.alice.serverUser: is longer than 63 bytes (value '"
                                    + tooLong + "'; accepted: " + NAME + ")");
        }
    }

    @Nested
    class Passwords {
        @Test
        void passwordIsRequiredUnlessAuthIsTrust() throws Exception {
            assertThat(problems(withAlice("auth: md5")))
                    .containsExactly(SOURCE + ": databases.app.users.alice.password: is required unless auth is trust"
                            + " (it is missing or empty) (accepted: " + PASSWORD + ")");
            assertThat(problems(withAlice("password: \"\"")))
                    .containsExactly(SOURCE + ": databases.app.users.alice.password: is required unless auth is trust"
                            + " (it is missing or empty) (accepted: " + PASSWORD + ")");

            UserConfig trusted = parse(withAlice("auth: trust"))
                    .databases()
                    .get("app")
                    .users()
                    .get("alice");
            assertThat(trusted.password()).isNull();
            assertThat(trusted.serverPassword()).isNull();
            assertThat(trusted.auth()).isEqualTo(AuthMethod.TRUST);
        }

        @Test
        void trustUserWithPasswordKeepsItForTheServer() throws Exception {
            UserConfig user = parse(withAlice("auth: trust\npassword: s3cret"))
                    .databases()
                    .get("app")
                    .users()
                    .get("alice");
            assertThat(user.password()).isEqualTo(new Secret.Plain("s3cret"));
            assertThat(user.serverPassword()).isEqualTo("s3cret");
        }

        @Test
        void md5AuthWithScramVerifierIsRejected() {
            assertThat(problems(withAlice("password: " + VERIFIER + "\nauth: md5\nserverPassword: example-only")))
                    .containsExactly(SOURCE + ": databases.app.users.alice.auth: cannot check md5 logins against the"
                            + " SCRAM-SHA-256 verifier in password (value 'md5'; accepted: scram-sha-256 or password"
                            + " with a SCRAM-SHA-256 verifier; md5 needs a plain-text password or md5 hash)");
        }

        @Test
        void scramAuthWithMd5HashIsRejected() {
            assertThat(problems(withAlice("password: " + MD5_HASH + "\nserverPassword: example-only")))
                    .containsExactly(SOURCE + ": databases.app.users.alice.auth: cannot check scram-sha-256 logins"
                            + " against the md5 hash in password (value 'scram-sha-256'; accepted: md5 or password"
                            + " with an md5 hash; scram-sha-256 needs a plain-text password or SCRAM-SHA-256"
                            + " verifier)");
        }

        @Test
        void compatibleHashesAreAccepted() throws Exception {
            String yaml = """
                    databases:
                      app:
                        endpoints: [{host: db1}]
                        users:
                          a: {password: %s, auth: md5, serverPassword: pa}
                          b: {password: %s, auth: password, serverPassword: pb}
                          c: {password: %s, auth: scram-sha-256, serverPassword: pc}
                          d: {password: %s, auth: password, serverPassword: pd}
                          e: {password: plain, auth: md5}
                    """.formatted(MD5_HASH, MD5_HASH, VERIFIER, VERIFIER);
            var users = parse(yaml).databases().get("app").users();
            assertThat(users.get("a").password()).isInstanceOf(Secret.Md5.class);
            assertThat(users.get("b").password()).isInstanceOf(Secret.Md5.class);
            assertThat(users.get("c").password()).isInstanceOf(Secret.Scram.class);
            assertThat(users.get("d").password()).isInstanceOf(Secret.Scram.class);
            assertThat(users.get("c").serverPassword()).isEqualTo("pc");
            assertThat(users.get("e").serverPassword()).isEqualTo("plain");
        }

        @Test
        void serverPasswordIsRequiredWhenPasswordIsAHashOrVerifier() {
            String yaml = """
                    databases:
                      app:
                        endpoints: [{host: db1}]
                        users:
                          hashed: {password: %s, auth: md5}
                          verified: {password: "%s"}
                    """.formatted(MD5_HASH, VERIFIER);
            assertThat(problems(yaml))
                    .containsExactly(
                            SOURCE + ": databases.app.users.hashed.serverPassword: is required because password is an"
                                    + " md5 hash and the pooler cannot log in to the server with it (accepted: the"
                                    + " server password in plain text)",
                            SOURCE + ": databases.app.users.verified.serverPassword: is required because password is"
                                    + " a SCRAM-SHA-256 verifier and the pooler cannot log in to the server with it"
                                    + " (accepted: the server password in plain text)");
        }

        @Test
        void serverPasswordMustBePlainText() {
            assertThat(problems(withAlice("password: secret\nserverPassword: " + MD5_HASH)))
                    .containsExactly(SOURCE + ": databases.app.users.alice.serverPassword: must be plain text: the"
                            + " pooler cannot log in to the server with a hash or verifier (value '<redacted>';"
                            + " accepted: the server password in plain text)");
            assertThat(problems(withAlice("password: secret\nserverPassword: \"" + VERIFIER + "\"")))
                    .containsExactly(SOURCE + ": databases.app.users.alice.serverPassword: must be plain text: the"
                            + " pooler cannot log in to the server with a hash or verifier (value '<redacted>';"
                            + " accepted: the server password in plain text)");
        }

        @Test
        void malformedVerifierBecomesAConfigProblem() {
            assertThat(problems(withAlice("password: SCRAM-SHA-256$many:c2FsdA==$AAAA:BBBB\nserverPassword: x")))
                    .singleElement()
                    .asString()
                    .startsWith(SOURCE + ": databases.app.users.alice.password: is not valid: ")
                    .endsWith(" (value '<redacted>'; accepted: " + PASSWORD + ")");
        }

        @Test
        void serverUserDefaultsToTheUserNameAndCanDiffer() throws Exception {
            var users = parse("""
                            databases:
                              app:
                                endpoints: [{host: db1}]
                                users:
                                  same: {password: p}
                                  other: {password: p, serverUser: real_role}
                            """).databases().get("app").users();
            assertThat(users.get("same").serverUser()).isEqualTo("same");
            assertThat(users.get("other").serverUser()).isEqualTo("real_role");
        }

        @Test
        void unknownAuthMethodIsRejected() {
            assertThat(problems(withAlice("password: p\nauth: scram")))
                    .containsExactly(SOURCE + ": databases.app.users.alice.auth: is not a known value (value 'scram';"
                            + " accepted: scram-sha-256, md5, password or trust)");
        }

        @Test
        void numericLookingPasswordKeepsItsTextAsWritten() throws Exception {
            UserConfig user = parse(withAlice("password: 0123"))
                    .databases()
                    .get("app")
                    .users()
                    .get("alice");
            assertThat(user.password()).isEqualTo(new Secret.Plain("0123"));
            assertThat(user.serverPassword()).isEqualTo("0123");
        }
    }
}
