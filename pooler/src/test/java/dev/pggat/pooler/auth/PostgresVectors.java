package dev.pggat.pooler.auth;

/**
 * Secrets produced by a real PostgreSQL 15 (single-user mode, {@code SET password_encryption = ...; CREATE ROLE
 * ... PASSWORD ...; SELECT rolpassword FROM pg_authid}). Fixed public test vectors.
 */
final class PostgresVectors {
    /** Role "u", password "p", password_encryption = 'scram-sha-256'. */
    static final String SCRAM_U_P = "SCRAM-SHA-256$4096:cfrT6wfGcHgAgQEsF6ewAA=="
            + "$dk64xL/oJROK4ydaQXMZ3RLYdqgAASPhvvZVESpfdDU=:VMGNCH63olaPV6xTBzTX2yV0ac/Yv4c/31h79cm7bmk=";

    /** Role "u2", a non-ASCII password with a ligature that SASLprep (NFKC) maps to "fi". */
    static final String SCRAM_U2 = "SCRAM-SHA-256$4096:vlUcrL5+o+RooOcP5lv5uQ=="
            + "$gUkXkL5EI/L/zMgPvQhn+g7AGbiR/HChZMgxjfILX50=:xPe80sbfPe+N10Yn3muVqpGouJLCVisPguG4Ww3uSNU=";

    static final String U2_PASSWORD = "p\u00e4ssw\u00f6rd \ufb01";
    static final String U2_PASSWORD_NORMALIZED = "p\u00e4ssw\u00f6rd fi";

    /** Role "u3", password "p", password_encryption = 'md5'. */
    static final String MD5_U3_P = "md5ef6c69b71c8fa6f813b0fe1c883b7319";

    private PostgresVectors() {}
}
