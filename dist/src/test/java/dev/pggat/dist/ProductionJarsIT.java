package dev.pggat.dist;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Runs after {@code package} (failsafe): the jars that ship, the pooler's own and the distribution's, carry no
 * PostgreSQL. The demo's PostgreSQL lives in the testkit module, which only the tests and the demo jar use.
 */
class ProductionJarsIT {
    @ParameterizedTest
    @ValueSource(strings = {"pggat.poolerJar", "pggat.distJar"})
    void shippedJarHoldsNoPostgresBinaries(String property) throws Exception {
        String location = System.getProperty(property);
        assertThat(location)
                .as("system property %s (set by dist/pom.xml)", property)
                .isNotBlank();
        Path jar = Path.of(location);
        assertThat(jar)
                .as("%s: build it first with `mvn -pl dist -am package`", jar)
                .isRegularFile();
        assertThat(PostgresBinaries.in(jar))
                .as("PostgreSQL binaries in %s", jar)
                .isEmpty();
    }
}
