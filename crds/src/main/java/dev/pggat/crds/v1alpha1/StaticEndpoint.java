package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Required;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class StaticEndpoint {
    @Required
    @JsonPropertyDescription("Host name or IP address of the server.")
    public String host;

    @Default("5432")
    @Min(1)
    @Max(65535)
    @JsonPropertyDescription("TCP port of the server. Default 5432.")
    public Integer port;

    @Default("primary")
    @JsonPropertyDescription("primary or replica. Default primary.")
    public EndpointRole role;

    @JsonPropertyDescription("A name for this server, shown in status and metrics. Default host:port.")
    public String name;

    @JsonPropertyDescription(
            "Availability zone of the server. Informational: the pooler shows it with the endpoint set (admin GET"
                    + " /endpoints) but does not choose replicas by zone.")
    public String zone;

    @Default("100")
    @Min(0)
    @JsonPropertyDescription("Relative share of replica traffic this server gets. Default 100; 0 takes none.")
    public Integer weight;

    public StaticEndpoint() {}

    public StaticEndpoint(String host, Integer port, EndpointRole role) {
        this.host = host;
        this.port = port;
        this.role = role;
    }
}
