package dev.pggat.pooler.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Objects;

/**
 * Server side of SCRAM-SHA-256 (RFC 5802 / RFC 7677) as PostgreSQL speaks it: the user name in the
 * client-first-message is ignored (PostgreSQL uses the startup user; clients send "n=,"), channel binding flag
 * 'n' or 'y' accepted, 'p=' rejected for now (no TLS yet), mechanism must be "SCRAM-SHA-256".
 *
 * <p>One instance is one exchange for one connection: not thread-safe, not reusable. Calls must come in order
 * {@link #clientFirst} then {@link #clientFinal}; after any failure the exchange is over. Error messages and
 * SQLSTATEs follow PostgreSQL's so clients behave the same as against the server itself.
 *
 * <p>When the client's SASLInitialResponse carries no data (length -1), the caller answers with an empty
 * AuthenticationSASLContinue and passes the next SASLResponse's data to {@link #clientFirst}.
 */
public final class ScramServer {
    private enum State {
        EXPECT_FIRST,
        EXPECT_FINAL,
        DONE
    }

    private final String user;
    private final int iterations;
    private final byte[] salt;
    private final byte[] storedKey;
    private final byte[] serverKey;
    /** A mock exchange: it goes through every step, including the proof check, then fails. */
    private final boolean doomed;

    private final String serverNonce;

    private State state = State.EXPECT_FIRST;
    private char cbindFlag;
    private String clientNonce;
    private String clientFirstBare;
    private String serverFirst;

    ScramServer(Secret.Scram verifier, boolean doomed, String user, String serverNonce) {
        this.user = Objects.requireNonNull(user, "user");
        this.iterations = verifier.iterations();
        this.salt = verifier.salt();
        this.storedKey = verifier.storedKey();
        this.serverKey = verifier.serverKey();
        this.doomed = doomed;
        this.serverNonce = Objects.requireNonNull(serverNonce, "serverNonce");
    }

    /**
     * secret null (unknown user) or Md5 -> a mock exchange: same messages and shape as a real one, with a salt
     * derived deterministically from the user name and a per-process random key (so probing cannot tell the user
     * does not exist), that always fails at the final step. Plain -> verifier derived on the fly (once per
     * secret, so its salt is as stable as a stored verifier's).
     */
    public static ScramServer create(Secret secretOrNull, String user, SecureRandom random) {
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(random, "random");
        String nonce = newNonce(random);
        if (secretOrNull instanceof Secret.Scram scram) {
            return new ScramServer(scram, false, user, nonce);
        }
        if (secretOrNull instanceof Secret.Plain plain && !plain.password().isEmpty()) {
            return new ScramServer(plain.scramVerifier(random), false, user, nonce);
        }
        return new ScramServer(mockVerifier(user, random), true, user, nonce);
    }

    /** SASLInitialResponse data -> server-first-message bytes. */
    public byte[] clientFirst(String mechanism, byte[] data) throws AuthFailedException {
        expect(State.EXPECT_FIRST);
        state = State.DONE; // until this message proves valid
        if (!ScramCrypto.MECHANISM_NAME.equals(mechanism)) {
            throw new AuthFailedException(
                    AuthFailedException.PROTOCOL_VIOLATION,
                    "client selected an invalid SASL authentication mechanism",
                    null);
        }
        Cursor in = new Cursor(text(data));

        char flag = in.peek();
        switch (flag) {
            case 'n', 'y' -> {
                in.skip();
                if (in.peek() != ',') {
                    throw AuthFailedException.malformed(
                            "Comma expected, but found character " + quote(in.peek()) + ".");
                }
                in.skip();
            }
            case 'p' ->
                throw AuthFailedException.malformed("The client selected SCRAM-SHA-256 without channel binding,"
                        + " but the SCRAM message includes channel binding data.");
            default -> throw AuthFailedException.malformed("Unexpected channel-binding flag " + quote(flag) + ".");
        }
        if (in.peek() == 'a') {
            throw new AuthFailedException(
                    AuthFailedException.FEATURE_NOT_SUPPORTED,
                    "client uses authorization identity, but it is not supported",
                    null);
        }
        if (in.peek() != ',') {
            throw AuthFailedException.malformed(
                    "Unexpected attribute " + quote(in.peek()) + " in client-first-message.");
        }
        in.skip();

        String bare = in.rest();
        if (in.peek() == 'm') {
            throw new AuthFailedException(
                    AuthFailedException.FEATURE_NOT_SUPPORTED, "client requires an unsupported SCRAM extension", null);
        }
        in.attribute('n'); // PostgreSQL authenticates the startup user; this one is ignored
        String nonce = in.attribute('r');
        if (nonce.isEmpty()) {
            throw AuthFailedException.malformed("The client nonce is empty.");
        }
        if (!isPrintable(nonce)) {
            throw new AuthFailedException(
                    AuthFailedException.PROTOCOL_VIOLATION, "non-printable characters in SCRAM nonce", null);
        }
        while (!in.atEnd()) {
            in.anyAttribute(); // optional extensions: none supported, all ignored
        }

        cbindFlag = flag;
        clientNonce = nonce;
        clientFirstBare = bare;
        serverFirst = "r=" + clientNonce + serverNonce + ",s=" + ScramCrypto.base64(salt) + ",i=" + iterations;
        state = State.EXPECT_FINAL;
        return serverFirst.getBytes(StandardCharsets.US_ASCII);
    }

    /** SASLResponse data -> server-final-message bytes ("v=..."), after verifying the proof in constant time. */
    public byte[] clientFinal(byte[] data) throws AuthFailedException {
        expect(State.EXPECT_FINAL);
        state = State.DONE;
        String message = text(data);
        Cursor in = new Cursor(message);

        String channelBinding = in.attribute('c');
        // Without channel binding the value can only be base64 of the gs2 header sent first: "n,," or "y,,".
        boolean bindingMatches = ("biws".equals(channelBinding) && cbindFlag == 'n')
                || ("eSws".equals(channelBinding) && cbindFlag == 'y');
        if (!bindingMatches) {
            throw new AuthFailedException(
                    AuthFailedException.PROTOCOL_VIOLATION,
                    "unexpected SCRAM channel-binding attribute in client-final-message",
                    null);
        }
        String finalNonce = in.attribute('r');

        int proofStart;
        Attribute attribute;
        do {
            proofStart = in.position();
            attribute = in.anyAttribute();
        } while (attribute.name() != 'p');
        byte[] proof = ScramCrypto.decodeBase64(attribute.value());
        if (proof == null || proof.length != ScramCrypto.KEY_LENGTH) {
            throw AuthFailedException.malformed("Malformed proof in client-final-message.");
        }
        if (!in.atEnd()) {
            throw AuthFailedException.malformed("Garbage found at the end of client-final-message.");
        }
        if (!finalNonce.equals(clientNonce + serverNonce)) {
            throw new AuthFailedException(
                    AuthFailedException.PROTOCOL_VIOLATION, "invalid SCRAM response", "Nonce does not match.");
        }

        // proofStart is just past the comma that precedes "p=", which is not part of the signed text.
        String withoutProof = message.substring(0, proofStart - 1);
        byte[] authMessage =
                (clientFirstBare + "," + serverFirst + "," + withoutProof).getBytes(StandardCharsets.ISO_8859_1);

        // The proof is checked even in a mock exchange so that its timing does not reveal a missing user.
        byte[] clientSignature = ScramCrypto.hmac(storedKey, authMessage);
        byte[] clientKey = new byte[ScramCrypto.KEY_LENGTH];
        for (int i = 0; i < clientKey.length; i++) {
            clientKey[i] = (byte) (proof[i] ^ clientSignature[i]);
        }
        boolean proofValid = MessageDigest.isEqual(ScramCrypto.sha256(clientKey), storedKey);
        Arrays.fill(clientKey, (byte) 0);
        if (!proofValid || doomed) {
            throw AuthFailedException.passwordFailed(user);
        }
        byte[] serverSignature = ScramCrypto.hmac(serverKey, authMessage);
        return ("v=" + ScramCrypto.base64(serverSignature)).getBytes(StandardCharsets.US_ASCII);
    }

    private void expect(State expected) {
        if (state != expected) {
            throw new IllegalStateException("SCRAM exchange is in state " + state + ", not " + expected);
        }
    }

    /** 18 random bytes in base64, as PostgreSQL does: 24 printable characters, never a comma. */
    static String newNonce(SecureRandom random) {
        byte[] raw = new byte[ScramCrypto.RAW_NONCE_LENGTH];
        random.nextBytes(raw);
        return ScramCrypto.base64(raw);
    }

    private static Secret.Scram mockVerifier(String user, SecureRandom random) {
        byte[] digest = ScramCrypto.hmac(MockKey.KEY, user.getBytes(StandardCharsets.UTF_8));
        byte[] mockSalt = Arrays.copyOf(digest, ScramCrypto.DEFAULT_SALT_LENGTH);
        byte[] stored = new byte[ScramCrypto.KEY_LENGTH];
        byte[] server = new byte[ScramCrypto.KEY_LENGTH];
        random.nextBytes(stored);
        random.nextBytes(server);
        return new Secret.Scram(ScramCrypto.DEFAULT_ITERATIONS, mockSalt, stored, server);
    }

    /** Created on first mock exchange; lives as long as the process so a name's mock salt never changes. */
    private static final class MockKey {
        static final byte[] KEY = new byte[32];

        static {
            new SecureRandom().nextBytes(KEY);
        }
    }

    /**
     * Message bytes as text, one char per byte, so the signed auth message keeps the client's exact bytes
     * whatever encoding its user name is in.
     */
    private static String text(byte[] data) throws AuthFailedException {
        if (data == null || data.length == 0) {
            throw AuthFailedException.malformed("The message is empty.");
        }
        for (byte b : data) {
            if (b == 0) {
                throw AuthFailedException.malformed("Message length does not match input length.");
            }
        }
        return new String(data, StandardCharsets.ISO_8859_1);
    }

    /** RFC 5802 printable: %x21-2B / %x2D-7E. */
    private static boolean isPrintable(String value) {
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c < 0x21 || c > 0x7E || c == ',') {
                return false;
            }
        }
        return true;
    }

    /** A character for an error message: itself when printable ASCII, its hex code otherwise. */
    private static String quote(char c) {
        return c >= 0x21 && c <= 0x7E ? "\"'" + c + "'\"" : "\"" + String.format("0x%02x", (int) c) + "\"";
    }

    private record Attribute(char name, String value) {}

    /** Reads "a=value" attributes separated by commas; the end of input reads as NUL, like a C string. */
    private static final class Cursor {
        private final String text;
        private int pos;

        Cursor(String text) {
            this.text = text;
        }

        char peek() {
            return pos < text.length() ? text.charAt(pos) : '\0';
        }

        void skip() {
            pos++;
        }

        boolean atEnd() {
            return pos >= text.length();
        }

        int position() {
            return pos;
        }

        String rest() {
            return text.substring(Math.min(pos, text.length()));
        }

        String attribute(char expected) throws AuthFailedException {
            char found = peek();
            if (found != expected) {
                throw AuthFailedException.malformed(
                        "Expected attribute \"" + expected + "\" but found " + quote(found) + ".");
            }
            pos++;
            return value(expected);
        }

        Attribute anyAttribute() throws AuthFailedException {
            char name = peek();
            if (name == '\0') {
                throw AuthFailedException.malformed("Attribute expected, but found end of string.");
            }
            if (!((name >= 'A' && name <= 'Z') || (name >= 'a' && name <= 'z'))) {
                throw AuthFailedException.malformed(
                        "Attribute expected, but found invalid character " + quote(name) + ".");
            }
            pos++;
            return new Attribute(name, value(name));
        }

        private String value(char name) throws AuthFailedException {
            if (peek() != '=') {
                throw AuthFailedException.malformed("Expected character \"=\" for attribute \"" + name + "\".");
            }
            pos++;
            int end = text.indexOf(',', pos);
            String value;
            if (end < 0) {
                value = text.substring(pos);
                pos = text.length();
            } else {
                value = text.substring(pos, end);
                pos = end + 1;
            }
            return value;
        }
    }
}
