package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonProperty;

public enum TlsMode {
    @JsonProperty("disable")
    DISABLE,
    @JsonProperty("allow")
    ALLOW,
    @JsonProperty("prefer")
    PREFER,
    @JsonProperty("require")
    REQUIRE
}
