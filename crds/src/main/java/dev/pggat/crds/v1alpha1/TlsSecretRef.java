package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class TlsSecretRef {
    @Required
    @JsonPropertyDescription("Name of a kubernetes.io/tls Secret in the PgPool's namespace.")
    public String name;
}
