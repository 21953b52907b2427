package dev.pggat.operator.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class PoolerJvmTest {
    /** Runs this JVM's java with the pooler options as if in a container with {@code memoryLimit} of memory. */
    private static String flagsFinal(String memoryLimit) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(Arrays.asList(PoolerJvm.OPTIONS.split(" ")));
        // What the JVM reads from the container's cgroup limit, given here since the test runs outside one.
        command.add("-XX:MaxRAM=" + memoryLimit);
        command.add("-XX:+PrintFlagsFinal");
        command.add("-version");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue())
                .as("java %s -version:%n%s", PoolerJvm.OPTIONS, out)
                .isZero();
        return out;
    }

    private static String flag(String flagsFinal, String name) {
        return flagsFinal
                .lines()
                .filter(l -> l.trim().split("\\s+").length >= 4
                        && l.trim().split("\\s+")[1].equals(name))
                .map(l -> l.trim().split("\\s+")[3])
                .findFirst()
                .orElseThrow(() -> new AssertionError(name + " not in -XX:+PrintFlagsFinal"));
    }

    @Test
    void optionsStartAJvmWithSerialGcAndHalfTheSidecarLimitAsHeap() throws Exception {
        String flags = flagsFinal("128m");
        assertThat(flag(flags, "UseSerialGC")).isEqualTo("true");
        assertThat(flag(flags, "MaxHeapSize")).isEqualTo(Long.toString(64L << 20));
        assertThat(flag(flags, "MaxMetaspaceSize")).isEqualTo(Long.toString(64L << 20));
        assertThat(flag(flags, "ReservedCodeCacheSize")).isEqualTo(Long.toString(32L << 20));
    }

    @Test
    void heapFollowsALargerLimitWithoutAnotherFlag() throws Exception {
        assertThat(flag(flagsFinal("256m"), "MaxHeapSize")).isEqualTo(Long.toString(128L << 20));
    }

    @Test
    void sidecarRequestsFitUnderItsLimit() {
        var r = PoolerJvm.sidecarResources();
        assertThat(r.getRequests().get("memory").getNumericalAmount())
                .isLessThan(r.getLimits().get("memory").getNumericalAmount());
    }
}
