package dev.pggat.pooler.config;

import java.util.Locale;

/** When a server connection goes back to the pool: after each transaction, or when the client leaves. */
public enum PoolMode {
    TRANSACTION,
    SESSION;

    /** The spelling used in the YAML file. */
    public String yamlName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
