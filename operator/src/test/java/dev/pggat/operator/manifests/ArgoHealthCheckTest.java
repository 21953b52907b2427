package dev.pggat.operator.manifests;

import static dev.pggat.operator.manifests.StrictManifests.documents;
import static dev.pggat.operator.manifests.StrictManifests.repo;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolStatus;
import dev.pggat.operator.model.StatusModel;
import dev.pggat.operator.model.StatusModel.Outcome;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * argocd/health.lua run by Lua 5.1, the Lua Argo CD embeds, on the sample PgPools of argocd/health_test.yaml and
 * on statuses the operator's own status code writes. Needs {@code lua5.1} on PATH (Debian package lua5.1).
 */
class ArgoHealthCheckTest {
    record Health(String status, String message) {}

    static Path lua() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(dir, "lua5.1");
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return fail("lua5.1 is not on PATH: install Debian's lua5.1 package (apt-get install lua5.1), as .ci/run"
                + " does; Argo CD runs health checks with Lua 5.1");
    }

    /** Runs the health check with {@code obj} set to the object, as Argo CD does. */
    static Health check(JsonNode object) throws IOException, InterruptedException {
        Path script = repo().resolve("argocd/health.lua");
        String program = "obj = " + luaValue(object) + "\n"
                + "local check = assert(loadfile([==[" + script + "]==]))\n"
                + "local hs = check()\n"
                + "io.write(tostring(hs.status), \"\\n\", tostring(hs.message), \"\\n\")\n";
        Process p = new ProcessBuilder(lua().toString(), "-")
                .redirectErrorStream(true)
                .start();
        try (OutputStream in = p.getOutputStream()) {
            in.write(program.getBytes(StandardCharsets.UTF_8));
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (InputStream o = p.getInputStream()) {
            o.transferTo(out);
        }
        assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
        String text = out.toString(StandardCharsets.UTF_8);
        assertThat(p.exitValue()).as("lua5.1 output:\n" + text).isZero();
        String[] lines = text.split("\n", -1);
        return new Health(lines[0], lines.length > 1 ? lines[1] : "");
    }

    /** A JSON value as a Lua 5.1 table constructor; arrays become 1-based sequences, as Argo CD's conversion. */
    static String luaValue(JsonNode v) {
        if (v == null || v.isNull()) {
            return "nil";
        }
        if (v.isObject()) {
            StringBuilder b = new StringBuilder("{");
            Iterator<Map.Entry<String, JsonNode>> it = v.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                b.append('[')
                        .append(luaString(e.getKey()))
                        .append("]=")
                        .append(luaValue(e.getValue()))
                        .append(',');
            }
            return b.append('}').toString();
        }
        if (v.isArray()) {
            StringBuilder b = new StringBuilder("{");
            v.forEach(x -> b.append(luaValue(x)).append(','));
            return b.append('}').toString();
        }
        if (v.isNumber()) {
            return v.asText();
        }
        if (v.isBoolean()) {
            return v.asBoolean() ? "true" : "false";
        }
        return luaString(v.asText());
    }

    static String luaString(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (byte c : s.getBytes(StandardCharsets.UTF_8)) {
            int u = c & 0xff;
            if (u == '"' || u == '\\') {
                b.append('\\').append((char) u);
            } else if (u < 0x20 || u >= 0x7f) {
                b.append('\\').append(u);
            } else {
                b.append((char) u);
            }
        }
        return b.append('"').toString();
    }

    @Test
    void everyCaseOfHealthTestYamlGetsItsExpectedStatusAndMessage() throws Exception {
        JsonNode cases =
                documents(repo().resolve("argocd/health_test.yaml")).get(0).get("tests");
        assertThat(cases.size()).isGreaterThanOrEqualTo(8);
        for (JsonNode c : cases) {
            Path input = repo().resolve("argocd").resolve(c.get("inputPath").asText());
            JsonNode obj = documents(input).get(0);
            // The samples are PgPools the model accepts, so they look like what Argo CD reads from a cluster.
            assertThat(StrictManifests.typed(obj, input.toString())).isInstanceOf(PgPool.class);
            Health h = check(obj);
            assertThat(h)
                    .as(input.getFileName().toString())
                    .isEqualTo(new Health(
                            c.at("/healthStatus/status").asText(),
                            c.at("/healthStatus/message").asText()));
        }
    }

    @Test
    void everySampleFileHasATestCase() throws IOException {
        JsonNode cases =
                documents(repo().resolve("argocd/health_test.yaml")).get(0).get("tests");
        try (var files = Files.list(repo().resolve("argocd/testdata"))) {
            assertThat(files.map(f -> "testdata/" + f.getFileName()))
                    .containsExactlyInAnyOrderElementsOf(
                            () -> java.util.stream.StreamSupport.stream(cases.spliterator(), false)
                                    .map(c -> c.get("inputPath").asText())
                                    .iterator());
        }
    }

    static JsonNode poolWithStatus(long generation, PgPoolStatus status) {
        PgPool p = new PgPool();
        p.setMetadata(new ObjectMetaBuilder()
                .withName("p")
                .withNamespace("shop")
                .withGeneration(generation)
                .build());
        p.setStatus(status);
        return StrictManifests.K8S.convertValue(p, JsonNode.class);
    }

    static PgPoolStatus status(long generation, Outcome outcome) {
        return StatusModel.next(null, generation, outcome, null, 1L, 2, Instant.parse("2026-11-20T10:00:00Z"));
    }

    @Test
    void statusesTheOperatorWritesMapToHealthyDegradedAndProgressing() throws Exception {
        assertThat(check(poolWithStatus(3, status(3, Outcome.ready("2 pooler pods run the current configuration")))))
                .isEqualTo(new Health("Healthy", "2 pooler pods run the current configuration"));
        assertThat(check(poolWithStatus(
                        3, status(3, Outcome.stalled("InvalidSpec", "spec.pool.maxServerConnections is 0")))))
                .isEqualTo(new Health("Degraded", "spec.pool.maxServerConnections is 0"));
        assertThat(check(poolWithStatus(
                        3,
                        status(
                                3,
                                Outcome.progressing("SecretNotFound", "Secret app does not exist in namespace shop")))))
                .isEqualTo(new Health("Progressing", "Secret app does not exist in namespace shop"));
        // Ready, but for generation 2 while the spec is at 3: the new spec is not served yet.
        assertThat(check(poolWithStatus(3, status(2, Outcome.ready("2 pooler pods run the current configuration"))))
                        .status())
                .isEqualTo("Progressing");
    }

    @Test
    void messagesWithQuotesAndNonAsciiTextSurviveTheTrip() throws Exception {
        String message = "Secret \"app\\db\" has no key pässword";
        assertThat(check(poolWithStatus(1, status(1, Outcome.stalled("SecretKeyNotFound", message)))))
                .isEqualTo(new Health("Degraded", message));
    }
}
