package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class NamedRef {
    @Required
    @JsonPropertyDescription("Name of the cluster resource in the PgPool's namespace.")
    public String name;

    public NamedRef() {}

    public NamedRef(String name) {
        this.name = name;
    }
}
