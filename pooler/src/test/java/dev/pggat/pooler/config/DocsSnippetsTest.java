package dev.pggat.pooler.config;

import static dev.pggat.pooler.config.ConfigFixtures.repoRoot;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every YAML snippet in docs/configuration.md is a whole configuration that loads as written. */
class DocsSnippetsTest {
    private static final Pattern YAML_BLOCK = Pattern.compile("```yaml\\n(.*?)```", Pattern.DOTALL);
    /** The variables the snippets refer to, as a deployment would set them. */
    private static final Map<String, String> ENV = Map.of(
            "ALICE_PASSWORD", "alice-secret",
            "REPORTING_ROLE_PASSWORD", "reporting-secret");

    static Stream<String> snippets() throws Exception {
        String docs = Files.readString(repoRoot().resolve("docs/configuration.md"), StandardCharsets.UTF_8);
        List<String> out = new ArrayList<>();
        Matcher m = YAML_BLOCK.matcher(docs);
        while (m.find()) {
            out.add(m.group(1));
        }
        // The smallest file, routing, passwords and the three route examples at least.
        assertThat(out).hasSizeGreaterThanOrEqualTo(4);
        return out.stream();
    }

    @ParameterizedTest
    @MethodSource("snippets")
    void loadsAsWritten(String yaml) throws Exception {
        PoolerConfig config = ConfigLoader.parse(yaml, "docs/configuration.md", ENV);
        assertThat(config.databases()).isNotEmpty();
    }

    /** The three route examples decide as the text around them says. */
    @org.junit.jupiter.api.Test
    @SuppressWarnings("unchecked")
    void theRouteExamplesDecideAsDescribed() throws Exception {
        String yaml = snippets().filter(y -> y.contains("routes:")).findFirst().orElseThrow();
        PoolerConfig config = ConfigLoader.parse(yaml, "docs/configuration.md", ENV);
        java.net.InetAddress outside = java.net.InetAddress.getByName("203.0.113.9");
        java.net.InetAddress inside = java.net.InetAddress.getByName("10.1.2.3");
        java.net.InetAddress local = java.net.InetAddress.getByName("10.0.0.2");

        assertThat(first(config, new RouteMatcher.Client("app", "alice", Map.of(), false, local, outside)))
                .isEqualTo("plain-text-from-outside");
        assertThat(first(config, new RouteMatcher.Client("app", "alice", Map.of(), true, local, outside)))
                .isNull();
        assertThat(first(config, new RouteMatcher.Client("app", "alice", Map.of(), false, local, inside)))
                .isNull();
        assertThat(first(
                        config,
                        new RouteMatcher.Client(
                                "app", "alice", Map.of("application_name", "reporting-daily"), true, local, outside)))
                .isEqualTo("reporting");
        assertThat(config.routes().get(1).backend()).isEqualTo("app_replicas");
        RouteConfig tenants = config.routes().get(2);
        List<String>[] captures = new List[1];
        assertThat(tenants.match()
                        .matches(
                                new RouteMatcher.Client("tenant_acme", "alice", Map.of(), true, local, inside),
                                captures))
                .isTrue();
        assertThat(tenants.rewrite().database(captures[0])).isEqualTo("tenant_acme");
        assertThat(tenants.inlineBackend()).isTrue();
    }

    @SuppressWarnings("unchecked")
    private static String first(PoolerConfig config, RouteMatcher.Client client) {
        for (RouteConfig r : config.routes()) {
            if (r.match().matches(client, new List[1])) {
                return r.name();
            }
        }
        return null;
    }
}
