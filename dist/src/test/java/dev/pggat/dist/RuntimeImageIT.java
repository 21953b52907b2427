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

    @Test
    void archiveIsUsedFromAnyWorkingDirectory() throws Exception {
        boolean aot = Files.exists(runtime.resolve("app/pggat.aot"));
        // The launcher from another directory, with the archive made mandatory: the JVM refuses to start when the
        // archive's recorded jar path does not resolve (it used to be recorded relative to the build's directory).
        Path elsewhere = Files.createTempDirectory("pggat-cwd");
        ProcessBuilder pb = new ProcessBuilder(runtime.resolve("bin/pggat").toString(), "--version")
                .directory(elsewhere.toFile())
                .redirectErrorStream(true)
                .redirectOutput(
                        runtime.resolve("../runtime-it-cwd.log").normalize().toFile());
        pb.environment().put("JAVA_OPTS", aot ? "-XX:AOTMode=on" : "-Xshare:on");
        Process p = pb.start();
        assertThat(p.waitFor(5, TimeUnit.MINUTES)).isTrue();
        assertThat(p.exitValue())
                .as(Files.readString(runtime.resolve("../runtime-it-cwd.log").normalize(), StandardCharsets.UTF_8))
                .isZero();
    }

    @Test
    void nativeTransportIsLoadedFromTheRuntimeNotUnpackedFromTheJar() throws Exception {
        try (java.util.zip.ZipFile jar =
                new java.util.zip.ZipFile(runtime.resolve("app/pggat.jar").toFile())) {
            assertThat(jar.stream().map(java.util.zip.ZipEntry::getName).filter(n -> n.endsWith(".so")))
                    .as("native libraries left in the runtime's jar")
                    .isEmpty();
        }
        try (Stream<Path> libs = Files.list(runtime.resolve("app/native"))) {
            assertThat(libs.map(f -> f.getFileName().toString()))
                    .anyMatch(n -> n.startsWith("libnetty_transport_native_epoll_"));
        }
        // A start with an unreachable endpoint: the log names the transport the pooler chose.
        Path work = Files.createTempDirectory("pggat-native");
        int port;
        int admin;
        try (java.net.ServerSocket a = new java.net.ServerSocket(0);
                java.net.ServerSocket b = new java.net.ServerSocket(0)) {
            port = a.getLocalPort();
            admin = b.getLocalPort();
        }
        Path config = work.resolve("pggat.yaml");
        Files.writeString(
                config,
                String.join(
                        "\n",
                        "listen: {host: 127.0.0.1, port: " + port + "}",
                        "admin: {host: 127.0.0.1, port: " + admin + "}",
                        "databases:",
                        "  app:",
                        "    endpoints: [{host: 127.0.0.1, port: 1}]",
                        "    users: {app: {password: not-used}}",
                        ""));
        Path log = work.resolve("pooler.log");
        Process p = new ProcessBuilder(runtime.resolve("bin/pggat").toString(), "pooler", "--config", config.toString())
                .directory(work.toFile())
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        try {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
            String out = "";
            while (System.nanoTime() < deadline && p.isAlive() && !out.contains("pggat listening on")) {
                Thread.sleep(100);
                out = Files.readString(log, StandardCharsets.UTF_8);
            }
            assertThat(out).as("pooler log").contains("pggat listening on").contains("(epoll transport");
        } finally {
            p.destroy();
            p.waitFor(1, TimeUnit.MINUTES);
        }
    }
}
