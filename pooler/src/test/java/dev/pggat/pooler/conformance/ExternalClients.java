package dev.pggat.pooler.conformance;

import dev.pggat.pooler.testing.PostgresPrograms;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Clients that are not on the JVM: PostgreSQL's psql and pgbench, and Python drivers run by the scripts in the
 * repository's {@code conformance/} directory. They are required, not optional: a missing one fails the test
 * with what to install, since a conformance run that quietly skips a driver proves nothing about it.
 */
public final class ExternalClients {
    /** Debian packages that provide the clients, as CI installs them. */
    static final String PYTHON_PACKAGES = "python3-psycopg python3-asyncpg";

    private static Path pythonChecked;

    private ExternalClients() {}

    public record Result(int exitCode, String stdout, String stderr) {
        public List<String> stdoutLines() {
            String s = stdout.endsWith("\n") ? stdout.substring(0, stdout.length() - 1) : stdout;
            return s.isEmpty() ? List.of() : List.of(s.split("\n", -1));
        }

        String describe() {
            return "exit " + exitCode + "\n--- stdout\n" + stdout + "\n--- stderr\n" + stderr;
        }
    }

    /** The repository's {@code conformance/} directory (tests run from the module directory). */
    static Path conformanceDir() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null) {
            Path candidate = dir.resolve("conformance");
            if (Files.isDirectory(candidate.resolve("python"))) {
                return candidate;
            }
            dir = dir.getParent();
        }
        throw new IllegalStateException(
                "no conformance/ directory above " + Path.of("").toAbsolutePath());
    }

    /** psql, pgbench...: from {@code pg_config --bindir} first (the binaries matching the installed server), then PATH. */
    public static Path postgresProgram(String name) {
        return PostgresPrograms.find(name);
    }

    /**
     * A Python 3 that imports psycopg (3) and asyncpg. Debian installs them for its own interpreter, which may not
     * be the first python3 on PATH; {@code PGGAT_PYTHON} names another one.
     */
    static synchronized Path python() {
        if (pythonChecked != null) {
            return pythonChecked;
        }
        List<Path> candidates = new ArrayList<>();
        String configured = System.getenv("PGGAT_PYTHON");
        if (configured != null && !configured.isBlank()) {
            candidates.add(Path.of(configured));
        }
        candidates.add(Path.of("/usr/bin/python3"));
        onPath("python3").ifPresent(candidates::add);
        StringBuilder tried = new StringBuilder();
        for (Path p : candidates) {
            if (!Files.isExecutable(p)) {
                continue;
            }
            try {
                Result r = run(
                        List.of(p.toString(), "-c", "import psycopg, asyncpg"),
                        Map.of(),
                        Path.of("."),
                        Duration.ofSeconds(30));
                if (r.exitCode() == 0) {
                    pythonChecked = p;
                    return p;
                }
                tried.append("\n  ").append(p).append(": ").append(r.stderr().strip());
            } catch (IOException e) {
                tried.append("\n  ").append(p).append(": ").append(e.getMessage());
            }
        }
        throw new IllegalStateException("no python3 that can import psycopg and asyncpg; on Debian `apt-get install "
                + PYTHON_PACKAGES + "` (or set PGGAT_PYTHON to an interpreter that has them). Tried:" + tried);
    }

    private static Optional<Path> onPath(String name) {
        String path = System.getenv("PATH");
        if (path == null) {
            return Optional.empty();
        }
        for (String dir : path.split(":")) {
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** Runs a program to completion; its output goes to files so a chatty program cannot block on a full pipe. */
    public static Result run(List<String> command, Map<String, String> env, Path workDir, Duration timeout)
            throws IOException {
        Path out = Files.createTempFile("pggat-conformance", ".out");
        Path err = Files.createTempFile("pggat-conformance", ".err");
        try {
            ProcessBuilder pb = new ProcessBuilder(command)
                    .directory(workDir.toFile())
                    .redirectInput(
                            ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile());
            // The client must see only the endpoint it is given, not whatever the developer's shell points at.
            pb.environment().keySet().removeIf(k -> k.startsWith("PG") && !k.equals("PGGAT_PYTHON"));
            pb.environment().putAll(env);
            Process p = pb.start();
            try {
                if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    p.destroyForcibly();
                    p.waitFor(10, TimeUnit.SECONDS);
                    throw new IOException(String.join(" ", command) + " did not finish within " + timeout
                            + "\n--- stdout\n" + Files.readString(out) + "\n--- stderr\n" + Files.readString(err));
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while running " + command.get(0), e);
            }
            return new Result(
                    p.exitValue(),
                    Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
