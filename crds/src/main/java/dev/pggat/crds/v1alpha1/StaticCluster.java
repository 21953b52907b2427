package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.ArrayList;
import java.util.List;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class StaticCluster {
    @Required
    @Size(min = 1)
    @ValidationRule(
            value = "self.filter(e, !has(e.role) || e.role == 'primary').size() == 1",
            message = "exactly one endpoint must have role primary (the default role)")
    @JsonPropertyDescription("The servers; exactly one has role primary.")
    public List<StaticEndpoint> endpoints = new ArrayList<>();
}
