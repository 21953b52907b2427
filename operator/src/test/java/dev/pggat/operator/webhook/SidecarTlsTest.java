package dev.pggat.operator.webhook;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.DatabaseSpec;
import dev.pggat.crds.v1alpha1.EndpointRole;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.SecretKeyRef;
import dev.pggat.crds.v1alpha1.SidecarSpec;
import dev.pggat.crds.v1alpha1.StaticCluster;
import dev.pggat.crds.v1alpha1.StaticEndpoint;
import dev.pggat.crds.v1alpha1.TlsMode;
import dev.pggat.crds.v1alpha1.TlsSecretRef;
import dev.pggat.crds.v1alpha1.TlsSpec;
import dev.pggat.crds.v1alpha1.UserSpec;
import dev.pggat.operator.model.Credentials;
import dev.pggat.operator.model.PoolerConfig;
import dev.pggat.operator.model.PoolerResources;
import dev.pggat.operator.model.Topologies;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.fabric8.zjsonpatch.JsonPatch;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The sidecar finds the PgPool's TLS Secret at the path the shared ConfigMap names, as a pooler pod does. */
class SidecarTlsTest {
    private static final String NS = "shop";
    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
    private static final SidecarInjector INJECTOR = new SidecarInjector(new SidecarSettings(
            "registry.test/pggat:test",
            "http://pggat-operator.pggat-system.svc:8090/v1/namespaces/{namespace}/pgpools/{pgpool}/stream"));

    private static PgPool pool(TlsSpec tls) {
        PgPool p = new PgPool();
        p.setMetadata(
                new ObjectMetaBuilder().withName("orders").withNamespace(NS).build());
        PgPoolSpec spec = new PgPoolSpec();
        spec.cluster = new ClusterRef();
        spec.cluster.staticCluster = new StaticCluster();
        spec.cluster.staticCluster.endpoints = List.of(new StaticEndpoint("db-0.db", 5432, EndpointRole.PRIMARY));
        spec.databases = List.of(
                new DatabaseSpec("orders", List.of(new UserSpec("app", new SecretKeyRef("orders-db", "password")))));
        spec.sidecar = new SidecarSpec();
        spec.sidecar.enabled = true;
        spec.tls = tls;
        p.setSpec(spec);
        return p;
    }

    private static Pod inject(PgPool pool, Pod pod) {
        PoolerConfig config = PoolerConfig.render(
                pool.getSpec(),
                Topologies.ofStatic(pool.getSpec().cluster.staticCluster),
                Credentials.ofSpec(pool.getSpec().databases));
        ConfigMap cm =
                PoolerResources.configMap(pool, config, Topologies.ofStatic(pool.getSpec().cluster.staticCluster), 1);
        Decision d = INJECTOR.decide(pod, NS, new SidecarInjector.Lookup() {
            @Override
            public PgPool pgPool(String namespace, String name) {
                return name.equals(pool.getMetadata().getName()) ? pool : null;
            }

            @Override
            public ConfigMap configMap(String namespace, String name) {
                return name.equals(cm.getMetadata().getName()) ? cm : null;
            }
        });
        assertThat(d.patches()).as(d.message()).isTrue();
        JsonNode out = JsonPatch.apply(d.patch(), SERIALIZATION.convertValue(pod, JsonNode.class));
        return SERIALIZATION.convertValue(out, Pod.class);
    }

    private static Pod appPod(Volume... volumes) {
        return new PodBuilder()
                .withNewMetadata()
                .withGenerateName("checkout-")
                .withLabels(Map.of(SidecarInjector.POOL_LABEL, "orders"))
                .endMetadata()
                .withNewSpec()
                .addNewContainer()
                .withName("app")
                .withImage("registry.test/checkout:1")
                .endContainer()
                .withVolumes(volumes)
                .endSpec()
                .build();
    }

    private static TlsSpec secretTls() {
        TlsSpec t = new TlsSpec();
        t.mode = TlsMode.REQUIRE;
        t.secretRef = new TlsSecretRef();
        t.secretRef.name = "orders-tls";
        return t;
    }

    @Test
    void sidecarOfAPgPoolWithATlsSecretMountsItOnlyInThePoolerContainer() {
        Pod out = inject(pool(secretTls()), appPod());
        Volume tls = out.getSpec().getVolumes().stream()
                .filter(v -> v.getName().equals(SidecarInjector.TLS_VOLUME))
                .findFirst()
                .orElseThrow();
        assertThat(tls.getSecret().getSecretName()).isEqualTo("orders-tls");
        assertThat(tls.getSecret().getItems()).extracting(i -> i.getKey()).containsExactly("tls.crt", "tls.key");
        // The app pod's user and fsGroup are not the operator's: the non-root pooler must still read the key.
        assertThat(tls.getSecret().getDefaultMode()).isEqualTo(0444);
        Container sidecar = out.getSpec().getInitContainers().get(0);
        assertThat(sidecar.getVolumeMounts()).anySatisfy(m -> {
            assertThat(m.getName()).isEqualTo(SidecarInjector.TLS_VOLUME);
            assertThat(m.getMountPath()).isEqualTo(PoolerConfig.TLS_DIR);
            assertThat(m.getSubPath()).isNull();
        });
        assertThat(out.getSpec().getContainers().get(0).getVolumeMounts()).isNullOrEmpty();
    }

    @Test
    void sidecarWithoutATlsSecretGetsNoTlsVolume() {
        TlsSpec selfSigned = new TlsSpec();
        selfSigned.selfSigned = true;
        for (TlsSpec t : new TlsSpec[] {null, selfSigned}) {
            Pod out = inject(pool(t), appPod());
            assertThat(out.getSpec().getVolumes()).noneMatch(v -> v.getName().equals(SidecarInjector.TLS_VOLUME));
        }
    }

    @Test
    void podWithAVolumeNamedLikeTheTlsVolumeIsRefusedInsteadOfPatchedTwice() {
        Pod pod = appPod(new VolumeBuilder()
                .withName(SidecarInjector.TLS_VOLUME)
                .withNewEmptyDir()
                .endEmptyDir()
                .build());
        Decision d = INJECTOR.decide(pod, NS, new SidecarInjector.Lookup() {
            @Override
            public PgPool pgPool(String namespace, String name) {
                return pool(secretTls());
            }

            @Override
            public ConfigMap configMap(String namespace, String name) {
                throw new AssertionError("the conflict is found before any lookup");
            }
        });
        assertThat(d.allowed()).isFalse();
        assertThat(d.message()).contains("volume named " + SidecarInjector.TLS_VOLUME);
    }
}
