package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonProperty;

public enum Consistency {
    @JsonProperty("eventual")
    EVENTUAL,
    @JsonProperty("read-your-writes")
    READ_YOUR_WRITES
}
