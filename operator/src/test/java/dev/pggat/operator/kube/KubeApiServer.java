package dev.pggat.operator.kube;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A real kube-apiserver with its own etcd, both on free loopback ports, without nodes or controllers. The binary is
 * found as envtest finds it: {@code $KUBEBUILDER_ASSETS/kube-apiserver}; etcd is {@code $KUBEBUILDER_ASSETS/etcd}
 * when there is one, else {@code etcd} on the PATH (Debian: {@code apt-get install etcd-server}). One server serves
 * a whole test run ({@link #shared()}); tests isolate themselves with namespaces of their own.
 *
 * <p>RBAC is on and requests made with ServiceAccount tokens are written to an audit log, so a test can compare the
 * calls the operator made with the rules it was granted.
 */
public final class KubeApiServer implements AutoCloseable {
    public static final String ASSETS_ENV = "KUBEBUILDER_ASSETS";
    /** Folder with the published CloudNativePG and Zalando CRDs; default {@code $KUBEBUILDER_ASSETS/../crds}. */
    public static final String CRDS_ENV = "PGGAT_K8S_CRDS";

    private static final Duration READY_TIMEOUT = Duration.ofSeconds(180);
    private static KubeApiServer shared;
    private static RuntimeException failedToStart;

    private final Path dir;
    private final String adminToken;
    private final String caPem;
    private final int port;
    private final Process etcd;
    private final Process apiserver;
    private final KubernetesClient admin;

    private KubeApiServer(Path dir, String adminToken, String caPem, int port, Process etcd, Process apiserver) {
        this.dir = dir;
        this.adminToken = adminToken;
        this.caPem = caPem;
        this.port = port;
        this.etcd = etcd;
        this.apiserver = apiserver;
        this.admin = clientWithToken(adminToken, "default");
    }

    /** Why the real-server tests cannot run here, or null when they can. */
    public static String unavailableReason() {
        String assets = System.getenv(ASSETS_ENV);
        if (assets == null || assets.isBlank()) {
            return ASSETS_ENV + " is not set, so this test against a real kube-apiserver did NOT run. Point it at a"
                    + " folder holding a kube-apiserver binary (v1.26 or later; setup-envtest's folder works, and"
                    + " .ci/run unpacks one) and install etcd (Debian: apt-get install etcd-server).";
        }
        return null;
    }

    /** The server of this test run, started on first use and stopped when the JVM exits. */
    public static synchronized KubeApiServer shared() {
        if (failedToStart != null) {
            throw failedToStart;
        }
        if (shared == null) {
            try {
                shared = start();
            } catch (RuntimeException e) {
                failedToStart = e;
                throw e;
            }
            KubeApiServer s = shared;
            Runtime.getRuntime().addShutdownHook(new Thread(s::close, "kube-apiserver-stop"));
        }
        return shared;
    }

    static KubeApiServer start() {
        String reason = unavailableReason();
        if (reason != null) {
            throw new IllegalStateException(reason);
        }
        Path assets = Path.of(System.getenv(ASSETS_ENV));
        Path apiserverBin = assets.resolve("kube-apiserver");
        if (!Files.isExecutable(apiserverBin)) {
            throw new IllegalStateException(ASSETS_ENV + "=" + assets + " has no executable kube-apiserver");
        }
        Path etcdBin = Files.isExecutable(assets.resolve("etcd")) ? assets.resolve("etcd") : onPath("etcd");
        if (etcdBin == null) {
            throw new IllegalStateException("etcd is neither in " + ASSETS_ENV
                    + " nor on the PATH; install it (Debian: apt-get install" + " etcd-server)");
        }
        IllegalStateException last = null;
        // A port picked free can be taken by someone else before the process binds it; try again with new ones.
        for (int attempt = 0; attempt < 3; attempt++) {
            try {
                return start(apiserverBin, etcdBin);
            } catch (IllegalStateException e) {
                last = e;
            }
        }
        throw last;
    }

    private static KubeApiServer start(Path apiserverBin, Path etcdBin) {
        try {
            Path dir = Files.createTempDirectory("pggat-kube-apiserver-");
            Path pki = Files.createDirectories(dir.resolve("pki"));
            TestPki.Issued ca = TestPki.ca("pggat-test-kube-ca");
            TestPki.Issued serving = TestPki.serving(
                    ca, List.of("localhost", "127.0.0.1", "kubernetes.default.svc", "kubernetes.default"));
            Files.writeString(pki.resolve("ca.crt"), ca.certPem());
            Files.writeString(pki.resolve("apiserver.crt"), serving.certPem());
            Files.writeString(pki.resolve("apiserver.key"), serving.keyPem());
            var sa = TestPki.ecKeys();
            Files.writeString(pki.resolve("sa.key"), TestPki.pkcs8Pem(sa.getPrivate()));
            Files.writeString(
                    pki.resolve("sa.pub"),
                    "-----BEGIN PUBLIC KEY-----\n"
                            + Base64.getMimeEncoder(64, new byte[] {'\n'})
                                    .encodeToString(sa.getPublic().getEncoded())
                            + "\n-----END PUBLIC KEY-----\n");
            byte[] raw = new byte[16];
            new SecureRandom().nextBytes(raw);
            String adminToken = HexFormat.of().formatHex(raw);
            Files.writeString(pki.resolve("tokens.csv"), adminToken + ",admin,admin-uid,\"system:masters\"\n");
            // Only what ServiceAccounts do: the operator's own calls, with the verb and the object.
            Files.writeString(dir.resolve("audit-policy.yaml"), """
                    apiVersion: audit.k8s.io/v1
                    kind: Policy
                    omitStages: ["RequestReceived"]
                    rules:
                      - level: Metadata
                        userGroups: ["system:serviceaccounts"]
                      - level: None
                    """);

            int etcdPort = freePort();
            int etcdPeerPort = freePort();
            int port = freePort();
            Path logs = Files.createDirectories(dir.resolve("logs"));
            Process etcd = new ProcessBuilder(
                            etcdBin.toString(),
                            "--name",
                            "pggat-test",
                            "--data-dir",
                            dir.resolve("etcd").toString(),
                            "--listen-client-urls",
                            "http://127.0.0.1:" + etcdPort,
                            "--advertise-client-urls",
                            "http://127.0.0.1:" + etcdPort,
                            "--listen-peer-urls",
                            "http://127.0.0.1:" + etcdPeerPort,
                            "--initial-advertise-peer-urls",
                            "http://127.0.0.1:" + etcdPeerPort,
                            "--initial-cluster",
                            "pggat-test=http://127.0.0.1:" + etcdPeerPort,
                            "--initial-cluster-state",
                            "new",
                            "--logger=zap",
                            "--log-level",
                            "warn")
                    .redirectErrorStream(true)
                    .redirectOutput(logs.resolve("etcd.log").toFile())
                    .start();
            Process apiserver;
            try {
                apiserver = new ProcessBuilder(
                                apiserverBin.toString(),
                                "--bind-address=127.0.0.1",
                                "--secure-port=" + port,
                                "--advertise-address=127.0.0.1",
                                "--etcd-servers=http://127.0.0.1:" + etcdPort,
                                "--tls-cert-file=" + pki.resolve("apiserver.crt"),
                                "--tls-private-key-file=" + pki.resolve("apiserver.key"),
                                "--client-ca-file=" + pki.resolve("ca.crt"),
                                "--token-auth-file=" + pki.resolve("tokens.csv"),
                                "--authorization-mode=RBAC",
                                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                                "--service-account-key-file=" + pki.resolve("sa.pub"),
                                "--service-account-signing-key-file=" + pki.resolve("sa.key"),
                                "--service-cluster-ip-range=10.96.0.0/16",
                                // Webhooks naming a Service reach it through its Endpoints, not a ClusterIP.
                                "--endpoint-reconciler-type=none",
                                "--enable-aggregator-routing=true",
                                "--allow-privileged=true",
                                "--profiling=false",
                                "--audit-policy-file=" + dir.resolve("audit-policy.yaml"),
                                "--audit-log-path=" + dir.resolve("audit.log"),
                                "--audit-log-format=json")
                        .redirectErrorStream(true)
                        .redirectOutput(logs.resolve("kube-apiserver.log").toFile())
                        .start();
            } catch (IOException e) {
                etcd.destroyForcibly();
                throw e;
            }
            String caPem = ca.certPem();
            waitReady(port, caPem, adminToken, apiserver, etcd, logs);
            return new KubeApiServer(dir, adminToken, caPem, port, etcd, apiserver);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void waitReady(int port, String caPem, String token, Process apiserver, Process etcd, Path logs)
            throws IOException {
        HttpClient http = HttpClient.newBuilder()
                .sslContext(trusting(caPem))
                .connectTimeout(Duration.ofSeconds(5))
                .build();
        HttpRequest readyz = HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + "/readyz"))
                .header("Authorization", "Bearer " + token)
                .timeout(Duration.ofSeconds(10))
                .build();
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            if (!apiserver.isAlive() || !etcd.isAlive()) {
                apiserver.destroyForcibly();
                etcd.destroyForcibly();
                throw new IllegalStateException("kube-apiserver or etcd exited during start-up:\n"
                        + tail(logs.resolve("etcd.log")) + "\n" + tail(logs.resolve("kube-apiserver.log")));
            }
            try {
                HttpResponse<String> r = http.send(readyz, HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200 && r.body().trim().equals("ok")) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            sleep(500);
        }
        apiserver.destroyForcibly();
        etcd.destroyForcibly();
        throw new IllegalStateException(
                "kube-apiserver not ready within " + READY_TIMEOUT + ":\n" + tail(logs.resolve("kube-apiserver.log")));
    }

    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            return log.getFileName() + ":\n"
                    + String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return log + ": " + e.getMessage();
        }
    }

    static SSLContext trusting(String caPem) {
        try {
            KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
            ks.load(null, null);
            ks.setCertificateEntry(
                    "ca",
                    CertificateFactory.getInstance("X.509")
                            .generateCertificate(new ByteArrayInputStream(caPem.getBytes(StandardCharsets.US_ASCII))));
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static Path onPath(String name) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            Path p = Path.of(d, name);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    /** A port free at the moment of asking (the OS picks it, so two runs at once do not collide). */
    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public String url() {
        return "https://127.0.0.1:" + port;
    }

    public String caPem() {
        return caPem;
    }

    /** A client as cluster admin (group system:masters), shared: do not close it. */
    public KubernetesClient admin() {
        return admin;
    }

    public KubernetesClient clientWithToken(String token, String namespace) {
        Config config = new ConfigBuilder(Config.empty())
                .withMasterUrl(url())
                .withCaCertData(Base64.getEncoder().encodeToString(caPem.getBytes(StandardCharsets.US_ASCII)))
                .withOauthToken(token)
                .withNamespace(namespace)
                .withRequestRetryBackoffLimit(0)
                .build();
        return new KubernetesClientBuilder().withConfig(config).build();
    }

    /** A fresh namespace {@code prefix-xxxxx} with the {@code default} ServiceAccount no controller makes here. */
    public String createNamespace(String prefix) {
        byte[] raw = new byte[3];
        new SecureRandom().nextBytes(raw);
        String name = prefix + "-" + HexFormat.of().formatHex(raw).substring(0, 5);
        ensureNamespace(name);
        return name;
    }

    /** Creates the namespace and its default ServiceAccount unless they exist. */
    public void ensureNamespace(String name) {
        try {
            admin.namespaces()
                    .resource(new NamespaceBuilder()
                            .withNewMetadata()
                            .withName(name)
                            .endMetadata()
                            .build())
                    .create();
        } catch (KubernetesClientException e) {
            if (e.getCode() != 409) {
                throw e;
            }
        }
        ensureServiceAccount(name, "default");
    }

    public void ensureServiceAccount(String namespace, String name) {
        try {
            admin.serviceAccounts()
                    .inNamespace(namespace)
                    .resource(new ServiceAccountBuilder()
                            .withNewMetadata()
                            .withName(name)
                            .endMetadata()
                            .build())
                    .create();
        } catch (KubernetesClientException e) {
            if (e.getCode() != 409) {
                throw e;
            }
        }
    }

    /** A token of the ServiceAccount from the TokenRequest API, as the kubelet would project it. */
    public String serviceAccountToken(String namespace, String name) {
        return admin.serviceAccounts()
                .inNamespace(namespace)
                .withName(name)
                .tokenRequest(new TokenRequestBuilder()
                        .withNewSpec()
                        .withExpirationSeconds(3600L)
                        .endSpec()
                        .build())
                .getStatus()
                .getToken();
    }

    /** Writes a kubeconfig for {@code kubectl} or a separate operator process. */
    public Path kubeconfig(String fileName, String token, String namespace) {
        String ca = Base64.getEncoder().encodeToString(caPem.getBytes(StandardCharsets.US_ASCII));
        String yaml = """
                apiVersion: v1
                kind: Config
                clusters:
                - name: test
                  cluster:
                    server: %s
                    certificate-authority-data: %s
                users:
                - name: user
                  user:
                    token: %s
                contexts:
                - name: test
                  context:
                    cluster: test
                    user: user
                    namespace: %s
                current-context: test
                """.formatted(url(), ca, token, namespace);
        try {
            Path p = dir.resolve(fileName);
            Files.writeString(p, yaml);
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public Path adminKubeconfig() {
        return kubeconfig("admin.kubeconfig", adminToken, "default");
    }

    /** The audit log: one JSON event per line for every request made with a ServiceAccount token. */
    public Path auditLog() {
        return dir.resolve("audit.log");
    }

    /** The published CloudNativePG and Zalando CRDs (they stay outside this repository). */
    public static Path publishedCrds() {
        String explicit = System.getenv(CRDS_ENV);
        Path p = explicit != null && !explicit.isBlank()
                ? Path.of(explicit)
                : Path.of(System.getenv(ASSETS_ENV)).resolve("../crds").normalize();
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException("the published CloudNativePG and Zalando CRDs are not at " + p + "; set "
                    + CRDS_ENV + " to the folder holding them (../shared/k8s/crds in CI)");
        }
        return p;
    }

    /** A file of the repository (the tests run in the operator module's folder). */
    public static Path repo(String relative) {
        Path here = Path.of("").toAbsolutePath();
        Path root = Files.exists(here.resolve("deploy")) ? here : here.getParent();
        return root.resolve(relative);
    }

    /**
     * Runs kubectl (from {@code $KUBECTL} or the PATH) against this server as admin.
     *
     * @return exit code and combined output
     */
    public Result kubectl(String... args) {
        return kubectlWithInput(null, args);
    }

    /** Runs kubectl with {@code input} on its standard input (for {@code -f -}). */
    public Result kubectlWithInput(String input, String... args) {
        String kubectl = System.getenv("KUBECTL");
        if (kubectl == null || kubectl.isBlank()) {
            Path p = onPath("kubectl");
            if (p == null) {
                throw new IllegalStateException(
                        "kubectl is not on the PATH; install it (Debian: apt-get install kubernetes-client) or set"
                                + " KUBECTL");
            }
            kubectl = p.toString();
        }
        List<String> cmd = new ArrayList<>();
        cmd.add(kubectl);
        cmd.add("--kubeconfig=" + adminKubeconfig());
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            try (var stdin = p.getOutputStream()) {
                if (input != null) {
                    stdin.write(input.getBytes(StandardCharsets.UTF_8));
                }
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("kubectl did not finish: " + cmd);
            }
            return new Result(p.exitValue(), out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public record Result(int code, String output) {
        public Result ok() {
            if (code != 0) {
                throw new AssertionError("kubectl failed (exit " + code + "):\n" + output);
            }
            return this;
        }
    }

    @Override
    public synchronized void close() {
        admin.close();
        for (Process p : List.of(apiserver, etcd)) {
            p.destroy();
            try {
                if (!p.waitFor(15, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
        deleteTree(dir);
    }

    private static void deleteTree(Path root) {
        try (var walk = Files.walk(root)) {
            walk.sorted(java.util.Comparator.reverseOrder())
                    .forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temp folder left behind is harmless
        }
    }

    @Override
    public String toString() {
        return "kube-apiserver at " + url() + " (" + dir.toString().toLowerCase(Locale.ROOT) + ")";
    }
}
