package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.kubernetes.api.model.LabelSelector;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class SidecarSpec {
    @Default("false")
    @JsonPropertyDescription("Inject the pooler as a sidecar into the pods that selector matches. Default false.")
    public Boolean enabled;

    @JsonPropertyDescription("Pods of the PgPool's namespace that get the sidecar.")
    public LabelSelector selector;
}
