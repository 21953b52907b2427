package dev.pggat.pooler.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.util.ResourceLeakDetector;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A production run (the {@code pggat} command) has Netty's leak detection off unless asked for; the build's own
 * paranoid setting (a system property) is left alone.
 */
class LeakDetectionLevelTest {
    private static final String PROPERTY = "io.netty.leakDetection.level";
    private String savedProperty;
    private ResourceLeakDetector.Level savedLevel;

    @BeforeEach
    void save() {
        savedProperty = System.getProperty(PROPERTY);
        savedLevel = ResourceLeakDetector.getLevel();
    }

    @AfterEach
    void restore() {
        if (savedProperty == null) {
            System.clearProperty(PROPERTY);
        } else {
            System.setProperty(PROPERTY, savedProperty);
        }
        ResourceLeakDetector.setLevel(savedLevel);
    }

    @Test
    void productionRunDisablesLeakDetectionByDefault() {
        System.clearProperty(PROPERTY);
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.SIMPLE);
        assertThat(Main.leakDetection(Map.of())).isNull();
        assertThat(ResourceLeakDetector.getLevel()).isEqualTo(ResourceLeakDetector.Level.DISABLED);
    }

    @Test
    void environmentVariableAsksForALevel() {
        System.clearProperty(PROPERTY);
        assertThat(Main.leakDetection(Map.of(Main.LEAK_DETECTION_ENV, "Advanced")))
                .isNull();
        assertThat(ResourceLeakDetector.getLevel()).isEqualTo(ResourceLeakDetector.Level.ADVANCED);
    }

    @Test
    void unknownLevelIsRejectedWithTheAcceptedValues() {
        System.clearProperty(PROPERTY);
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        assertThat(Main.leakDetection(Map.of(Main.LEAK_DETECTION_ENV, "loud")))
                .isEqualTo("pggat: environment variable PGGAT_LEAK_DETECTION=loud: unknown level"
                        + " (accepted: disabled, simple, advanced, paranoid)");
        assertThat(ResourceLeakDetector.getLevel()).isEqualTo(ResourceLeakDetector.Level.PARANOID);
    }

    @Test
    void systemPropertyWinsOverTheDefault() {
        System.setProperty(PROPERTY, "paranoid");
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        assertThat(Main.leakDetection(Map.of(Main.LEAK_DETECTION_ENV, "disabled")))
                .isNull();
        assertThat(ResourceLeakDetector.getLevel()).isEqualTo(ResourceLeakDetector.Level.PARANOID);
    }
}
