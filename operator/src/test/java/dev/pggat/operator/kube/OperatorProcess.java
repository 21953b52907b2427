package dev.pggat.operator.kube;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The operator as its own JVM ({@code dev.pggat.operator.Main}), as in a pod: what only a process shows (SIGTERM,
 * System.exit, ports) is tested on it. Its output goes to a file that a failing test prints.
 */
public final class OperatorProcess implements AutoCloseable {
    private final Process process;
    private final Path log;

    private OperatorProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /**
     * @param kubeconfig what the operator connects with (its ServiceAccount token)
     * @param env extra environment (POD_NAMESPACE, HOSTNAME as the leader election identity)
     */
    public static OperatorProcess start(Path kubeconfig, Map<String, String> env, String... args) {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", classpath));
        cmd.add("dev.pggat.operator.Main");
        cmd.addAll(List.of(args));
        try {
            Path log = Files.createTempFile("pggat-operator-", ".log");
            ProcessBuilder pb =
                    new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
            pb.environment().remove("POD_NAMESPACE");
            pb.environment().remove("PGGAT_LEADER_ELECTION");
            pb.environment().put("KUBECONFIG", kubeconfig.toString());
            pb.environment().putAll(env);
            return new OperatorProcess(pb.start(), log);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public Process process() {
        return process;
    }

    public String output() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e.getMessage() + ")";
        }
    }

    /** Sends SIGTERM, as the kubelet does when a pod is deleted. */
    public void terminate() {
        process.destroy();
    }

    /** @return whether the process ended within the time */
    public boolean waitFor(Duration d) throws InterruptedException {
        return process.waitFor(d.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            Files.deleteIfExists(log);
        } catch (IOException e) {
            // a temp file left behind is harmless
        }
    }
}
