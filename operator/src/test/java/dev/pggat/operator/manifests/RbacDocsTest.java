package dev.pggat.operator.manifests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** docs/operator.md's RBAC table lists exactly what deploy/ grants (the chart is compared with deploy/ elsewhere). */
class RbacDocsTest {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final Map<String, String> ROLES = Map.of(
            "read", "030-clusterrole-read.yaml",
            "manage", "031-clusterrole-manage.yaml",
            "operator", "032-role-operator.yaml");

    @Test
    void theDocsTableIsWhatDeployGrants() throws IOException {
        assertThat(documented()).isEqualTo(granted());
    }

    /** role|group|resource|name|verb for every cell combination of the table. */
    private static Set<String> documented() throws IOException {
        String md = Files.readString(StrictManifests.repo().resolve("docs/operator.md"));
        String section = md.substring(md.indexOf("## RBAC"));
        section = section.substring(0, section.indexOf("\n## ", 5));
        Set<String> out = new TreeSet<>();
        for (String line : section.split("\n")) {
            String[] cells = line.split("\\|", -1);
            if (cells.length < 8 || !ROLES.containsKey(cells[1].trim())) {
                continue;
            }
            String role = cells[1].trim();
            String group = unquote(cells[2]);
            List<String> names = list(cells[4]);
            for (String resource : list(cells[3])) {
                for (String verb : list(cells[5])) {
                    for (String name : names.isEmpty() ? List.of("") : names) {
                        out.add(role + "|" + group + "|" + resource + "|" + name + "|" + verb);
                    }
                }
            }
        }
        return out;
    }

    private static Set<String> granted() throws IOException {
        Set<String> out = new TreeSet<>();
        for (Map.Entry<String, String> e : ROLES.entrySet()) {
            Path file = StrictManifests.repo().resolve("deploy/" + e.getValue());
            JsonNode role = YAML.readTree(file.toFile());
            for (JsonNode rule : role.path("rules")) {
                for (JsonNode group : rule.path("apiGroups")) {
                    for (JsonNode resource : rule.path("resources")) {
                        for (JsonNode verb : rule.path("verbs")) {
                            List<String> names = rule.has("resourceNames")
                                    ? YAML.convertValue(rule.get("resourceNames"), List.class)
                                    : List.of("");
                            for (String name : names) {
                                out.add(e.getKey() + "|" + group.asText() + "|" + resource.asText() + "|" + name + "|"
                                        + verb.asText());
                            }
                        }
                    }
                }
            }
        }
        return out;
    }

    private static List<String> list(String cell) {
        return Arrays.stream(cell.split(","))
                .map(RbacDocsTest::unquote)
                .filter(s -> !s.isEmpty())
                .toList();
    }

    private static String unquote(String s) {
        String t = s.trim().replace("`", "");
        return t.equals("\"\"") ? "" : t;
    }
}
