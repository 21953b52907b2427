package dev.pggat.pooler.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.security.SecureRandom;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SecretTest {

    @Test
    void parsesPlainTextAsPlain() {
        Secret secret = Secret.parse("hunter2");
        assertThat(secret).isInstanceOf(Secret.Plain.class);
        assertThat(((Secret.Plain) secret).password()).isEqualTo("hunter2");
    }

    @Test
    void parsesMd5HashAndLowerCasesIt() {
        Secret lower = Secret.parse(PostgresVectors.MD5_U3_P);
        Secret upper =
                Secret.parse("md5" + PostgresVectors.MD5_U3_P.substring(3).toUpperCase());
        assertThat(lower).isInstanceOf(Secret.Md5.class);
        assertThat(((Secret.Md5) lower).hash()).isEqualTo(PostgresVectors.MD5_U3_P);
        assertThat(((Secret.Md5) upper).hash()).isEqualTo(PostgresVectors.MD5_U3_P);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "md5",
                "md5ef6c69b71c8fa6f813b0fe1c883b731",
                "md5ef6c69b71c8fa6f813b0fe1c883b7319a",
                "md5zz6c69b71c8fa6f813b0fe1c883b7319"
            })
    void treatsAlmostMd5ValuesAsPlainPasswords(String value) {
        assertThat(Secret.parse(value)).isInstanceOf(Secret.Plain.class);
    }

    @Test
    void parsesPostgresScramVerifier() {
        Secret secret = Secret.parse(PostgresVectors.SCRAM_U_P);
        assertThat(secret).isInstanceOf(Secret.Scram.class);
        Secret.Scram scram = (Secret.Scram) secret;
        assertThat(scram.iterations()).isEqualTo(4096);
        assertThat(scram.salt()).isEqualTo(Base64.getDecoder().decode("cfrT6wfGcHgAgQEsF6ewAA=="));
        assertThat(scram.storedKey())
                .isEqualTo(Base64.getDecoder().decode("dk64xL/oJROK4ydaQXMZ3RLYdqgAASPhvvZVESpfdDU="));
        assertThat(scram.serverKey())
                .isEqualTo(Base64.getDecoder().decode("VMGNCH63olaPV6xTBzTX2yV0ac/Yv4c/31h79cm7bmk="));
        assertThat(scram.toVerifierString()).isEqualTo(PostgresVectors.SCRAM_U_P);
    }

    @Test
    void derivesTheSameVerifierAsPostgresForTheSameSalt() {
        Secret.Scram fromPostgres = (Secret.Scram) Secret.parse(PostgresVectors.SCRAM_U_P);
        Secret.Scram ours = Secret.scramFor("p", fromPostgres.salt(), fromPostgres.iterations());
        assertThat(ours.toVerifierString()).isEqualTo(PostgresVectors.SCRAM_U_P);

        Secret.Scram unicode = (Secret.Scram) Secret.parse(PostgresVectors.SCRAM_U2);
        assertThat(Secret.scramFor(PostgresVectors.U2_PASSWORD, unicode.salt(), 4096)
                        .toVerifierString())
                .isEqualTo(PostgresVectors.SCRAM_U2);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "SCRAM-SHA-256$",
                "SCRAM-SHA-256$4096:c2FsdHNhbHQ=",
                "SCRAM-SHA-256$4096:c2FsdHNhbHQ=$dk64xL/oJROK4ydaQXMZ3RLYdqgAASPhvvZVESpfdDU=",
                "SCRAM-SHA-256$many:cfrT6wfGcHgAgQEsF6ewAA==$dk64xL/oJROK4ydaQXMZ3RLYdqgAASPhvvZVESpfdDU=:VMGNCH63olaPV6xTBzTX2yV0ac/Yv4c/31h79cm7bmk=",
                "SCRAM-SHA-256$0:cfrT6wfGcHgAgQEsF6ewAA==$dk64xL/oJROK4ydaQXMZ3RLYdqgAASPhvvZVESpfdDU=:VMGNCH63olaPV6xTBzTX2yV0ac/Yv4c/31h79cm7bmk=",
                "SCRAM-SHA-256$4096:$dk64xL/oJROK4ydaQXMZ3RLYdqgAASPhvvZVESpfdDU=:VMGNCH63olaPV6xTBzTX2yV0ac/Yv4c/31h79cm7bmk=",
                "SCRAM-SHA-256$4096:not*base64$dk64xL/oJROK4ydaQXMZ3RLYdqgAASPhvvZVESpfdDU=:VMGNCH63olaPV6xTBzTX2yV0ac/Yv4c/31h79cm7bmk=",
                "SCRAM-SHA-256$4096:cfrT6wfGcHgAgQEsF6ewAA==$c2hvcnQ=:VMGNCH63olaPV6xTBzTX2yV0ac/Yv4c/31h79cm7bmk=",
                "SCRAM-SHA-256$4096:cfrT6wfGcHgAgQEsF6ewAA==$dk64xL/oJROK4ydaQXMZ3RLYdqgAASPhvvZVESpfdDU=:VMGNCH63olaPV6xTBzTX2yV0ac/Yv4c/31h79cm7bmk=$x",
                "SCRAM-SHA-256$4096:cfrT6wfGcHgAgQEsF6ewAA==:x$dk64xL/oJROK4ydaQXMZ3RLYdqgAASPhvvZVESpfdDU=:VMGNCH63olaPV6xTBzTX2yV0ac/Yv4c/31h79cm7bmk="
            })
    void rejectsMalformedScramVerifierWithoutEchoingIt(String value) {
        assertThatThrownBy(() -> Secret.parse(value))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>")
                .satisfies(e -> {
                    String afterScheme = value.substring("SCRAM-SHA-256$".length());
                    if (!afterScheme.isEmpty()) {
                        assertThat(e.getMessage()).doesNotContain(afterScheme);
                    }
                });
    }

    @Test
    void toStringNeverRevealsTheSecret() {
        Secret plain = Secret.parse("hunter2");
        Secret md5 = Secret.parse(PostgresVectors.MD5_U3_P);
        Secret scram = Secret.parse(PostgresVectors.SCRAM_U_P);
        assertThat(plain.toString()).doesNotContain("hunter2").contains("redacted");
        assertThat(md5.toString()).doesNotContain("ef6c69b7").contains("redacted");
        assertThat(scram.toString())
                .doesNotContain("cfrT6wfG")
                .doesNotContain("dk64xL")
                .doesNotContain("VMGNCH")
                .contains("redacted");
    }

    @Test
    void scramForUsesFreshSixteenByteSaltAnd4096Iterations() {
        SecureRandom random = new SecureRandom();
        Secret.Scram first = Secret.scramFor("pencil", random);
        Secret.Scram second = Secret.scramFor("pencil", random);
        assertThat(first.iterations()).isEqualTo(4096);
        assertThat(first.salt()).hasSize(16);
        assertThat(first.salt()).isNotEqualTo(second.salt());
        assertThat(first.storedKey()).isNotEqualTo(second.storedKey());
        assertThat(CleartextPassword.verify(first, "any", "pencil")).isTrue();
        assertThat(CleartextPassword.verify(second, "any", "pencil")).isTrue();
        assertThat(Secret.parse(first.toVerifierString())).isEqualTo(first);
    }

    @Test
    void scramForAppliesSaslPrep() {
        Secret.Scram verifier = Secret.scramFor(PostgresVectors.U2_PASSWORD, new SecureRandom());
        assertThat(CleartextPassword.verify(verifier, "u2", PostgresVectors.U2_PASSWORD_NORMALIZED))
                .isTrue();
    }

    @Test
    void scramForRefusesEmptyPassword() {
        assertThatThrownBy(() -> Secret.scramFor("", new SecureRandom())).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void scramAccessorsReturnCopies() {
        Secret.Scram scram = (Secret.Scram) Secret.parse(PostgresVectors.SCRAM_U_P);
        scram.storedKey()[0] ^= 1;
        scram.salt()[0] ^= 1;
        assertThat(scram.toVerifierString()).isEqualTo(PostgresVectors.SCRAM_U_P);
    }
}
