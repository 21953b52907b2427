package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class PdbSpec {
    @Default("1")
    @Min(0)
    @JsonPropertyDescription("Pooler pods that must stay available during voluntary disruptions. Default 1.")
    public Integer minAvailable;
}
