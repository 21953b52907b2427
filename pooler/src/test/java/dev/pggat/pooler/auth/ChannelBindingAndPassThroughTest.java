package dev.pggat.pooler.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;

/** SCRAM-SHA-256-PLUS on the pooler's server side, and the ClientKey it recovers for pass-through. */
class ChannelBindingAndPassThroughTest {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final byte[] BINDING = "thirty-two bytes of a cert hash!".getBytes(StandardCharsets.US_ASCII);
    private static final String PLUS = "SCRAM-SHA-256-PLUS";

    private static String cbind(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.US_ASCII);
        byte[] all = new byte[h.length + data.length];
        System.arraycopy(h, 0, all, 0, h.length);
        System.arraycopy(data, 0, all, h.length, data.length);
        return Base64.getEncoder().encodeToString(all);
    }

    @Test
    void plusIsOfferedFirstOnlyWithBindingData() {
        Secret s = Secret.parse("pw-1");
        assertThat(ScramServer.create(s, "u", RANDOM, BINDING).mechanisms()).containsExactly(PLUS, "SCRAM-SHA-256");
        assertThat(ScramServer.create(s, "u", RANDOM).mechanisms()).containsExactly("SCRAM-SHA-256");
    }

    @Test
    void boundExchangeSucceedsAndYieldsTheClientKeyOfTheVerifier() throws Exception {
        Secret.Scram verifier = Secret.scramFor("pw-1", RANDOM);
        ScramServer server = ScramServer.create(verifier, "u", RANDOM, BINDING);
        String header = "p=tls-server-end-point,,";
        TestScramClient client = new TestScramClient(header, "clientnonce123", "pw-1");
        byte[] serverFirst = server.clientFirst(PLUS, client.first());
        server.clientFinal(client.last(serverFirst, cbind(header, BINDING)));
        assertThat(server.channelBound()).isTrue();

        ScramClient.PassThroughKeys keys = server.passThroughKeys().orElseThrow();
        // StoredKey = H(ClientKey): the recovered key is the one the password derives.
        assertThat(ScramCrypto.sha256(keys.clientKey())).isEqualTo(verifier.storedKey());
        assertThat(keys.serverKey()).isEqualTo(verifier.serverKey());
        assertThat(keys.salt()).isEqualTo(verifier.salt());
        assertThat(keys.iterations()).isEqualTo(verifier.iterations());
    }

    @Test
    void bindingDataOfAnotherConnectionFailsTheCheck() throws Exception {
        ScramServer server = ScramServer.create(Secret.parse("pw-1"), "u", RANDOM, BINDING);
        String header = "p=tls-server-end-point,,";
        TestScramClient client = new TestScramClient(header, "clientnonce123", "pw-1");
        byte[] serverFirst = server.clientFirst(PLUS, client.first());
        byte[] other = BINDING.clone();
        other[0] ^= 1;
        assertThatThrownBy(() -> server.clientFinal(client.last(serverFirst, cbind(header, other))))
                .isInstanceOfSatisfying(AuthFailedException.class, e -> {
                    assertThat(e.sqlState()).isEqualTo("08P01");
                    assertThat(e.getMessage()).isEqualTo("SCRAM channel binding check failed");
                });
        assertThat(server.passThroughKeys()).isEmpty();
    }

    @Test
    void clientClaimingWeCannotBindIsADowngrade() {
        ScramServer server = ScramServer.create(Secret.parse("pw-1"), "u", RANDOM, BINDING);
        assertThatThrownBy(() -> server.clientFirst("SCRAM-SHA-256", "y,,n=,r=abc".getBytes(StandardCharsets.US_ASCII)))
                .hasMessage("SCRAM channel binding negotiation error");
    }

    @Test
    void plusWithoutBindingDataAndUnknownBindingTypesAreRefused() {
        ScramServer a = ScramServer.create(Secret.parse("pw-1"), "u", RANDOM, BINDING);
        assertThatThrownBy(() -> a.clientFirst(PLUS, "n,,n=,r=abc".getBytes(StandardCharsets.US_ASCII)))
                .isInstanceOf(AuthFailedException.class)
                .hasMessage("malformed SCRAM message");
        ScramServer b = ScramServer.create(Secret.parse("pw-1"), "u", RANDOM, BINDING);
        assertThatThrownBy(() -> b.clientFirst(PLUS, "p=tls-unique,,n=,r=abc".getBytes(StandardCharsets.US_ASCII)))
                .hasMessage("unsupported SCRAM channel-binding type \"tls-unique\"");
        // Without TLS the -PLUS mechanism does not exist.
        ScramServer c = ScramServer.create(Secret.parse("pw-1"), "u", RANDOM);
        assertThatThrownBy(() ->
                        c.clientFirst(PLUS, "p=tls-server-end-point,,n=,r=abc".getBytes(StandardCharsets.US_ASCII)))
                .hasMessage("client selected an invalid SASL authentication mechanism");
    }

    @Test
    void passThroughKeysLogInToAServerHoldingTheSameVerifier() throws Exception {
        Secret.Scram verifier = Secret.scramFor("pw-1", RANDOM);
        ScramServer front = ScramServer.create(verifier, "u", RANDOM);
        TestScramClient client = new TestScramClient("n,,", "clientnonce123", "pw-1");
        byte[] sf = front.clientFirst("SCRAM-SHA-256", client.first());
        front.clientFinal(client.last(sf, "biws"));
        ScramClient.PassThroughKeys keys = front.passThroughKeys().orElseThrow();

        // The "server": another exchange against the same verifier, driven by the pooler's client with the keys.
        ScramServer back = ScramServer.create(verifier, "u", RANDOM);
        ScramClient pooler = new ScramClient(null, keys, List.of("SCRAM-SHA-256"), null);
        byte[] backFirst = back.clientFirst(pooler.mechanism(), pooler.clientFirst());
        byte[] backFinal = back.clientFinal(pooler.serverFirst(backFirst));
        pooler.serverFinal(backFinal);

        // A server with another verifier for the same password (other salt) is named, not silently failed.
        ScramServer elsewhere = ScramServer.create(Secret.scramFor("pw-1", RANDOM), "u", RANDOM);
        ScramClient again = new ScramClient(null, keys, List.of("SCRAM-SHA-256"), null);
        byte[] otherFirst = elsewhere.clientFirst(again.mechanism(), again.clientFirst());
        assertThatThrownBy(() -> again.serverFirst(otherFirst))
                .hasMessage("the server's SCRAM verifier differs from the pooler's");
        assertThat(keys.toString()).doesNotContain(Base64.getEncoder().encodeToString(keys.clientKey()));
    }

    @Test
    void cleartextChecksCostTheSameDerivationForKnownAndUnknownUsers() {
        Secret plain = Secret.parse("pw-1");
        assertThat(CleartextPassword.verifyUniformly(plain, "u", "pw-1", RANDOM))
                .isTrue();
        assertThat(CleartextPassword.verifyUniformly(plain, "u", "pw-2", RANDOM))
                .isFalse();
        assertThat(CleartextPassword.verifyUniformly(null, "u", "pw-1", RANDOM)).isFalse();
        assertThat(CleartextPassword.verifyUniformly(Secret.parse(Md5Password.hash("u", "pw-1")), "u", "pw-1", RANDOM))
                .isTrue();
        assertThat(CleartextPassword.verifyUniformly(Secret.scramFor("pw-1", RANDOM), "u", "pw-1", RANDOM))
                .isTrue();
        assertThat(CleartextPassword.verifyUniformly(plain, "u", "", RANDOM)).isFalse();
    }
}
