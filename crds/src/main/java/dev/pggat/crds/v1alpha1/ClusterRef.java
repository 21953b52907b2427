package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.ValidationRule;

@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
        value = "(has(self.cnpg) ? 1 : 0) + (has(self.zalando) ? 1 : 0) + (has(self.static) ? 1 : 0) == 1",
        message = "set exactly one of cluster.cnpg, cluster.zalando, cluster.static")
public class ClusterRef {
    @JsonPropertyDescription("A CloudNativePG Cluster (postgresql.cnpg.io/v1) in the PgPool's namespace.")
    public NamedRef cnpg;

    @JsonPropertyDescription(
            "A Zalando postgres-operator cluster (acid.zalan.do/v1 postgresql) in the PgPool's" + " namespace.")
    public NamedRef zalando;

    @JsonProperty("static")
    @JsonPropertyDescription("Fixed PostgreSQL endpoints, for servers that no operator manages.")
    public StaticCluster staticCluster;

    /** The number of cluster kinds set; the model rejects anything but one because the mock API has no CEL. */
    @JsonIgnore
    public int kindsSet() {
        return (cnpg != null ? 1 : 0) + (zalando != null ? 1 : 0) + (staticCluster != null ? 1 : 0);
    }
}
