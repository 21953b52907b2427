package dev.pggat.pooler.auth;

import com.ongres.scram.common.exception.ScramInvalidServerSignatureException;
import com.ongres.scram.common.exception.ScramParseException;
import com.ongres.scram.common.exception.ScramRuntimeException;
import com.ongres.scram.common.exception.ScramServerErrorException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Client side of SCRAM-SHA-256 for logging in to PostgreSQL; a thin wrapper over com.ongres.scram:scram-client.
 * One instance per login, used in order: {@link #clientFirst}, {@link #serverFirst}, {@link #serverFinal}.
 */
public final class ScramClient {
    private static final SecureRandom RANDOM = new SecureRandom();
    /*
     * PostgreSQL ignores the SCRAM user name and takes the startup packet's; the library insists on a non-empty
     * one, so send a placeholder instead of leaking the real name into every exchange.
     */
    private static final String IGNORED_USER = "*";

    /*
     * ClientKey and ServerKey per (password, salt, iterations): a server keeps its verifier, so the 4096-round
     * PBKDF2 a password login needs is done once per password and verifier, not once per server connection.
     * Bounded: a server that keeps changing its salt only refills it.
     */
    private static final int KEY_CACHE_LIMIT = 256;
    private static final ConcurrentHashMap<KeyCacheEntry, PassThroughKeys> KEY_CACHE = new ConcurrentHashMap<>();

    /** The password is held as its SHA-256, so the cache's keys do not keep another copy of it. */
    private record KeyCacheEntry(String passwordDigest, String salt, int iterations) {}

    private com.ongres.scram.client.ScramClient client;
    /** Password logins: kept until server-first, which names the salt and iterations the keys derive from. */
    private final String password;

    private final String nonce = ScramServer.newNonce(RANDOM);
    private final List<String> advertised;
    private final byte[] tlsServerEndPoint;
    /** With pass-through keys: the salt and iterations the server must use, for a clear error when it does not. */
    private final byte[] expectedSalt;

    private final int expectedIterations;

    /**
     * @param password the server password in clear text (a stored verifier cannot log in)
     * @param serverMechanisms the mechanisms listed in the server's AuthenticationSASL message
     * @throws AuthFailedException the server offers no mechanism we can use (only SCRAM-SHA-256 for now; the
     *     -PLUS variant needs TLS)
     */
    public ScramClient(String password, List<String> serverMechanisms) throws AuthFailedException {
        this(password, null, serverMechanisms, null);
    }

    /**
     * @param password the server password in clear text; null when {@code keys} is given
     * @param keys pass-through: the ClientKey recovered from a client's proof and the verifier it was checked
     *     against (the server must store the same verifier)
     * @param serverMechanisms the mechanisms listed in the server's AuthenticationSASL message
     * @param tlsServerEndPoint the connection's channel binding data when it runs over TLS; SCRAM-SHA-256-PLUS is
     *     used when the server offers it
     */
    public ScramClient(String password, PassThroughKeys keys, List<String> serverMechanisms, byte[] tlsServerEndPoint)
            throws AuthFailedException {
        Objects.requireNonNull(serverMechanisms, "serverMechanisms");
        if (password == null && keys == null) {
            throw new IllegalArgumentException("a password or pass-through keys are needed");
        }
        if (password != null && password.isEmpty()) {
            throw new IllegalArgumentException("the server password for SCRAM authentication must not be empty");
        }
        boolean plus = tlsServerEndPoint != null && serverMechanisms.contains(ScramServer.PLUS_MECHANISM);
        if (!plus && !serverMechanisms.contains(ScramCrypto.MECHANISM_NAME)) {
            throw new AuthFailedException(
                    AuthFailedException.PROTOCOL_VIOLATION,
                    "none of the server's SASL authentication mechanisms are supported",
                    "The server offered " + serverMechanisms + "; pggat supports " + ScramCrypto.MECHANISM_NAME
                            + (tlsServerEndPoint == null ? "" : " and " + ScramServer.PLUS_MECHANISM) + ".");
        }
        this.advertised = plus
                ? List.of(ScramServer.PLUS_MECHANISM, ScramCrypto.MECHANISM_NAME)
                : List.of(ScramCrypto.MECHANISM_NAME);
        this.tlsServerEndPoint = plus ? tlsServerEndPoint : null;
        this.password = keys == null ? password : null;
        client = keys == null ? build(password, null) : build(null, keys);
        expectedSalt = keys == null ? null : keys.salt();
        expectedIterations = keys == null ? 0 : keys.iterations();
    }

    /** An exchange with this login's nonce, from the password or from derived keys. */
    private com.ongres.scram.client.ScramClient build(String password, PassThroughKeys keys) {
        var stage = com.ongres.scram.client.ScramClient.builder()
                .advertisedMechanisms(advertised)
                .username(IGNORED_USER);
        var builder = keys == null
                ? stage.password(password.toCharArray())
                : stage.clientAndServerKey(keys.clientKey(), keys.serverKey());
        if (tlsServerEndPoint != null) {
            builder.channelBinding(ScramServer.CBIND_TYPE, tlsServerEndPoint);
        }
        return builder.stringPreparation(ScramCrypto.PREPARATION)
                .nonceSupplier(() -> nonce)
                .build();
    }

    /**
     * The keys for a password and a server's salt and iterations, derived once and then remembered. Package-private
     * for tests.
     */
    static PassThroughKeys passwordKeys(String password, byte[] salt, int iterations) {
        KeyCacheEntry entry = new KeyCacheEntry(
                Base64.getEncoder().encodeToString(ScramCrypto.sha256(password)),
                Base64.getEncoder().encodeToString(salt),
                iterations);
        PassThroughKeys keys = KEY_CACHE.get(entry);
        if (keys == null) {
            byte[] salted = ScramCrypto.saltedPassword(password, salt, iterations);
            byte[] clientKey = ScramCrypto.clientKey(salted);
            byte[] serverKey = ScramCrypto.serverKey(salted);
            Arrays.fill(salted, (byte) 0);
            keys = new PassThroughKeys(clientKey, serverKey, salt.clone(), iterations);
            if (KEY_CACHE.size() >= KEY_CACHE_LIMIT) {
                KEY_CACHE.clear();
            }
            KEY_CACHE.put(entry, keys);
        }
        return keys;
    }

    /** How many derived keys are remembered (for tests). */
    static int cachedKeys() {
        return KEY_CACHE.size();
    }

    /** What pass-through needs: never a password, only keys derived from the verifier and a client's proof. */
    public record PassThroughKeys(byte[] clientKey, byte[] serverKey, byte[] salt, int iterations) {
        @Override
        public String toString() {
            return "PassThroughKeys[redacted]";
        }
    }

    /** "SCRAM-SHA-256" or "SCRAM-SHA-256-PLUS". */
    public String mechanism() {
        return client.getScramMechanism().getName();
    }

    /** The data of the SASLInitialResponse. */
    public byte[] clientFirst() {
        return client.clientFirstMessage().toString().getBytes(StandardCharsets.UTF_8);
    }

    /** AuthenticationSASLContinue data -> the data of the SASLResponse (client-final-message). */
    public byte[] serverFirst(byte[] data) throws AuthFailedException {
        try {
            String serverFirst = text(data);
            var first = client.serverFirstMessage(serverFirst);
            if (password != null) {
                // Same nonce and settings, so the same client-first-message: the exchange goes on from the keys.
                byte[] salt = Base64.getDecoder().decode(first.getSalt());
                client = build(null, passwordKeys(password, salt, first.getIterationCount()));
                client.clientFirstMessage();
                client.serverFirstMessage(serverFirst);
            }
            if (expectedSalt != null
                    && (first.getIterationCount() != expectedIterations
                            || !java.util.Arrays.equals(
                                    java.util.Base64.getDecoder().decode(first.getSalt()), expectedSalt))) {
                throw new AuthFailedException(
                        AuthFailedException.INVALID_PASSWORD,
                        "the server's SCRAM verifier differs from the pooler's",
                        "Pass-through logs in with the client's proof, which only works when the server stores the"
                                + " same SCRAM-SHA-256 verifier (salt and iterations) as the pooler.");
            }
            return client.clientFinalMessage().toString().getBytes(StandardCharsets.UTF_8);
        } catch (ScramParseException | IllegalArgumentException | ScramRuntimeException e) {
            throw new AuthFailedException(
                    AuthFailedException.PROTOCOL_VIOLATION,
                    "malformed SCRAM message from the server",
                    "The server-first-message could not be parsed or its nonce does not extend ours.",
                    e);
        }
    }

    /** AuthenticationSASLFinal data: checks the server signature, which proves the server knows the password. */
    public void serverFinal(byte[] data) throws AuthFailedException {
        try {
            client.serverFinalMessage(text(data));
        } catch (ScramInvalidServerSignatureException e) {
            throw new AuthFailedException(
                    AuthFailedException.INVALID_PASSWORD,
                    "incorrect server signature",
                    "The server does not hold the password pggat logged in with.",
                    e);
        } catch (ScramServerErrorException e) {
            throw new AuthFailedException(
                    AuthFailedException.INVALID_PASSWORD,
                    "SCRAM authentication failed at the server",
                    "The server reported error \"" + e.getServerError() + "\".",
                    e);
        } catch (ScramParseException | IllegalArgumentException | ScramRuntimeException e) {
            throw new AuthFailedException(
                    AuthFailedException.PROTOCOL_VIOLATION,
                    "malformed SCRAM message from the server",
                    "The server-final-message could not be parsed.",
                    e);
        }
    }

    private static String text(byte[] data) throws AuthFailedException {
        if (data == null || data.length == 0) {
            throw new AuthFailedException(
                    AuthFailedException.PROTOCOL_VIOLATION,
                    "malformed SCRAM message from the server",
                    "The message is empty.");
        }
        return new String(data, StandardCharsets.UTF_8);
    }
}
