package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import java.util.Map;

/**
 * Google Cloud SQL for PostgreSQL instances, found by the pooler itself through the Cloud SQL Admin API with the
 * pod's application-default credentials (GKE Workload Identity).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class CloudSqlCluster {
    @Required
    @Pattern("^[a-z][a-z0-9-:.]{2,100}$")
    @JsonPropertyDescription("The Google Cloud project id.")
    public String project;

    @JsonPropertyDescription("A regular expression whole instance names must match. Default: any.")
    public String instances;

    @JsonPropertyDescription("User labels every instance must carry. Default: any.")
    public Map<String, String> labels;

    @Pattern("^(PRIMARY|PRIVATE|PSC)$")
    @JsonPropertyDescription("Which address the pooler connects to: PRIMARY (public), PRIVATE or PSC (the instance's"
            + " DNS name). Default PRIVATE.")
    public String ipType;

    @JsonPropertyDescription("The primary instance whose cluster the databases are on. Default: the one cluster that"
            + " has each database.")
    public String instance;

    @Pattern(Durations.PATTERN)
    @JsonPropertyDescription("Time between looks at the API (like 30s). Default 30s.")
    public String interval;
}
