package dev.pggat.pooler.config;

import static dev.pggat.pooler.config.ConfigFixtures.MINIMAL;
import static dev.pggat.pooler.config.ConfigFixtures.parse;
import static dev.pggat.pooler.config.ConfigFixtures.problems;
import static dev.pggat.pooler.config.ConfigFixtures.withAlice;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Passwords and the admin token must never reach a message or a toString, whatever is wrong around them. */
class SecretRedactionTest {
    private static final String CLIENT_SECRET = "Cl1entSecretXyz";
    private static final String SERVER_SECRET = "S3rverSecretQrs";

    @Test
    void userToStringRedactsBothPasswords() throws Exception {
        PoolerConfig config = parse(withAlice(
                "password: " + CLIENT_SECRET + "\nserverPassword: " + SERVER_SECRET + "\nserverUser: role_a"));
        UserConfig alice = config.databases().get("app").users().get("alice");

        assertThat(alice.toString())
                .isEqualTo("UserConfig[name=alice, password=<redacted>, auth=SCRAM_SHA_256, serverUser=role_a,"
                        + " serverPassword=<redacted>]");
        assertThat(config.toString()).doesNotContain(CLIENT_SECRET).doesNotContain(SERVER_SECRET);
        assertThat(alice.password().toString()).doesNotContain(CLIENT_SECRET);
    }

    @Test
    void hashesAndVerifiersAreRedactedInToString() throws Exception {
        PoolerConfig config = parse("""
                databases:
                  app:
                    endpoints: [{host: db1}]
                    users:
                      h: {password: %s, auth: md5, serverPassword: x}
                      v: {password: "%s", serverPassword: x}
                """.formatted(ConfigValidationTest.MD5_HASH, ConfigValidationTest.VERIFIER));
        String text = config.toString();
        assertThat(text).doesNotContain(ConfigValidationTest.MD5_HASH.substring(3));
        assertThat(text).doesNotContain("cGdnYXQtZXhhbXBsZS1zYWx0").doesNotContain("jR72eW");
    }

    @Test
    void noProblemMessageShowsAPassword() {
        String malformedVerifier = "SCRAM-SHA-256$12:" + CLIENT_SECRET + "$AAAA:BBBB";
        List<String> yamls = List.of(
                withAlice("password: " + malformedVerifier + "\nserverPassword: " + SERVER_SECRET),
                withAlice("password: " + CLIENT_SECRET + "\nserverPassword: " + ConfigValidationTest.MD5_HASH),
                withAlice("password: [" + CLIENT_SECRET + "]\nserverPassword: {" + SERVER_SECRET + ": 1}"),
                withAlice("password: ${" + CLIENT_SECRET + "\nserverPassword: ${1" + SERVER_SECRET + "}"),
                withAlice("pasword: " + CLIENT_SECRET + "\nserverPasword: " + SERVER_SECRET + "\nauth: trust"),
                withAlice("password: " + CLIENT_SECRET + "\n  serverPassword: " + SERVER_SECRET), // bad indentation
                withAlice("password: '" + CLIENT_SECRET + "\nserverPassword: " + SERVER_SECRET), // unclosed quote
                MINIMAL.replace("secret", CLIENT_SECRET) + "\t" + SERVER_SECRET + "\n"); // tab: YAML syntax error
        for (String yaml : yamls) {
            List<String> problems = problems(yaml, Map.of());
            assertThat(problems).as("problems for:\n%s", yaml).isNotEmpty();
            for (String problem : problems) {
                assertThat(problem).doesNotContain(CLIENT_SECRET).doesNotContain(SERVER_SECRET);
            }
        }
    }

    @Test
    void noProblemMessageShowsTheAdminToken() {
        String token = "AdminT0kenSecretValue";
        List<String> yamls = List.of(
                "admin:\n  token: " + token.substring(0, 10) + "\n" + MINIMAL, // too short
                "admin:\n  token: \"" + token + " \"\n" + MINIMAL, // space
                "admin:\n  token: ${" + token + "\n" + MINIMAL, // unclosed reference
                "admin:\n  token: {" + token + ": 1}\n" + MINIMAL, // mapping
                "admin:\n  tokens: " + token + "\n" + MINIMAL); // misspelt key
        for (String yaml : yamls) {
            List<String> problems = problems(yaml, Map.of());
            assertThat(problems).as("problems for:\n%s", yaml).isNotEmpty();
            for (String problem : problems) {
                assertThat(problem).doesNotContain(token.substring(0, 10));
            }
        }
    }

    @Test
    void misspeltPasswordKeyDoesNotShowItsValueButSuggestsTheKey() {
        assertThat(problems(withAlice("auth: trust\npasword: " + CLIENT_SECRET)))
                .containsExactly(ConfigFixtures.SOURCE + ": databases.app.users.alice.pasword: unknown key; did you"
                        + " mean 'password'? (accepted: password, auth, serverUser, serverPassword, passThrough,"
                        + " maxUserConnections)");
    }
}
