package dev.pggat.pooler.config;

import static dev.pggat.pooler.config.ConfigFixtures.MINIMAL;
import static dev.pggat.pooler.config.ConfigFixtures.SOURCE;
import static dev.pggat.pooler.config.ConfigFixtures.parse;
import static dev.pggat.pooler.config.ConfigFixtures.problems;
import static dev.pggat.pooler.config.ConfigFixtures.repoRoot;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** admin.token: the bearer token for endpoint changes, a secret that no message or toString may show. */
class ConfigAdminTokenTest {
    private static final String TOKEN = "7f3a9c2e1b8d4f6a0e5c7b9d2a4f6e8c";
    private static final String ACCEPTED = "at least 16 visible ASCII characters (no spaces), like the output of"
            + " 'openssl rand -hex 32'; or leave it out to disable changes through the admin endpoint";

    @Test
    void tokenIsAbsentByDefaultWhichDisablesChanges() throws Exception {
        assertThat(parse(MINIMAL).admin().token()).isNull();
    }

    @Test
    void tokenComesFromTheEnvironmentAndIsRedactedInToString() throws Exception {
        PoolerConfig config =
                parse("admin:\n  token: ${PGGAT_ADMIN_TOKEN}\n" + MINIMAL, Map.of("PGGAT_ADMIN_TOKEN", TOKEN));

        assertThat(config.admin()).isEqualTo(new Admin(true, "127.0.0.1", 9930, TOKEN));
        assertThat(config.admin().toString()).contains("token=<redacted>").doesNotContain(TOKEN);
        assertThat(config.toString()).doesNotContain(TOKEN);
    }

    @Test
    void emptyDefaultLeavesTheTokenUnsetAsInTheReferenceExample() throws Exception {
        String yaml = "admin:\n  token: ${PGGAT_ADMIN_TOKEN:-}\n" + MINIMAL;
        assertThat(parse(yaml).admin().token()).isNull();
        assertThat(parse(yaml, Map.of("PGGAT_ADMIN_TOKEN", TOKEN)).admin().token())
                .isEqualTo(TOKEN);
        assertThat(ConfigLoader.load(
                                repoRoot().resolve("examples/pggat.yaml"),
                                Map.of(
                                        "ALICE_PASSWORD", "a",
                                        "REPORTING_ROLE_PASSWORD", "r",
                                        "OLDUSER_PASSWORD", "o",
                                        "PGGAT_ADMIN_TOKEN", TOKEN))
                        .admin()
                        .token())
                .isEqualTo(TOKEN);
    }

    @Test
    void tokenShorterThan16CharactersIsRejectedWithoutShowingIt() throws Exception {
        assertThat(problems("admin:\n  token: short-token-15c\n" + MINIMAL))
                .containsExactly(SOURCE + ": admin.token: is shorter than 16 characters (value '<redacted>'; accepted: "
                        + ACCEPTED + ")");
        assertThat(parse("admin:\n  token: exactly-16-chars\n" + MINIMAL)
                        .admin()
                        .token())
                .isEqualTo("exactly-16-chars");
    }

    @Test
    void tokenWithSpacesOrNonAsciiIsRejectedWithoutShowingIt() {
        assertThat(problems("admin:\n  token: \"" + TOKEN + " x\"\n" + MINIMAL))
                .containsExactly(SOURCE + ": admin.token: must be visible ASCII without spaces (value '<redacted>';"
                        + " accepted: " + ACCEPTED + ")");
        assertThat(problems("admin:\n  token: " + TOKEN + "é\n" + MINIMAL))
                .containsExactly(SOURCE + ": admin.token: must be visible ASCII without spaces (value '<redacted>';"
                        + " accepted: " + ACCEPTED + ")");
    }

    @Test
    void unsetVariableIsReportedWithoutShowingTheRawValue() {
        assertThat(problems("admin:\n  token: ${PGGAT_ADMIN_TOKEN}\n" + MINIMAL))
                .containsExactly(SOURCE + ": admin.token: environment variable PGGAT_ADMIN_TOKEN is not set and has"
                        + " no default (value '<redacted>'; accepted: set PGGAT_ADMIN_TOKEN, or give a default as"
                        + " ${PGGAT_ADMIN_TOKEN:-default})");
    }

    @Test
    void misspeltTokenKeyIsSuggestedButItsValueIsNeverShown() {
        assertThat(problems("admin:\n  tokn: " + TOKEN + "\n" + MINIMAL))
                .containsExactly(SOURCE + ": admin.tokn: unknown key; did you mean 'token'? (accepted: enabled, host,"
                        + " port, token, users, statsUsers)");
    }

    @Test
    void tokenThatIsAListIsRejectedWithoutShowingItsItems() {
        assertThat(problems("admin:\n  token: [" + TOKEN + "]\n" + MINIMAL))
                .containsExactly(
                        SOURCE + ": admin.token: must be a single value, not a list (accepted: " + ACCEPTED + ")");
    }
}
