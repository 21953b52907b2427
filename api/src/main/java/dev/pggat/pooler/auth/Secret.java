package dev.pggat.pooler.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;
import java.util.regex.Pattern;

/** A user's secret as configured: parsed once at config load. toString() never reveals it. */
public sealed interface Secret permits Secret.Plain, Secret.Md5, Secret.Scram {

    /**
     * "md5" + 32 hex digits (either case) -> {@link Md5}; a value starting with "SCRAM-SHA-256$" -> {@link
     * Scram}; anything else -> {@link Plain}.
     *
     * @throws IllegalArgumentException a value starting with "SCRAM-SHA-256$" that is not a valid verifier; the
     *     message describes the expected format and never contains the value
     */
    static Secret parse(String value) {
        Objects.requireNonNull(value, "value");
        if (Md5.looksLikeMd5(value)) {
            return new Md5(value.toLowerCase(Locale.ROOT));
        }
        if (value.startsWith(Scram.PREFIX)) {
            return Scram.parseVerifier(value);
        }
        return new Plain(value);
    }

    /** SCRAM verifier for a plain password: fresh random 16-byte salt, 4096 iterations, SASLprep. */
    static Scram scramFor(String password, SecureRandom random) {
        byte[] salt = new byte[ScramCrypto.DEFAULT_SALT_LENGTH];
        random.nextBytes(salt);
        return scramFor(password, salt, ScramCrypto.DEFAULT_ITERATIONS);
    }

    /** SCRAM verifier for a plain password with a given salt and iteration count. */
    static Scram scramFor(String password, byte[] salt, int iterations) {
        Objects.requireNonNull(password, "password");
        if (password.isEmpty()) {
            // PostgreSQL never lets an empty password log in; a verifier for one would be a trap.
            throw new IllegalArgumentException("a SCRAM verifier needs a non-empty password");
        }
        byte[] salted = ScramCrypto.saltedPassword(password, salt, iterations);
        return new Scram(iterations, salt, ScramCrypto.storedKey(salted), ScramCrypto.serverKey(salted));
    }

    /** A password in clear text. */
    final class Plain implements Secret {
        private final String password;
        // Derived on first SCRAM login and kept, so the salt a client sees is stable like a stored verifier's.
        private volatile Scram derived;

        public Plain(String password) {
            this.password = Objects.requireNonNull(password, "password");
        }

        public String password() {
            return password;
        }

        /** The SCRAM verifier this password logs in with, derived once with a random salt. */
        Scram scramVerifier(SecureRandom random) {
            Scram result = derived;
            if (result == null) {
                synchronized (this) {
                    result = derived;
                    if (result == null) {
                        result = scramFor(password, random);
                        derived = result;
                    }
                }
            }
            return result;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Plain other && ScramCrypto.constantTimeEquals(password, other.password);
        }

        @Override
        public int hashCode() {
            return Plain.class.hashCode();
        }

        @Override
        public String toString() {
            return "Secret.Plain[redacted]";
        }
    }

    /** PostgreSQL's MD5 hash: "md5" + hex(md5(password + user)), lower-case. */
    final class Md5 implements Secret {
        private static final Pattern FORMAT = Pattern.compile("md5[0-9a-fA-F]{32}");
        private final String hash;

        public Md5(String hash) {
            if (!looksLikeMd5(hash)) {
                throw new IllegalArgumentException("an MD5 password hash must be \"md5\" followed by 32 hex digits");
            }
            this.hash = hash.toLowerCase(Locale.ROOT);
        }

        static boolean looksLikeMd5(String value) {
            return FORMAT.matcher(value).matches();
        }

        /** "md5" + 32 lower-case hex digits. */
        public String hash() {
            return hash;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Md5 other
                    && MessageDigest.isEqual(
                            hash.getBytes(StandardCharsets.US_ASCII), other.hash.getBytes(StandardCharsets.US_ASCII));
        }

        @Override
        public int hashCode() {
            return Md5.class.hashCode();
        }

        @Override
        public String toString() {
            return "Secret.Md5[redacted]";
        }
    }

    /** A SCRAM-SHA-256 verifier, as PostgreSQL stores it in pg_authid.rolpassword. */
    final class Scram implements Secret {
        static final String PREFIX = "SCRAM-SHA-256$";
        static final String FORMAT_HELP = "a SCRAM password must look like"
                + " SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>"
                + " with iterations a positive integer, a non-empty salt and 32-byte keys"
                + " (the form PostgreSQL stores in pg_authid.rolpassword)";

        private final int iterations;
        private final byte[] salt;
        private final byte[] storedKey;
        private final byte[] serverKey;

        public Scram(int iterations, byte[] salt, byte[] storedKey, byte[] serverKey) {
            if (iterations < 1
                    || salt.length == 0
                    || storedKey.length != ScramCrypto.KEY_LENGTH
                    || serverKey.length != ScramCrypto.KEY_LENGTH) {
                throw new IllegalArgumentException(FORMAT_HELP);
            }
            this.iterations = iterations;
            this.salt = salt.clone();
            this.storedKey = storedKey.clone();
            this.serverKey = serverKey.clone();
        }

        static Scram parseVerifier(String value) {
            // <scheme>$<iterations>:<salt>$<StoredKey>:<ServerKey>; base64 never contains '$' or ':'.
            String[] halves = value.substring(PREFIX.length()).split("\\$", -1);
            if (halves.length != 2) {
                throw new IllegalArgumentException(FORMAT_HELP);
            }
            String[] params = halves[0].split(":", -1);
            String[] keys = halves[1].split(":", -1);
            if (params.length != 2 || keys.length != 2) {
                throw new IllegalArgumentException(FORMAT_HELP);
            }
            int iterations;
            try {
                iterations = Integer.parseInt(params[0]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(FORMAT_HELP);
            }
            byte[] salt = ScramCrypto.decodeBase64(params[1]);
            byte[] storedKey = ScramCrypto.decodeBase64(keys[0]);
            byte[] serverKey = ScramCrypto.decodeBase64(keys[1]);
            if (salt == null || storedKey == null || serverKey == null) {
                throw new IllegalArgumentException(FORMAT_HELP);
            }
            return new Scram(iterations, salt, storedKey, serverKey);
        }

        public int iterations() {
            return iterations;
        }

        public byte[] salt() {
            return salt.clone();
        }

        public byte[] storedKey() {
            return storedKey.clone();
        }

        public byte[] serverKey() {
            return serverKey.clone();
        }

        /** The verifier in PostgreSQL's text form, e.g. to print for an operator who wants to store it. */
        public String toVerifierString() {
            return PREFIX + iterations + ":" + ScramCrypto.base64(salt) + "$" + ScramCrypto.base64(storedKey) + ":"
                    + ScramCrypto.base64(serverKey);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Scram other
                    && iterations == other.iterations
                    && Arrays.equals(salt, other.salt)
                    && MessageDigest.isEqual(storedKey, other.storedKey)
                    && MessageDigest.isEqual(serverKey, other.serverKey);
        }

        @Override
        public int hashCode() {
            return 31 * iterations + Arrays.hashCode(salt);
        }

        @Override
        public String toString() {
            return "Secret.Scram[iterations=" + iterations + ", redacted]";
        }
    }
}
