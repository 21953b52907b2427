package dev.pggat.pooler.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Server side of SCRAM-SHA-256 (RFC 5802 / RFC 7677) as PostgreSQL speaks it: the user name in the
 * client-first-message is ignored (PostgreSQL uses the startup user; clients send "n=,"). Over TLS, when created
 * with the connection's {@code tls-server-end-point} data, SCRAM-SHA-256-PLUS is offered too and the client's
 * channel binding is checked against it; without it, 'p=' is rejected.
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
    /** tls-server-end-point of the connection; null when channel binding is not offered. */
    private final byte[] cbindData;

    private State state = State.EXPECT_FIRST;
    private char cbindFlag;
    private String gs2Header;
    private byte[] clientKey;
    private String clientNonce;
    private String clientFirstBare;
    private String serverFirst;

    ScramServer(Secret.Scram verifier, boolean doomed, String user, String serverNonce) {
        this(verifier, doomed, user, serverNonce, null);
    }

    ScramServer(Secret.Scram verifier, boolean doomed, String user, String serverNonce, byte[] cbindData) {
        this.user = Objects.requireNonNull(user, "user");
        this.iterations = verifier.iterations();
        this.salt = verifier.salt();
        this.storedKey = verifier.storedKey();
        this.serverKey = verifier.serverKey();
        this.doomed = doomed;
        this.serverNonce = Objects.requireNonNull(serverNonce, "serverNonce");
        this.cbindData = cbindData == null ? null : cbindData.clone();
    }

    /**
     * secret null (unknown user) or Md5 -> a mock exchange: same messages and shape as a real one, with a salt
     * derived deterministically from the user name and a per-process random key (so probing cannot tell the user
     * does not exist), that always fails at the final step. Plain -> verifier derived on the fly (once per
     * secret, so its salt is as stable as a stored verifier's).
     */
    public static ScramServer create(Secret secretOrNull, String user, SecureRandom random) {
        return create(secretOrNull, user, random, null);
    }

    /**
     * As {@link #create(Secret, String, SecureRandom)}, offering SCRAM-SHA-256-PLUS bound to {@code
     * tlsServerEndPoint} (the RFC 5929 data of the certificate this connection's TLS server presented); null when
     * the connection has no TLS or its certificate has no defined binding.
     */
    public static ScramServer create(Secret secretOrNull, String user, SecureRandom random, byte[] tlsServerEndPoint) {
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(random, "random");
        String nonce = newNonce(random);
        if (secretOrNull instanceof Secret.Scram scram) {
            return new ScramServer(scram, false, user, nonce, tlsServerEndPoint);
        }
        if (secretOrNull instanceof Secret.Plain plain && !plain.password().isEmpty()) {
            return new ScramServer(plain.scramVerifier(random), false, user, nonce, tlsServerEndPoint);
        }
        return new ScramServer(mockVerifier(user, random), true, user, nonce, tlsServerEndPoint);
    }

    /** The mechanisms for AuthenticationSASL, preferred first. */
    public List<String> mechanisms() {
        return cbindData == null
                ? List.of(ScramCrypto.MECHANISM_NAME)
                : List.of(PLUS_MECHANISM, ScramCrypto.MECHANISM_NAME);
    }

    /** Whether the client chose SCRAM-SHA-256-PLUS (valid once {@link #clientFirst} succeeded). */
    public boolean channelBound() {
        return cbindFlag == 'p';
    }

    /**
     * The ClientKey recovered from a valid proof (ClientKey = proof XOR HMAC(StoredKey, AuthMessage)), which logs
     * in to a server holding the same verifier; empty before success. The caller owns the copy and should wipe it.
     */
    public java.util.Optional<byte[]> clientKey() {
        return clientKey == null ? java.util.Optional.empty() : java.util.Optional.of(clientKey.clone());
    }

    /** What pass-through needs after a successful exchange: ClientKey, ServerKey, salt and iterations. */
    public java.util.Optional<ScramClient.PassThroughKeys> passThroughKeys() {
        return clientKey().map(k -> new ScramClient.PassThroughKeys(k, serverKey.clone(), salt.clone(), iterations));
    }

    /** SASLInitialResponse data -> server-first-message bytes. */
    public byte[] clientFirst(String mechanism, byte[] data) throws AuthFailedException {
        expect(State.EXPECT_FIRST);
        state = State.DONE; // until this message proves valid
        boolean plus = PLUS_MECHANISM.equals(mechanism) && cbindData != null;
        if (!ScramCrypto.MECHANISM_NAME.equals(mechanism) && !plus) {
            throw new AuthFailedException(
                    AuthFailedException.PROTOCOL_VIOLATION,
                    "client selected an invalid SASL authentication mechanism",
                    null);
        }
        String text = text(data);
        Cursor in = new Cursor(text);

        char flag = in.peek();
        switch (flag) {
            case 'n', 'y' -> {
                if (plus) {
                    throw AuthFailedException.malformed("The client selected SCRAM-SHA-256-PLUS, but the SCRAM"
                            + " message does not include channel binding data.");
                }
                if (flag == 'y' && cbindData != null) {
                    // The client could bind but believes we cannot: someone stripped -PLUS from our offer.
                    throw new AuthFailedException(
                            AuthFailedException.PROTOCOL_VIOLATION,
                            "SCRAM channel binding negotiation error",
                            "The client supports SCRAM channel binding but thinks the server does not.  However,"
                                    + " this server does support channel binding.");
                }
                in.skip();
                if (in.peek() != ',') {
                    throw AuthFailedException.malformed(
                            "Comma expected, but found character " + quote(in.peek()) + ".");
                }
                in.skip();
            }
            case 'p' -> {
                if (!plus) {
                    throw AuthFailedException.malformed("The client selected SCRAM-SHA-256 without channel binding,"
                            + " but the SCRAM message includes channel binding data.");
                }
                String type = in.attribute('p');
                if (!CBIND_TYPE.equals(type)) {
                    throw new AuthFailedException(
                            AuthFailedException.PROTOCOL_VIOLATION,
                            "unsupported SCRAM channel-binding type \"" + printableOrHex(type) + "\"",
                            null);
                }
            }
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
        String header = text.substring(0, in.position());

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
        gs2Header = header;
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
        if (cbindFlag == 'p') {
            byte[] header = gs2Header.getBytes(StandardCharsets.ISO_8859_1);
            byte[] expected = Arrays.copyOf(header, header.length + cbindData.length);
            System.arraycopy(cbindData, 0, expected, header.length, cbindData.length);
            byte[] got = ScramCrypto.decodeBase64(channelBinding);
            if (got == null || !MessageDigest.isEqual(got, expected)) {
                throw new AuthFailedException(
                        AuthFailedException.PROTOCOL_VIOLATION, "SCRAM channel binding check failed", null);
            }
        } else {
            // Without channel binding the value can only be base64 of the gs2 header sent first: "n,," or "y,,".
            boolean bindingMatches = ("biws".equals(channelBinding) && cbindFlag == 'n')
                    || ("eSws".equals(channelBinding) && cbindFlag == 'y');
            if (!bindingMatches) {
                throw new AuthFailedException(
                        AuthFailedException.PROTOCOL_VIOLATION,
                        "unexpected SCRAM channel-binding attribute in client-final-message",
                        null);
            }
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
        if (!proofValid || doomed) {
            Arrays.fill(clientKey, (byte) 0);
            throw AuthFailedException.passwordFailed(user);
        }
        this.clientKey = clientKey;
        byte[] serverSignature = ScramCrypto.hmac(serverKey, authMessage);
        return ("v=" + ScramCrypto.base64(serverSignature)).getBytes(StandardCharsets.US_ASCII);
    }

    static final String PLUS_MECHANISM = "SCRAM-SHA-256-PLUS";
    static final String CBIND_TYPE = "tls-server-end-point";

    private static String printableOrHex(String s) {
        return isPrintable(s) ? s : "(non-printable)";
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
