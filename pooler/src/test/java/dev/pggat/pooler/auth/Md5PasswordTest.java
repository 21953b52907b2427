package dev.pggat.pooler.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

class Md5PasswordTest {
    private static final byte[] SALT = {(byte) 0x9a, 0x01, (byte) 0xff, 0x3c};

    /** Independent computation of PostgreSQL's rule, straight from MessageDigest. */
    private static String md5Hex(byte[]... parts) throws Exception {
        MessageDigest md5 = MessageDigest.getInstance("MD5");
        for (byte[] part : parts) {
            md5.update(part);
        }
        return HexFormat.of().formatHex(md5.digest());
    }

    @Test
    void hashIsMd5OfPasswordFollowedByUser() throws Exception {
        String expected = "md5" + md5Hex("foouser".getBytes(StandardCharsets.UTF_8));
        assertThat(Md5Password.hash("user", "foo")).isEqualTo(expected);
    }

    @Test
    void hashMatchesWhatPostgresStored() {
        assertThat(Md5Password.hash("u3", "p")).isEqualTo(PostgresVectors.MD5_U3_P);
    }

    @Test
    void responseIsMd5OfHexHashFollowedBySalt() throws Exception {
        String inner = md5Hex("foouser".getBytes(StandardCharsets.UTF_8));
        String expected = "md5" + md5Hex(inner.getBytes(StandardCharsets.US_ASCII), SALT);
        assertThat(Md5Password.response("md5" + inner, SALT)).isEqualTo(expected);
    }

    @Test
    void verifyAcceptsTheRightAnswerForPlainAndMd5Secrets() {
        String answer = Md5Password.response(Md5Password.hash("u3", "p"), SALT);
        assertThat(Md5Password.verify(Secret.parse("p"), "u3", SALT, answer)).isTrue();
        assertThat(Md5Password.verify(Secret.parse(PostgresVectors.MD5_U3_P), "u3", SALT, answer))
                .isTrue();
    }

    @Test
    void verifyRejectsWrongPasswordUserOrSalt() {
        Secret secret = Secret.parse(PostgresVectors.MD5_U3_P);
        byte[] otherSalt = {1, 2, 3, 4};
        assertThat(Md5Password.verify(secret, "u3", SALT, Md5Password.response(Md5Password.hash("u3", "q"), SALT)))
                .isFalse();
        assertThat(Md5Password.verify(
                        Secret.parse("p"), "u3", SALT, Md5Password.response(Md5Password.hash("u4", "p"), SALT)))
                .isFalse();
        assertThat(Md5Password.verify(secret, "u3", SALT, Md5Password.response(PostgresVectors.MD5_U3_P, otherSalt)))
                .isFalse();
        assertThat(Md5Password.verify(secret, "u3", SALT, "")).isFalse();
        assertThat(Md5Password.verify(secret, "u3", SALT, null)).isFalse();
    }

    @Test
    void verifyIsFalseForScramSecretEvenWithTheRightPassword() {
        String answer = Md5Password.response(Md5Password.hash("u", "p"), SALT);
        assertThat(Md5Password.verify(Secret.parse(PostgresVectors.SCRAM_U_P), "u", SALT, answer))
                .isFalse();
    }

    @Test
    void verifyIsFalseForEmptyPlainPassword() {
        String answer = Md5Password.response(Md5Password.hash("u", ""), SALT);
        assertThat(Md5Password.verify(Secret.parse(""), "u", SALT, answer)).isFalse();
    }

    @Test
    void rejectsSaltThatIsNotFourBytes() {
        assertThatThrownBy(() -> Md5Password.response(PostgresVectors.MD5_U3_P, new byte[3]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("4 bytes");
    }
}
