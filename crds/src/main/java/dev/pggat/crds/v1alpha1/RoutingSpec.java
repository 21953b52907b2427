package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class RoutingSpec {
    @Default("false")
    @JsonPropertyDescription("Send read-only transactions to replicas and everything else to the primary. Default"
            + " false: everything goes to the primary.")
    public Boolean readWriteSplit;

    @Default("eventual")
    @JsonPropertyDescription("eventual: a read may not see the client's own recent writes; read-your-writes: after a"
            + " write a client reads from servers that have replayed it. Default eventual.")
    public Consistency consistency;

    @Pattern(Durations.PATTERN)
    @JsonPropertyDescription("Replicas whose replay is further behind the primary than this get no reads; 0 is no"
            + " limit. Default 10s.")
    public String maxReplicaLag;

    @Min(0)
    @JsonPropertyDescription("Replicas further behind the primary than this many bytes of WAL get no reads; 0 is no"
            + " limit. Default 16777216 (16MB).")
    public Long maxReplicaLagBytes;
}
