package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonProperty;

public enum EndpointRole {
    @JsonProperty("primary")
    PRIMARY,
    @JsonProperty("replica")
    REPLICA;

    /** The spelling used in YAML, the pooler configuration and status. */
    public String wireName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
