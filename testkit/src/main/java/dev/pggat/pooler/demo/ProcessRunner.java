package dev.pggat.pooler.demo;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Runs PostgreSQL programs. PostgreSQL refuses to run as root, so when this JVM is root every program runs as
 * the unprivileged {@value #SERVICE_USER} OS user and the files it needs are handed over to that user.
 */
final class ProcessRunner {
    static final String SERVICE_USER = "postgres";

    private final List<String> prefix;
    private final int uid;
    private final int gid;

    private ProcessRunner(List<String> prefix, int uid, int gid) {
        this.prefix = List.copyOf(prefix);
        this.uid = uid;
        this.gid = gid;
    }

    static ProcessRunner forCurrentUser() throws IOException {
        if (currentUid() != 0) {
            return new ProcessRunner(List.of(), -1, -1);
        }
        Result id = runPlain(List.of("id", "-u", SERVICE_USER), Duration.ofSeconds(10));
        Result group = runPlain(List.of("id", "-g", SERVICE_USER), Duration.ofSeconds(10));
        if (id.exitCode() != 0 || group.exitCode() != 0) {
            throw new IOException("this JVM runs as root and PostgreSQL refuses to run as root, but there is no '"
                    + SERVICE_USER + "' OS user to run it as: create one (for example `useradd --system"
                    + " --create-home " + SERVICE_USER + "`) or run as a non-root user");
        }
        int uid = Integer.parseInt(id.output().trim());
        int gid = Integer.parseInt(group.output().trim());
        Optional<Path> runuser = findProgram("runuser");
        if (runuser.isPresent()) {
            return new ProcessRunner(List.of(runuser.get().toString(), "-u", SERVICE_USER, "--"), uid, gid);
        }
        Optional<Path> setpriv = findProgram("setpriv");
        if (setpriv.isPresent()) {
            return new ProcessRunner(
                    List.of(setpriv.get().toString(), "--reuid=" + uid, "--regid=" + gid, "--init-groups", "--"),
                    uid,
                    gid);
        }
        Optional<Path> su = findProgram("su");
        if (su.isPresent()) {
            // "$0" "$@" hands the program and its arguments over unquoted-safe, whatever they contain.
            return new ProcessRunner(
                    List.of(su.get().toString(), "-s", "/bin/sh", SERVICE_USER, "-c", "exec \"$0\" \"$@\""), uid, gid);
        }
        throw new IOException("this JVM runs as root and needs runuser, setpriv or su (util-linux) to start"
                + " PostgreSQL as the '" + SERVICE_USER + "' OS user; install util-linux or run as a non-root user");
    }

    /** Whether programs run as {@value #SERVICE_USER} instead of the JVM's own user. */
    boolean dropsPrivileges() {
        return uid >= 0;
    }

    List<String> command(List<String> program) {
        List<String> all = new ArrayList<>(prefix);
        all.addAll(program);
        return all;
    }

    /** Gives a file or directory (not its contents) to the user PostgreSQL runs as. */
    void handOver(Path path) throws IOException {
        if (!dropsPrivileges()) {
            return;
        }
        Files.setAttribute(path, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(path, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
    }

    void handOverTree(Path root) throws IOException {
        if (!dropsPrivileges()) {
            return;
        }
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                handOver(dir);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                handOver(file);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    /** Starts a long-running program (the postmaster) with its output appended to {@code log}. */
    Process startAsService(List<String> program, Path workDir, Path log) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command(program))
                .directory(workDir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        sanitize(pb.environment());
        return pb.start();
    }

    Result run(List<String> program, Path workDir, Duration timeout) throws IOException {
        return runIn(command(program), workDir, timeout);
    }

    static Result runPlain(List<String> program, Duration timeout) throws IOException {
        return runIn(program, null, timeout);
    }

    private static Result runIn(List<String> command, Path workDir, Duration timeout) throws IOException {
        // Output goes to a file, not a pipe: a daemon that inherited the pipe could otherwise block the read.
        Path out = Files.createTempFile("pggat-cmd-", ".out");
        try {
            ProcessBuilder pb = new ProcessBuilder(command)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectErrorStream(true)
                    .redirectOutput(out.toFile());
            if (workDir != null) {
                pb.directory(workDir.toFile());
            }
            sanitize(pb.environment());
            Process p = pb.start();
            boolean done;
            try {
                done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for " + command.get(0), e);
            }
            String output = Files.readString(out, StandardCharsets.UTF_8);
            if (!done) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", command) + " did not finish within " + timeout.toSeconds()
                        + " s; output:\n" + output);
            }
            return new Result(p.exitValue(), output);
        } finally {
            Files.deleteIfExists(out);
        }
    }

    /**
     * Drops PG* variables so a user's PGDATA or PGPORT cannot redirect our programs, and fixes the message
     * language because failures are recognised by their English text.
     */
    private static void sanitize(Map<String, String> env) {
        env.keySet().removeIf(k -> k.startsWith("PG") && !k.startsWith("PGGAT"));
        env.put("LC_ALL", "C");
        env.put("LANG", "C");
    }

    static Optional<Path> findProgram(String name) {
        List<String> dirs = new ArrayList<>();
        String path = System.getenv("PATH");
        if (path != null) {
            dirs.addAll(List.of(path.split(File.pathSeparator)));
        }
        // Non-login root shells often lack the sbin directories where runuser lives.
        dirs.addAll(List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin"));
        for (String dir : dirs) {
            if (dir.isEmpty()) {
                continue;
            }
            Path candidate = Path.of(dir, name);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    static int currentUid() throws IOException {
        try {
            // /proc/self belongs to the process's effective user.
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            Result r = runPlain(List.of("id", "-u"), Duration.ofSeconds(10));
            return Integer.parseInt(r.output().trim());
        }
    }

    /** Whether a process exists and has not exited; an unreaped zombie counts as exited. */
    static boolean isAlive(long pid) {
        Optional<ProcessHandle> handle = ProcessHandle.of(pid);
        if (handle.isEmpty() || !handle.get().isAlive()) {
            return false;
        }
        // Orphans are reparented to PID 1, which does not reap them in every container, so zombies linger.
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            int afterName = stat.lastIndexOf(')');
            return afterName < 0 || afterName + 2 >= stat.length() || stat.charAt(afterName + 2) != 'Z';
        } catch (IOException e) {
            // No /proc (not Linux) or the process just exited: trust the handle.
            return handle.get().isAlive();
        }
    }

    record Result(int exitCode, String output) {}
}
