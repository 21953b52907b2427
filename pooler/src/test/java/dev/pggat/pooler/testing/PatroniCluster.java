package dev.pggat.pooler.testing;

import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pggat.pooler.demo.PostgresBinaries;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * A real Patroni cluster on loopback: one etcd (v3) and {@code n} Patroni members, each running PostgreSQL from the
 * installed binaries, on free ports. As root, Patroni and PostgreSQL run as the {@code postgres} user (PostgreSQL
 * refuses root). Timing as in production-like small setups: ttl 10 s, loop_wait 1 s, and a crashed leader fails over
 * at once ({@code primary_start_timeout: 0}) instead of being restarted in place.
 */
public final class PatroniCluster implements AutoCloseable {
    public static final String SUPERUSER = "postgres";
    public static final String SUPERUSER_PASSWORD = "patroni-su-pw";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PATRONI = "/usr/bin/patroni";
    private static final String PATRONICTL = "/usr/bin/patronictl";
    private static final String ETCD = "/usr/bin/etcd";

    /** One Patroni member. */
    public record Member(String name, int pgPort, int restPort, Path config, Path dataDir, Process patroni) {
        public URI restUrl() {
            return URI.create("http://127.0.0.1:" + restPort);
        }
    }

    private final Path work;
    private final boolean root;
    private final String scope;
    private Process etcd;
    private final List<Member> members = new ArrayList<>();
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private PatroniCluster(Path work, boolean root, String scope) {
        this.work = work;
        this.root = root;
        this.scope = scope;
    }

    /** Starts etcd and {@code n} members, and waits until every member runs on one timeline with its replicas streaming. */
    public static PatroniCluster start(int n) throws Exception {
        for (String program : List.of(PATRONI, PATRONICTL, ETCD)) {
            if (!Files.isExecutable(Path.of(program))) {
                fail(program + " is missing: install Debian's patroni and etcd-server packages"
                        + " (apt-get install --no-install-recommends patroni etcd-server)");
            }
        }
        PostgresBinaries binaries = PostgresBinaries.locateSystem();
        for (String program : List.of("pg_basebackup", "pg_rewind", "pg_ctl", "initdb")) {
            if (!Files.isExecutable(binaries.bindir().resolve(program))) {
                fail(binaries.bindir() + "/" + program + " is missing: Patroni needs the full PostgreSQL server"
                        + " package (apt-get install postgresql)");
            }
        }
        boolean root = "root".equals(System.getProperty("user.name"));
        // Short: the unix socket path under it must stay below 107 bytes.
        Path work = Files.createTempDirectory("pt");
        String scope = "pt" + ProcessHandle.current().pid();
        PatroniCluster c = new PatroniCluster(work, root, scope);
        try {
            c.startAll(n, binaries);
        } catch (Exception | Error e) {
            c.close();
            throw e;
        }
        return c;
    }

    private void startAll(int n, PostgresBinaries binaries) throws Exception {
        for (String d : List.of("etcd", "data", "run", "log")) {
            Files.createDirectories(work.resolve(d));
        }
        Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(work.resolve("data"), PosixFilePermissions.fromString("rwx------"));
        Files.setPosixFilePermissions(work.resolve("run"), PosixFilePermissions.fromString("rwx------"));
        if (root) {
            UserPrincipalLookupService lookup = work.getFileSystem().getUserPrincipalLookupService();
            UserPrincipal user = lookup.lookupPrincipalByName("postgres");
            GroupPrincipal group = lookup.lookupPrincipalByGroupName("postgres");
            for (String d : List.of("data", "run", "log")) {
                Files.setOwner(work.resolve(d), user);
                Files.getFileAttributeView(work.resolve(d), java.nio.file.attribute.PosixFileAttributeView.class)
                        .setGroup(group);
            }
        }
        int clientPort = freePort();
        int peerPort = freePort();
        etcd = new ProcessBuilder(
                        ETCD,
                        "--name",
                        scope,
                        "--data-dir",
                        work.resolve("etcd").toString(),
                        "--listen-client-urls",
                        "http://127.0.0.1:" + clientPort,
                        "--advertise-client-urls",
                        "http://127.0.0.1:" + clientPort,
                        "--listen-peer-urls",
                        "http://127.0.0.1:" + peerPort,
                        "--initial-advertise-peer-urls",
                        "http://127.0.0.1:" + peerPort,
                        "--initial-cluster",
                        scope + "=http://127.0.0.1:" + peerPort,
                        "--initial-cluster-state",
                        "new",
                        "--initial-cluster-token",
                        scope)
                .redirectErrorStream(true)
                .redirectOutput(work.resolve("etcd.log").toFile())
                .start();
        awaitHttp200(URI.create("http://127.0.0.1:" + clientPort + "/health"), Duration.ofSeconds(60));
        for (int i = 1; i <= n; i++) {
            Member m = startMember("node" + i, clientPort, binaries);
            members.add(m);
            if (i == 1) {
                awaitHttp200(m.restUrl().resolve("/primary"), Duration.ofSeconds(120));
            }
        }
        awaitCluster(
                "every member running on one timeline, replicas streaming",
                Duration.ofSeconds(180),
                cluster -> cluster.size() == n
                        && cluster.stream()
                                .allMatch(x -> x.path("state").asText().equals("running"))
                        && cluster.stream().allMatch(x -> x.hasNonNull("timeline"))
                        && cluster.stream()
                                        .map(x -> x.path("timeline").asLong())
                                        .distinct()
                                        .count()
                                == 1
                        && cluster.stream()
                                        .filter(x -> x.path("role").asText().equals("leader"))
                                        .count()
                                == 1
                        && streamingReplicas() == n - 1);
    }

    private Member startMember(String name, int etcdPort, PostgresBinaries binaries) throws IOException {
        int pgPort = freePort();
        int restPort = freePort();
        Path data = work.resolve("data").resolve(name);
        Path config = work.resolve(name + ".yml");
        String yaml = """
                scope: %1$s
                namespace: /service/
                name: %2$s
                restapi:
                  listen: 127.0.0.1:%4$d
                  connect_address: 127.0.0.1:%4$d
                etcd3:
                  hosts: 127.0.0.1:%5$d
                bootstrap:
                  dcs:
                    ttl: 10
                    loop_wait: 1
                    retry_timeout: 4
                    maximum_lag_on_failover: 1048576
                    primary_start_timeout: 0
                    postgresql:
                      use_pg_rewind: true
                      use_slots: true
                      parameters:
                        max_connections: 60
                        shared_buffers: 16MB
                        wal_level: replica
                        hot_standby: "on"
                        wal_log_hints: "on"
                        max_wal_senders: 10
                        max_replication_slots: 10
                        fsync: "off"
                  initdb:
                    - encoding: UTF8
                    - locale: C
                postgresql:
                  listen: 127.0.0.1:%3$d
                  connect_address: 127.0.0.1:%3$d
                  data_dir: %6$s
                  bin_dir: %7$s
                  pgpass: %8$s
                  authentication:
                    superuser: {username: %9$s, password: %10$s}
                    replication: {username: replicator, password: repl-pw}
                    rewind: {username: rewinder, password: rewind-pw}
                  parameters:
                    unix_socket_directories: %11$s
                  pg_hba:
                    - local all all trust
                    - host replication replicator 127.0.0.1/32 scram-sha-256
                    - host all all 127.0.0.1/32 scram-sha-256
                """.formatted(
                        scope,
                        name,
                        pgPort,
                        restPort,
                        etcdPort,
                        data,
                        binaries.bindir(),
                        work.resolve("run").resolve("pgpass-" + name),
                        SUPERUSER,
                        SUPERUSER_PASSWORD,
                        work.resolve("run"));
        Files.writeString(config, yaml, StandardCharsets.UTF_8);
        List<String> command = new ArrayList<>();
        if (root) {
            command.addAll(List.of(
                    "setpriv",
                    "--reuid=postgres",
                    "--regid=postgres",
                    "--init-groups",
                    "env",
                    "HOME=" + work.resolve("run")));
        }
        command.addAll(List.of(PATRONI, config.toString()));
        Process p = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(
                        work.resolve("log").resolve(name + ".log").toFile()))
                .start();
        return new Member(name, pgPort, restPort, config, data, p);
    }

    public List<Member> members() {
        return List.copyOf(members);
    }

    public Member member(String name) {
        return members.stream()
                .filter(m -> m.name().equals(name))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no member " + name));
    }

    public Member byPort(int pgPort) {
        return members.stream().filter(m -> m.pgPort() == pgPort).findFirst().orElse(null);
    }

    /** The members as {@code GET /cluster} lists them now, asked of any member that answers. */
    public List<JsonNode> cluster() {
        for (Member m : members) {
            try {
                HttpResponse<String> r = http.send(
                        HttpRequest.newBuilder(m.restUrl().resolve("/cluster"))
                                .timeout(Duration.ofSeconds(2))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    List<JsonNode> out = new ArrayList<>();
                    JSON.readTree(r.body()).path("members").forEach(out::add);
                    return out;
                }
            } catch (IOException e) {
                // the next member may answer
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        return List.of();
    }

    /** The leader's member name now, or null. */
    public String leader() {
        return cluster().stream()
                .filter(x -> x.path("role").asText().equals("leader")
                        && x.path("state").asText().equals("running"))
                .map(x -> x.path("name").asText())
                .findFirst()
                .orElse(null);
    }

    /** The running replicas' names now. */
    public List<String> runningReplicas() {
        return cluster().stream()
                .filter(x -> !x.path("role").asText().equals("leader")
                        && x.path("state").asText().equals("running"))
                .map(x -> x.path("name").asText())
                .sorted()
                .toList();
    }

    private int streamingReplicas() {
        String leader = leader();
        if (leader == null) {
            return -1;
        }
        try {
            HttpResponse<String> r = http.send(
                    HttpRequest.newBuilder(member(leader).restUrl().resolve("/patroni"))
                            .timeout(Duration.ofSeconds(2))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            int n = 0;
            for (JsonNode x : JSON.readTree(r.body()).path("replication")) {
                if (x.path("state").asText().equals("streaming")) {
                    n++;
                }
            }
            return n;
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Waits until every member runs again on one timeline with all replicas streaming (after a switchover). */
    public void awaitHealthy(Duration timeout) throws InterruptedException {
        int n = members.size();
        awaitCluster(
                "every member running on one timeline, replicas streaming",
                timeout,
                cluster -> cluster.size() == n
                        && cluster.stream()
                                .allMatch(x -> x.path("state").asText().equals("running"))
                        && cluster.stream().allMatch(x -> x.hasNonNull("timeline"))
                        && cluster.stream()
                                        .map(x -> x.path("timeline").asLong())
                                        .distinct()
                                        .count()
                                == 1
                        && cluster.stream()
                                        .filter(x -> x.path("role").asText().equals("leader"))
                                        .count()
                                == 1
                        && streamingReplicas() == n - 1);
    }

    public void awaitCluster(String what, Duration timeout, Predicate<List<JsonNode>> done)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<JsonNode> last = List.of();
        while (System.nanoTime() < deadline) {
            last = cluster();
            if (done.test(last)) {
                return;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("Patroni cluster: timed out waiting for " + what + "; /cluster says " + last
                + "; logs in " + work.resolve("log"));
    }

    /** {@code patronictl switchover --force} from {@code leader} to {@code candidate}; returns when it has. */
    public String switchover(String leader, String candidate) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(
                        PATRONICTL,
                        "-c",
                        members.get(0).config().toString(),
                        "switchover",
                        "--leader",
                        leader,
                        "--candidate",
                        candidate,
                        "--force")
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError("patronictl switchover failed: " + out);
        }
        return out;
    }

    /** Kills the member's postmaster with SIGKILL (a crash), leaving Patroni running. */
    public void killPostgres(String name) throws IOException {
        Path pidFile = member(name).dataDir().resolve("postmaster.pid");
        long pid = Long.parseLong(Files.readAllLines(pidFile).get(0).trim());
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    }

    @Override
    public void close() {
        for (Member m : members) {
            m.patroni().destroy(); // SIGTERM: Patroni stops its PostgreSQL and releases the leader key
        }
        for (Member m : members) {
            try {
                if (!m.patroni().waitFor(30, TimeUnit.SECONDS)) {
                    m.patroni().destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (Member m : members) {
            // A postmaster left behind (it is detached from Patroni).
            try {
                Path pidFile = m.dataDir().resolve("postmaster.pid");
                if (Files.exists(pidFile)) {
                    long pid = Long.parseLong(Files.readAllLines(pidFile).get(0).trim());
                    ProcessHandle.of(pid)
                            .filter(h -> h.info()
                                    .command()
                                    .map(c -> c.endsWith("postgres"))
                                    .orElse(false))
                            .ifPresent(h -> {
                                h.destroyForcibly();
                                h.onExit().orTimeout(10, TimeUnit.SECONDS).join();
                            });
                }
            } catch (IOException | RuntimeException e) {
                // best effort: the directory goes below anyway
            }
        }
        if (etcd != null) {
            etcd.destroy();
            try {
                if (!etcd.waitFor(10, TimeUnit.SECONDS)) {
                    etcd.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try (Stream<Path> files = Files.walk(work)) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void awaitHttp200(URI uri, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            try {
                HttpResponse<Void> r = http.send(
                        HttpRequest.newBuilder(uri)
                                .timeout(Duration.ofSeconds(2))
                                .build(),
                        HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not up yet
            }
            Thread.sleep(100);
        }
        throw new AssertionError("timed out waiting for HTTP 200 from " + uri + "; logs in " + work);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
