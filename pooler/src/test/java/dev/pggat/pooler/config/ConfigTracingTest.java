package dev.pggat.pooler.config;

import static dev.pggat.pooler.config.ConfigFixtures.MINIMAL;
import static dev.pggat.pooler.config.ConfigFixtures.SOURCE;
import static dev.pggat.pooler.config.ConfigFixtures.parse;
import static dev.pggat.pooler.config.ConfigFixtures.problems;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The tracing section: OpenTelemetry spans on or off, the sampler ratio, SQL text on spans. */
class ConfigTracingTest {
    private static final String RATIO_ACCEPTED = "a decimal number from 0 to 1, like 0, 0.1 or 1";

    @Test
    void tracingIsOffByDefaultWithoutSqlText() throws Exception {
        assertThat(parse(MINIMAL).tracing()).isEqualTo(TracingConfig.DEFAULT);
        assertThat(TracingConfig.DEFAULT.enabled()).isFalse();
        assertThat(TracingConfig.DEFAULT.includeSqlText()).isFalse();
        assertThat(TracingConfig.DEFAULT.samplerRatio()).isEqualTo(1.0);
    }

    @Test
    void everyKeyIsBound() throws Exception {
        String yaml = "tracing:\n  enabled: true\n  samplerRatio: 0.25\n  includeSqlText: true\n" + MINIMAL;
        assertThat(parse(yaml).tracing()).isEqualTo(new TracingConfig(true, 0.25, true));
        assertThat(parse("tracing:\n  samplerRatio: 0\n" + MINIMAL).tracing().samplerRatio())
                .isEqualTo(0.0);
    }

    @Test
    void badValuesNameFileKeyValueAndWhatIsAccepted() {
        assertThat(problems("tracing:\n  samplerRatio: 1.5\n" + MINIMAL))
                .containsExactly(SOURCE + ": tracing.samplerRatio: is out of range (value '1.5'; accepted: "
                        + RATIO_ACCEPTED + ")");
        assertThat(problems("tracing:\n  samplerRatio: 10%\n" + MINIMAL))
                .containsExactly(SOURCE + ": tracing.samplerRatio: is not a decimal number (value '10%'; accepted: "
                        + RATIO_ACCEPTED + ")");
        assertThat(problems("tracing:\n  samplerRatio: -0.1\n" + MINIMAL)).hasSize(1);
        assertThat(problems("tracing:\n  enabled: sometimes\n" + MINIMAL))
                .containsExactly(SOURCE + ": tracing.enabled: is not a boolean (value 'sometimes'; accepted: true or"
                        + " false)");
        assertThat(problems("tracing:\n  exporter: otlp\n" + MINIMAL))
                .singleElement()
                .asString()
                .contains("tracing.exporter")
                .contains("enabled, samplerRatio, includeSqlText");
    }

    @Test
    void aChangedTracingSectionNeedsARestart() throws Exception {
        PoolerConfig was = parse(MINIMAL);
        PoolerConfig now = parse("tracing:\n  enabled: true\n" + MINIMAL);
        assertThat(ConfigDiff.changedKeys(was, now)).containsExactly("tracing.enabled");
    }
}
