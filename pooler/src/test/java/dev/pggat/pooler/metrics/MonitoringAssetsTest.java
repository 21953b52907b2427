package dev.pggat.pooler.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.pggat.pooler.testing.PoolerFixture;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Grafana dashboard (deploy/grafana) and the PrometheusRule alerts (deploy/prometheus) use only metrics the
 * pooler really exports: a pooler in front of a real PostgreSQL serves some traffic (queries, a prepared statement,
 * an error, a pin), and every metric name the dashboard's queries and the alerts' expressions reference must be a
 * series on its /metrics. The files' structure is checked as well, and the rules with {@code promtool} when it is
 * on the PATH.
 */
class MonitoringAssetsTest {
    private static final Pattern METRIC = Pattern.compile("\\bpggat_[a-z0-9_]+");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private static PoolerFixture fx;
    private static Set<String> exported;

    @BeforeAll
    static void startAndServeTraffic() throws Exception {
        fx = PoolerFixture.start(2, "");
        try (Connection c = fx.connect("appdb", "scram_user", "scram_user-secret", "prepareThreshold", "1")) {
            try (PreparedStatement ps = c.prepareStatement("SELECT ?::int + 1")) {
                for (int i = 0; i < 5; i++) {
                    ps.setInt(1, i);
                    try (ResultSet rs = ps.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                    }
                }
            }
            try (Statement st = c.createStatement()) {
                try {
                    st.execute("SELECT 1/0");
                } catch (SQLException expected) {
                    assertThat(expected.getSQLState()).isEqualTo("22012");
                }
                // Session state in transaction mode: pins the client (pggat_pinned_clients_total).
                st.execute("SELECT pg_advisory_lock(4242)");
                st.execute("SELECT pg_advisory_unlock(4242)");
            }
        }
        exported = sampleNames(scrape());
    }

    @AfterAll
    static void stop() {
        if (fx != null) {
            fx.close();
        }
    }

    private static String scrape() throws IOException, InterruptedException {
        HttpResponse<String> r = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + fx.pooler.adminPort() + "/metrics"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        return r.body();
    }

    /** The names of the samples in a Prometheus text exposition (histogram _bucket/_sum/_count included). */
    static Set<String> sampleNames(String exposition) {
        Set<String> names = new TreeSet<>();
        for (String line : exposition.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            int end = 0;
            while (end < line.length() && line.charAt(end) != '{' && line.charAt(end) != ' ') {
                end++;
            }
            names.add(line.substring(0, end));
        }
        return names;
    }

    static Set<String> referencedMetrics(String expr) {
        Set<String> names = new TreeSet<>();
        Matcher m = METRIC.matcher(expr);
        while (m.find()) {
            names.add(m.group());
        }
        return names;
    }

    static Path repo(String relative) {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.isRegularFile(p.resolve("deploy/kustomization.yaml"))) {
            p = p.getParent();
        }
        assertThat(p)
                .as("the repository root (with deploy/kustomization.yaml) above the working directory")
                .isNotNull();
        return p.resolve(relative);
    }

    /** Parentheses, brackets and braces balance outside string literals. */
    static void assertBalanced(String what, String expr) {
        StringBuilder open = new StringBuilder();
        char quote = 0;
        for (int i = 0; i < expr.length(); i++) {
            char ch = expr.charAt(i);
            if (quote != 0) {
                if (ch == '\\') {
                    i++;
                } else if (ch == quote) {
                    quote = 0;
                }
                continue;
            }
            switch (ch) {
                case '"', '\'', '`' -> quote = ch;
                case '(', '[', '{' -> open.append(ch);
                case ')', ']', '}' -> {
                    assertThat(open.length())
                            .as(what + ": unbalanced '" + ch + "' in " + expr)
                            .isPositive();
                    char o = open.charAt(open.length() - 1);
                    assertThat("" + o + ch).as(what + ": mismatched in " + expr).isIn("()", "[]", "{}");
                    open.setLength(open.length() - 1);
                }
                default -> {}
            }
        }
        assertThat(quote).as(what + ": unterminated string in " + expr).isEqualTo((char) 0);
        assertThat(open.toString()).as(what + ": unclosed in " + expr).isEmpty();
    }

    @Test
    void everyMetricTheDashboardQueriesIsExported() throws IOException {
        JsonNode dash =
                JSON.readTree(repo("deploy/grafana/pggat-dashboard.json").toFile());
        assertThat(dash.path("uid").asText()).isNotEmpty();
        assertThat(dash.path("title").asText()).isNotEmpty();
        List<String> exprs = new ArrayList<>();
        Set<Integer> ids = new HashSet<>();
        int queried = 0;
        for (JsonNode panel : dash.path("panels")) {
            assertThat(ids.add(panel.path("id").asInt()))
                    .as("panel ids are unique")
                    .isTrue();
            assertThat(panel.path("gridPos").path("w").asInt()).isBetween(1, 24);
            if (panel.path("type").asText().equals("row")) {
                continue;
            }
            assertThat(panel.path("title").asText()).isNotEmpty();
            assertThat(panel.path("datasource").path("uid").asText()).isEqualTo("${datasource}");
            assertThat(panel.path("targets")).as(panel.path("title").asText()).isNotEmpty();
            for (JsonNode t : panel.path("targets")) {
                String expr = t.path("expr").asText();
                assertThat(expr).as(panel.path("title").asText()).isNotBlank();
                assertBalanced(panel.path("title").asText(), expr);
                exprs.add(expr);
                queried++;
            }
        }
        for (JsonNode v : dash.path("templating").path("list")) {
            if (v.path("type").asText().equals("query")) {
                exprs.add(v.path("query").path("query").asText());
            }
        }
        assertThat(queried).isGreaterThan(20);
        Set<String> referenced = new TreeSet<>();
        exprs.forEach(e -> referenced.addAll(referencedMetrics(e)));
        assertThat(referenced).as("metrics the dashboard queries").hasSizeGreaterThan(25);
        assertThat(exported).as("exported after traffic").containsAll(referenced);
    }

    @Test
    void theAlertsAreAPrometheusRuleOverExportedMetrics() throws Exception {
        Path file = repo("deploy/prometheus/pggat-rules.yaml");
        JsonNode rule = YAML.readTree(file.toFile());
        assertThat(rule.path("apiVersion").asText()).isEqualTo("monitoring.coreos.com/v1");
        assertThat(rule.path("kind").asText()).isEqualTo("PrometheusRule");
        assertThat(rule.path("metadata").path("name").asText()).isNotEmpty();
        Set<String> alerts = new TreeSet<>();
        Set<String> referenced = new TreeSet<>();
        Pattern template = Pattern.compile("\\{\\{(.*?)}}");
        for (JsonNode group : rule.path("spec").path("groups")) {
            assertThat(group.path("name").asText()).isNotEmpty();
            for (JsonNode r : group.path("rules")) {
                String alert = r.path("alert").asText();
                assertThat(alert).matches("[A-Z][A-Za-z0-9]+");
                assertThat(alerts.add(alert))
                        .as("alert names are unique: " + alert)
                        .isTrue();
                String expr = r.path("expr").asText();
                assertBalanced(alert, expr);
                Set<String> names = referencedMetrics(expr);
                assertThat(names).as(alert + " references a pggat metric").isNotEmpty();
                referenced.addAll(names);
                assertThat(r.path("for").asText()).as(alert + " for").matches("\\d+[smh]");
                assertThat(r.path("labels").path("severity").asText())
                        .as(alert + " severity")
                        .isIn("warning", "critical");
                for (String field : List.of("summary", "description")) {
                    String text = r.path("annotations").path(field).asText();
                    assertThat(text).as(alert + " " + field).isNotBlank();
                    Matcher m = template.matcher(text);
                    while (m.find()) {
                        assertThat(m.group(1).trim())
                                .as(alert + " " + field + " template")
                                .matches(
                                        "\\$labels\\.[a-z_]+|\\$value( \\| (humanize|humanizeDuration|humanize1024))?");
                    }
                    assertThat(text.replaceAll("\\{\\{.*?}}", ""))
                            .as(alert + " " + field)
                            .doesNotContain("{{", "}}");
                }
            }
        }
        assertThat(alerts)
                .as("saturation, wait time, replica lag and endpoint down are covered")
                .contains("PggatPoolSaturated", "PggatClientWaitHigh", "PggatReplicaLagHigh", "PggatEndpointDown");
        assertThat(exported).as("exported after traffic").containsAll(referenced);
        promtoolCheck(rule.path("spec"));
    }

    @Test
    void everyExportedMetricIsDocumented() throws IOException {
        String doc = Files.readString(repo("docs/observability.md"));
        Set<String> undocumented = new TreeSet<>();
        for (String name : exported) {
            if (!name.startsWith("pggat_")) {
                continue;
            }
            String family = name.replaceFirst("_(bucket|sum|count|created)$", "");
            if (!doc.contains("`" + name + "`") && !doc.contains("`" + family + "`")) {
                undocumented.add(name);
            }
        }
        assertThat(undocumented)
                .as("metrics missing from docs/observability.md")
                .isEmpty();
    }

    /** With promtool on the PATH, the rule groups are checked by Prometheus's own parser as well. */
    private static void promtoolCheck(JsonNode spec) throws Exception {
        Path promtool = null;
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            Path p = Path.of(dir, "promtool");
            if (Files.isExecutable(p)) {
                promtool = p;
                break;
            }
        }
        if (promtool == null) {
            System.out.println("promtool not on PATH: the rules were checked by the structural assertions only");
            return;
        }
        Path rules = Files.createTempFile("pggat-rules", ".yaml");
        try {
            YAML.writeValue(rules.toFile(), spec);
            Process p = new ProcessBuilder(promtool.toString(), "check", "rules", rules.toString())
                    .redirectErrorStream(true)
                    .start();
            String out = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as("promtool check rules:\n" + out).isZero();
        } finally {
            Files.deleteIfExists(rules);
        }
    }
}
