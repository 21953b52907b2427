package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;
import java.util.ArrayList;
import java.util.List;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class PgPoolSpec {
    @Required
    @JsonPropertyDescription(
            "The PostgreSQL cluster the pooler sits in front of: exactly one of cnpg, zalando or static.")
    public ClusterRef cluster;

    @JsonPropertyDescription("Databases and users the pooler serves. Empty means the databases and users that the"
            + " cluster's credential Secrets describe (CloudNativePG: the <cluster>-app Secret; Zalando: the"
            + " <user>.<cluster>.credentials.postgresql.acid.zalan.do Secrets of the database owners).")
    public List<DatabaseSpec> databases = new ArrayList<>();

    @JsonPropertyDescription("Routes tried in order when a client logs in, before the database it names: by"
            + " application_name, user or database, each sends its clients to a database (with startup parameters"
            + " set, defaulted or dropped) or refuses them with an error. The first match wins.")
    public List<RouteSpec> routes = new ArrayList<>();

    @JsonPropertyDescription("Server connection pool settings applied to every database.")
    public PoolSpec pool;

    @JsonPropertyDescription("How queries are routed between the primary and the replicas.")
    public RoutingSpec routing;

    @JsonPropertyDescription("TLS between clients and the pooler. (Towards the PostgreSQL servers the pooler does not"
            + " use TLS in this version.)")
    public TlsSpec tls;

    @JsonPropertyDescription("The pooler Deployment, Service and PodDisruptionBudget that the operator manages.")
    public DeploymentSpec deployment;

    @JsonPropertyDescription("Injection of the pooler as a sidecar into application pods.")
    public SidecarSpec sidecar;
}
