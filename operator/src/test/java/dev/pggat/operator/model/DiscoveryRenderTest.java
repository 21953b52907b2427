package dev.pggat.operator.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.pggat.crds.v1alpha1.CloudSqlCluster;
import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.DatabaseSpec;
import dev.pggat.crds.v1alpha1.DigitalOceanCluster;
import dev.pggat.crds.v1alpha1.PatroniCluster;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.SecretKeyRef;
import dev.pggat.crds.v1alpha1.UserSpec;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.DiscoveryConfig;
import dev.pggat.pooler.config.PoolerConfig;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * PgPool clusters the pooler finds itself (Patroni, Cloud SQL, DigitalOcean): rendered as a discovery source that the
 * databases name instead of endpoints, and loaded by the pooler's own loader.
 */
class DiscoveryRenderTest {
    private static PgPoolSpec spec(ClusterRef cluster) {
        PgPoolSpec spec = new PgPoolSpec();
        spec.cluster = cluster;
        spec.databases = List.of(
                new DatabaseSpec("shop", List.of(new UserSpec("alice", new SecretKeyRef("shop-users", "alice")))));
        return spec;
    }

    private static PoolerConfig load(dev.pggat.operator.model.PoolerConfig rendered) throws Exception {
        Map<String, String> env = new HashMap<>();
        rendered.secretEnv().forEach(e -> env.put(e.variable(), "from-" + e.secretName()));
        return ConfigLoader.parse(rendered.yaml(), "pggat.yaml", env);
    }

    private static dev.pggat.operator.model.PoolerConfig render(PgPoolSpec spec) {
        SpecValidation.check(spec);
        return dev.pggat.operator.model.PoolerConfig.render(
                spec, Topology.discoveredByPooler(), Credentials.ofSpec(spec.databases));
    }

    @Test
    void patroniClusterBecomesADiscoverySourceTheDatabasesName() throws Exception {
        ClusterRef ref = new ClusterRef();
        ref.patroni = new PatroniCluster();
        ref.patroni.members = List.of("http://pg-0.pg:8008", "http://pg-1.pg:8008");
        ref.patroni.interval = "500ms";
        ref.patroni.maxLagBytes = 1048576L;
        var rendered = render(spec(ref));
        JsonNode root = new ObjectMapper(new YAMLFactory()).readTree(rendered.yaml());
        assertThat(root.at("/databases/shop/discovery").asText()).isEqualTo("cluster");
        assertThat(root.at("/databases/shop/endpoints").isMissingNode()).isTrue();
        PoolerConfig c = load(rendered);
        DiscoveryConfig.Patroni p =
                (DiscoveryConfig.Patroni) c.discovery().sources().get("cluster");
        assertThat(p.members()).hasSize(2);
        assertThat(p.maxLagBytes()).isEqualTo(1048576L);
        assertThat(p.schedule().interval()).hasMillis(500);
        assertThat(c.discovery().targets().get("shop")).isEqualTo(new DiscoveryConfig.Target("cluster", null));
        assertThat(c.databases().get("shop").users()).containsKey("alice");
    }

    @Test
    void cloudSqlClusterUsesTheInstanceAsTheClusterName() throws Exception {
        ClusterRef ref = new ClusterRef();
        ref.cloudSql = new CloudSqlCluster();
        ref.cloudSql.project = "my-project";
        ref.cloudSql.instances = "orders-.*";
        ref.cloudSql.labels = Map.of("env", "prod");
        ref.cloudSql.ipType = "PSC";
        ref.cloudSql.instance = "orders-main";
        PoolerConfig c = load(render(spec(ref)));
        DiscoveryConfig.CloudSql g =
                (DiscoveryConfig.CloudSql) c.discovery().sources().get("cluster");
        assertThat(g.project()).isEqualTo("my-project");
        assertThat(g.ipType()).isEqualTo(DiscoveryConfig.IpType.PSC);
        assertThat(g.labels()).containsExactly(Map.entry("env", "prod"));
        assertThat(c.discovery().targets().get("shop")).isEqualTo(new DiscoveryConfig.Target("cluster", "orders-main"));
    }

    @Test
    void digitalOceanTokenReachesThePoolerFromItsSecretThroughAVariable() throws Exception {
        ClusterRef ref = new ClusterRef();
        ref.digitalOcean = new DigitalOceanCluster();
        ref.digitalOcean.token = new SecretKeyRef("do-api", "token");
        ref.digitalOcean.tag = "prod";
        ref.digitalOcean.network = "private";
        var rendered = render(spec(ref));
        assertThat(rendered.secretEnv())
                .contains(new dev.pggat.operator.model.PoolerConfig.SecretEnv(
                        dev.pggat.operator.model.PoolerConfig.DIGITALOCEAN_TOKEN_VARIABLE, "do-api", "token"));
        assertThat(rendered.yaml()).doesNotContain("do-api");
        DiscoveryConfig.DigitalOcean d = (DiscoveryConfig.DigitalOcean)
                load(rendered).discovery().sources().get("cluster");
        assertThat(d.tokenEnv()).isEqualTo(dev.pggat.operator.model.PoolerConfig.DIGITALOCEAN_TOKEN_VARIABLE);
        assertThat(d.privateNetwork()).isTrue();
        assertThat(d.tag()).isEqualTo("prod");
    }

    @Test
    void aBadSourceValueIsRefusedWithThePoolersOwnMessage() {
        ClusterRef ref = new ClusterRef();
        ref.patroni = new PatroniCluster();
        ref.patroni.members = List.of("pg-0:8008");
        assertThatThrownBy(() -> render(spec(ref)))
                .hasMessageContaining("discovery.cluster.patroni.members[0]: is not an http or https URL");
        ClusterRef noDatabases = new ClusterRef();
        noDatabases.patroni = new PatroniCluster();
        noDatabases.patroni.members = List.of("http://pg-0:8008");
        PgPoolSpec spec = spec(noDatabases);
        spec.databases = null;
        assertThatThrownBy(() -> SpecValidation.check(spec)).hasMessageContaining("spec.databases is required");
    }
}
