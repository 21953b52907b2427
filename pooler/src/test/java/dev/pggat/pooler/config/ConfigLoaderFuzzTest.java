package dev.pggat.pooler.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * The YAML configuration loader on any text: parsing, environment substitution, binding and validation. Seeds are
 * the repository's example configurations and hand-written files that reach each section.
 *
 * <p>Checked on every input: the result is a configuration or a ConfigException, never another exception, and
 * every problem reported names the file it is in (the user must be told where to look).
 */
class ConfigLoaderFuzzTest {
    private static final String SOURCE = "fuzz.yaml";
    private static final Map<String, String> ENV = Map.of("PGGAT_PASSWORD", "from-env", "PGGAT_PORT", "6432");

    @FuzzTest(maxDuration = "30s")
    void yamlText(byte[] input) {
        String yaml = new String(input, StandardCharsets.UTF_8);
        try {
            assertThat(ConfigLoader.parse(yaml, SOURCE, ENV)).isNotNull();
        } catch (ConfigException e) {
            assertThat(e.problems()).isNotEmpty().allSatisfy(p -> assertThat(p).startsWith(SOURCE));
        }
    }
}
