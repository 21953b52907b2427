package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonProperty;

public enum PoolMode {
    @JsonProperty("transaction")
    TRANSACTION,
    @JsonProperty("session")
    SESSION;

    public String wireName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
