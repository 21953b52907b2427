package dev.pggat.operator.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.DatabaseSpec;
import dev.pggat.crds.v1alpha1.DeploymentSpec;
import dev.pggat.crds.v1alpha1.EndpointRole;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.SecretKeyRef;
import dev.pggat.crds.v1alpha1.SidecarSpec;
import dev.pggat.crds.v1alpha1.StaticCluster;
import dev.pggat.crds.v1alpha1.StaticEndpoint;
import dev.pggat.crds.v1alpha1.UserSpec;
import dev.pggat.operator.PggatOperator;
import dev.pggat.operator.model.PoolerResources;
import dev.pggat.operator.webhook.SidecarInjector;
import dev.pggat.operator.webhook.WebhookOptions;
import dev.pggat.operator.webhook.WebhookServer;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfigurationBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.javaoperatorsdk.operator.Operator;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * The API server calls the operator's webhook for a labelled Pod and then validates the mutated Pod as it would in a
 * cluster. v1.26 has no native sidecars: an init container with restartPolicy Always loses that field and is then
 * refused for its probes, so the pooler must come as an ordinary container there.
 */
@RealApiServer
class SidecarInjectionOnRealServerTest {
    private static final String POOL = "orders";
    private static final String IMAGE = "registry.test/pggat:test";
    private static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    @Timeout(300)
    void withoutNativeSidecarsThePoolerIsTheFirstOrdinaryContainerAndThePodIsAdmitted(KubeApiServer k8s)
            throws Exception {
        try (Setup s = new Setup(k8s, "auto")) {
            Pod created = s.createPodOnceTheWebhookAnswers();
            assertThat(created.getSpec().getContainers())
                    .extracting(c -> c.getName())
                    .containsExactly(SidecarInjector.CONTAINER, "app");
            assertThat(created.getSpec().getInitContainers()).isEmpty();
            assertThat(created.getSpec().getContainers().get(0).getRestartPolicy())
                    .isNull();
            assertThat(created.getMetadata().getLabels()).containsEntry(SidecarInjector.SIDECAR_OF_LABEL, POOL);
        }
    }

    @Test
    @Timeout(300)
    void nativeOnlyIsRefusedWithAMessageNamingTheVersionsAndTheWayOut(KubeApiServer k8s) throws Exception {
        try (Setup s = new Setup(k8s, "native")) {
            assertThatThrownBy(s::createPodOnceTheWebhookAnswers)
                    .isInstanceOf(KubernetesClientException.class)
                    .hasMessageContaining("native sidecar only")
                    .hasMessageContaining("1.29")
                    .hasMessageContaining("v1.26")
                    .hasMessageContaining("--sidecar-mode auto");
        }
    }

    /** A namespace with a PgPool reconciled by the operator, the webhook, and a configuration that calls it. */
    private static final class Setup implements AutoCloseable {
        final KubeApiServer k8s;
        final String ns;
        final Operator operator;
        final AutoCloseable webhook;
        final String configuration;

        Setup(KubeApiServer k8s, String mode) throws Exception {
            this.k8s = k8s;
            Clusters.installCrds(k8s);
            ns = k8s.createNamespace("sidecar");
            KubernetesClient admin = k8s.admin();
            admin.secrets()
                    .inNamespace(ns)
                    .resource(new SecretBuilder()
                            .withNewMetadata()
                            .withName("app-password")
                            .endMetadata()
                            .addToStringData("password", "not-a-real-password")
                            .build())
                    .create();
            admin.resource(pool(ns)).create();
            operator = PggatOperator.create(admin, Set.of(ns), IMAGE, Duration.ofSeconds(1), Clock.systemUTC(), false);
            operator.start();
            String configMap = PoolerResources.configMapName(pool(ns));
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (admin.configMaps().inNamespace(ns).withName(configMap).get() == null) {
                assertThat(System.nanoTime())
                        .as("ConfigMap %s written", configMap)
                        .isLessThan(deadline);
                KubeApiServer.sleep(200);
            }

            TestPki.Issued ca = TestPki.ca("webhook-test-ca");
            TestPki.Issued serving = TestPki.serving(ca, List.of("127.0.0.1"));
            Path certs = Files.createTempDirectory("webhook-certs-");
            Files.writeString(certs.resolve("tls.crt"), serving.certPem());
            Files.writeString(certs.resolve("tls.key"), serving.keyPem());
            int port = KubeApiServer.freePort();
            WebhookOptions options = new WebhookOptions();
            new CommandLine(options)
                    .parseArgs(
                            "--webhook-port",
                            Integer.toString(port),
                            "--webhook-cert-mode",
                            "files",
                            "--webhook-cert-dir",
                            certs.toString(),
                            "--operator-namespace",
                            "pggat-system",
                            "--sidecar-mode",
                            mode);
            webhook = options.start(admin, IMAGE);

            configuration = "pggat-test-" + ns;
            MutatingWebhookConfiguration config = new MutatingWebhookConfigurationBuilder()
                    .withNewMetadata()
                    .withName(configuration)
                    .endMetadata()
                    .addNewWebhook()
                    .withName("sidecar.pggat.dev")
                    .withAdmissionReviewVersions("v1")
                    .withNewClientConfig()
                    .withUrl("https://127.0.0.1:" + port + WebhookServer.MUTATE_PATH)
                    .withCaBundle(
                            Base64.getEncoder().encodeToString(ca.certPem().getBytes(StandardCharsets.US_ASCII)))
                    .endClientConfig()
                    .addNewRule()
                    .withOperations("CREATE")
                    .withApiGroups("")
                    .withApiVersions("v1")
                    .withResources("pods")
                    .withScope("Namespaced")
                    .endRule()
                    .withNewObjectSelector()
                    .addNewMatchExpression()
                    .withKey(SidecarInjector.POOL_LABEL)
                    .withOperator("Exists")
                    .endMatchExpression()
                    .endObjectSelector()
                    .withNewNamespaceSelector()
                    .addToMatchLabels("kubernetes.io/metadata.name", ns)
                    .endNamespaceSelector()
                    // Fail, not Ignore: here a webhook that is not reached must show.
                    .withFailurePolicy("Fail")
                    .withSideEffects("None")
                    .withTimeoutSeconds(10)
                    .endWebhook()
                    .build();
            admin.resource(config).create();
        }

        /**
         * The API server picks up a new webhook configuration a moment after it is created: dry-run creates until
         * one comes back mutated (or refused), then the real create.
         */
        Pod createPodOnceTheWebhookAnswers() {
            long deadline = System.nanoTime() + WAIT.toNanos();
            int attempt = 0;
            while (true) {
                Pod dry = k8s.admin()
                        .pods()
                        .inNamespace(ns)
                        .resource(pod("probe-" + attempt++))
                        .dryRun()
                        .create();
                if (dry.getMetadata().getLabels().containsKey(SidecarInjector.SIDECAR_OF_LABEL)) {
                    break;
                }
                assertThat(System.nanoTime()).as("the webhook is called").isLessThan(deadline);
                KubeApiServer.sleep(300);
            }
            return k8s.admin().pods().inNamespace(ns).resource(pod("app")).create();
        }

        @Override
        public void close() throws Exception {
            k8s.admin()
                    .admissionRegistration()
                    .v1()
                    .mutatingWebhookConfigurations()
                    .withName(configuration)
                    .delete();
            webhook.close();
            operator.stop();
        }
    }

    private static Pod pod(String name) {
        return new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .withLabels(Map.of(SidecarInjector.POOL_LABEL, POOL, "app", "checkout"))
                .endMetadata()
                .withNewSpec()
                .addNewContainer()
                .withName("app")
                .withImage("registry.test/checkout:1")
                .endContainer()
                .endSpec()
                .build();
    }

    private static PgPool pool(String ns) {
        PgPool pool = new PgPool();
        pool.setMetadata(
                new ObjectMetaBuilder().withName(POOL).withNamespace(ns).build());
        PgPoolSpec spec = new PgPoolSpec();
        spec.cluster = new ClusterRef();
        spec.cluster.staticCluster = new StaticCluster();
        spec.cluster.staticCluster.endpoints.add(new StaticEndpoint("10.0.0.1", 5432, EndpointRole.PRIMARY));
        spec.databases.add(
                new DatabaseSpec("app", List.of(new UserSpec("app", new SecretKeyRef("app-password", "password")))));
        spec.deployment = new DeploymentSpec();
        spec.deployment.enabled = false;
        spec.sidecar = new SidecarSpec();
        spec.sidecar.enabled = true;
        pool.setSpec(spec);
        return pool;
    }
}
