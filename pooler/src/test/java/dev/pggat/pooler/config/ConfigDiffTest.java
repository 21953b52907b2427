package dev.pggat.pooler.config;

import static dev.pggat.pooler.config.ConfigFixtures.repoRoot;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Which keys a reload would have to report: named as in the file, never with their values. */
class ConfigDiffTest {
    private static final String ROTATED = "rotated-alice-secret";
    private static final Map<String, String> ENV =
            Map.of("ALICE_PASSWORD", "alice-secret", "REPORTING_ROLE_PASSWORD", "r", "OLDUSER_PASSWORD", "o");

    private static String example() throws Exception {
        return Files.readString(repoRoot().resolve("examples/pggat.yaml"));
    }

    private static String replaceOnce(String text, String from, String to) {
        assertThat(text).containsOnlyOnce(from);
        return text.replace(from, to);
    }

    @Test
    void twoLoadsOfTheSameFileDifferInNoKey() throws Exception {
        // Every section of the reference example, including secrets, rules with CIDRs and per-endpoint TLS.
        PoolerConfig a = ConfigLoader.parse(example(), "pggat.yaml", ENV);
        PoolerConfig b = ConfigLoader.parse(example(), "pggat.yaml", ENV);
        assertThat(ConfigDiff.changedKeys(a, b)).isEmpty();
    }

    @Test
    void aChangedDiscoverySourceAndADatabasesSourceAreNamed() throws Exception {
        PoolerConfig was = ConfigLoader.parse(example(), "pggat.yaml", ENV);
        String yaml = replaceOnce(example(), "instances: orders-.*", "instances: billing-.*");
        yaml = replaceOnce(yaml, "    discovery: ha", "    discovery: gcp");
        PoolerConfig now = ConfigLoader.parse(yaml, "pggat.yaml", ENV);
        assertThat(ConfigDiff.changedKeys(was, now)).contains("discovery.gcp").anyMatch(k -> k.endsWith(".discovery"));
    }

    @Test
    void eachChangeIsNamedByItsYamlKeyWithoutItsValue() throws Exception {
        PoolerConfig was = ConfigLoader.parse(example(), "pggat.yaml", ENV);
        String yaml = example();
        yaml = replaceOnce(yaml, "  queryWait: 30s ", "  queryWait: 45s ");
        yaml = replaceOnce(yaml, "  mode: prefer ", "  mode: require ");
        yaml = replaceOnce(yaml, "  clientCert: none ", "  clientCert: verify-ca ");
        yaml = replaceOnce(yaml, "  maxFailedLogins: 10 ", "  maxFailedLogins: 3 ");
        yaml = replaceOnce(yaml, "    mode: transaction           # default: pools.mode", "    mode: session");
        yaml = replaceOnce(yaml, "          sslmode: require", "          sslmode: prefer");
        yaml = replaceOnce(yaml, "        zone: zone-b", "        zone: zone-c");
        Map<String, String> env = new java.util.HashMap<>(ENV);
        env.put("ALICE_PASSWORD", ROTATED);
        PoolerConfig now = ConfigLoader.parse(yaml, "pggat.yaml", env);

        List<String> keys = ConfigDiff.changedKeys(was, now);
        assertThat(keys)
                .containsExactly(
                        "timeouts.queryWait",
                        "databases.app.endpoints",
                        "databases.app.mode",
                        "databases.app.users.alice.password",
                        "databases.app.users.alice.serverPassword",
                        "databases.app.endpoints[0].serverTls",
                        "tls.mode",
                        "tls.clientCert",
                        "auth.maxFailedLogins");
        assertThat(String.join(" ", keys)).doesNotContain(ROTATED).doesNotContain("alice-secret");
    }

    @Test
    void addedAndRemovedDatabasesAndUsersAreOneKeyEach() throws Exception {
        PoolerConfig was = ConfigFixtures.parse(ConfigFixtures.MINIMAL);
        PoolerConfig now = ConfigFixtures.parse("""
                databases:
                  app:
                    endpoints:
                      - host: db1
                    users:
                      alice:
                        password: secret
                      bob: {password: b}
                  "other.db":
                    endpoints: [{host: db2}]
                    users: {carol: {password: c}}
                """);
        assertThat(ConfigDiff.changedKeys(was, now))
                .containsExactly("databases.app.users.bob", "databases.\"other.db\"");
        assertThat(ConfigDiff.changedKeys(now, was))
                .containsExactly("databases.app.users.bob", "databases.\"other.db\"");
    }

    @Test
    void recordComponentsCarryTheYamlKeyNames() {
        // ConfigDiff names keys after record components; a component named unlike its key would mislead the log.
        assertNamedAsKeys(Listen.class, ConfigBinder.LISTEN_KEYS);
        assertNamedAsKeys(Admin.class, ConfigBinder.ADMIN_KEYS);
        assertNamedAsKeys(Limits.class, ConfigBinder.LIMITS_KEYS);
        assertNamedAsKeys(Timeouts.class, ConfigBinder.TIMEOUTS_KEYS);
        assertNamedAsKeys(PoolDefaults.class, ConfigBinder.POOLS_KEYS);
        assertNamedAsKeys(DatabaseConfig.class, ConfigBinder.DATABASE_KEYS);
        assertNamedAsKeys(UserConfig.class, ConfigBinder.USER_KEYS);
        assertNamedAsKeys(RoutingConfig.class, ConfigBinder.ROUTING_KEYS);
        assertNamedAsKeys(ClientTlsSettings.class, ConfigBinder.TLS_KEYS);
        assertNamedAsKeys(AuthSettings.class, ConfigBinder.AUTH_KEYS);
        assertNamedAsKeys(CredentialSettings.class, ConfigBinder.CREDENTIALS_KEYS);
        assertNamedAsKeys(AuthQuerySettings.class, ConfigBinder.AUTH_QUERY_KEYS);
    }

    private static void assertNamedAsKeys(Class<? extends Record> type, List<String> keys) {
        List<String> names = Arrays.stream(type.getRecordComponents())
                .flatMap(c -> c.getType() == PoolLimits.class
                        ? Arrays.stream(PoolLimits.class.getRecordComponents())
                        : java.util.stream.Stream.of(c))
                .map(RecordComponent::getName)
                .filter(n -> !n.equals("name"))
                .map(n -> ConfigDiff.yamlName(type, n))
                .toList();
        assertThat(keys).as(type.getSimpleName()).containsAll(names);
    }
}
