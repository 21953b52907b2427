package dev.pggat.pooler.auth;

import com.ongres.scram.common.exception.ScramInvalidServerSignatureException;
import com.ongres.scram.common.exception.ScramParseException;
import com.ongres.scram.common.exception.ScramRuntimeException;
import com.ongres.scram.common.exception.ScramServerErrorException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.List;
import java.util.Objects;

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

    private final com.ongres.scram.client.ScramClient client;
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
        var advertised = plus
                ? List.of(ScramServer.PLUS_MECHANISM, ScramCrypto.MECHANISM_NAME)
                : List.of(ScramCrypto.MECHANISM_NAME);
        var stage = com.ongres.scram.client.ScramClient.builder()
                .advertisedMechanisms(advertised)
                .username(IGNORED_USER);
        var builder = keys == null
                ? stage.password(password.toCharArray())
                : stage.clientAndServerKey(keys.clientKey(), keys.serverKey());
        if (plus) {
            builder.channelBinding(ScramServer.CBIND_TYPE, tlsServerEndPoint);
        }
        client = builder.stringPreparation(ScramCrypto.PREPARATION)
                .nonceSupplier(() -> ScramServer.newNonce(RANDOM))
                .build();
        expectedSalt = keys == null ? null : keys.salt();
        expectedIterations = keys == null ? 0 : keys.iterations();
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
            var first = client.serverFirstMessage(text(data));
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
