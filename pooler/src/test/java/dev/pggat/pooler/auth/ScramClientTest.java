package dev.pggat.pooler.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;

class ScramClientTest {
    private static final SecureRandom RANDOM = new SecureRandom();

    private static String text(byte[] b) {
        return new String(b, StandardCharsets.US_ASCII);
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private static AuthFailedException authFailure(ScramServerTest.ThrowingCall call) {
        Throwable thrown = catchThrowable(call::run);
        assertThat(thrown).isInstanceOf(AuthFailedException.class);
        return (AuthFailedException) thrown;
    }

    @Test
    void rejectsServerThatOffersNoScramSha256With08P01() {
        for (List<String> offered : List.of(List.<String>of(), List.of("SCRAM-SHA-256-PLUS"), List.of("SCRAM-SHA-1"))) {
            AuthFailedException e = authFailure(() -> new ScramClient("p", offered));
            assertThat(e.sqlState()).isEqualTo("08P01");
            assertThat(e.getMessage()).isEqualTo("none of the server's SASL authentication mechanisms are supported");
        }
    }

    @Test
    void choosesScramSha256EvenWhenPlusIsOffered() throws Exception {
        ScramClient client = new ScramClient("p", List.of("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"));
        assertThat(client.mechanism()).isEqualTo("SCRAM-SHA-256");
        String first = text(client.clientFirst());
        assertThat(first).matches("n,,n=[^,]*,r=[A-Za-z0-9+/]{24}");
        String nonce = first.substring(first.indexOf(",r=") + 3);
        assertThat(Base64.getDecoder().decode(nonce)).hasSize(18);
    }

    @Test
    void eachLoginUsesAFreshNonce() throws Exception {
        String a = text(new ScramClient("p", List.of("SCRAM-SHA-256")).clientFirst());
        String b = text(new ScramClient("p", List.of("SCRAM-SHA-256")).clientFirst());
        assertThat(a).isNotEqualTo(b);
    }

    @Test
    void logsInToServerHoldingPostgresVerifier() throws Exception {
        ScramClient client = new ScramClient("p", List.of("SCRAM-SHA-256"));
        ScramServer server = ScramServer.create(Secret.parse(PostgresVectors.SCRAM_U_P), "u", RANDOM);
        byte[] clientFinal = client.serverFirst(server.clientFirst(client.mechanism(), client.clientFirst()));
        assertThat(text(clientFinal)).startsWith("c=biws,r=");
        client.serverFinal(server.clientFinal(clientFinal));
    }

    @Test
    void derivesThePasswordKeysOncePerVerifierAndStillLogsIn() throws Exception {
        Secret.Scram verifier = Secret.scramFor("cached password", RANDOM);
        for (int i = 0; i < 3; i++) {
            ScramClient client = new ScramClient("cached password", List.of("SCRAM-SHA-256"));
            ScramServer server = ScramServer.create(verifier, "u", RANDOM);
            client.serverFinal(server.clientFinal(
                    client.serverFirst(server.clientFirst(client.mechanism(), client.clientFirst()))));
        }
        ScramClient.PassThroughKeys first =
                ScramClient.passwordKeys("cached password", verifier.salt(), verifier.iterations());
        assertThat(ScramClient.passwordKeys("cached password", verifier.salt(), verifier.iterations()))
                .isSameAs(first);
        // The keys are the verifier's: SHA-256(ClientKey) is its StoredKey.
        assertThat(ScramCrypto.sha256(first.clientKey())).isEqualTo(verifier.storedKey());
        assertThat(first.serverKey()).isEqualTo(verifier.serverKey());
        // Another password, or the same password under another salt, derives its own keys.
        assertThat(ScramClient.passwordKeys("other password", verifier.salt(), verifier.iterations())
                        .clientKey())
                .isNotEqualTo(first.clientKey());
        Secret.Scram resalted = Secret.scramFor("cached password", RANDOM);
        assertThat(ScramClient.passwordKeys("cached password", resalted.salt(), resalted.iterations())
                        .clientKey())
                .isNotEqualTo(first.clientKey());
    }

    @Test
    void wrongPasswordStillFailsWhenItsKeysAreCached() throws Exception {
        Secret.Scram verifier = Secret.scramFor("right", RANDOM);
        for (int i = 0; i < 2; i++) {
            ScramClient client = new ScramClient("wrong", List.of("SCRAM-SHA-256"));
            ScramServer server = ScramServer.create(verifier, "u", RANDOM);
            byte[] clientFinal = client.serverFirst(server.clientFirst(client.mechanism(), client.clientFirst()));
            AuthFailedException e = authFailure(() -> server.clientFinal(clientFinal));
            assertThat(e.sqlState()).isEqualTo("28P01");
        }
    }

    @Test
    void forgedServerSignatureFailsWith28P01() throws Exception {
        ScramClient client = new ScramClient("p", List.of("SCRAM-SHA-256"));
        ScramServer server = ScramServer.create(Secret.parse(PostgresVectors.SCRAM_U_P), "u", RANDOM);
        byte[] serverFinal =
                server.clientFinal(client.serverFirst(server.clientFirst(client.mechanism(), client.clientFirst())));
        byte[] signature = Base64.getDecoder().decode(text(serverFinal).substring(2));
        signature[0] ^= 1;
        byte[] forged = ascii("v=" + Base64.getEncoder().encodeToString(signature));

        AuthFailedException e = authFailure(() -> client.serverFinal(forged));
        assertThat(e.sqlState()).isEqualTo("28P01");
        assertThat(e.getMessage()).isEqualTo("incorrect server signature");
    }

    @Test
    void serverThatDoesNotKnowThePasswordIsDetected() throws Exception {
        // A server-first from a verifier for another password, answered with that verifier's own signature.
        ScramClient client = new ScramClient("p", List.of("SCRAM-SHA-256"));
        Secret.Scram other = Secret.scramFor("not p", RANDOM);
        String clientFirst = text(client.clientFirst());
        String clientNonce = clientFirst.substring(clientFirst.indexOf(",r=") + 3);
        String serverFirst =
                "r=" + clientNonce + "SERVERNONCE,s=" + Base64.getEncoder().encodeToString(other.salt()) + ",i=4096";
        String clientFinal = text(client.serverFirst(ascii(serverFirst)));
        String withoutProof = clientFinal.substring(0, clientFinal.indexOf(",p="));
        String authMessage = clientFirst.substring(3) + "," + serverFirst + "," + withoutProof;
        byte[] signature = ScramCrypto.hmac(other.serverKey(), ascii(authMessage));

        AuthFailedException e = authFailure(
                () -> client.serverFinal(ascii("v=" + Base64.getEncoder().encodeToString(signature))));
        assertThat(e.sqlState()).isEqualTo("28P01");
    }

    @Test
    void serverErrorAttributeFailsWith28P01() throws Exception {
        ScramClient client = new ScramClient("p", List.of("SCRAM-SHA-256"));
        ScramServer server = ScramServer.create(Secret.parse(PostgresVectors.SCRAM_U_P), "u", RANDOM);
        client.serverFirst(server.clientFirst(client.mechanism(), client.clientFirst()));
        AuthFailedException e = authFailure(() -> client.serverFinal(ascii("e=invalid-proof")));
        assertThat(e.sqlState()).isEqualTo("28P01");
        assertThat(e.detail()).contains("invalid-proof");
    }

    @Test
    void serverNonceThatDoesNotExtendOursFailsWith08P01() throws Exception {
        ScramClient client = new ScramClient("p", List.of("SCRAM-SHA-256"));
        client.clientFirst();
        AuthFailedException e =
                authFailure(() -> client.serverFirst(ascii("r=somebodyElsesNonce,s=cfrT6wfGcHgAgQEsF6ewAA==,i=4096")));
        assertThat(e.sqlState()).isEqualTo("08P01");
    }

    @Test
    void malformedServerMessagesFailWith08P01() throws Exception {
        for (String garbage :
                new String[] {"", "garbage", "s=abc,r=x,i=1", "r=", "r=x,s=!!,i=4096", "r=x,s=YQ==,i=many"}) {
            ScramClient client = new ScramClient("p", List.of("SCRAM-SHA-256"));
            String first = text(client.clientFirst());
            String nonce = first.substring(first.indexOf(",r=") + 3);
            String message = garbage.replace("r=x", "r=" + nonce + "x");
            AuthFailedException e = authFailure(() -> client.serverFirst(ascii(message)));
            assertThat(e.sqlState()).as(message).isEqualTo("08P01");
        }

        ScramClient client = new ScramClient("p", List.of("SCRAM-SHA-256"));
        ScramServer server = ScramServer.create(Secret.parse(PostgresVectors.SCRAM_U_P), "u", RANDOM);
        client.serverFirst(server.clientFirst(client.mechanism(), client.clientFirst()));
        AuthFailedException e = authFailure(() -> client.serverFinal(ascii("x=nothing")));
        assertThat(e.sqlState()).isEqualTo("08P01");
    }
}
