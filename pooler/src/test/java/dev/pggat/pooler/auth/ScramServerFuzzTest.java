package dev.pggat.pooler.auth;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;

/**
 * The SCRAM-SHA-256 server's side of the exchange on the data of a client's SASLInitialResponse and SASLResponse
 * messages (the input holds both, cut at its first newline, which SCRAM messages never contain). Seeds are the
 * messages of real pgjdbc and libpq logins, with the final message's nonce changed to this test's fixed server
 * nonce so that fuzzing starts past the nonce check.
 *
 * <p>Checked on every input: the only failure is an AuthFailedException with a SQLSTATE (the client gets an
 * ErrorResponse), a server-first-message is printable ASCII that extends the client's nonce, and no input logs in
 * without the password.
 */
class ScramServerFuzzTest {
    /** A server nonce the seeds can name: every "random" byte is 0x41, so the nonce is "QUFB" six times. */
    private static final SecureRandom FIXED = new SecureRandom() {
        @Override
        public void nextBytes(byte[] bytes) {
            Arrays.fill(bytes, (byte) 'A');
        }
    };

    private static final Secret.Scram VERIFIER =
            Secret.scramFor("not-to-be-guessed", Base64.getDecoder().decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);

    @FuzzTest(maxDuration = "30s")
    void clientMessages(byte[] input) {
        int cut = indexOf(input, (byte) '\n');
        byte[] first = cut < 0 ? input : Arrays.copyOfRange(input, 0, cut);
        byte[] last = cut < 0 ? new byte[0] : Arrays.copyOfRange(input, cut + 1, input.length);
        for (boolean knownUser : new boolean[] {true, false}) {
            ScramServer server = ScramServer.create(knownUser ? VERIFIER : null, "app", FIXED);
            byte[] serverFirst;
            try {
                serverFirst = server.clientFirst(ScramCrypto.MECHANISM_NAME, first);
            } catch (AuthFailedException e) {
                assertThat(e.sqlState()).hasSize(5);
                continue;
            }
            String text = new String(serverFirst, java.nio.charset.StandardCharsets.ISO_8859_1);
            assertThat(text).matches("r=[!-+\\--~]+,s=[A-Za-z0-9+/=]+,i=[0-9]+");
            try {
                server.clientFinal(last);
                throw new AssertionError("logged in without the password: " + Arrays.toString(input));
            } catch (AuthFailedException e) {
                assertThat(e.sqlState()).hasSize(5);
            }
            assertThat(server.clientKey()).isEmpty();
        }
    }

    private static int indexOf(byte[] b, byte v) {
        for (int i = 0; i < b.length; i++) {
            if (b[i] == v) {
                return i;
            }
        }
        return -1;
    }
}
