package dev.pggat.pooler.demo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Real PostgreSQL processes for tests and {@code pggat demo}: one primary and optional streaming replicas on
 * 127.0.0.1, each on its own free port, started from system or embedded binaries (see {@link PostgresBinaries}).
 *
 * <p>When the JVM is root, every PostgreSQL program runs as the {@code postgres} OS user, which then owns the
 * cluster's directories. SQL runs over each node's Unix socket with a built-in client, so only {@code initdb},
 * {@code pg_ctl} and {@code postgres} are needed. A JVM shutdown hook stops every node this JVM started.
 */
public final class PostgresCluster implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PostgresCluster.class);

    private static final String SUPERUSER = "postgres";
    private static final String REPLICATION_USER = "pggat_replicator";
    private static final String HOST = "127.0.0.1";
    private static final String TEMP_PREFIX = "pggat-pg-";
    static final String OWNER_FILE = "pggat-owner";
    private static final String NODE_CONF = "pggat-node.conf";
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration SQL_TIMEOUT = Duration.ofSeconds(60);
    private static final int MAX_SOCKET_PATH = 107;
    private static final Pattern SETTING_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_.]*");
    private static final Pattern CONNECT = Pattern.compile("\\\\c(?:onnect)?\\s+(\\S+)\\s*");
    private static final SecureRandom RANDOM = new SecureRandom();

    private static final Set<PostgresCluster> LIVE = ConcurrentHashMap.newKeySet();
    private static final Set<Integer> PORTS_HANDED_OUT = ConcurrentHashMap.newKeySet();
    private static final AtomicBoolean HOOK_INSTALLED = new AtomicBoolean();

    private final Builder config;
    private final PostgresBinaries binaries;
    private final ProcessRunner runner;
    private final String superuserPassword;
    private final String replicationPassword;
    private final AtomicBoolean closed = new AtomicBoolean();
    private Path baseDir;
    private boolean deleteBaseDir;
    private Node primary;
    private final List<Node> replicas = new ArrayList<>();

    private PostgresCluster(Builder b, PostgresBinaries binaries, ProcessRunner runner) {
        this.config = b.copy();
        this.binaries = binaries;
        this.runner = runner;
        this.superuserPassword = b.superuserPassword != null ? b.superuserPassword : randomSecret();
        this.replicationPassword = randomSecret();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Settings for a cluster; {@link #start()} creates and starts it. */
    public static final class Builder {
        private Path baseDir;
        private int replicas;
        private String superuserPassword;
        private final List<String> bootstrapSql = new ArrayList<>();
        private final List<String> hbaLines = new ArrayList<>();
        private final Map<String, String> settings = new LinkedHashMap<>();
        private PostgresBinaries binaries;
        private boolean fastButUnsafe = true;
        private int maxConnections = 300;

        private Builder() {}

        /**
         * Where node directories go; it must not hold them yet, and is kept on close. Default: a new temp dir,
         * deleted on close. As root, the directory is handed to the {@code postgres} OS user.
         */
        public Builder baseDir(Path dir) {
            this.baseDir = dir;
            return this;
        }

        public Builder replicas(int count) {
            if (count < 0 || count > 16) {
                throw new IllegalArgumentException("replicas=" + count + ": accepted are 0 to 16");
            }
            this.replicas = count;
            return this;
        }

        public Builder superuserPassword(String password) {
            if (password == null || password.isEmpty() || password.contains("\n") || password.contains("\r")) {
                throw new IllegalArgumentException("superuserPassword must be non-empty and on one line");
            }
            this.superuserPassword = password;
            return this;
        }

        /**
         * SQL run once on the primary as the superuser, in database {@code postgres}, before replicas are made.
         * Each string is one simple query and may hold several statements (but CREATE DATABASE needs a string of
         * its own). A string {@code \c name} (or {@code \connect name}) runs the strings after it in database
         * {@code name}.
         */
        public Builder bootstrapSql(String... sql) {
            bootstrapSql.addAll(List.of(sql));
            return this;
        }

        /** pg_hba.conf lines placed before the default ones, so they win (first match counts). */
        public Builder hbaLines(String... lines) {
            for (String line : lines) {
                if (line.contains("\n") || line.contains("\r")) {
                    throw new IllegalArgumentException("hbaLines: one line per string, got '" + line + "'");
                }
                hbaLines.add(line);
            }
            return this;
        }

        /**
         * A postgresql.conf setting for every node; the value is quoted as needed. port, listen_addresses,
         * unix_socket_directories and primary_conninfo are managed per node and cannot be overridden.
         */
        public Builder setting(String name, String value) {
            if (!SETTING_NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("setting name '" + name + "' is not a PostgreSQL parameter name"
                        + " (letters, digits, '_' and '.')");
            }
            if (value.contains("\n") || value.contains("\r")) {
                throw new IllegalArgumentException("setting " + name + ": the value must be on one line");
            }
            settings.put(name, value);
            return this;
        }

        public Builder binaries(PostgresBinaries binaries) {
            this.binaries = binaries;
            return this;
        }

        /** fsync=off, full_page_writes=off and initdb --no-sync: fast, but a machine crash can lose data. */
        public Builder fastButUnsafe(boolean enabled) {
            this.fastButUnsafe = enabled;
            return this;
        }

        public Builder maxConnections(int max) {
            if (max < 1 || max > 262143) {
                throw new IllegalArgumentException("maxConnections=" + max + ": accepted are 1 to 262143");
            }
            this.maxConnections = max;
            return this;
        }

        public PostgresCluster start() throws IOException {
            PostgresBinaries bin = binaries != null ? binaries : PostgresBinaries.locate();
            PostgresCluster cluster = new PostgresCluster(this, bin, ProcessRunner.forCurrentUser());
            cluster.startAll();
            return cluster;
        }

        private Builder copy() {
            Builder b = new Builder();
            b.baseDir = baseDir;
            b.replicas = replicas;
            b.superuserPassword = superuserPassword;
            b.bootstrapSql.addAll(bootstrapSql);
            b.hbaLines.addAll(hbaLines);
            b.settings.putAll(settings);
            b.binaries = binaries;
            b.fastButUnsafe = fastButUnsafe;
            b.maxConnections = maxConnections;
            return b;
        }
    }

    public Node primary() {
        return primary;
    }

    public List<Node> replicas() {
        return Collections.unmodifiableList(replicas);
    }

    public String superuser() {
        return SUPERUSER;
    }

    public String superuserPassword() {
        return superuserPassword;
    }

    public PostgresBinaries binaries() {
        return binaries;
    }

    /** The directory holding one sub directory per node. */
    public Path baseDir() {
        return baseDir;
    }

    /** Stops every node (fast shutdown, a kill if that fails) and deletes the temp dir if this cluster made it. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        LIVE.remove(this);
        List<Node> nodes = new ArrayList<>(replicas);
        if (primary != null) {
            nodes.add(primary);
        }
        for (Node node : nodes) {
            node.stopOrKill();
            PORTS_HANDED_OUT.remove(node.port);
        }
        if (deleteBaseDir && baseDir != null) {
            try {
                PostgresBinaries.deleteTree(baseDir);
            } catch (IOException e) {
                log.warn("could not delete {}: {}", baseDir, e.toString());
            }
        }
    }

    @Override
    public String toString() {
        return "PostgresCluster[" + binaries + ", primary port " + (primary == null ? "-" : primary.port)
                + ", replicas " + replicas.size() + "]";
    }

    private void startAll() throws IOException {
        long t0 = System.nanoTime();
        StringBuilder phases = new StringBuilder();
        Path tmpRoot = Path.of(System.getProperty("java.io.tmpdir"));
        if (config.baseDir == null) {
            sweepOrphans(tmpRoot);
            baseDir = Files.createTempDirectory(tmpRoot, TEMP_PREFIX);
            deleteBaseDir = true;
            Files.writeString(baseDir.resolve(OWNER_FILE), ownerStamp());
        } else {
            baseDir = config.baseDir.toAbsolutePath().normalize();
            Files.createDirectories(baseDir);
        }
        registerForShutdown();
        try {
            // The unprivileged user only needs to pass through; node dirs below are its own.
            Files.setPosixFilePermissions(baseDir, PosixFilePermissions.fromString("rwx--x--x"));
            runner.handOver(baseDir);
            if (runner.dropsPrivileges()
                    && runner.run(List.of("test", "-w", baseDir.toString()), baseDir, Duration.ofSeconds(10))
                                    .exitCode()
                            != 0) {
                throw new IOException("baseDir " + baseDir + " is out of reach for the '" + ProcessRunner.SERVICE_USER
                        + "' OS user PostgreSQL runs as (a parent directory without o+x, like /root?); choose a"
                        + " directory that user can reach");
            }
            primary = new Node("primary", false);
            primary.initdb();
            phases.append("initdb ").append(lap(t0)).append(" ms");
            long t = System.nanoTime();
            primary.writeNodeConf(null);
            primary.startFresh();
            runBootstrap();
            phases.append(", start+bootstrap ").append(lap(t)).append(" ms");
            if (config.replicas > 0) {
                t = System.nanoTime();
                // Copying a cleanly stopped data dir is a valid base backup and needs no pg_basebackup.
                primary.stop();
                for (int i = 1; i <= config.replicas; i++) {
                    replicas.add(new Node("replica" + i, true));
                }
                cloneReplicas();
                phases.append(", stop+copy ").append(lap(t)).append(" ms");
                t = System.nanoTime();
                primary.start();
                for (Node replica : replicas) {
                    replica.startFresh();
                }
                waitForStreaming();
                phases.append(", replicas streaming ").append(lap(t)).append(" ms");
            }
        } catch (IOException | RuntimeException | Error e) {
            close();
            throw e;
        }
        log.info(
                "started {} with {} replica(s) in {} ms ({}); primary port {}",
                binaries,
                replicas.size(),
                lap(t0),
                phases,
                primary.port);
    }

    /** Copying is bound by per-file system calls, so replicas are copied side by side. */
    private void cloneReplicas() throws IOException {
        int threads = Math.min(replicas.size(), Runtime.getRuntime().availableProcessors());
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "pggat-postgres-clone");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<?>> copies = new ArrayList<>();
            for (Node replica : replicas) {
                copies.add(pool.submit(() -> {
                    replica.cloneFrom(primary);
                    return null;
                }));
            }
            for (Future<?> copy : copies) {
                try {
                    copy.get();
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause();
                    if (cause instanceof IOException) {
                        throw (IOException) cause;
                    }
                    throw new IOException("copying the primary's data dir failed: " + cause, cause);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while copying the primary's data dir", e);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static long lap(long since) {
        return (System.nanoTime() - since) / 1_000_000;
    }

    private void runBootstrap() throws IOException {
        String database = "postgres";
        LocalSqlClient client = primary.sql(database);
        try {
            client.query("CREATE ROLE " + REPLICATION_USER + " WITH REPLICATION LOGIN PASSWORD '" + replicationPassword
                    + "'");
            for (int i = 0; i < config.bootstrapSql.size(); i++) {
                String sql = config.bootstrapSql.get(i);
                Matcher connect = CONNECT.matcher(sql.trim());
                if (connect.matches()) {
                    client.close();
                    database = connect.group(1);
                    client = primary.sql(database);
                    continue;
                }
                try {
                    client.query(sql);
                } catch (LocalSqlClient.ServerError e) {
                    // The statement may carry passwords: name it by position, not by text.
                    throw new IOException(
                            "bootstrapSql[" + i + "] failed in database '" + database + "': " + e.getMessage(), e);
                }
            }
        } finally {
            client.close();
        }
    }

    private void waitForStreaming() throws IOException {
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        String streaming = "0";
        try (LocalSqlClient client = primary.sql("postgres")) {
            while (System.nanoTime() < deadline) {
                streaming = client.queryValue("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'");
                if (Integer.parseInt(streaming) >= replicas.size()) {
                    return;
                }
                sleep(25);
            }
        }
        StringBuilder logs = new StringBuilder();
        for (Node r : replicas) {
            logs.append("\n--- ").append(r.logFile()).append(":\n").append(r.logTail());
        }
        throw new IOException("only " + streaming + " of " + replicas.size() + " replicas streaming after "
                + START_TIMEOUT.toSeconds() + " s" + logs);
    }

    private static void registerForShutdown(PostgresCluster cluster) {
        LIVE.add(cluster);
        if (HOOK_INSTALLED.compareAndSet(false, true)) {
            try {
                Runtime.getRuntime()
                        .addShutdownHook(new Thread(
                                () -> {
                                    for (PostgresCluster c : List.copyOf(LIVE)) {
                                        c.close();
                                    }
                                },
                                "pggat-postgres-shutdown"));
            } catch (IllegalStateException e) {
                // The JVM is already shutting down; nothing can be registered any more.
            }
        }
    }

    private void registerForShutdown() {
        registerForShutdown(this);
    }

    private String ownerStamp() {
        ProcessHandle self = ProcessHandle.current();
        long started = self.info().startInstant().map(i -> i.toEpochMilli()).orElse(-1L);
        return self.pid() + " " + started + "\n";
    }

    /**
     * Stops and deletes clusters left in the temp dir by JVMs that died without running their shutdown hook
     * (kill -9, a crashed test fork), so leftover postmasters do not pile up across runs.
     */
    static void sweepOrphans(Path tmpRoot) {
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(tmpRoot, TEMP_PREFIX + "*")) {
            for (Path dir : dirs) {
                try {
                    if (ownerAlive(dir.resolve(OWNER_FILE))) {
                        continue;
                    }
                    if (stopOrphanPostmasters(dir)) {
                        PostgresBinaries.deleteTree(dir);
                        log.info("removed the leftover PostgreSQL cluster {} of a JVM that is gone", dir);
                    }
                } catch (IOException | RuntimeException e) {
                    log.debug("left {} alone: {}", dir, e.toString());
                }
            }
        } catch (IOException e) {
            log.debug("could not scan {} for leftover clusters: {}", tmpRoot, e.toString());
        }
    }

    private static boolean ownerAlive(Path ownerFile) throws IOException {
        String[] stamp;
        try {
            stamp = Files.readString(ownerFile).trim().split("\\s+");
        } catch (NoSuchFileException e) {
            // Not ours or still being created: never touch it.
            return true;
        }
        long pid = Long.parseLong(stamp[0]);
        long started = Long.parseLong(stamp[1]);
        Optional<ProcessHandle> owner = ProcessHandle.of(pid);
        if (owner.isEmpty() || !ProcessRunner.isAlive(pid)) {
            return false;
        }
        // A reused pid belongs to a process started at another time.
        Optional<Long> ownerStart = owner.get().info().startInstant().map(i -> i.toEpochMilli());
        return started < 0 || ownerStart.isEmpty() || Math.abs(ownerStart.get() - started) < 2000;
    }

    /** Returns true once no postmaster of the directory runs any more. */
    private static boolean stopOrphanPostmasters(Path clusterDir) throws IOException {
        List<ProcessHandle> victims = new ArrayList<>();
        try (DirectoryStream<Path> nodes = Files.newDirectoryStream(clusterDir)) {
            for (Path node : nodes) {
                Path data = node.resolve("data");
                Optional<Long> pid = postmasterPid(data);
                if (pid.isEmpty() || !ProcessRunner.isAlive(pid.get())) {
                    continue;
                }
                ProcessHandle pm = ProcessHandle.of(pid.get()).orElseThrow();
                // Only a postmaster of this very data dir; a reused pid may belong to anything.
                String cmdline = Files.readString(Path.of("/proc", pid.get().toString(), "cmdline"))
                        .replace('\0', ' ');
                if (!cmdline.contains(data.toString())) {
                    continue;
                }
                victims.addAll(pm.children().toList());
                victims.add(pm);
            }
        }
        for (ProcessHandle p : victims) {
            p.destroyForcibly();
        }
        return waitUntilGone(victims, Duration.ofSeconds(10));
    }

    private static boolean waitUntilGone(List<ProcessHandle> processes, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (processes.stream().noneMatch(p -> ProcessRunner.isAlive(p.pid()))) {
                return true;
            }
            sleep(10);
        }
        return false;
    }

    static Optional<Long> postmasterPid(Path dataDir) {
        try {
            List<String> lines = Files.readAllLines(dataDir.resolve("postmaster.pid"));
            return lines.isEmpty()
                    ? Optional.empty()
                    : Optional.of(Long.parseLong(lines.get(0).trim()));
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    private static int freePort() throws IOException {
        for (int attempt = 0; attempt < 50; attempt++) {
            int port;
            try (ServerSocket s = new ServerSocket()) {
                s.setReuseAddress(false);
                s.bind(new InetSocketAddress(InetAddress.getByName(HOST), 0));
                port = s.getLocalPort();
            }
            // A port handed to a node that is not listening yet still looks free to the kernel.
            if (PORTS_HANDED_OUT.add(port)) {
                return port;
            }
        }
        throw new IOException("no free TCP port on " + HOST);
    }

    private static String randomSecret() {
        byte[] b = new byte[18];
        RANDOM.nextBytes(b);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    private static String quote(String value) {
        return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'";
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for PostgreSQL", e);
        }
    }

    /** One PostgreSQL server of the cluster. */
    public final class Node {
        private final String name;
        private final boolean standby;
        private final Path dir;
        private final Path dataDir;
        private final Path socketDir;
        private final Path logFile;
        private volatile int port;
        private Process process;

        private Node(String name, boolean standby) throws IOException {
            this.name = name;
            this.standby = standby;
            this.dir = baseDir.resolve(name);
            this.dataDir = dir.resolve("data");
            this.socketDir = dir.resolve("socket");
            this.logFile = dir.resolve("postgres.log");
            this.port = freePort();
            try {
                Files.createDirectory(dir);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                throw new IOException(
                        "baseDir " + baseDir + " already holds '" + name + "'; pass an empty or new" + " directory");
            }
            Files.createDirectory(socketDir);
            Files.createFile(logFile);
            runner.handOver(dir);
            runner.handOver(socketDir);
            runner.handOver(logFile);
            int socketPath = socketDir.resolve(".s.PGSQL.65535.lock").toString().length();
            if (socketPath > MAX_SOCKET_PATH) {
                throw new IOException("baseDir " + baseDir + " is too long: the Unix socket path would be " + socketPath
                        + " characters, the limit is " + MAX_SOCKET_PATH + "; use a shorter baseDir");
            }
        }

        public String name() {
            return name;
        }

        public String host() {
            return HOST;
        }

        public int port() {
            return port;
        }

        public Path dataDir() {
            return dataDir;
        }

        /** The server's log; its tail is part of every start failure. */
        public Path logFile() {
            return logFile;
        }

        public String jdbcUrl(String database) {
            return "jdbc:postgresql://" + HOST + ":" + port + "/" + database;
        }

        public synchronized boolean isRunning() {
            return process != null && process.isAlive();
        }

        /** Starts a stopped node and waits until it accepts connections. */
        public synchronized void start() {
            try {
                launch();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** Fast shutdown: sessions are cut, the node then is cleanly stopped. No-op if it does not run. */
        public synchronized void stop() {
            if (!isRunning()) {
                return;
            }
            try {
                ProcessRunner.Result r = runner.run(
                        List.of(
                                binaries.program("pg_ctl").toString(),
                                "stop",
                                "-D",
                                dataDir.toString(),
                                "-m",
                                "fast",
                                "-w",
                                "-t",
                                "60"),
                        dir,
                        Duration.ofSeconds(90));
                waitForExit(Duration.ofSeconds(30));
                if (r.exitCode() != 0 && isRunning()) {
                    throw new IOException(
                            name + ": pg_ctl stop failed: " + r.output().trim());
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** Immediate shutdown (pg_ctl stop -m immediate): sessions are cut without a goodbye, recovery follows. */
        public synchronized void stopImmediate() {
            if (!isRunning()) {
                return;
            }
            try {
                runner.run(
                        List.of(
                                binaries.program("pg_ctl").toString(),
                                "stop",
                                "-D",
                                dataDir.toString(),
                                "-m",
                                "immediate",
                                "-w",
                                "-t",
                                "60"),
                        dir,
                        Duration.ofSeconds(90));
                waitForExit(Duration.ofSeconds(30));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            if (isRunning()) {
                kill();
            }
        }

        /** SIGKILL to the postmaster and its children: a crash, with recovery on the next start. */
        public synchronized void kill() {
            if (!isRunning()) {
                return;
            }
            List<ProcessHandle> victims = new ArrayList<>();
            Optional<ProcessHandle> pm = postmasterPid(dataDir).flatMap(ProcessHandle::of);
            pm.ifPresent(p -> {
                victims.addAll(p.children().toList());
                victims.add(p);
            });
            // Postmaster first, so it cannot fork replacements. Our own child (runuser, or postgres itself) is left
            // alive to reap the postmaster: an unreaped zombie would look like a running postmaster to the next
            // start, since PID 1 of some containers never reaps orphans.
            pm.ifPresent(ProcessHandle::destroyForcibly);
            for (ProcessHandle p : victims) {
                p.destroyForcibly();
            }
            // Leftover children would keep the old shared memory attached and block the next start.
            if (!waitUntilGone(victims, Duration.ofSeconds(30))) {
                throw new IllegalStateException(name + ": processes survived SIGKILL for 30 s");
            }
            waitForExit(Duration.ofSeconds(10));
        }

        /** Ends recovery on a replica: it becomes a primary of its own and accepts writes. */
        public synchronized void promote() {
            try {
                ProcessRunner.Result r = runner.run(
                        List.of(
                                binaries.program("pg_ctl").toString(),
                                "promote",
                                "-D",
                                dataDir.toString(),
                                "-w",
                                "-t",
                                "60"),
                        dir,
                        Duration.ofSeconds(90));
                if (r.exitCode() != 0) {
                    throw new IOException(name + ": pg_ctl promote failed: "
                            + r.output().trim() + "\n--- " + logFile + ":\n" + logTail());
                }
                try (LocalSqlClient client = sql("postgres")) {
                    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
                    while (!"f".equals(client.queryValue("SELECT pg_is_in_recovery()"))) {
                        if (System.nanoTime() > deadline) {
                            throw new IOException(name + ": still in recovery after promotion");
                        }
                        sleep(20);
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public String toString() {
            return name + "@" + HOST + ":" + port;
        }

        LocalSqlClient sql(String database) throws IOException {
            return LocalSqlClient.connect(socketDir, port, SUPERUSER, database, SQL_TIMEOUT, name);
        }

        String logTail() {
            try {
                List<String> lines = Files.readAllLines(logFile, StandardCharsets.UTF_8);
                return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
            } catch (IOException e) {
                return "(log unreadable: " + e + ")";
            }
        }

        private void initdb() throws IOException {
            Path pwfile = dir.resolve("initdb.pw");
            Files.writeString(
                    pwfile, superuserPassword + "\n", StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            Files.setPosixFilePermissions(pwfile, PosixFilePermissions.fromString("rw-------"));
            runner.handOver(pwfile);
            List<String> cmd = new ArrayList<>(List.of(
                    binaries.program("initdb").toString(),
                    "-D",
                    dataDir.toString(),
                    "-U",
                    SUPERUSER,
                    "--pwfile=" + pwfile,
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256"));
            if (config.fastButUnsafe) {
                cmd.add("--no-sync");
            }
            ProcessRunner.Result r;
            try {
                r = runner.run(cmd, dir, Duration.ofSeconds(180));
            } finally {
                Files.deleteIfExists(pwfile);
            }
            if (r.exitCode() != 0) {
                throw new IOException(name + ": initdb failed (exit " + r.exitCode() + "):\n"
                        + r.output().trim());
            }
            writeServerConf();
            writeHba();
        }

        private void writeServerConf() throws IOException {
            StringBuilder conf = new StringBuilder("\n# Written by pggat's PostgresCluster\n");
            Map<String, String> s = new LinkedHashMap<>();
            s.put("max_connections", Integer.toString(config.maxConnections));
            s.put("wal_level", "replica");
            s.put("max_wal_senders", Integer.toString(Math.max(10, config.replicas + 4)));
            if (binaries.majorVersion() >= 13) {
                // Lets a replica that was stopped for a while catch up without a replication slot.
                s.put("wal_keep_size", "256MB");
            }
            s.put("hot_standby", "on");
            s.put("logging_collector", "off");
            s.put("log_line_prefix", "%m [%p] %q%u@%d ");
            if (config.fastButUnsafe) {
                s.put("fsync", "off");
                s.put("full_page_writes", "off");
            }
            s.putAll(config.settings);
            for (Map.Entry<String, String> e : s.entrySet()) {
                conf.append(e.getKey())
                        .append(" = ")
                        .append(quote(e.getValue()))
                        .append('\n');
            }
            // Last, so node settings win over everything above.
            conf.append("include_if_exists = '").append(NODE_CONF).append("'\n");
            Files.writeString(dataDir.resolve("postgresql.conf"), conf, StandardOpenOption.APPEND);
        }

        private void writeHba() throws IOException {
            StringBuilder hba = new StringBuilder("# Written by pggat's PostgresCluster; first match wins.\n");
            for (String line : config.hbaLines) {
                hba.append(line).append('\n');
            }
            hba.append("local all ").append(SUPERUSER).append(" trust\n");
            hba.append("local replication ").append(SUPERUSER).append(" trust\n");
            hba.append("host replication ").append(REPLICATION_USER).append(" ").append(HOST);
            hba.append("/32 scram-sha-256\n");
            hba.append("local all all scram-sha-256\n");
            hba.append("host all all 127.0.0.1/32 scram-sha-256\n");
            hba.append("host all all ::1/128 scram-sha-256\n");
            Files.writeString(dataDir.resolve("pg_hba.conf"), hba);
        }

        private void writeNodeConf(Node upstream) throws IOException {
            StringBuilder conf = new StringBuilder("# Per-node settings written by pggat's PostgresCluster\n");
            conf.append("port = ").append(port).append('\n');
            conf.append("listen_addresses = ").append(quote(HOST)).append('\n');
            conf.append("unix_socket_directories = ")
                    .append(quote(socketDir.toString()))
                    .append('\n');
            conf.append("cluster_name = ").append(quote("pggat-" + name)).append('\n');
            if (upstream != null) {
                String conninfo = "host=" + HOST + " port=" + upstream.port + " user=" + REPLICATION_USER + " password="
                        + replicationPassword + " application_name=" + name;
                conf.append("primary_conninfo = ").append(quote(conninfo)).append('\n');
            }
            Path file = dataDir.resolve(NODE_CONF);
            Files.writeString(file, conf);
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
            runner.handOver(file);
        }

        private void cloneFrom(Node source) throws IOException {
            Files.walkFileTree(source.dataDir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) throws IOException {
                    Path target = dataDir.resolve(source.dataDir.relativize(d).toString());
                    Files.copy(d, target, StandardCopyOption.COPY_ATTRIBUTES, LinkOption.NOFOLLOW_LINKS);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) throws IOException {
                    String rel = source.dataDir.relativize(f).toString();
                    if (rel.equals("postmaster.pid") || rel.equals("postmaster.opts")) {
                        return FileVisitResult.CONTINUE;
                    }
                    Files.copy(f, dataDir.resolve(rel), StandardCopyOption.COPY_ATTRIBUTES, LinkOption.NOFOLLOW_LINKS);
                    return FileVisitResult.CONTINUE;
                }
            });
            Files.createFile(dataDir.resolve("standby.signal"));
            runner.handOverTree(dataDir);
            writeNodeConf(source);
        }

        /** First start of a new node: a port taken by someone else in the meantime means a new port. */
        private synchronized void startFresh() throws IOException {
            for (int attempt = 1; ; attempt++) {
                try {
                    launch();
                    return;
                } catch (PortTakenException e) {
                    if (attempt == 3) {
                        throw e;
                    }
                    PORTS_HANDED_OUT.remove(port);
                    port = freePort();
                    writeNodeConf(standby ? primary : null);
                }
            }
        }

        private void launch() throws IOException {
            if (isRunning()) {
                return;
            }
            if (closed.get()) {
                throw new IllegalStateException(name + ": the cluster is closed");
            }
            long logStart = Files.size(logFile);
            process = runner.startAsService(
                    List.of(binaries.program("postgres").toString(), "-D", dataDir.toString()), dir, logFile);
            long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
            while (true) {
                if (!process.isAlive()) {
                    String tail = logTail();
                    String fresh = newLog(logStart);
                    if (fresh.contains("Address already in use")) {
                        throw new PortTakenException(name + ": port " + port + " is taken:\n" + tail);
                    }
                    throw new IOException(name + ": postgres exited with code " + process.exitValue()
                            + " while starting; " + logFile + " ends with:\n" + tail);
                }
                if (acceptsConnections()) {
                    return;
                }
                if (System.nanoTime() > deadline) {
                    kill();
                    throw new IOException(name + ": not ready after " + START_TIMEOUT.toSeconds() + " s; " + logFile
                            + " ends with:\n" + logTail());
                }
                sleep(10);
            }
        }

        /**
         * The postmaster marks itself "ready" in postmaster.pid once it takes connections (also as hot standby).
         * After a crash the file left behind says "ready" too, so it only counts once it names our process (or,
         * behind runuser, its child).
         */
        private boolean acceptsConnections() {
            try {
                List<String> lines = Files.readAllLines(dataDir.resolve("postmaster.pid"));
                if (lines.size() < 8 || !lines.get(7).trim().equals("ready")) {
                    return false;
                }
                long pid = Long.parseLong(lines.get(0).trim());
                return pid == process.pid() || process.toHandle().children().anyMatch(c -> c.pid() == pid);
            } catch (IOException | NumberFormatException e) {
                return false;
            }
        }

        private String newLog(long from) {
            try {
                byte[] all = Files.readAllBytes(logFile);
                return new String(
                        all,
                        (int) Math.min(from, all.length),
                        (int) Math.max(0, all.length - from),
                        StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "";
            }
        }

        private void waitForExit(Duration timeout) {
            if (process == null) {
                return;
            }
            try {
                if (!process.waitFor(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private void stopOrKill() {
            try {
                stop();
            } catch (RuntimeException e) {
                log.warn("{}: fast shutdown failed ({}), killing it", name, e.getMessage());
                kill();
            }
        }
    }

    private static final class PortTakenException extends IOException {
        private static final long serialVersionUID = 1L;

        PortTakenException(String message) {
            super(message);
        }
    }
}
