package dev.pggat.pooler.config;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

final class ConfigFixtures {
    static final String SOURCE = "test.yaml";

    /** The smallest valid configuration; tests append or replace parts of it. */
    static final String MINIMAL = """
            databases:
              app:
                endpoints:
                  - host: db1
                users:
                  alice:
                    password: secret
            """;

    private ConfigFixtures() {}

    static PoolerConfig parse(String yaml) throws ConfigException {
        return ConfigLoader.parse(yaml, SOURCE, Map.of());
    }

    static PoolerConfig parse(String yaml, Map<String, String> env) throws ConfigException {
        return ConfigLoader.parse(yaml, SOURCE, env);
    }

    static List<String> problems(String yaml) {
        return problems(yaml, Map.of());
    }

    static List<String> problems(String yaml, Map<String, String> env) {
        ConfigException[] caught = new ConfigException[1];
        assertThatThrownBy(() -> ConfigLoader.parse(yaml, SOURCE, env))
                .isInstanceOfSatisfying(ConfigException.class, e -> caught[0] = e);
        return caught[0].problems();
    }

    /** A configuration with one database "app" whose user "alice" has the given settings (indented YAML lines). */
    static String withAlice(String aliceSettings) {
        return """
                databases:
                  app:
                    endpoints:
                      - host: db1
                    users:
                      alice:
                """ + aliceSettings.indent(8);
    }

    /** The repository root, found from the working directory so tests run from the module or the root. */
    static Path repoRoot() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null) {
            if (Files.isRegularFile(dir.resolve("examples/pggat.yaml"))) {
                return dir;
            }
            dir = dir.getParent();
        }
        throw new IllegalStateException(
                "examples/pggat.yaml not found above " + Path.of("").toAbsolutePath());
    }
}
