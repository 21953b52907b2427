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

    /**
     * @param password the server password in clear text (a stored verifier cannot log in)
     * @param serverMechanisms the mechanisms listed in the server's AuthenticationSASL message
     * @throws AuthFailedException the server offers no mechanism we can use (only SCRAM-SHA-256 for now; the
     *     -PLUS variant needs TLS)
     */
    public ScramClient(String password, List<String> serverMechanisms) throws AuthFailedException {
        Objects.requireNonNull(password, "password");
        Objects.requireNonNull(serverMechanisms, "serverMechanisms");
        if (password.isEmpty()) {
            throw new IllegalArgumentException("the server password for SCRAM authentication must not be empty");
        }
        if (!serverMechanisms.contains(ScramCrypto.MECHANISM_NAME)) {
            throw new AuthFailedException(
                    AuthFailedException.PROTOCOL_VIOLATION,
                    "none of the server's SASL authentication mechanisms are supported",
                    "The server offered " + serverMechanisms + "; pggat supports " + ScramCrypto.MECHANISM_NAME + ".");
        }
        client = com.ongres.scram.client.ScramClient.builder()
                .advertisedMechanisms(List.of(ScramCrypto.MECHANISM_NAME))
                .username(IGNORED_USER)
                .password(password.toCharArray())
                .stringPreparation(ScramCrypto.PREPARATION)
                .nonceSupplier(() -> ScramServer.newNonce(RANDOM))
                .build();
    }

    /** "SCRAM-SHA-256" (no -PLUS for now). */
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
            client.serverFirstMessage(text(data));
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
