package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class PoolTimeouts {
    @Pattern(Durations.PATTERN)
    @JsonPropertyDescription("How long a client waits for a server connection before its query fails; 0 waits"
            + " forever. Default 30s.")
    public String queryWait;

    @Pattern(Durations.PATTERN)
    @JsonPropertyDescription("Idle server connections are closed after this long; 0 never closes them. Default 10m.")
    public String serverIdle;

    @Pattern(Durations.PATTERN)
    @JsonPropertyDescription(
            "Server connections are closed when released after this age; 0 is unlimited. Default" + " 1h.")
    public String serverLifetime;
}
