package dev.pggat.operator.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.Test;

/**
 * The PgPool CRD's CEL rules and bounds, enforced by the API server, reject what docs/operator.md says they reject
 * (the mock server checks none of them).
 */
@RealApiServer
class CelValidationOnRealServerTest {
    private static final String STATIC_PRIMARY =
            "cluster: {static: {endpoints: [{host: db-a, role: primary}, {host: db-b, role: replica}]}}";

    @Test
    void aValidPgPoolIsAccepted(KubeApiServer k8s) {
        String ns = setUp(k8s);
        assertThat(create(k8s, ns, "ok", STATIC_PRIMARY + ", pool: {minServerConnections: 2, maxServerConnections: 5}"))
                .isNotNull();
    }

    @Test
    void exactlyOneClusterKind(KubeApiServer k8s) {
        String ns = setUp(k8s);
        rejected(
                k8s,
                ns,
                "cluster: {cnpg: {name: pg}, zalando: {name: acid}}",
                "set exactly one of cluster.cnpg, cluster.zalando, cluster.static");
        rejected(k8s, ns, "cluster: {}", "set exactly one of cluster.cnpg, cluster.zalando, cluster.static");
    }

    @Test
    void exactlyOneStaticPrimaryWhereRoleDefaultsToPrimary(KubeApiServer k8s) {
        String ns = setUp(k8s);
        // The second endpoint has no role, so it is a primary as well.
        rejected(
                k8s,
                ns,
                "cluster: {static: {endpoints: [{host: db-a, role: primary}, {host: db-b}]}}",
                "exactly one endpoint must have role primary");
        rejected(
                k8s,
                ns,
                "cluster: {static: {endpoints: [{host: db-a, role: replica}]}}",
                "exactly one endpoint must have role primary");
    }

    @Test
    void minServerConnectionsMayNotExceedMax(KubeApiServer k8s) {
        String ns = setUp(k8s);
        rejected(
                k8s,
                ns,
                STATIC_PRIMARY + ", pool: {minServerConnections: 9, maxServerConnections: 5}",
                "pool.minServerConnections must not exceed pool.maxServerConnections");
    }

    @Test
    void portsAndWeightsOutsideTheirBoundsAreRejected(KubeApiServer k8s) {
        String ns = setUp(k8s);
        rejected(k8s, ns, "cluster: {static: {endpoints: [{host: db-a, port: 0}]}}", "port");
        rejected(k8s, ns, "cluster: {static: {endpoints: [{host: db-a, port: 70000}]}}", "port");
        rejected(k8s, ns, "cluster: {static: {endpoints: [{host: db-a, weight: -1}]}}", "weight");
    }

    @Test
    void aRouteHasADatabaseOrAnErrorWithAnSqlstate(KubeApiServer k8s) {
        String ns = setUp(k8s);
        assertThat(create(
                        k8s,
                        ns,
                        "routes-ok",
                        STATIC_PRIMARY + ", routes: [{name: r, match: {applicationName: 'reporting-*'}, database: app,"
                                + " setParameters: {statement_timeout: 30s}, dropParameters: [options]},"
                                + " {name: e, match: {user: old}, error: {sqlstate: '28000', message: gone}}]"))
                .isNotNull();
        rejected(
                k8s,
                ns,
                STATIC_PRIMARY + ", routes: [{name: r, database: app, error: {sqlstate: '28000', message: x}}]",
                "a route has exactly one of database and error");
        rejected(k8s, ns, STATIC_PRIMARY + ", routes: [{name: r}]", "a route has exactly one of database and error");
        rejected(k8s, ns, STATIC_PRIMARY + ", routes: [{name: r, error: {sqlstate: '2800', message: x}}]", "sqlstate");
    }

    private static String setUp(KubeApiServer k8s) {
        Clusters.installCrds(k8s);
        return k8s.createNamespace("cel");
    }

    private static void rejected(KubeApiServer k8s, String ns, String spec, String message) {
        assertThatThrownBy(() -> create(k8s, ns, "bad", spec))
                .as(spec)
                .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode())
                        .isEqualTo(422))
                .hasMessageContaining(message);
    }

    private static GenericKubernetesResource create(KubeApiServer k8s, String ns, String name, String spec) {
        GenericKubernetesResource pool = Serialization.unmarshal(
                "apiVersion: pggat.dev/v1alpha1\nkind: PgPool\nmetadata: {name: " + name + ", namespace: " + ns
                        + "}\nspec: {" + spec + "}\n",
                GenericKubernetesResource.class);
        return k8s.admin().resource(pool).create();
    }
}
