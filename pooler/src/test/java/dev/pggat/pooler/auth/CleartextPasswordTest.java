package dev.pggat.pooler.auth;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class CleartextPasswordTest {

    @Test
    void plainSecretMatchesOnlyTheSamePassword() {
        Secret secret = Secret.parse("s3cret");
        assertThat(CleartextPassword.verify(secret, "alice", "s3cret")).isTrue();
        assertThat(CleartextPassword.verify(secret, "alice", "s3cret ")).isFalse();
        assertThat(CleartextPassword.verify(secret, "alice", "S3cret")).isFalse();
        assertThat(CleartextPassword.verify(secret, "alice", "s3cre")).isFalse();
    }

    @Test
    void md5SecretIsCheckedByHashingWithTheUserName() {
        Secret secret = Secret.parse(PostgresVectors.MD5_U3_P);
        assertThat(CleartextPassword.verify(secret, "u3", "p")).isTrue();
        assertThat(CleartextPassword.verify(secret, "u3", "q")).isFalse();
        assertThat(CleartextPassword.verify(secret, "u4", "p")).isFalse();
    }

    @Test
    void scramSecretFromPostgresIsCheckedByDerivingStoredKey() {
        Secret secret = Secret.parse(PostgresVectors.SCRAM_U_P);
        assertThat(CleartextPassword.verify(secret, "u", "p")).isTrue();
        assertThat(CleartextPassword.verify(secret, "u", "P")).isFalse();
    }

    @Test
    void scramSecretAcceptsSaslPrepEquivalentPassword() {
        Secret secret = Secret.parse(PostgresVectors.SCRAM_U2);
        assertThat(CleartextPassword.verify(secret, "u2", PostgresVectors.U2_PASSWORD))
                .isTrue();
        assertThat(CleartextPassword.verify(secret, "u2", PostgresVectors.U2_PASSWORD_NORMALIZED))
                .isTrue();
        assertThat(CleartextPassword.verify(secret, "u2", "passwords fi")).isFalse();
    }

    @Test
    void emptyPasswordNeverMatches() {
        assertThat(CleartextPassword.verify(Secret.parse(""), "u", "")).isFalse();
        assertThat(CleartextPassword.verify(Secret.parse(Md5Password.hash("u", "")), "u", ""))
                .isFalse();
        assertThat(CleartextPassword.verify(Secret.parse("p"), "u", null)).isFalse();
    }
}
