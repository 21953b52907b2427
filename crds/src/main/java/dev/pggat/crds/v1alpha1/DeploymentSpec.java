package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;
import io.fabric8.kubernetes.api.model.ResourceRequirements;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class DeploymentSpec {
    @Default("true")
    @JsonPropertyDescription(
            "Run the pooler as its own Deployment and Service. Default true; false when only" + " sidecars are wanted.")
    public Boolean enabled;

    @Default("2")
    @Min(0)
    @JsonPropertyDescription("Number of pooler pods. Default 2.")
    public Integer replicas;

    @JsonPropertyDescription("Pooler container image. Default: the pggat image of the operator's version.")
    public String image;

    @JsonPropertyDescription("CPU and memory requests and limits of the pooler container.")
    public ResourceRequirements resources;

    @Default("ClusterIP")
    @JsonPropertyDescription("ClusterIP, NodePort or LoadBalancer. Default ClusterIP.")
    public ServiceType serviceType;

    @JsonPropertyDescription("The PodDisruptionBudget of the pooler pods.")
    public PdbSpec pdb;
}
