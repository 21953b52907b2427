package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.ValidationRule;

@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
        value = "(has(self.cnpg) ? 1 : 0) + (has(self.zalando) ? 1 : 0) + (has(self.static) ? 1 : 0)"
                + " + (has(self.patroni) ? 1 : 0) + (has(self.cloudSql) ? 1 : 0) + (has(self.digitalOcean) ? 1 : 0)"
                + " == 1",
        message = "set exactly one of cluster.cnpg, cluster.zalando, cluster.static, cluster.patroni,"
                + " cluster.cloudSql, cluster.digitalOcean")
public class ClusterRef {
    @JsonPropertyDescription("A CloudNativePG Cluster (postgresql.cnpg.io/v1) in the PgPool's namespace.")
    public NamedRef cnpg;

    @JsonPropertyDescription(
            "A Zalando postgres-operator cluster (acid.zalan.do/v1 postgresql) in the PgPool's" + " namespace.")
    public NamedRef zalando;

    @JsonProperty("static")
    @JsonPropertyDescription("Fixed PostgreSQL endpoints, for servers that no operator manages.")
    public StaticCluster staticCluster;

    @JsonPropertyDescription("A Patroni cluster: the pooler finds the leader and replicas through Patroni's REST API"
            + " and follows switchovers itself.")
    public PatroniCluster patroni;

    @JsonPropertyDescription(
            "Google Cloud SQL for PostgreSQL instances, found by the pooler through the Cloud SQL Admin"
                    + " API (needs roles/cloudsql.viewer for the pod's Google service account).")
    public CloudSqlCluster cloudSql;

    @JsonPropertyDescription(
            "DigitalOcean managed PostgreSQL clusters, found by the pooler through the DigitalOcean" + " API.")
    public DigitalOceanCluster digitalOcean;

    /** The number of cluster kinds set; the model rejects anything but one because the mock API has no CEL. */
    @JsonIgnore
    public int kindsSet() {
        return (cnpg != null ? 1 : 0)
                + (zalando != null ? 1 : 0)
                + (staticCluster != null ? 1 : 0)
                + (patroni != null ? 1 : 0)
                + (cloudSql != null ? 1 : 0)
                + (digitalOcean != null ? 1 : 0);
    }

    /** Whether the pooler finds the servers itself (patroni, cloudSql, digitalOcean) rather than the operator. */
    @JsonIgnore
    public boolean discoveredByPooler() {
        return patroni != null || cloudSql != null || digitalOcean != null;
    }
}
