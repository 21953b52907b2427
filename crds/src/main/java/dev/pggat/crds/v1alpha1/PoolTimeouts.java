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

    @Pattern(Durations.PATTERN)
    @JsonPropertyDescription(
            "A client idle outside a transaction this long is disconnected (SQLSTATE 57P05); 0 is" + " off. Default 0.")
    public String clientIdle;

    @Pattern(Durations.PATTERN)
    @JsonPropertyDescription("A client that holds a server inside a transaction and sends nothing this long is"
            + " disconnected and its transaction rolled back (SQLSTATE 25P03); 0 is off. Default 0.")
    public String idleInTransaction;

    @Pattern(Durations.PATTERN)
    @JsonPropertyDescription("A query running this long is canceled on its server and fails with SQLSTATE 57014;"
            + " the session goes on. 0 is off. Default 0.")
    public String query;
}
