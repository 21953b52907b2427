package dev.pggat.pooler.auth;

import com.ongres.scram.common.ScramFunctions;
import com.ongres.scram.common.ScramMechanism;
import com.ongres.scram.common.StringPreparation;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * A hand-driven SCRAM-SHA-256 client for tests that need messages a well-behaved client library never sends:
 * any gs2 header, any nonce, any channel-binding attribute. Computes the proof from RFC 5802's formulas.
 */
final class TestScramClient {
    private static final ScramMechanism SHA256 = ScramMechanism.SCRAM_SHA_256;

    private final String gs2Header;
    private final String nonce;
    private final String password;
    private String expectedServerFinal;

    TestScramClient(String gs2Header, String nonce, String password) {
        this.gs2Header = gs2Header;
        this.nonce = nonce;
        this.password = password;
    }

    String bare() {
        return "n=,r=" + nonce;
    }

    byte[] first() {
        return (gs2Header + bare()).getBytes(StandardCharsets.US_ASCII);
    }

    /** The client-final-message for the given server-first-message, with the given c= value. */
    byte[] last(byte[] serverFirstBytes, String channelBinding) {
        String serverFirst = new String(serverFirstBytes, StandardCharsets.US_ASCII);
        String fullNonce = null;
        byte[] salt = null;
        int iterations = 0;
        for (String attribute : serverFirst.split(",")) {
            String value = attribute.substring(2);
            switch (attribute.charAt(0)) {
                case 'r' -> fullNonce = value;
                case 's' -> salt = Base64.getDecoder().decode(value);
                case 'i' -> iterations = Integer.parseInt(value);
                default -> throw new AssertionError("unexpected attribute in " + serverFirst);
            }
        }
        byte[] salted = ScramFunctions.saltedPassword(
                SHA256, StringPreparation.SASL_PREPARATION, password.toCharArray(), salt, iterations);
        byte[] clientKey = ScramFunctions.clientKey(SHA256, salted);
        byte[] storedKey = ScramFunctions.storedKey(SHA256, clientKey);
        String withoutProof = "c=" + channelBinding + ",r=" + fullNonce;
        String authMessage = bare() + "," + serverFirst + "," + withoutProof;
        byte[] signature = ScramFunctions.clientSignature(SHA256, storedKey, authMessage);
        byte[] proof = ScramFunctions.clientProof(clientKey, signature);
        byte[] serverSignature =
                ScramFunctions.serverSignature(SHA256, ScramFunctions.serverKey(SHA256, salted), authMessage);
        expectedServerFinal = "v=" + Base64.getEncoder().encodeToString(serverSignature);
        return (withoutProof + ",p=" + Base64.getEncoder().encodeToString(proof)).getBytes(StandardCharsets.US_ASCII);
    }

    /** The c= value a correct client sends: base64 of its gs2 header. */
    String channelBinding() {
        return Base64.getEncoder().encodeToString(gs2Header.getBytes(StandardCharsets.US_ASCII));
    }

    byte[] last(byte[] serverFirstBytes) {
        return last(serverFirstBytes, channelBinding());
    }

    String expectedServerFinal() {
        return expectedServerFinal;
    }
}
