package dev.pggat.pooler.config;

/** How the pooler authenticates a client. */
public enum AuthMethod {
    SCRAM_SHA_256("scram-sha-256"),
    MD5("md5"),
    PASSWORD("password"),
    TRUST("trust");

    private final String yamlName;

    AuthMethod(String yamlName) {
        this.yamlName = yamlName;
    }

    /** The spelling used in the YAML file (and in PostgreSQL's pg_hba.conf). */
    public String yamlName() {
        return yamlName;
    }
}
