package dev.pggat.operator;

import static org.assertj.core.api.Assertions.fail;

import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.operator.model.ClusterKinds;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentStatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.javaoperatorsdk.operator.Operator;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.function.Supplier;

/**
 * fabric8's mock API server in CRUD mode with the operator running in-process against it. The mock has no
 * controllers, so tests play the Deployment controller's part themselves where a behaviour depends on it.
 */
final class MockApi implements AutoCloseable {
    static final String NS = "shop";
    static final String IMAGE = "registry.test/pggat:test";

    final KubernetesMockServer server;
    final KubernetesClient client;
    private Operator operator;

    MockApi() throws Exception {
        // CRUD for objects, and expectations (server.expect()) for the reviews a CRUD store cannot answer.
        Map<ServerRequest, Queue<ServerResponse>> expectations = new HashMap<>();
        server = new KubernetesMockServer(
                new Context(),
                new MockWebServer(),
                expectations,
                new KubernetesMixedDispatcher(expectations, List.of()),
                false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        client = server.createClient();
        client.resource(pgPoolCrd()).create();
    }

    void startOperator() {
        startOperator((String) null);
    }

    /** @param streamBaseUrl where pooler pods are told the endpoint stream is, or null for none */
    void startOperator(String streamBaseUrl) {
        operator = PggatOperator.create(
                client, Set.of(), IMAGE, Duration.ofMillis(300), Clock.systemUTC(), false, streamBaseUrl);
        operator.start();
    }

    void startOperator(PggatOperator.Options options) {
        operator = PggatOperator.create(
                client, Set.of(), IMAGE, Duration.ofMillis(300), Clock.systemUTC(), false, options);
        operator.start();
    }

    void stopOperator() {
        if (operator != null) {
            operator.stop();
            operator = null;
        }
    }

    @Override
    public void close() {
        if (operator != null) {
            operator.stop();
        }
        client.close();
        server.destroy();
    }

    static CustomResourceDefinition pgPoolCrd() throws Exception {
        try (InputStream in = PgPool.class.getResourceAsStream("/META-INF/fabric8/pgpools.pggat.dev-v1.yml")) {
            if (in == null) {
                throw new IllegalStateException("the crds module's generated CRD is not on the test classpath");
            }
            return Serialization.unmarshal(in, CustomResourceDefinition.class);
        }
    }

    /** A stand-in for another operator's CRD: any fields, and a status subresource like the real one. */
    static CustomResourceDefinition foreignCrd(ClusterKinds kind) {
        return new CustomResourceDefinitionBuilder()
                .withNewMetadata()
                .withName(kind.crdName())
                .endMetadata()
                .withNewSpec()
                .withGroup(kind.group)
                .withScope("Namespaced")
                .withNewNames()
                .withKind(kind.kind)
                .withPlural(kind.plural)
                .withSingular(kind.kind.toLowerCase(java.util.Locale.ROOT))
                .endNames()
                .addNewVersion()
                .withName(kind.version)
                .withServed(true)
                .withStorage(true)
                .withNewSubresources()
                .withNewStatus()
                .endStatus()
                .endSubresources()
                .withNewSchema()
                .withNewOpenAPIV3Schema()
                .withType("object")
                .withXKubernetesPreserveUnknownFields(true)
                .endOpenAPIV3Schema()
                .endSchema()
                .endVersion()
                .endSpec()
                .build();
    }

    void installCrd(ClusterKinds kind) {
        client.resource(foreignCrd(kind)).create();
    }

    GenericKubernetesResource cnpgCluster(String name, String currentPrimary) {
        GenericKubernetesResource cluster = new GenericKubernetesResourceBuilder()
                .withApiVersion(ClusterKinds.CNPG.apiVersion())
                .withKind(ClusterKinds.CNPG.kind)
                .withNewMetadata()
                .withName(name)
                .withNamespace(NS)
                .endMetadata()
                .withAdditionalProperties(Map.of("spec", Map.of("instances", 3)))
                .build();
        GenericKubernetesResource created = client.genericKubernetesResources(
                        PgPoolReconciler.definition(ClusterKinds.CNPG))
                .resource(cluster)
                .create();
        setCnpgPrimary(created.getMetadata().getName(), currentPrimary);
        return created;
    }

    void setCnpgPrimary(String cluster, String currentPrimary) {
        setCnpgStatus(cluster, currentPrimary, currentPrimary);
    }

    /** As CloudNativePG writes it; a targetPrimary other than currentPrimary is a switchover under way. */
    void setCnpgStatus(String cluster, String currentPrimary, String targetPrimary) {
        var resource = client.genericKubernetesResources(PgPoolReconciler.definition(ClusterKinds.CNPG))
                .inNamespace(NS)
                .withName(cluster);
        GenericKubernetesResource current = resource.get();
        current.getAdditionalProperties()
                .put(
                        "status",
                        Map.of(
                                "currentPrimary", currentPrimary,
                                "targetPrimary", targetPrimary,
                                "instancesStatus",
                                        Map.of("healthy", List.of(cluster + "-1", cluster + "-2", cluster + "-3"))));
        current.getMetadata().setResourceVersion(null);
        client.genericKubernetesResources(PgPoolReconciler.definition(ClusterKinds.CNPG))
                .resource(current)
                .updateStatus();
    }

    GenericKubernetesResource zalandoCluster(String name, Map<String, String> databases) {
        GenericKubernetesResource cluster = new GenericKubernetesResourceBuilder()
                .withApiVersion(ClusterKinds.ZALANDO.apiVersion())
                .withKind(ClusterKinds.ZALANDO.kind)
                .withNewMetadata()
                .withName(name)
                .withNamespace(NS)
                .endMetadata()
                .withAdditionalProperties(
                        Map.of("spec", Map.of("teamId", "acid", "numberOfInstances", 2, "databases", databases)))
                .build();
        return client.genericKubernetesResources(PgPoolReconciler.definition(ClusterKinds.ZALANDO))
                .resource(cluster)
                .create();
    }

    Pod pod(String name, Map<String, String> labels, String ip) {
        return client.resource(new PodBuilder()
                        .withNewMetadata()
                        .withName(name)
                        .withNamespace(NS)
                        .withLabels(labels)
                        .endMetadata()
                        .withNewSpec()
                        .addNewContainer()
                        .withName("postgres")
                        .withImage("postgres")
                        .endContainer()
                        .endSpec()
                        .withNewStatus()
                        .withPhase("Running")
                        .withPodIP(ip)
                        .endStatus()
                        .build())
                .create();
    }

    Secret secret(String name, Map<String, String> plain) {
        Map<String, String> data = new HashMap<>();
        plain.forEach((k, v) -> data.put(k, Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
        return client.resource(new SecretBuilder()
                        .withNewMetadata()
                        .withName(name)
                        .withNamespace(NS)
                        .endMetadata()
                        .withData(data)
                        .build())
                .create();
    }

    PgPool create(PgPool pool) {
        pool.getMetadata().setNamespace(NS);
        return client.resource(pool).create();
    }

    PgPool get(String name) {
        return client.resources(PgPool.class).inNamespace(NS).withName(name).get();
    }

    /** Plays the Deployment controller: every desired pod runs the current template. */
    void markRolledOut(String deploymentName) {
        Deployment d = await("Deployment " + deploymentName, Duration.ofSeconds(20), () -> client.apps()
                .deployments()
                .inNamespace(NS)
                .withName(deploymentName)
                .get());
        int replicas = d.getSpec().getReplicas();
        d.setStatus(new DeploymentStatusBuilder()
                .withObservedGeneration(d.getMetadata().getGeneration())
                .withReplicas(replicas)
                .withUpdatedReplicas(replicas)
                .withReadyReplicas(replicas)
                .withAvailableReplicas(replicas)
                .build());
        d.getMetadata().setResourceVersion(null);
        client.resource(d).updateStatus();
    }

    void markRolledOutIfBehind(String deploymentName) {
        Deployment d = client.apps()
                .deployments()
                .inNamespace(NS)
                .withName(deploymentName)
                .get();
        if (d != null
                && (d.getStatus() == null
                        || !java.util.Objects.equals(
                                d.getStatus().getObservedGeneration(),
                                d.getMetadata().getGeneration())
                        || !java.util.Objects.equals(
                                d.getStatus().getUpdatedReplicas(), d.getSpec().getReplicas()))) {
            markRolledOut(deploymentName);
        }
    }

    static <T> T await(String what, Duration timeout, Supplier<T> probe) {
        long deadline = System.nanoTime() + timeout.toNanos();
        T last = null;
        // A probe that keeps throwing is the likeliest reason for a timeout: the last failure becomes its cause.
        Throwable lastFailure = null;
        while (System.nanoTime() < deadline) {
            try {
                last = probe.get();
                lastFailure = null;
            } catch (RuntimeException | AssertionError e) {
                last = null;
                lastFailure = e;
            }
            if (last != null && !Boolean.FALSE.equals(last)) {
                return last;
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        String message = "timed out after " + timeout + " waiting for " + what + " (last: " + last + ")";
        if (lastFailure != null) {
            throw new AssertionError(message + "; the last probe failed with: " + lastFailure, lastFailure);
        }
        return fail(message);
    }
}
