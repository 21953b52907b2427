package dev.pggat.operator.manifests;

import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.pggat.crds.v1alpha1.PgPool;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesResource;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Reads Kubernetes YAML into the typed fabric8 and PgPool models and fails on anything the model does not know: a
 * misspelt or misplaced key would otherwise be dropped silently (PgPool model) or parked in {@code
 * additionalProperties} (fabric8 models), and the API server would then ignore or reject it.
 */
final class StrictManifests {
    static final KubernetesSerialization K8S = new KubernetesSerialization();
    static final YAMLMapper YAML = new YAMLMapper(new YAMLFactory());
    /** For models written here for kinds fabric8 has none of (Argo CD, kustomize): unknown keys fail. */
    static final ObjectMapper STRICT = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();

    static {
        K8S.registerKubernetesResource(PgPool.class);
    }

    private StrictManifests() {}

    /** Finds the repository root from the module directory tests run in. */
    static Path repo() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.isRegularFile(p.resolve("deploy/kustomization.yaml"))) {
            p = p.getParent();
        }
        if (p == null) {
            throw new IllegalStateException(
                    "no deploy/kustomization.yaml above " + Path.of("").toAbsolutePath());
        }
        return p;
    }

    /** The non-empty YAML documents of a file. */
    static List<JsonNode> documents(Path file) {
        try {
            return documents(Files.readString(file));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<JsonNode> documents(String yaml) {
        try {
            List<JsonNode> out = new ArrayList<>();
            var it = YAML.readerFor(JsonNode.class).readValues(yaml);
            while (it.hasNext()) {
                JsonNode doc = (JsonNode) it.next();
                if (doc != null && !doc.isNull() && !doc.isMissingNode() && !doc.isEmpty()) {
                    out.add(doc);
                }
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A document as its typed model; fails for a kind with no typed model or with keys the model lacks. */
    static HasMetadata typed(JsonNode doc, String where) {
        KubernetesResource r;
        try {
            r = K8S.unmarshal(doc.toString());
        } catch (RuntimeException e) {
            return fail(where + ": does not parse as " + doc.path("apiVersion").asText() + " "
                    + doc.path("kind").asText() + ": " + causes(e));
        }
        if (r instanceof GenericKubernetesResource || !(r instanceof HasMetadata)) {
            return fail(where + ": no typed model for apiVersion "
                    + doc.path("apiVersion").asText() + ", kind "
                    + doc.path("kind").asText());
        }
        assertNoUnknownFields(doc, r, where);
        return (HasMetadata) r;
    }

    private static String causes(Throwable e) {
        StringBuilder b = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            b.append(b.length() == 0 ? "" : " <- ").append(t.getMessage());
        }
        return b.toString();
    }

    static void assertNoUnknownFields(JsonNode original, Object typed, String where) {
        List<String> problems = new ArrayList<>();
        compare(original, K8S.convertValue(typed, JsonNode.class), "", problems);
        parked(typed, "", problems, 0);
        if (!problems.isEmpty()) {
            fail(where + ": keys the typed model does not know or that change on the way through it:\n  "
                    + String.join("\n  ", problems));
        }
    }

    /** Every key of {@code original} survives serialisation through the model, with the same value. */
    private static void compare(JsonNode original, JsonNode round, String path, List<String> problems) {
        if (original.isObject()) {
            Iterator<Map.Entry<String, JsonNode>> it = original.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode r = round == null ? null : round.get(e.getKey());
                String p = path + "/" + e.getKey();
                if (r == null) {
                    if (!e.getValue().isNull()) {
                        problems.add(p + " (dropped)");
                    }
                    continue;
                }
                compare(e.getValue(), r, p, problems);
            }
        } else if (original.isArray()) {
            if (round == null || !round.isArray() || round.size() != original.size()) {
                problems.add(path + " (list changed)");
                return;
            }
            for (int i = 0; i < original.size(); i++) {
                compare(original.get(i), round.get(i), path + "/" + i, problems);
            }
        } else if (original.isNumber()
                && round != null
                && round.isNumber()
                && original.decimalValue().compareTo(round.decimalValue()) == 0) {
            // The model holds schema bounds as doubles; 1 and 1.0 are the same bound.
            return;
        } else if (round == null || !original.asText().equals(round.asText())) {
            problems.add(path + " (" + original + " became " + round + ")");
        }
    }

    /** fabric8 models keep keys they do not know in additionalProperties; any found there is unknown. */
    private static void parked(Object o, String path, List<String> problems, int depth) {
        if (o == null || depth > 40) {
            return;
        }
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object x : c) {
                parked(x, path + "/" + i++, problems, depth + 1);
            }
            return;
        }
        if (o instanceof Map<?, ?> m) {
            m.forEach((k, v) -> parked(v, path + "/" + k, problems, depth + 1));
            return;
        }
        String pkg = o.getClass().getPackageName();
        if (!pkg.startsWith("io.fabric8.kubernetes.api.model") && !pkg.startsWith("dev.pggat")) {
            return;
        }
        for (Method m : o.getClass().getMethods()) {
            if (m.getParameterCount() != 0
                    || Modifier.isStatic(m.getModifiers())
                    || !m.getName().startsWith("get")
                    || m.getDeclaringClass() == Object.class) {
                continue;
            }
            Object v;
            try {
                v = m.invoke(o);
            } catch (ReflectiveOperationException | RuntimeException e) {
                continue;
            }
            if (m.getName().equals("getAdditionalProperties")) {
                if (v instanceof Map<?, ?> extra && !extra.isEmpty()) {
                    problems.add(path + " has unknown keys " + extra.keySet());
                }
                continue;
            }
            String name = m.getName().substring(3);
            parked(v, path + "/" + Character.toLowerCase(name.charAt(0)) + name.substring(1), problems, depth + 1);
        }
    }
}
