package dev.pggat.operator.kube;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What a GitOps tool does with our manifests: apply them again and again, and compare what it applied with what the
 * server keeps. A manifest the server normalizes (a field it drops or rewrites) shows as a change on every apply and
 * as a conflict under server-side apply: Argo CD would report it OutOfSync forever.
 */
@RealApiServer
class GitOpsDriftTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    @Test
    void deployAppliedTwiceClientSideThenServerSideChangesNothing(KubeApiServer k8s) {
        String deploy = KubeApiServer.repo("deploy").toString();
        k8s.kubectl("apply", "-k", deploy).ok();
        assertAppliedUnchanged(k8s, "-k", deploy);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "cnpg.yaml",
                "zalando.yaml",
                "static.yaml",
                "read-write-split.yaml",
                "tls.yaml",
                "sidecar.yaml",
                "argocd.yaml"
            })
    void everyExampleAppliedTwiceClientSideThenServerSideChangesNothing(String example, KubeApiServer k8s)
            throws IOException {
        Clusters.installCrds(k8s);
        Path file = KubeApiServer.repo("examples/" + example);
        // Each example creates the namespaces it uses: applied to an empty cluster it must succeed as it is.
        k8s.kubectl("apply", "-f", file.toString()).ok();
        assertAppliedUnchanged(k8s, "-f", file.toString());
        assertListsStoredAsWritten(k8s, file);
    }

    private static void assertAppliedUnchanged(KubeApiServer k8s, String how, String what) {
        Map<String, String> before = resourceVersions(k8s, how, what);
        KubeApiServer.Result second = k8s.kubectl("apply", how, what).ok();
        assertThat(resourceVersions(k8s, how, what))
                .as("resourceVersions after applying %s again", what)
                .isEqualTo(before);
        List<String> lines = Arrays.stream(second.output().split("\n"))
                .filter(l -> !l.isBlank())
                .toList();
        assertThat(lines)
                .as("a second client-side apply of %s changes nothing", what)
                .isNotEmpty()
                // kubectl always sends a PodDisruptionBudget's selector (its patch strategy is "replace") and so
                // says "configured"; the resourceVersions above show that nothing changed.
                .allMatch(l -> l.endsWith(" unchanged") || l.matches("poddisruptionbudget\\.policy/\\S+ configured"));
        KubeApiServer.Result diff = k8s.kubectl("diff", how, what);
        assertThat(diff.code())
                .as("kubectl diff of %s: %s", what, diff.output())
                .isEqualTo(0);
        KubeApiServer.Result serverSide = k8s.kubectl("apply", "--server-side", how, what);
        assertThat(serverSide.code())
                .as("server-side apply after client-side apply: %s", serverSide.output())
                .isEqualTo(0);
        KubeApiServer.Result ssaDiff = k8s.kubectl("diff", "--server-side", how, what);
        assertThat(ssaDiff.code())
                .as("kubectl diff --server-side of %s: %s", what, ssaDiff.output())
                .isEqualTo(0);
    }

    private static Map<String, String> resourceVersions(KubeApiServer k8s, String how, String what) {
        try {
            JsonNode list = JSON.readTree(
                    k8s.kubectl("get", how, what, "-o", "json").ok().output());
            Map<String, String> out = new LinkedHashMap<>();
            JsonNode items = list.has("items")
                    ? list.get("items")
                    : JSON.createArrayNode().add(list);
            for (JsonNode o : items) {
                out.put(
                        o.path("kind").asText() + "/"
                                + o.at("/metadata/namespace").asText() + "/"
                                + o.at("/metadata/name").asText(),
                        o.at("/metadata/resourceVersion").asText());
            }
            return out;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * A GitOps tool compares a list as a whole: a default the server fills into a list item (an endpoint's weight)
     * makes the live list differ from the manifest's on every sync. Every list of a PgPool's spec is stored as
     * written.
     */
    private static void assertListsStoredAsWritten(KubeApiServer k8s, Path file) throws IOException {
        try (YAMLParser parser = new YAMLFactory().createParser(file.toFile())) {
            Iterator<JsonNode> docs = YAML.readValues(parser, JsonNode.class);
            while (docs.hasNext()) {
                JsonNode doc = docs.next();
                if (!"PgPool".equals(doc.path("kind").asText())) {
                    continue;
                }
                JsonNode live = JSON.readTree(k8s.kubectl(
                                "get",
                                "pgpool",
                                "-n",
                                doc.at("/metadata/namespace").asText(),
                                doc.at("/metadata/name").asText(),
                                "-o",
                                "json")
                        .ok()
                        .output());
                compareLists("/spec", doc.get("spec"), live.get("spec"));
            }
        }
    }

    private static void compareLists(String path, JsonNode written, JsonNode stored) {
        if (written.isArray()) {
            assertThat(stored).as("list %s as stored", path).isEqualTo(written);
        } else if (written.isObject()) {
            written.fields()
                    .forEachRemaining(e -> compareLists(
                            path + "/" + e.getKey(), e.getValue(), stored == null ? null : stored.get(e.getKey())));
        }
    }
}
