package dev.pggat.operator.webhook;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.pggat.crds.v1alpha1.DeploymentSpec;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.SidecarSpec;
import dev.pggat.operator.model.PoolerConfig;
import dev.pggat.operator.model.PoolerJvm;
import dev.pggat.operator.model.PoolerResources;
import dev.pggat.operator.model.SecretEnvAnnotation;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorRequirement;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.ProbeBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * Decides whether a Pod gets the pooler sidecar and writes the JSON patch that adds it. Pure: everything it looks
 * at comes in through {@link Lookup}, so it runs the same in tests and behind the HTTPS endpoint.
 *
 * <p>Where the API server has them, the sidecar is a native sidecar (an init container with {@code restartPolicy:
 * Always}): the kubelet starts it before the app's containers and waits for its startup probe, and stops it only
 * after they have exited, so the app never sees the pooler missing. It is put first among the init containers so
 * that other init containers (schema migrations) can already use it. Elsewhere it is the first ordinary container,
 * with the caveats {@link SidecarPlacement} names.
 */
public final class SidecarInjector {
    /** On a Pod: the name of the PgPool (same namespace) whose pooler it wants. Also the webhook's objectSelector. */
    public static final String POOL_LABEL = "pggat.dev/pgpool";
    /** On a Pod: {@code "false"} keeps the sidecar out although the label is there. */
    public static final String INJECT_ANNOTATION = "pggat.dev/inject";
    /** Set by the webhook on an injected Pod: the PgPool it was injected for. */
    public static final String INJECTED_ANNOTATION = "pggat.dev/injected";
    /**
     * Set by the webhook on an injected Pod: the PgPool it was injected for. A label, unlike {@link
     * #INJECTED_ANNOTATION}, so the operator can watch exactly the pods that run a sidecar (an opted-out pod keeps
     * {@link #POOL_LABEL}) and ask them which endpoint set they have.
     */
    public static final String SIDECAR_OF_LABEL = "pggat.dev/sidecar-of";

    public static final String CONTAINER = "pggat";
    public static final String CONFIG_VOLUME = "pggat-config";
    public static final String TMP_VOLUME = "pggat-tmp";
    public static final String TLS_VOLUME = "pggat-tls";
    /**
     * A projected ServiceAccount token for the endpoint stream, used when the PgPool has no token Secret (operator
     * option {@code --stream-auth serviceaccount}): the pooler reads it from its default token file.
     */
    public static final String STREAM_TOKEN_VOLUME = "pggat-stream-token";

    public static final String ADMIN_PORT_NAME = "pggat-admin";
    public static final String LISTEN_HOST = "127.0.0.1";
    public static final String STREAM_URL_ENV = "PGGAT_STREAM_URL";
    public static final String STREAM_TOKEN_ENV = "PGGAT_STREAM_TOKEN";

    /** Objects a decision depends on; each returns null when the object does not exist. */
    public interface Lookup {
        PgPool pgPool(String namespace, String name);

        ConfigMap configMap(String namespace, String name);
    }

    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

    private final SidecarSettings settings;

    public SidecarInjector(SidecarSettings settings) {
        this.settings = Objects.requireNonNull(settings, "settings");
    }

    /**
     * @param namespace the namespace the Pod is created in (the AdmissionRequest's, since a Pod being created often
     *     has none of its own yet)
     */
    public Decision decide(Pod pod, String namespace, Lookup lookup) {
        Map<String, String> labels =
                pod.getMetadata() == null ? null : pod.getMetadata().getLabels();
        String poolName = labels == null ? null : labels.get(POOL_LABEL);
        if (poolName == null || poolName.isBlank()) {
            return Decision.skip("no " + POOL_LABEL + " label");
        }
        Map<String, String> annotations = pod.getMetadata().getAnnotations();
        if (annotations != null && "false".equalsIgnoreCase(annotations.get(INJECT_ANNOTATION))) {
            return Decision.skip("opted out with annotation " + INJECT_ANNOTATION + "=false");
        }
        if (settings.placement().refusal() != null) {
            return Decision.deny(403, settings.placement().refusal());
        }
        PodSpec spec = pod.getSpec();
        if (spec == null) {
            return Decision.deny(400, "the Pod has no spec");
        }
        boolean hasOurContainer = allContainers(spec).anyMatch(c -> CONTAINER.equals(c.getName()));
        if (hasOurContainer && annotations != null && annotations.containsKey(INJECTED_ANNOTATION)) {
            return Decision.skip("already injected for PgPool " + annotations.get(INJECTED_ANNOTATION));
        }
        String conflict = conflict(spec);
        if (conflict != null) {
            return Decision.deny(
                    400,
                    conflict + "; rename it, or keep the pod out of injection with annotation " + INJECT_ANNOTATION
                            + ": \"false\"");
        }
        PgPool pool = lookup.pgPool(namespace, poolName);
        if (pool == null) {
            return Decision.deny(
                    403,
                    "PgPool " + poolName + " does not exist in namespace " + namespace + " (named by the pod's label "
                            + POOL_LABEL + "); create it, fix the label, or remove the label to run without the"
                            + " pggat sidecar");
        }
        SidecarSpec sidecar = pool.getSpec() == null ? null : pool.getSpec().sidecar;
        if (sidecar == null || !Boolean.TRUE.equals(sidecar.enabled)) {
            return Decision.deny(
                    403,
                    "PgPool " + namespace + "/" + poolName + " does not allow sidecar injection: set"
                            + " spec.sidecar.enabled: true on it");
        }
        if (sidecar.selector != null && !matches(sidecar.selector, labels)) {
            return Decision.deny(
                    403,
                    "the pod's labels do not match spec.sidecar.selector of PgPool " + namespace + "/" + poolName + " ("
                            + describe(sidecar.selector) + ")");
        }
        String configMapName = PoolerResources.configMapName(pool);
        ConfigMap config = lookup.configMap(namespace, configMapName);
        if (config == null) {
            return Decision.deny(
                    403,
                    "PgPool " + namespace + "/" + poolName + " has no pooler configuration yet (ConfigMap "
                            + configMapName + " not found); `kubectl describe pgpool " + poolName + "` says why."
                            + " The pod's controller retries on its own");
        }
        List<PoolerConfig.SecretEnv> secretEnv;
        try {
            Map<String, String> a = config.getMetadata().getAnnotations();
            secretEnv = SecretEnvAnnotation.decode(a == null ? null : a.get(PoolerResources.SECRET_ENV_ANNOTATION));
        } catch (IllegalArgumentException e) {
            return Decision.deny(
                    500,
                    "ConfigMap " + namespace + "/" + configMapName + " annotation "
                            + PoolerResources.SECRET_ENV_ANNOTATION + ": " + e.getMessage());
        }
        return Decision.inject(
                patch(
                        pod,
                        sidecar(pool, namespace, poolName, secretEnv),
                        volumes(configMapName, PoolerResources.tlsSecretName(pool)),
                        poolName,
                        settings.placement().nativeSidecar()),
                "injected the pggat sidecar for PgPool " + poolName);
    }

    private static Stream<Container> initContainers(PodSpec spec) {
        return spec.getInitContainers() == null ? Stream.empty() : spec.getInitContainers().stream();
    }

    private static Stream<Container> allContainers(PodSpec spec) {
        Stream<Container> main = spec.getContainers() == null ? Stream.empty() : spec.getContainers().stream();
        return Stream.concat(initContainers(spec), main);
    }

    /** What in the Pod would clash with the sidecar, or null. */
    private static String conflict(PodSpec spec) {
        if (Boolean.TRUE.equals(spec.getHostNetwork())) {
            return "the pod uses hostNetwork, so the sidecar's " + LISTEN_HOST + ":" + PoolerConfig.LISTEN_PORT
                    + " would be the node's";
        }
        for (Container c : (Iterable<Container>) allContainers(spec)::iterator) {
            if (CONTAINER.equals(c.getName())) {
                return "the pod already has a container named " + CONTAINER;
            }
            if (c.getPorts() != null) {
                for (ContainerPort p : c.getPorts()) {
                    if (Objects.equals(p.getContainerPort(), PoolerConfig.LISTEN_PORT)
                            || Objects.equals(p.getContainerPort(), PoolerConfig.ADMIN_PORT)) {
                        return "container " + c.getName() + " declares port " + p.getContainerPort()
                                + ", which the pggat sidecar listens on";
                    }
                    if (ADMIN_PORT_NAME.equals(p.getName())) {
                        return "container " + c.getName() + " already has a port named " + ADMIN_PORT_NAME;
                    }
                }
            }
        }
        if (spec.getVolumes() != null) {
            for (Volume v : spec.getVolumes()) {
                if (CONFIG_VOLUME.equals(v.getName())
                        || TMP_VOLUME.equals(v.getName())
                        || TLS_VOLUME.equals(v.getName())
                        || STREAM_TOKEN_VOLUME.equals(v.getName())) {
                    return "the pod already has a volume named " + v.getName();
                }
            }
        }
        return null;
    }

    Container sidecar(PgPool pool, String namespace, String poolName, List<PoolerConfig.SecretEnv> secretEnv) {
        DeploymentSpec d = pool.getSpec().deployment;
        String image = d != null && d.image != null && !d.image.isBlank() ? d.image : settings.defaultImage();
        List<EnvVar> env = new ArrayList<>();
        env.add(new EnvVarBuilder()
                .withName(PoolerConfig.LISTEN_HOST_VARIABLE)
                .withValue(LISTEN_HOST)
                .build());
        env.add(new EnvVarBuilder()
                .withName(STREAM_URL_ENV)
                .withValue(settings.streamUrl(namespace, poolName))
                .build());
        // Optional: without the PgPool's token Secret the pooler presents the projected ServiceAccount token.
        env.add(new EnvVarBuilder()
                .withName(STREAM_TOKEN_ENV)
                .withNewValueFrom()
                .withNewSecretKeyRef()
                .withName(SidecarSettings.streamTokenSecret(poolName))
                .withKey(SidecarSettings.STREAM_TOKEN_KEY)
                .withOptional(true)
                .endSecretKeyRef()
                .endValueFrom()
                .build());
        env.addAll(PoolerResources.secretEnvVars(secretEnv));
        env.addAll(PoolerJvm.env());
        Container container = new ContainerBuilder()
                .withName(CONTAINER)
                .withImage(image)
                .withRestartPolicy(settings.placement().nativeSidecar() ? "Always" : null)
                .withCommand("pggat", "pooler", "--config", PoolerResources.CONFIG_DIR + "/" + PoolerConfig.FILE_NAME)
                .addNewPort()
                .withName(ADMIN_PORT_NAME)
                .withContainerPort(PoolerConfig.ADMIN_PORT)
                .withProtocol("TCP")
                .endPort()
                .withEnv(env)
                // A pooler serving one pod needs little; the app's own limits are not ours to guess.
                .withResources(PoolerJvm.sidecarResources())
                // Up to two minutes for the first start; the app's containers wait for it.
                .withStartupProbe(probe("/readyz", 1, 120))
                .withReadinessProbe(probe("/readyz", 5, 3))
                .withLivenessProbe(probe("/healthz", 10, 6))
                .addNewVolumeMount()
                .withName(CONFIG_VOLUME)
                .withMountPath(PoolerResources.CONFIG_DIR)
                .withReadOnly(true)
                .endVolumeMount()
                .addNewVolumeMount()
                .withName(TMP_VOLUME)
                .withMountPath("/tmp")
                .endVolumeMount()
                .addNewVolumeMount()
                .withName(STREAM_TOKEN_VOLUME)
                .withMountPath(PoolerResources.STREAM_SERVICE_ACCOUNT_TOKEN_DIR)
                .withReadOnly(true)
                .endVolumeMount()
                .withNewSecurityContext()
                .withRunAsNonRoot(true)
                .withAllowPrivilegeEscalation(false)
                .withReadOnlyRootFilesystem(true)
                .withNewCapabilities()
                .withDrop("ALL")
                .endCapabilities()
                .withNewSeccompProfile()
                .withType("RuntimeDefault")
                .endSeccompProfile()
                .endSecurityContext()
                .build();
        if (PoolerResources.tlsSecretName(pool) != null) {
            container.getVolumeMounts().add(PoolerResources.tlsVolumeMount(TLS_VOLUME));
        }
        return container;
    }

    private static Probe probe(String path, int periodSeconds, int failureThreshold) {
        return new ProbeBuilder()
                .withNewHttpGet()
                .withPath(path)
                .withPort(new IntOrString(PoolerConfig.ADMIN_PORT))
                .endHttpGet()
                .withPeriodSeconds(periodSeconds)
                .withFailureThreshold(failureThreshold)
                .build();
    }

    private static List<Volume> volumes(String configMapName, String tlsSecretName) {
        List<Volume> volumes = new ArrayList<>(List.of(
                new VolumeBuilder()
                        .withName(CONFIG_VOLUME)
                        .withNewConfigMap()
                        .withName(configMapName)
                        .endConfigMap()
                        .build(),
                new VolumeBuilder()
                        .withName(TMP_VOLUME)
                        .withNewEmptyDir()
                        .endEmptyDir()
                        .build(),
                new VolumeBuilder(PoolerResources.projectedStreamToken())
                        .withName(STREAM_TOKEN_VOLUME)
                        .build()));
        if (tlsSecretName != null) {
            // The app pod's fsGroup is not ours to set, so the non-root pooler needs the files world-readable;
            // only the sidecar mounts them.
            volumes.add(PoolerResources.tlsVolume(TLS_VOLUME, tlsSecretName, 0444));
        }
        return volumes;
    }

    static ArrayNode patch(Pod pod, Container sidecar, List<Volume> volumes, String poolName) {
        return patch(pod, sidecar, volumes, poolName, true);
    }

    /** @param nativeSidecar first init container when true, else first container */
    static ArrayNode patch(Pod pod, Container sidecar, List<Volume> volumes, String poolName, boolean nativeSidecar) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ArrayNode ops = f.arrayNode();
        addToMap(ops, "/metadata/annotations", pod.getMetadata().getAnnotations(), INJECTED_ANNOTATION, poolName);
        // "add" replaces a value already there, so a label copied from another pod's template cannot lie.
        addToMap(ops, "/metadata/labels", pod.getMetadata().getLabels(), SIDECAR_OF_LABEL, poolName);
        JsonNode container = json(sidecar);
        List<Container> existing = nativeSidecar
                ? pod.getSpec().getInitContainers()
                : pod.getSpec().getContainers();
        String list = nativeSidecar ? "/spec/initContainers" : "/spec/containers";
        if (existing == null || existing.isEmpty()) {
            ops.add(op("add", list, f.arrayNode().add(container)));
        } else {
            ops.add(op("add", list + "/0", container));
        }
        if (pod.getSpec().getVolumes() == null || pod.getSpec().getVolumes().isEmpty()) {
            ArrayNode all = f.arrayNode();
            volumes.forEach(v -> all.add(json(v)));
            ops.add(op("add", "/spec/volumes", all));
        } else {
            volumes.forEach(v -> ops.add(op("add", "/spec/volumes/-", json(v))));
        }
        return ops;
    }

    private static void addToMap(ArrayNode ops, String path, Map<String, String> current, String key, String value) {
        // The parsed Pod shows an absent map as empty; "add" of the whole member is right for both.
        if (current == null || current.isEmpty()) {
            ops.add(op("add", path, JsonNodeFactory.instance.objectNode().put(key, value)));
        } else {
            ops.add(op("add", path + "/" + escape(key), JsonNodeFactory.instance.textNode(value)));
        }
    }

    private static ObjectNode op(String op, String path, JsonNode value) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("op", op);
        o.put("path", path);
        o.set("value", value);
        return o;
    }

    /** RFC 6901: {@code ~} and {@code /} inside a key. */
    static String escape(String key) {
        return key.replace("~", "~0").replace("/", "~1");
    }

    private static JsonNode json(Object o) {
        return SERIALIZATION.convertValue(o, JsonNode.class);
    }

    static boolean matches(LabelSelector selector, Map<String, String> labels) {
        Map<String, String> l = labels == null ? Map.of() : labels;
        if (selector.getMatchLabels() != null) {
            for (Map.Entry<String, String> e : selector.getMatchLabels().entrySet()) {
                if (!Objects.equals(l.get(e.getKey()), e.getValue())) {
                    return false;
                }
            }
        }
        if (selector.getMatchExpressions() != null) {
            for (LabelSelectorRequirement r : selector.getMatchExpressions()) {
                String value = l.get(r.getKey());
                List<String> values = r.getValues() == null ? List.of() : r.getValues();
                boolean ok =
                        switch (r.getOperator()) {
                            case "In" -> value != null && values.contains(value);
                            case "NotIn" -> value == null || !values.contains(value);
                            case "Exists" -> value != null;
                            case "DoesNotExist" -> value == null;
                            // An operator Kubernetes does not know cannot match, as the API server would refuse it.
                            default -> false;
                        };
                if (!ok) {
                    return false;
                }
            }
        }
        return true;
    }

    private static String describe(LabelSelector selector) {
        List<String> parts = new ArrayList<>();
        if (selector.getMatchLabels() != null) {
            selector.getMatchLabels().forEach((k, v) -> parts.add(k + "=" + v));
        }
        if (selector.getMatchExpressions() != null) {
            for (LabelSelectorRequirement r : selector.getMatchExpressions()) {
                parts.add(r.getKey() + " " + r.getOperator() + (r.getValues() == null ? "" : " " + r.getValues()));
            }
        }
        return String.join(", ", parts);
    }
}
