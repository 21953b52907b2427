package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import java.util.ArrayList;
import java.util.List;

/** A Patroni cluster, found by the pooler itself through the members' REST API. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class PatroniCluster {
    @Required
    @Size(min = 1)
    @JsonPropertyDescription("The members' REST API base URLs (like http://pg-0.pg:8008), tried in turn.")
    public List<String> members = new ArrayList<>();

    @Pattern(Durations.PATTERN)
    @JsonPropertyDescription("Time between looks at the cluster (like 1s). Default 1s.")
    public String interval;

    @JsonPropertyDescription("Replicas further behind the leader than this many bytes are left out. Default: no limit.")
    public Long maxLagBytes;
}
