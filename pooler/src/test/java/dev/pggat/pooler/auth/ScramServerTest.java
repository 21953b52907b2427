package dev.pggat.pooler.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ScramServerTest {
    private static final String MECH = "SCRAM-SHA-256";
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Pattern SERVER_FIRST =
            Pattern.compile("r=(?<nonce>[\\x21-\\x2b\\x2d-\\x7e]+),s=(?<salt>[A-Za-z0-9+/=]+),i=(?<iter>[0-9]+)");
    private static final String CLIENT_NONCE = "fyko+d2lbbFgONRv9qkxdawL";

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private static String text(byte[] b) {
        return new String(b, StandardCharsets.US_ASCII);
    }

    private static Matcher serverFirst(byte[] message) {
        Matcher m = SERVER_FIRST.matcher(text(message));
        assertThat(m.matches()).as("server-first-message %s", text(message)).isTrue();
        return m;
    }

    private static AuthFailedException authFailure(ThrowingCall call) {
        Throwable thrown = catchThrowable(call::run);
        assertThat(thrown).isInstanceOf(AuthFailedException.class);
        return (AuthFailedException) thrown;
    }

    @FunctionalInterface
    interface ThrowingCall {
        void run() throws Exception;
    }

    /** Runs a full exchange between the production client and server. */
    private static void login(Secret serverSecret, String user, String clientPassword) throws AuthFailedException {
        ScramClient client = new ScramClient(clientPassword, List.of("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"));
        ScramServer server = ScramServer.create(serverSecret, user, RANDOM);
        byte[] serverFirst = server.clientFirst(client.mechanism(), client.clientFirst());
        byte[] clientFinal = client.serverFirst(serverFirst);
        client.serverFinal(server.clientFinal(clientFinal));
    }

    @Test
    void rfc7677TestVectorProducesTheRfcMessages() throws Exception {
        // RFC 7677 section 3: user "user", password "pencil", fixed nonces and salt.
        Secret.Scram verifier = Secret.scramFor("pencil", Base64.getDecoder().decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
        ScramServer server = new ScramServer(verifier, false, "user", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");

        byte[] serverFirst = server.clientFirst(MECH, ascii("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
        assertThat(text(serverFirst))
                .isEqualTo("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");

        byte[] serverFinal = server.clientFinal(ascii("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                + "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
        assertThat(text(serverFinal)).isEqualTo("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }

    @Test
    void rfc7677ProofForAnotherPasswordFailsWith28P01() throws Exception {
        Secret.Scram verifier =
                Secret.scramFor("pencil2", Base64.getDecoder().decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
        ScramServer server = new ScramServer(verifier, false, "user", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        server.clientFirst(MECH, ascii("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
        AuthFailedException e = authFailure(
                () -> server.clientFinal(ascii("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                        + "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")));
        assertThat(e.sqlState()).isEqualTo("28P01");
    }

    @Test
    void clientAndServerAgreeWithPlainSecret() throws Exception {
        login(Secret.parse("correct horse"), "alice", "correct horse");
    }

    @Test
    void clientAndServerAgreeWithPostgresVerifier() throws Exception {
        login(Secret.parse(PostgresVectors.SCRAM_U_P), "u", "p");
    }

    @Test
    void clientAndServerAgreeWithFreshVerifier() throws Exception {
        login(Secret.scramFor("pencil", RANDOM), "bob", "pencil");
    }

    @Test
    void saslPrepEquivalentPasswordLogsIn() throws Exception {
        login(Secret.parse(PostgresVectors.SCRAM_U2), "u2", PostgresVectors.U2_PASSWORD_NORMALIZED);
        login(Secret.parse(PostgresVectors.U2_PASSWORD), "u2", PostgresVectors.U2_PASSWORD_NORMALIZED);
    }

    @Test
    void wrongPasswordFailsWith28P01() {
        AuthFailedException e = authFailure(() -> login(Secret.parse(PostgresVectors.SCRAM_U_P), "u", "not p"));
        assertThat(e.sqlState()).isEqualTo("28P01");
        assertThat(e.getMessage()).isEqualTo("password authentication failed for user \"u\"");

        AuthFailedException plain = authFailure(() -> login(Secret.parse("secret"), "alice", "Secret"));
        assertThat(plain.sqlState()).isEqualTo("28P01");
    }

    @Test
    void serverFirstMessageHasPostgresShape() throws Exception {
        ScramServer server = ScramServer.create(Secret.parse(PostgresVectors.SCRAM_U_P), "u", RANDOM);
        Matcher m = serverFirst(server.clientFirst(MECH, ascii("n,,n=,r=" + CLIENT_NONCE)));
        assertThat(m.group("nonce")).startsWith(CLIENT_NONCE);
        String serverNonce = m.group("nonce").substring(CLIENT_NONCE.length());
        assertThat(Base64.getDecoder().decode(serverNonce)).hasSize(18);
        assertThat(m.group("salt")).isEqualTo("cfrT6wfGcHgAgQEsF6ewAA==");
        assertThat(m.group("iter")).isEqualTo("4096");
    }

    @Test
    void plainSecretKeepsTheSameSaltAcrossExchanges() throws Exception {
        Secret secret = Secret.parse("stable");
        String first = serverFirst(ScramServer.create(secret, "a", RANDOM).clientFirst(MECH, ascii("n,,n=,r=x")))
                .group("salt");
        String second = serverFirst(ScramServer.create(secret, "a", RANDOM).clientFirst(MECH, ascii("n,,n=,r=x")))
                .group("salt");
        assertThat(first).isEqualTo(second);
        assertThat(Base64.getDecoder().decode(first)).hasSize(16);
    }

    @Test
    void unknownUserGetsMockExchangeThatFailsOnlyAtFinalStep() throws Exception {
        TestScramClient client = new TestScramClient("n,,", CLIENT_NONCE, "whatever");
        ScramServer server = ScramServer.create(null, "ghost", RANDOM);

        byte[] serverFirst = server.clientFirst(MECH, client.first());
        Matcher m = serverFirst(serverFirst);
        assertThat(m.group("iter")).isEqualTo("4096");
        assertThat(Base64.getDecoder().decode(m.group("salt"))).hasSize(16);
        assertThat(m.group("nonce")).startsWith(CLIENT_NONCE).hasSize(CLIENT_NONCE.length() + 24);

        AuthFailedException e = authFailure(() -> server.clientFinal(client.last(serverFirst)));
        assertThat(e.sqlState()).isEqualTo("28P01");
        assertThat(e.getMessage()).isEqualTo("password authentication failed for user \"ghost\"");
    }

    @Test
    void doomedExchangeFailsEvenWhenTheProofIsValid() throws Exception {
        // Mock keys are random so a proof cannot match by accident; this pins the explicit refusal as well.
        TestScramClient client = new TestScramClient("n,,", CLIENT_NONCE, "p");
        ScramServer server =
                new ScramServer((Secret.Scram) Secret.parse(PostgresVectors.SCRAM_U_P), true, "u", "serverNonce");
        byte[] serverFirst = server.clientFirst(MECH, client.first());
        AuthFailedException e = authFailure(() -> server.clientFinal(client.last(serverFirst)));
        assertThat(e.sqlState()).isEqualTo("28P01");
    }

    @Test
    void mockSaltIsStablePerNameAndDiffersBetweenNames() throws Exception {
        byte[] first = ascii("n,,n=,r=abc");
        String ghost1 = serverFirst(ScramServer.create(null, "ghost", RANDOM).clientFirst(MECH, first))
                .group("salt");
        String ghost2 = serverFirst(
                        ScramServer.create(null, "ghost", new SecureRandom()).clientFirst(MECH, first))
                .group("salt");
        String other = serverFirst(ScramServer.create(null, "phantom", RANDOM).clientFirst(MECH, first))
                .group("salt");
        assertThat(ghost1).isEqualTo(ghost2);
        assertThat(other).isNotEqualTo(ghost1);
    }

    @Test
    void md5SecretGetsMockExchangeEvenWithTheRightPassword() throws Exception {
        TestScramClient client = new TestScramClient("n,,", CLIENT_NONCE, "p");
        ScramServer server = ScramServer.create(Secret.parse(PostgresVectors.MD5_U3_P), "u3", RANDOM);
        byte[] serverFirst = server.clientFirst(MECH, client.first());
        assertThat(serverFirst(serverFirst).group("iter")).isEqualTo("4096");
        AuthFailedException e = authFailure(() -> server.clientFinal(client.last(serverFirst)));
        assertThat(e.sqlState()).isEqualTo("28P01");
        assertThat(e.getMessage()).isEqualTo("password authentication failed for user \"u3\"");
    }

    @Test
    void handDrivenClientWithNoBindingLogsInAndGetsServerSignature() throws Exception {
        TestScramClient client = new TestScramClient("n,,", CLIENT_NONCE, "p");
        ScramServer server = ScramServer.create(Secret.parse(PostgresVectors.SCRAM_U_P), "u", RANDOM);
        byte[] serverFinal = server.clientFinal(client.last(server.clientFirst(MECH, client.first())));
        assertThat(text(serverFinal)).isEqualTo(client.expectedServerFinal());
    }

    @Test
    void clientThatSupportsBindingButSaysYIsAccepted() throws Exception {
        TestScramClient client = new TestScramClient("y,,", CLIENT_NONCE, "p");
        ScramServer server = ScramServer.create(Secret.parse(PostgresVectors.SCRAM_U_P), "u", RANDOM);
        byte[] serverFinal = server.clientFinal(client.last(server.clientFirst(MECH, client.first())));
        assertThat(text(serverFinal)).isEqualTo(client.expectedServerFinal());
    }

    @Test
    void channelBindingAttributeMustRepeatTheFlagSentFirst() throws Exception {
        TestScramClient n = new TestScramClient("n,,", CLIENT_NONCE, "p");
        ScramServer server1 = ScramServer.create(Secret.parse(PostgresVectors.SCRAM_U_P), "u", RANDOM);
        byte[] first1 = server1.clientFirst(MECH, n.first());
        AuthFailedException e1 = authFailure(() -> server1.clientFinal(n.last(first1, "eSws")));
        assertThat(e1.sqlState()).isEqualTo("08P01");
        assertThat(e1.getMessage()).isEqualTo("unexpected SCRAM channel-binding attribute in client-final-message");

        TestScramClient y = new TestScramClient("y,,", CLIENT_NONCE, "p");
        ScramServer server2 = ScramServer.create(Secret.parse(PostgresVectors.SCRAM_U_P), "u", RANDOM);
        byte[] first2 = server2.clientFirst(MECH, y.first());
        AuthFailedException e2 = authFailure(() -> server2.clientFinal(y.last(first2, "biws")));
        assertThat(e2.sqlState()).isEqualTo("08P01");
    }

    static Stream<Arguments> malformedClientFirst() {
        return Stream.of(
                Arguments.of("", "The message is empty."),
                Arguments.of("x,,n=,r=abc", "Unexpected channel-binding flag \"'x'\"."),
                Arguments.of("n;,n=,r=abc", "Comma expected, but found character \"';'\"."),
                Arguments.of("n", "Comma expected, but found character \"0x00\"."),
                Arguments.of("n,x,n=,r=abc", "Unexpected attribute \"'x'\" in client-first-message."),
                Arguments.of(
                        "p=tls-server-end-point,,n=,r=abc",
                        "The client selected SCRAM-SHA-256 without channel binding,"
                                + " but the SCRAM message includes channel binding data."),
                Arguments.of("n,,r=abc", "Expected attribute \"n\" but found \"'r'\"."),
                Arguments.of("n,,n", "Expected character \"=\" for attribute \"n\"."),
                Arguments.of("n,,n=", "Expected attribute \"r\" but found \"0x00\"."),
                Arguments.of("n,,n=,r=", "The client nonce is empty."),
                Arguments.of("n,,n=,r=abc,1=x", "Attribute expected, but found invalid character \"'1'\"."),
                Arguments.of("n,,n=,r=abc,e", "Expected character \"=\" for attribute \"e\"."),
                Arguments.of("n,,n=,r=abc\u0000", "Message length does not match input length."));
    }

    @ParameterizedTest
    @MethodSource("malformedClientFirst")
    void malformedClientFirstFailsWith08P01(String message, String detail) {
        ScramServer server = ScramServer.create(Secret.parse("p"), "u", RANDOM);
        AuthFailedException e =
                authFailure(() -> server.clientFirst(MECH, message.getBytes(StandardCharsets.ISO_8859_1)));
        assertThat(e.sqlState()).isEqualTo("08P01");
        assertThat(e.getMessage()).isEqualTo("malformed SCRAM message");
        assertThat(e.detail()).isEqualTo(detail);
    }

    @Test
    void nonPrintableNonceFailsWith08P01() {
        ScramServer server = ScramServer.create(Secret.parse("p"), "u", RANDOM);
        AuthFailedException e =
                authFailure(() -> server.clientFirst(MECH, "n,,n=,r=ab\u00e9".getBytes(StandardCharsets.ISO_8859_1)));
        assertThat(e.sqlState()).isEqualTo("08P01");
        assertThat(e.getMessage()).isEqualTo("non-printable characters in SCRAM nonce");
    }

    @Test
    void nullDataFailsWith08P01() {
        ScramServer server = ScramServer.create(Secret.parse("p"), "u", RANDOM);
        assertThat(authFailure(() -> server.clientFirst(MECH, null)).sqlState()).isEqualTo("08P01");
    }

    @Test
    void otherMechanismsFailWith08P01() {
        for (String mechanism : new String[] {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1", "PLAIN", "", null}) {
            ScramServer server = ScramServer.create(Secret.parse("p"), "u", RANDOM);
            AuthFailedException e = authFailure(() -> server.clientFirst(mechanism, ascii("n,,n=,r=abc")));
            assertThat(e.sqlState()).isEqualTo("08P01");
            assertThat(e.getMessage()).isEqualTo("client selected an invalid SASL authentication mechanism");
        }
    }

    @Test
    void authorizationIdentityAndMandatoryExtensionsAreNotSupported() {
        ScramServer s1 = ScramServer.create(Secret.parse("p"), "u", RANDOM);
        AuthFailedException authzid = authFailure(() -> s1.clientFirst(MECH, ascii("n,a=admin,n=,r=abc")));
        assertThat(authzid.sqlState()).isEqualTo("0A000");
        assertThat(authzid.getMessage()).isEqualTo("client uses authorization identity, but it is not supported");

        ScramServer s2 = ScramServer.create(Secret.parse("p"), "u", RANDOM);
        AuthFailedException mext = authFailure(() -> s2.clientFirst(MECH, ascii("n,,m=ext,n=,r=abc")));
        assertThat(mext.sqlState()).isEqualTo("0A000");
    }

    @Test
    void optionalExtensionsAfterTheNonceAreIgnored() throws Exception {
        ScramServer server = ScramServer.create(Secret.parse("p"), "u", RANDOM);
        assertThat(serverFirst(server.clientFirst(MECH, ascii("n,,n=someone,r=abc,x=ext")))
                        .group("nonce"))
                .startsWith("abc");
    }

    /** Final-message templates; {N} is replaced with the full nonce, {P} with a well-formed 32-byte proof. */
    static Stream<Arguments> malformedClientFinal() {
        return Stream.of(
                Arguments.of("", "malformed SCRAM message", "The message is empty."),
                Arguments.of("r={N},p={P}", "malformed SCRAM message", "Expected attribute \"c\" but found \"'r'\"."),
                Arguments.of("c=biws", "malformed SCRAM message", "Expected attribute \"r\" but found \"0x00\"."),
                Arguments.of("c=biws,r={N}", "malformed SCRAM message", "Attribute expected, but found end of string."),
                Arguments.of(
                        "c=biws,r={N},x=1", "malformed SCRAM message", "Attribute expected, but found end of string."),
                Arguments.of(
                        "c=biws,r={N},-=1,p={P}",
                        "malformed SCRAM message",
                        "Attribute expected, but found invalid character \"'-'\"."),
                Arguments.of(
                        "c=biws,r={N},p=!!notbase64!!",
                        "malformed SCRAM message",
                        "Malformed proof in client-final-message."),
                Arguments.of(
                        "c=biws,r={N},p=AAAAAAAAAAAAAAAAAAAAAA==",
                        "malformed SCRAM message",
                        "Malformed proof in client-final-message."),
                Arguments.of(
                        "c=biws,r={N},p={P},x=1",
                        "malformed SCRAM message",
                        "Garbage found at the end of client-final-message."),
                Arguments.of("c=biws,r={N}X,p={P}", "invalid SCRAM response", "Nonce does not match."),
                Arguments.of("c=biws,r=" + CLIENT_NONCE + ",p={P}", "invalid SCRAM response", "Nonce does not match."),
                Arguments.of(
                        "c=biws,r={N},p={P}\u0000",
                        "malformed SCRAM message",
                        "Message length does not match input length."),
                Arguments.of(
                        "c=,r={N},p={P}", "unexpected SCRAM channel-binding attribute in client-final-message", null),
                Arguments.of(
                        "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r={N},p={P}",
                        "unexpected SCRAM channel-binding attribute in client-final-message",
                        null));
    }

    @ParameterizedTest
    @MethodSource("malformedClientFinal")
    void malformedClientFinalFailsWith08P01(String template, String message, String detail) throws Exception {
        ScramServer server = ScramServer.create(Secret.parse(PostgresVectors.SCRAM_U_P), "u", RANDOM);
        String fullNonce = serverFirst(server.clientFirst(MECH, ascii("n,,n=,r=" + CLIENT_NONCE)))
                .group("nonce");
        String proof = Base64.getEncoder().encodeToString(new byte[32]);
        String data = template.replace("{N}", fullNonce).replace("{P}", proof);

        AuthFailedException e = authFailure(() -> server.clientFinal(data.getBytes(StandardCharsets.ISO_8859_1)));
        assertThat(e.sqlState()).isEqualTo("08P01");
        assertThat(e.getMessage()).isEqualTo(message);
        assertThat(e.detail()).isEqualTo(detail);
    }

    @Test
    void extensionsBeforeTheProofAreSignedAndAccepted() throws Exception {
        TestScramClient client = new TestScramClient("n,,", CLIENT_NONCE, "p");
        ScramServer server = ScramServer.create(Secret.parse(PostgresVectors.SCRAM_U_P), "u", RANDOM);
        byte[] serverFirst = server.clientFirst(MECH, client.first());
        // A proof computed without the extension must not verify once the extension is inserted.
        String valid = text(client.last(serverFirst));
        String tampered = valid.replace(",p=", ",x=ext,p=");
        AuthFailedException e = authFailure(() -> server.clientFinal(ascii(tampered)));
        assertThat(e.sqlState()).isEqualTo("28P01");
    }

    @Test
    void replayedFinalMessageOnNewExchangeFailsWith08P01() throws Exception {
        TestScramClient client = new TestScramClient("n,,", CLIENT_NONCE, "p");
        Secret secret = Secret.parse(PostgresVectors.SCRAM_U_P);

        ScramServer recorded = ScramServer.create(secret, "u", RANDOM);
        byte[] recordedFinal = client.last(recorded.clientFirst(MECH, client.first()));
        recorded.clientFinal(recordedFinal);

        ScramServer replayed = ScramServer.create(secret, "u", RANDOM);
        replayed.clientFirst(MECH, client.first());
        AuthFailedException e = authFailure(() -> replayed.clientFinal(recordedFinal));
        assertThat(e.sqlState()).isEqualTo("08P01");
        assertThat(e.getMessage()).isEqualTo("invalid SCRAM response");
        assertThat(e.detail()).isEqualTo("Nonce does not match.");
    }

    @Test
    void exchangeIsSingleUseAndOrdered() throws Exception {
        ScramServer fresh = ScramServer.create(Secret.parse("p"), "u", RANDOM);
        assertThatThrownBy(() -> fresh.clientFinal(ascii("c=biws"))).isInstanceOf(IllegalStateException.class);

        ScramServer failed = ScramServer.create(Secret.parse("p"), "u", RANDOM);
        authFailure(() -> failed.clientFirst(MECH, ascii("x")));
        assertThatThrownBy(() -> failed.clientFirst(MECH, ascii("n,,n=,r=abc")))
                .isInstanceOf(IllegalStateException.class);

        TestScramClient client = new TestScramClient("n,,", CLIENT_NONCE, "p");
        ScramServer done = ScramServer.create(Secret.parse(PostgresVectors.SCRAM_U_P), "u", RANDOM);
        byte[] clientFinal = client.last(done.clientFirst(MECH, client.first()));
        done.clientFinal(clientFinal);
        assertThatThrownBy(() -> done.clientFinal(clientFinal)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void mutatedMessagesOnlyEverFailWithAuthFailedException() throws Exception {
        Random random = new Random(20240601L);
        Secret secret = Secret.parse(PostgresVectors.SCRAM_U_P);
        byte[] alphabet = ascii("nypacmrsv=,+/0aAzZ\u0001\u007f");
        List<String> states = new ArrayList<>();
        int failures = 0;
        for (int round = 0; round < 2000; round++) {
            TestScramClient client = new TestScramClient("n,,", CLIENT_NONCE, "p");
            ScramServer server = ScramServer.create(secret, "u", RANDOM);
            boolean mutateFirst = random.nextBoolean();
            Throwable thrown = catchThrowable(() -> {
                byte[] serverFirst = server.clientFirst(MECH, firstOf(client, mutateFirst, random, alphabet));
                byte[] last = client.last(serverFirst);
                server.clientFinal(mutateFirst ? last : mutate(last, random, alphabet));
            });
            if (thrown != null) {
                assertThat(thrown).isInstanceOf(AuthFailedException.class);
                states.add(((AuthFailedException) thrown).sqlState());
                failures++;
            }
        }
        assertThat(states).containsOnly("08P01", "28P01", "0A000").contains("08P01", "28P01");
        assertThat(failures).isGreaterThan(1000);
    }

    private static byte[] firstOf(TestScramClient client, boolean mutate, Random random, byte[] alphabet) {
        return mutate ? mutate(client.first(), random, alphabet) : client.first();
    }

    private static byte[] mutate(byte[] message, Random random, byte[] alphabet) {
        byte[] copy = message.clone();
        int edits = 1 + random.nextInt(3);
        for (int i = 0; i < edits && copy.length > 0; i++) {
            int at = random.nextInt(copy.length);
            switch (random.nextInt(3)) {
                case 0 -> copy[at] = alphabet[random.nextInt(alphabet.length)];
                case 1 -> copy = Arrays.copyOf(copy, at);
                default -> copy[at] = (byte) random.nextInt(256);
            }
        }
        return copy;
    }
}
