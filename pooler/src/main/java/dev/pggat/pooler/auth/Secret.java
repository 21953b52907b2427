package dev.pggat.pooler.auth;

import java.util.Arrays;
import java.util.Base64;

/**
 * Stand-in for the real {@code Secret} written in parallel for the auth package; only here so the config package
 * compiles. The real implementation replaces this file.
 *
 * <p>A configured client password: plain text, a PostgreSQL md5 hash or a SCRAM-SHA-256 verifier, told apart the
 * way PostgreSQL tells apart the contents of {@code pg_authid.rolpassword}.
 */
public sealed interface Secret permits Secret.Plain, Secret.Md5, Secret.Scram {

    String SCRAM_PREFIX = "SCRAM-SHA-256$";

    /**
     * Classifies {@code v}. Anything that is neither an md5 hash nor starts with the SCRAM prefix is plain text.
     *
     * @throws IllegalArgumentException if {@code v} starts with the SCRAM prefix but is malformed; the message never
     *     contains the value
     */
    static Secret parse(String v) {
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException("password is empty");
        }
        if (v.length() == 35 && v.startsWith("md5") && isHex(v.substring(3))) {
            return new Md5(v);
        }
        if (v.startsWith(SCRAM_PREFIX)) {
            return Scram.parseVerifier(v.substring(SCRAM_PREFIX.length()));
        }
        return new Plain(v);
    }

    private static boolean isHex(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (Character.digit(s.charAt(i), 16) < 0) {
                return false;
            }
        }
        return true;
    }

    record Plain(String password) implements Secret {
        @Override
        public String toString() {
            return "Plain[<redacted>]";
        }
    }

    record Md5(String hash) implements Secret {
        @Override
        public String toString() {
            return "Md5[<redacted>]";
        }
    }

    record Scram(int iterations, byte[] salt, byte[] storedKey, byte[] serverKey) implements Secret {
        private static final int KEY_LENGTH = 32;

        static Scram parseVerifier(String rest) {
            // <iterations>:<salt>$<StoredKey>:<ServerKey>, all binary parts base64
            String[] halves = rest.split("\\$", -1);
            if (halves.length != 2) {
                throw new IllegalArgumentException(
                        "SCRAM-SHA-256 verifier must have the form SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>");
            }
            String[] iterSalt = halves[0].split(":", -1);
            String[] keys = halves[1].split(":", -1);
            if (iterSalt.length != 2 || keys.length != 2) {
                throw new IllegalArgumentException(
                        "SCRAM-SHA-256 verifier must have the form SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>");
            }
            int iterations;
            try {
                iterations = Integer.parseInt(iterSalt[0]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("SCRAM-SHA-256 verifier iteration count is not an integer");
            }
            if (iterations < 1) {
                throw new IllegalArgumentException("SCRAM-SHA-256 verifier iteration count must be at least 1");
            }
            byte[] salt = base64(iterSalt[1], "salt");
            if (salt.length == 0) {
                throw new IllegalArgumentException("SCRAM-SHA-256 verifier salt is empty");
            }
            byte[] storedKey = base64(keys[0], "StoredKey");
            byte[] serverKey = base64(keys[1], "ServerKey");
            if (storedKey.length != KEY_LENGTH || serverKey.length != KEY_LENGTH) {
                throw new IllegalArgumentException("SCRAM-SHA-256 verifier keys must be 32 bytes each");
            }
            return new Scram(iterations, salt, storedKey, serverKey);
        }

        private static byte[] base64(String s, String part) {
            try {
                return Base64.getDecoder().decode(s);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("SCRAM-SHA-256 verifier " + part + " is not valid base64");
            }
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Scram s
                    && iterations == s.iterations
                    && Arrays.equals(salt, s.salt)
                    && Arrays.equals(storedKey, s.storedKey)
                    && Arrays.equals(serverKey, s.serverKey);
        }

        @Override
        public int hashCode() {
            return 31 * iterations + Arrays.hashCode(salt);
        }

        @Override
        public String toString() {
            return "Scram[iterations=" + iterations + ", <redacted>]";
        }
    }
}
