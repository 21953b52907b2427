package dev.pggat.operator.model;

import dev.pggat.crds.v1alpha1.DeploymentSpec;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.ServiceType;
import dev.pggat.crds.v1alpha1.TlsSpec;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.ProbeBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudgetBuilder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The ConfigMap, Deployment, Service and PodDisruptionBudget of one PgPool. */
public final class PoolerResources {
    public static final String CHECKSUM_ANNOTATION = "pggat.dev/config-checksum";
    public static final String ENDPOINT_SET_VERSION_ANNOTATION = "pggat.dev/endpoint-set-version";
    public static final String ENDPOINT_SET_FINGERPRINT_ANNOTATION = "pggat.dev/endpoint-set-fingerprint";
    public static final String SECRET_ENV_ANNOTATION = "pggat.dev/secret-env";
    public static final String MANAGED_BY = "app.kubernetes.io/managed-by";
    public static final String MANAGED_BY_VALUE = "pggat-operator";
    public static final String INSTANCE = "app.kubernetes.io/instance";
    public static final String CONTAINER = "pggat";
    public static final String CONFIG_DIR = "/etc/pggat";
    public static final int SERVICE_PORT = 5432;
    public static final int DEFAULT_REPLICAS = 2;
    // Longer than the pooler's default 30s drain so that SIGTERM, not SIGKILL, ends a draining pod.
    private static final long TERMINATION_GRACE_SECONDS = 40;

    private PoolerResources() {}

    public static String configMapName(PgPool pool) {
        return pool.getMetadata().getName() + "-pggat";
    }

    public static String deploymentName(PgPool pool) {
        return pool.getMetadata().getName() + "-pggat";
    }

    public static String pdbName(PgPool pool) {
        return pool.getMetadata().getName() + "-pggat";
    }

    /** Clients connect to the PgPool's own name. */
    public static String serviceName(PgPool pool) {
        return pool.getMetadata().getName();
    }

    public static boolean deploymentEnabled(PgPool pool) {
        DeploymentSpec d = pool.getSpec().deployment;
        return d == null || d.enabled == null || d.enabled;
    }

    public static int replicas(PgPool pool) {
        DeploymentSpec d = pool.getSpec().deployment;
        return d == null || d.replicas == null ? DEFAULT_REPLICAS : d.replicas;
    }

    public static Map<String, String> selectorLabels(PgPool pool) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("app.kubernetes.io/name", "pggat");
        m.put(INSTANCE, pool.getMetadata().getName());
        return m;
    }

    public static Map<String, String> labels(PgPool pool) {
        Map<String, String> m = selectorLabels(pool);
        m.put("app.kubernetes.io/component", "pooler");
        m.put(MANAGED_BY, MANAGED_BY_VALUE);
        return m;
    }

    public static OwnerReference ownerReference(PgPool pool) {
        return new OwnerReferenceBuilder()
                .withApiVersion(pool.getApiVersion())
                .withKind(pool.getKind())
                .withName(pool.getMetadata().getName())
                .withUid(pool.getMetadata().getUid())
                .withController(true)
                .withBlockOwnerDeletion(true)
                .build();
    }

    private static ObjectMeta meta(PgPool pool, String name, Map<String, String> annotations) {
        return new ObjectMetaBuilder()
                .withName(name)
                .withNamespace(pool.getMetadata().getNamespace())
                .withLabels(labels(pool))
                .withAnnotations(annotations.isEmpty() ? null : annotations)
                .withOwnerReferences(ownerReference(pool))
                .build();
    }

    /**
     * The endpoint set version moves whenever the endpoints' fingerprint differs from the one the current ConfigMap
     * was written with, so it survives operator restarts without state of its own. It moves as the endpoint stream's
     * versions do (see {@code EndpointHub}): to at least the wall clock in milliseconds, and at least one more than
     * before, so a file and a stream version can be compared.
     */
    public static long nextEndpointSetVersion(ConfigMap current, Topology topology, long nowMillis) {
        long previous = storedEndpointSetVersion(current);
        if (previous > 0
                && topology.fingerprint()
                        .equals(current.getMetadata().getAnnotations().get(ENDPOINT_SET_FINGERPRINT_ANNOTATION))) {
            return previous;
        }
        return Math.max(previous + 1, nowMillis);
    }

    private static long storedEndpointSetVersion(ConfigMap current) {
        if (current == null || current.getMetadata().getAnnotations() == null) {
            return 0;
        }
        try {
            return Math.max(
                    0,
                    Long.parseLong(
                            current.getMetadata().getAnnotations().getOrDefault(ENDPOINT_SET_VERSION_ANNOTATION, "0")));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    public static ConfigMap configMap(PgPool pool, PoolerConfig config, Topology topology, long endpointSetVersion) {
        Map<String, String> annotations = new LinkedHashMap<>();
        annotations.put(CHECKSUM_ANNOTATION, config.checksum());
        annotations.put(ENDPOINT_SET_VERSION_ANNOTATION, Long.toString(endpointSetVersion));
        annotations.put(ENDPOINT_SET_FINGERPRINT_ANNOTATION, topology.fingerprint());
        // The webhook gives injected sidecars the same Secret-fed variables as the Deployment.
        annotations.put(SECRET_ENV_ANNOTATION, SecretEnvAnnotation.encode(config.secretEnv()));
        return new ConfigMapBuilder()
                .withMetadata(meta(pool, configMapName(pool), annotations))
                .withData(Map.of(PoolerConfig.FILE_NAME, config.yaml()))
                .build();
    }

    public static Deployment deployment(PgPool pool, PoolerConfig config, String defaultImage) {
        return deployment(pool, config, defaultImage, null);
    }

    /** Where the pooler reads its endpoint stream token: a Secret volume, so a new token needs no restart. */
    public static final String STREAM_TOKEN_DIR = "/var/run/pggat/stream";

    /**
     * @param streamUrl the PgPool's endpoint stream on the operator, or null when the operator serves none: the
     *     pooler then runs from its configuration file alone
     */
    public static Deployment deployment(PgPool pool, PoolerConfig config, String defaultImage, String streamUrl) {
        return deployment(pool, config, defaultImage, streamUrl, dev.pggat.operator.stream.StreamAuth.TOKEN);
    }

    /** Where a projected ServiceAccount token for the endpoint stream is mounted (the pooler's default). */
    public static final String STREAM_SERVICE_ACCOUNT_TOKEN_DIR =
            dev.pggat.pooler.stream.StreamSettings.DEFAULT_SERVICE_ACCOUNT_TOKEN_DIR;

    /** The kubelet renews a projected token at 80% of this; the pooler reads the file again on every connection. */
    static final long STREAM_TOKEN_EXPIRATION_SECONDS = 3600;

    /** @param auth what the pods present to the stream: the PgPool's token Secret, or a projected token */
    public static Deployment deployment(
            PgPool pool,
            PoolerConfig config,
            String defaultImage,
            String streamUrl,
            dev.pggat.operator.stream.StreamAuth auth) {
        Deployment d = deploymentWithoutStream(pool, config, defaultImage);
        if (streamUrl != null) {
            addStream(pool, d, streamUrl, auth);
            d.getSpec()
                    .getTemplate()
                    .getMetadata()
                    .setAnnotations(Map.of(CHECKSUM_ANNOTATION, config.checksumWithoutEndpoints()));
        }
        return d;
    }

    /**
     * The pooler subscribes with what it finds in its environment: the URL, the token file, and its own pod name,
     * by which it finds its cancel-key instance id among the peers.
     */
    private static void addStream(
            PgPool pool, Deployment d, String streamUrl, dev.pggat.operator.stream.StreamAuth auth) {
        boolean projected = auth == dev.pggat.operator.stream.StreamAuth.SERVICE_ACCOUNT;
        String tokenDir = projected ? STREAM_SERVICE_ACCOUNT_TOKEN_DIR : STREAM_TOKEN_DIR;
        var podSpec = d.getSpec().getTemplate().getSpec();
        var container = podSpec.getContainers().get(0);
        List<EnvVar> env = new ArrayList<>(container.getEnv() == null ? List.of() : container.getEnv());
        env.add(new EnvVarBuilder()
                .withName(dev.pggat.pooler.stream.StreamSettings.ENV_POD_NAME)
                .withNewValueFrom()
                .withNewFieldRef()
                .withFieldPath("metadata.name")
                .endFieldRef()
                .endValueFrom()
                .build());
        env.add(new EnvVar(dev.pggat.pooler.stream.StreamSettings.ENV_URL, streamUrl, null));
        env.add(new EnvVar(
                dev.pggat.pooler.stream.StreamSettings.ENV_TOKEN_FILE,
                tokenDir + "/" + dev.pggat.operator.stream.StreamTokens.KEY,
                null));
        container.setEnv(env);
        container
                .getVolumeMounts()
                .add(new io.fabric8.kubernetes.api.model.VolumeMountBuilder()
                        .withName("stream-token")
                        .withMountPath(tokenDir)
                        .withReadOnly(true)
                        .build());
        if (projected) {
            podSpec.getVolumes().add(projectedStreamToken());
            return;
        }
        podSpec.getVolumes()
                .add(new io.fabric8.kubernetes.api.model.VolumeBuilder()
                        .withName("stream-token")
                        .withNewSecret()
                        .withSecretName(dev.pggat.operator.stream.StreamTokens.secretName(pool))
                        .addNewItem()
                        .withKey(dev.pggat.operator.stream.StreamTokens.KEY)
                        .withPath(dev.pggat.operator.stream.StreamTokens.KEY)
                        .endItem()
                        // Secret files belong to root and the pooler runs as another user without an fsGroup.
                        .withDefaultMode(0444)
                        .endSecret()
                        .build());
    }

    /**
     * A ServiceAccount token only the endpoint stream accepts (its own audience): unlike the pod's API token, the
     * operator could not use it against the API server.
     */
    public static io.fabric8.kubernetes.api.model.Volume projectedStreamToken() {
        return new io.fabric8.kubernetes.api.model.VolumeBuilder()
                .withName("stream-token")
                .withNewProjected()
                .addNewSource()
                .withNewServiceAccountToken()
                .withAudience(dev.pggat.operator.stream.TokenReviews.AUDIENCE)
                .withExpirationSeconds(STREAM_TOKEN_EXPIRATION_SECONDS)
                .withPath(dev.pggat.operator.stream.StreamTokens.KEY)
                .endServiceAccountToken()
                .endSource()
                // The pooler runs as a non-root user without an fsGroup.
                .withDefaultMode(0444)
                .endProjected()
                .build();
    }

    /** The Secret holding the PgPool's endpoint stream token; created once, never overwritten. */
    public static io.fabric8.kubernetes.api.model.Secret streamTokenSecret(PgPool pool, String token) {
        return new io.fabric8.kubernetes.api.model.SecretBuilder()
                .withMetadata(meta(pool, dev.pggat.operator.stream.StreamTokens.secretName(pool), Map.of()))
                .withType("Opaque")
                .withData(Map.of(
                        dev.pggat.operator.stream.StreamTokens.KEY,
                        java.util.Base64.getEncoder()
                                .encodeToString(token.getBytes(java.nio.charset.StandardCharsets.UTF_8))))
                .build();
    }

    /**
     * The pooler container's password variables, each read from its Secret: the same for standalone pooler pods
     * and injected sidecars.
     */
    public static List<EnvVar> secretEnvVars(List<PoolerConfig.SecretEnv> secretEnv) {
        List<EnvVar> env = new ArrayList<>();
        for (PoolerConfig.SecretEnv e : secretEnv) {
            env.add(new EnvVarBuilder()
                    .withName(e.variable())
                    .withNewValueFrom()
                    .withNewSecretKeyRef()
                    .withName(e.secretName())
                    .withKey(e.secretKey())
                    .endSecretKeyRef()
                    .endValueFrom()
                    .build());
        }
        return env;
    }

    /** The Secret named by {@code spec.tls.secretRef}, or null when the pooler needs no certificate files. */
    public static String tlsSecretName(PgPool pool) {
        TlsSpec tls = pool.getSpec() == null ? null : pool.getSpec().tls;
        return tls == null || tls.secretRef == null ? null : tls.secretRef.name;
    }

    /**
     * The TLS Secret as files where the pooler configuration expects them. A whole-directory mount (no subPath),
     * so the kubelet swaps in a rotated Secret and the pooler picks it up without a restart; only the two keys, so
     * a Secret without them fails the mount with the key's name instead of starting a pooler without TLS.
     *
     * @param fileMode 0440 where the pod's fsGroup lets the pooler read group-readable files; 0444 in a pod whose
     *     security context is not ours (sidecars), since the pooler does not run as root
     */
    public static Volume tlsVolume(String volumeName, String secretName, int fileMode) {
        return new VolumeBuilder()
                .withName(volumeName)
                .withNewSecret()
                .withSecretName(secretName)
                .addNewItem()
                .withKey(PoolerConfig.TLS_CERT_KEY)
                .withPath(PoolerConfig.TLS_CERT_KEY)
                .endItem()
                .addNewItem()
                .withKey(PoolerConfig.TLS_KEY_KEY)
                .withPath(PoolerConfig.TLS_KEY_KEY)
                .endItem()
                .withDefaultMode(fileMode)
                .endSecret()
                .build();
    }

    public static VolumeMount tlsVolumeMount(String volumeName) {
        return new VolumeMountBuilder()
                .withName(volumeName)
                .withMountPath(PoolerConfig.TLS_DIR)
                .withReadOnly(true)
                .build();
    }

    /** The group the pggat image runs as; as the pod's fsGroup it may read the 0440 TLS key. */
    private static final long POOLER_GROUP = 65532;

    private static final String TLS_VOLUME = "tls";

    private static Deployment deploymentWithoutStream(PgPool pool, PoolerConfig config, String defaultImage) {
        Deployment d = deploymentWithoutTls(pool, config, defaultImage);
        String tlsSecret = tlsSecretName(pool);
        if (tlsSecret != null) {
            var podSpec = d.getSpec().getTemplate().getSpec();
            podSpec.getSecurityContext().setFsGroup(POOLER_GROUP);
            podSpec.getContainers().get(0).getVolumeMounts().add(tlsVolumeMount(TLS_VOLUME));
            podSpec.getVolumes().add(tlsVolume(TLS_VOLUME, tlsSecret, 0440));
        }
        return d;
    }

    private static Deployment deploymentWithoutTls(PgPool pool, PoolerConfig config, String defaultImage) {
        DeploymentSpec d = pool.getSpec().deployment;
        String image = d != null && d.image != null && !d.image.isBlank() ? d.image : defaultImage;
        List<EnvVar> env = secretEnvVars(config.secretEnv());
        env.addAll(PoolerJvm.env());
        return new DeploymentBuilder()
                .withMetadata(meta(pool, deploymentName(pool), Map.of()))
                .withNewSpec()
                .withReplicas(replicas(pool))
                .withNewSelector()
                .withMatchLabels(selectorLabels(pool))
                .endSelector()
                // A pooler pod leaves only after its replacement is ready: client capacity never dips.
                .withNewStrategy()
                .withType("RollingUpdate")
                .withNewRollingUpdate()
                .withMaxUnavailable(new IntOrString(0))
                .withMaxSurge(new IntOrString(1))
                .endRollingUpdate()
                .endStrategy()
                .withNewTemplate()
                .withNewMetadata()
                .withLabels(labels(pool))
                .withAnnotations(Map.of(CHECKSUM_ANNOTATION, config.checksum()))
                .endMetadata()
                .withNewSpec()
                .withTerminationGracePeriodSeconds(TERMINATION_GRACE_SECONDS)
                .withEnableServiceLinks(false)
                // The pooler calls no Kubernetes API; its only token is the projected, audience-bound stream token.
                .withAutomountServiceAccountToken(false)
                .withNewSecurityContext()
                .withRunAsNonRoot(true)
                .withNewSeccompProfile()
                .withType("RuntimeDefault")
                .endSeccompProfile()
                .endSecurityContext()
                .addNewContainer()
                .withName(CONTAINER)
                .withImage(image)
                .withCommand("pggat", "pooler", "--config", CONFIG_DIR + "/" + PoolerConfig.FILE_NAME)
                .addNewPort()
                .withName("postgres")
                .withContainerPort(PoolerConfig.LISTEN_PORT)
                .withProtocol("TCP")
                .endPort()
                .addNewPort()
                .withName("admin")
                .withContainerPort(PoolerConfig.ADMIN_PORT)
                .withProtocol("TCP")
                .endPort()
                .withEnv(env)
                .withResources(d == null || d.resources == null ? PoolerJvm.deploymentResources() : d.resources)
                .withReadinessProbe(probe("/readyz", 5, 3))
                .withLivenessProbe(probe("/healthz", 10, 6))
                .addNewVolumeMount()
                .withName("config")
                .withMountPath(CONFIG_DIR)
                .withReadOnly(true)
                .endVolumeMount()
                // The root filesystem is read-only; the JVM and Netty's native transport unpack into /tmp.
                .addNewVolumeMount()
                .withName("tmp")
                .withMountPath("/tmp")
                .endVolumeMount()
                .withNewSecurityContext()
                .withAllowPrivilegeEscalation(false)
                .withReadOnlyRootFilesystem(true)
                .withNewCapabilities()
                .withDrop("ALL")
                .endCapabilities()
                .endSecurityContext()
                .endContainer()
                .addNewVolume()
                .withName("config")
                .withNewConfigMap()
                .withName(configMapName(pool))
                .endConfigMap()
                .endVolume()
                .addNewVolume()
                .withName("tmp")
                .withNewEmptyDir()
                .endEmptyDir()
                .endVolume()
                .endSpec()
                .endTemplate()
                .endSpec()
                .build();
    }

    private static Probe probe(String path, int periodSeconds, int failureThreshold) {
        return new ProbeBuilder()
                .withNewHttpGet()
                .withPath(path)
                .withPort(new IntOrString("admin"))
                .endHttpGet()
                .withPeriodSeconds(periodSeconds)
                .withFailureThreshold(failureThreshold)
                .build();
    }

    public static Service service(PgPool pool) {
        DeploymentSpec d = pool.getSpec().deployment;
        ServiceType type = d == null || d.serviceType == null ? ServiceType.ClusterIP : d.serviceType;
        return new ServiceBuilder()
                .withMetadata(meta(pool, serviceName(pool), Map.of()))
                .withNewSpec()
                .withType(type.name())
                .withSelector(selectorLabels(pool))
                .addNewPort()
                .withName("postgres")
                .withPort(SERVICE_PORT)
                .withTargetPort(new IntOrString("postgres"))
                .withProtocol("TCP")
                .endPort()
                .endSpec()
                .build();
    }

    /**
     * Unless the user chose, one pod may always be evicted: with the default of one available pod and a single
     * replica, a PDB of minAvailable 1 would block every node drain.
     */
    public static PodDisruptionBudget podDisruptionBudget(PgPool pool) {
        DeploymentSpec d = pool.getSpec().deployment;
        Integer chosen = d == null || d.pdb == null ? null : d.pdb.minAvailable;
        int minAvailable = chosen != null ? chosen : Math.min(1, Math.max(0, replicas(pool) - 1));
        return new PodDisruptionBudgetBuilder()
                .withMetadata(meta(pool, pdbName(pool), Map.of()))
                .withNewSpec()
                .withMinAvailable(new IntOrString(minAvailable))
                .withNewSelector()
                .withMatchLabels(selectorLabels(pool))
                .endSelector()
                .endSpec()
                .build();
    }
}
