package dev.pggat.pooler.config;

import static dev.pggat.pooler.config.ConfigFixtures.MINIMAL;
import static dev.pggat.pooler.config.ConfigFixtures.SOURCE;
import static dev.pggat.pooler.config.ConfigFixtures.parse;
import static dev.pggat.pooler.config.ConfigFixtures.problems;
import static dev.pggat.pooler.config.ConfigFixtures.withAlice;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class EnvSubstitutionTest {
    private static final String SYNTAX = "${NAME}, ${NAME:-default}, or $${ for a literal ${";

    private static UserConfig alice(String settings, Map<String, String> env) throws ConfigException {
        return parse(withAlice(settings), env).databases().get("app").users().get("alice");
    }

    @Test
    void substitutesVariableFromEnvironment() throws Exception {
        assertThat(alice("password: ${PW}", Map.of("PW", "from-env")).serverPassword())
                .isEqualTo("from-env");
    }

    @Test
    void substitutesInsideLongerText() throws Exception {
        PoolerConfig config =
                parse("listen:\n  host: ${PREFIX}.${SUFFIX}\n" + MINIMAL, Map.of("PREFIX", "pg", "SUFFIX", "local"));
        assertThat(config.listen().host()).isEqualTo("pg.local");
    }

    @Test
    void defaultAppliesWhenVariableIsUnsetOrEmpty() throws Exception {
        String yaml = "listen:\n  host: ${HOST:-127.0.0.2}\n" + MINIMAL;
        assertThat(parse(yaml, Map.of()).listen().host()).isEqualTo("127.0.0.2");
        assertThat(parse(yaml, Map.of("HOST", "")).listen().host()).isEqualTo("127.0.0.2");
        assertThat(parse(yaml, Map.of("HOST", "10.1.2.3")).listen().host()).isEqualTo("10.1.2.3");
    }

    @Test
    void emptyDefaultMeansTheKeyDefault() throws Exception {
        assertThat(parse("listen:\n  port: ${PORT:-}\n" + MINIMAL, Map.of())
                        .listen()
                        .port())
                .isEqualTo(6432);
    }

    @Test
    void substitutedTextIsConvertedToTheKeyType() throws Exception {
        PoolerConfig config = parse(
                "listen:\n  port: ${PORT}\nadmin:\n  enabled: ${ADMIN}\ntimeouts:\n  queryWait: ${WAIT}\n" + MINIMAL,
                Map.of("PORT", "7432", "ADMIN", "false", "WAIT", "2m"));
        assertThat(config.listen().port()).isEqualTo(7432);
        assertThat(config.admin().enabled()).isFalse();
        assertThat(config.timeouts().queryWait()).hasMinutes(2);
    }

    @Test
    void valueWithYamlSpecialCharactersCannotBreakTheFile() throws Exception {
        String nasty = "p: #w'\"\n  users: {}\n- ]{";
        UserConfig user = alice("password: ${PW}", Map.of("PW", nasty));
        assertThat(user.serverPassword()).isEqualTo(nasty);
    }

    @Test
    void doubleDollarEscapesALiteralPlaceholder() throws Exception {
        UserConfig user = alice("password: a$${NOT_A_VAR}b", Map.of("NOT_A_VAR", "oops"));
        assertThat(user.serverPassword()).isEqualTo("a${NOT_A_VAR}b");
    }

    @Test
    void dollarSignsOutsidePlaceholdersAreKept() throws Exception {
        assertThat(alice("password: pa$$w$rd$", Map.of()).serverPassword()).isEqualTo("pa$$w$rd$");
    }

    @Test
    void substitutedValueIsNotScannedAgain() throws Exception {
        assertThat(alice("password: ${PW}", Map.of("PW", "${OTHER}", "OTHER", "nope"))
                        .serverPassword())
                .isEqualTo("${OTHER}");
    }

    @Test
    void missingVariableWithoutDefaultNamesTheVariableAndTheKey() {
        assertThat(problems("listen:\n  port: ${PGGAT_PORT}\n" + MINIMAL))
                .containsExactly(SOURCE + ": listen.port: environment variable PGGAT_PORT is not set and has no default"
                        + " (value '${PGGAT_PORT}'; accepted: set PGGAT_PORT, or give a default as"
                        + " ${PGGAT_PORT:-default})");
    }

    @Test
    void missingVariableInAPasswordRedactsTheValue() {
        assertThat(problems(withAlice("password: ${ALICE_PASSWORD}")))
                .containsExactly(SOURCE + ": databases.app.users.alice.password: environment variable ALICE_PASSWORD"
                        + " is not set and has no default (value '<redacted>'; accepted: set ALICE_PASSWORD, or give a"
                        + " default as ${ALICE_PASSWORD:-default})");
    }

    @Test
    void everyMissingVariableInOneValueIsReported() {
        assertThat(problems("listen:\n  host: ${A}-${B}\n" + MINIMAL))
                .containsExactly(
                        SOURCE + ": listen.host: environment variable A is not set and has no default (value"
                                + " '${A}-${B}'; accepted: set A, or give a default as ${A:-default})",
                        SOURCE + ": listen.host: environment variable B is not set and has no default (value"
                                + " '${A}-${B}'; accepted: set B, or give a default as ${B:-default})");
    }

    @Test
    void variableSetToEmptyWithoutDefaultLeavesTheValueEmpty() throws Exception {
        assertThat(parse("listen:\n  host: ${HOST}\n" + MINIMAL, Map.of("HOST", ""))
                        .listen()
                        .host())
                .as("an empty value means the key's default")
                .isEqualTo("0.0.0.0");
    }

    @Test
    void unterminatedPlaceholderIsRejected() {
        assertThat(problems("listen:\n  host: ${HOST\n" + MINIMAL))
                .containsExactly(
                        SOURCE + ": listen.host: has an unterminated '${' (value '${HOST'; accepted: " + SYNTAX + ")");
    }

    @Test
    void invalidVariableNameIsRejected() {
        assertThat(problems("listen:\n  host: ${1HOST}\n" + MINIMAL))
                .containsExactly(SOURCE + ": listen.host: has an invalid environment variable name in '${...}' (value"
                        + " '${1HOST}'; accepted: names of letters, digits and '_' not starting with a digit, in "
                        + SYNTAX + ")");
    }

    @Test
    void keysAreNotSubstituted() {
        assertThat(problems("listen:\n  ${KEY}: 1\n" + MINIMAL, Map.of("KEY", "port")))
                .containsExactly(SOURCE + ": listen.${KEY}: unknown key (accepted: host, port)");
    }
}
