package dev.pggat.operator.model;

/** The other operators' resources that a PgPool can point at, and the names their CRDs carry. */
public enum ClusterKinds {
    CNPG("postgresql.cnpg.io", "v1", "Cluster", "clusters"),
    ZALANDO("acid.zalan.do", "v1", "postgresql", "postgresqls");

    public final String group;
    public final String version;
    public final String kind;
    public final String plural;

    ClusterKinds(String group, String version, String kind, String plural) {
        this.group = group;
        this.version = version;
        this.kind = kind;
        this.plural = plural;
    }

    public String crdName() {
        return plural + "." + group;
    }

    public String apiVersion() {
        return group + "/" + version;
    }

    /** The pod label whose value is the cluster name. */
    public String podClusterLabel() {
        return this == CNPG ? "cnpg.io/cluster" : "cluster-name";
    }
}
