package dev.pggat.operator;

import dev.pggat.operator.stream.EndpointStreamServer;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.javaoperatorsdk.operator.Operator;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "pggat-operator",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = "Runs pggat poolers for the PgPool resources of a Kubernetes cluster.")
public final class Main implements Callable<Integer> {
    @Option(
            names = "--namespace",
            split = ",",
            description = "Namespace(s) whose PgPools to manage; default all. Also env PGGAT_WATCH_NAMESPACES.",
            defaultValue = "${env:PGGAT_WATCH_NAMESPACES}")
    List<String> namespaces;

    @Option(
            names = "--default-image",
            description = "Pooler image for PgPools that name none (default: " + PggatOperator.IMAGE_REPOSITORY
                    + ":<operator version>). Also env PGGAT_DEFAULT_IMAGE.",
            defaultValue = "${env:PGGAT_DEFAULT_IMAGE}")
    String defaultImage;

    @Option(
            names = "--recheck-interval",
            description = "How often to look again at a PgPool that waits for a Secret, pod or CRD (default: 30s).",
            defaultValue = "PT30S",
            converter = DurationConverter.class)
    Duration recheck;

    @Option(
            names = "--stream-port",
            description = "Port of the endpoint stream that pooler pods subscribe to; 0 turns it off"
                    + " (default: ${DEFAULT-VALUE}).",
            defaultValue = "8090")
    int streamPort;

    @Option(
            names = "--stream-bind",
            description = "Address the endpoint stream listens on (default: ${DEFAULT-VALUE}).",
            defaultValue = "0.0.0.0")
    String streamBind;

    @Option(
            names = "--stream-url",
            description = "How pooler pods reach the endpoint stream, e.g. http://pggat-operator.pggat-system.svc:8090"
                    + " (default: http://pggat-operator.<the operator's namespace>.svc:<port>). Also env"
                    + " PGGAT_STREAM_BASE_URL.",
            defaultValue = "${env:PGGAT_STREAM_BASE_URL}")
    String streamUrl;

    @Option(
            names = "--stream-heartbeat",
            description = "Longest silence on an endpoint stream (default: 5s).",
            defaultValue = "5s",
            converter = DurationConverter.class)
    Duration streamHeartbeat;

    @Option(
            names = "--stream-auth",
            description = "What generated pooler pods present to the endpoint stream: serviceaccount (a projected"
                    + " ServiceAccount token checked with a TokenReview) or token (a random token in a Secret per"
                    + " PgPool). The stream accepts both either way. Default: ${DEFAULT-VALUE}.",
            defaultValue = "serviceaccount",
            converter = StreamAuthConverter.class)
    dev.pggat.operator.stream.StreamAuth streamAuth;

    private static final java.nio.file.Path SERVICE_ACCOUNT_NAMESPACE =
            java.nio.file.Path.of("/var/run/secrets/kubernetes.io/serviceaccount/namespace");

    /** The advertised stream URL: the option, else the operator's Service in its own namespace. */
    String streamBaseUrl() {
        if (streamUrl != null && !streamUrl.isBlank()) {
            String u = streamUrl.trim();
            return u.endsWith("/") ? u.substring(0, u.length() - 1) : u;
        }
        String ns = ownNamespace();
        if (ns == null) {
            return null;
        }
        return "http://pggat-operator." + ns + ".svc:" + streamPort;
    }

    /** The namespace the operator runs in, or null when neither POD_NAMESPACE nor a service account tells. */
    static String ownNamespace() {
        String ns = System.getenv("POD_NAMESPACE");
        if ((ns == null || ns.isBlank()) && java.nio.file.Files.isReadable(SERVICE_ACCOUNT_NAMESPACE)) {
            try {
                ns = java.nio.file.Files.readString(SERVICE_ACCOUNT_NAMESPACE).trim();
            } catch (java.io.IOException e) {
                ns = null;
            }
        }
        return ns == null || ns.isBlank() ? null : ns;
    }

    // Sidecar injection webhook options, and leader election for the two-replica Deployment.
    @CommandLine.Mixin
    dev.pggat.operator.webhook.WebhookOptions webhook = new dev.pggat.operator.webhook.WebhookOptions();

    @Option(
            names = "--leader-election",
            description = "Reconcile only while holding the Lease pggat-operator in the operator's namespace"
                    + " (--operator-namespace, else env POD_NAMESPACE, else the ServiceAccount's); all replicas serve"
                    + " the webhook. Env PGGAT_LEADER_ELECTION.",
            defaultValue = "${env:PGGAT_LEADER_ELECTION:-false}")
    boolean leaderElection;

    /**
     * Where the leader election Lease lives: the operator's own namespace, as --help says (--operator-namespace,
     * POD_NAMESPACE, the ServiceAccount's), and only failing those the kubeconfig's.
     */
    String leaseNamespace(KubernetesClient client) {
        String ns = webhook.operatorNamespace();
        if (ns == null) {
            ns = ownNamespace();
        }
        return ns != null ? ns : client.getNamespace();
    }

    @Override
    public Integer call() throws Exception {
        KubernetesClient client = new KubernetesClientBuilder().build();
        LeaderElection election = null;
        if (leaderElection) {
            String ns = leaseNamespace(client);
            if (ns == null || ns.isBlank()) {
                System.err.println("pggat-operator: --leader-election needs the operator's namespace; set"
                        + " --operator-namespace or POD_NAMESPACE");
                return 2;
            }
            election = new LeaderElection(ns, System.getenv("HOSTNAME"));
            try {
                election.checkPermissions(client);
            } catch (IllegalStateException e) {
                System.err.println("pggat-operator: " + e.getMessage());
                client.close();
                return 1;
            }
        }
        String image = defaultImage == null || defaultImage.isBlank() ? PggatOperator.defaultImage() : defaultImage;
        java.util.Set<String> watched = namespaces == null ? java.util.Set.of() : new LinkedHashSet<>(namespaces);
        EndpointStreamServer stream = null;
        String advertised = null;
        if (streamPort > 0) {
            advertised = streamBaseUrl();
            if (advertised == null) {
                System.err.println("pggat-operator: --stream-url is not set and the operator's namespace is unknown"
                        + " (no POD_NAMESPACE, no service account); pooler pods will not subscribe to the stream");
            }
            stream = EndpointStreamServer.start(
                    client,
                    watched,
                    new java.net.InetSocketAddress(streamBind, streamPort),
                    streamHeartbeat,
                    EndpointStreamServer.DEFAULT_MAX_SUBSCRIBERS,
                    Clock.systemUTC(),
                    new dev.pggat.operator.stream.TokenReviews(client));
        }
        Operator operator = PggatOperator.create(
                client,
                watched,
                image,
                recheck,
                Clock.systemUTC(),
                // The shutdown hook still needs the client to hand the Lease back; it closes the client last.
                false,
                new PggatOperator.Options(
                        advertised,
                        stream == null ? null : stream.hub(),
                        election == null ? null : election.configuration(),
                        streamAuth,
                        PggatOperator.DEFAULT_STATUS_RECHECK));
        AutoCloseable webhookServer = webhook.start(client, image);
        CountDownLatch stopped = new CountDownLatch(1);
        EndpointStreamServer streamToStop = stream;
        LeaderElection electionToStop = election;
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            if (electionToStop != null) {
                                electionToStop.shuttingDown();
                            }
                            if (streamToStop != null) {
                                streamToStop.close();
                            }
                            operator.stop();
                            if (electionToStop != null) {
                                electionToStop.release(client);
                            }
                            closeQuietly(webhookServer);
                            client.close();
                            stopped.countDown();
                        },
                        "pggat-operator-shutdown"));
        operator.start();
        stopped.await();
        return 0;
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            org.slf4j.LoggerFactory.getLogger(Main.class).warn("stopping the webhook: {}", e.getMessage());
        }
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new Main()).execute(args));
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"pggat-operator " + PggatOperator.version()};
        }
    }

    static final class StreamAuthConverter implements CommandLine.ITypeConverter<dev.pggat.operator.stream.StreamAuth> {
        @Override
        public dev.pggat.operator.stream.StreamAuth convert(String value) {
            return switch (value.trim().toLowerCase(java.util.Locale.ROOT)) {
                case "serviceaccount" -> dev.pggat.operator.stream.StreamAuth.SERVICE_ACCOUNT;
                case "token" -> dev.pggat.operator.stream.StreamAuth.TOKEN;
                default ->
                    throw new CommandLine.TypeConversionException(
                            "--stream-auth \"" + value + "\" is not accepted; accepted: serviceaccount, token");
            };
        }
    }

    /** Accepts 30s, 5m, 1h and 500ms like the pooler, and ISO-8601 (PT30S). */
    static final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
        @Override
        public Duration convert(String value) {
            var m = java.util.regex.Pattern.compile("^([0-9]+)(ms|s|m|h)$").matcher(value);
            if (m.matches()) {
                long n = Long.parseLong(m.group(1));
                return switch (m.group(2)) {
                    case "ms" -> Duration.ofMillis(n);
                    case "s" -> Duration.ofSeconds(n);
                    case "m" -> Duration.ofMinutes(n);
                    default -> Duration.ofHours(n);
                };
            }
            try {
                return Duration.parse(value);
            } catch (java.time.format.DateTimeParseException e) {
                throw new CommandLine.TypeConversionException(
                        "\"" + value + "\" is not a duration; accepted: 500ms, 30s, 5m, 1h");
            }
        }
    }
}
