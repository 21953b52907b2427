package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;

/** DigitalOcean managed PostgreSQL clusters, found by the pooler itself through the DigitalOcean API v2. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class DigitalOceanCluster {
    @Required
    @JsonPropertyDescription("The Secret key holding a DigitalOcean API token with read access to databases.")
    public SecretKeyRef token;

    @JsonPropertyDescription("Only clusters with this tag. Default: any.")
    public String tag;

    @Pattern("^(public|private)$")
    @JsonPropertyDescription("Connect to the clusters' public or private (VPC) host. Default public.")
    public String network;

    @JsonPropertyDescription("The cluster the databases are on. Default: the one cluster that has each database.")
    public String cluster;

    @Pattern(Durations.PATTERN)
    @JsonPropertyDescription("Time between looks at the API (like 30s). Default 30s.")
    public String interval;
}
