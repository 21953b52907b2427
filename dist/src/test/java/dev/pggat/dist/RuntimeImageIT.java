package dev.pggat.dist;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Runs after {@code package} (failsafe): dist/build-runtime.sh makes the runtime the Dockerfile ships, from the
 * pooler jar, and the pooler runs on it with its class-data archive.
 */
class RuntimeImageIT {
    private static Path runtime;

    private static String run(List<String> command, Path log) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        assertThat(p.waitFor(15, TimeUnit.MINUTES)).as("%s finished", command).isTrue();
        String out = Files.readString(log, StandardCharsets.UTF_8);
        assertThat(p.exitValue())
                .as("%s exit status; output:%n%s", command, out)
                .isZero();
        return out;
    }

    @BeforeAll
    static void build() throws Exception {
        Path target = Path.of(System.getProperty("pggat.buildDirectory"));
        Path root = Path.of(System.getProperty("pggat.repositoryRoot"));
        runtime = target.resolve("runtime-it");
        run(
                List.of(
                        "bash",
                        root.resolve("dist/build-runtime.sh").toString(),
                        "--jar",
                        System.getProperty("pggat.poolerJar"),
                        "--out",
                        runtime.toString(),
                        "--java-home",
                        System.getProperty("java.home")),
                target.resolve("runtime-it.log"));
    }

    private static long megabytes(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            long bytes = files.filter(Files::isRegularFile)
                    .mapToLong(f -> {
                        try {
                            return Files.size(f);
                        } catch (IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    })
                    .sum();
            return bytes >> 20;
        }
    }

    @Test
    void runtimeHoldsOnlyTheModulesThePoolerUses() throws Exception {
        String modules = Files.readString(runtime.resolve("release"), StandardCharsets.UTF_8);
        assertThat(modules).contains("java.base").contains("jdk.unsupported").doesNotContain("java.desktop");
    }

    @Test
    void runtimeAndJarFitTheSidecarBudget() throws Exception {
        long jar = Files.size(runtime.resolve("app/pggat.jar")) >> 20;
        long total = megabytes(runtime) - megabytes(runtime.resolve("app")) + jar;
        assertThat(total).as("runtime + jar, MB").isLessThan(80);
    }

    @Test
    void poolerRunsOnTheTrimmedRuntimeWithItsArchive() throws Exception {
        Path archive = Files.exists(runtime.resolve("app/pggat.aot"))
                ? runtime.resolve("app/pggat.aot")
                : runtime.resolve("app/pggat.jsa");
        assertThat(archive).isRegularFile();
        String option =
                archive.toString().endsWith(".aot") ? "-XX:AOTCache=" + archive : "-XX:SharedArchiveFile=" + archive;
        // -Xshare:on: the JVM refuses to start unless it can use the archive (wrong runtime, jar moved or changed).
        String out = run(
                List.of(
                        runtime.resolve("bin/java").toString(),
                        option,
                        "-Xshare:on",
                        "-jar",
                        runtime.resolve("app/pggat.jar").toString(),
                        "pooler",
                        "--help"),
                runtime.resolve("../runtime-it-help.log").normalize());
        assertThat(out).contains("--config");
        String launcher = run(
                List.of(runtime.resolve("bin/pggat").toString(), "--version"),
                runtime.resolve("../runtime-it-version.log").normalize());
        assertThat(launcher).isNotBlank();
    }
}
