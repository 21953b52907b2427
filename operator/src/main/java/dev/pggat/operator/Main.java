package dev.pggat.operator;

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
            description = "Pooler image for PgPools that name none (default: ${DEFAULT-VALUE}).",
            defaultValue = "${env:PGGAT_DEFAULT_IMAGE}")
    String defaultImage;

    @Option(
            names = "--recheck-interval",
            description = "How often to look again at a PgPool that waits for a Secret, pod or CRD (default: 30s).",
            defaultValue = "PT30S",
            converter = DurationConverter.class)
    Duration recheck;

    // [issue7 webhook] sidecar injection webhook options, and leader election for the two-replica Deployment.
    @CommandLine.Mixin
    dev.pggat.operator.webhook.WebhookOptions webhook = new dev.pggat.operator.webhook.WebhookOptions();

    @Option(
            names = "--leader-election",
            description = "Reconcile only while holding the Lease pggat-operator in the operator's namespace (env"
                    + " POD_NAMESPACE); all replicas serve the webhook. Env PGGAT_LEADER_ELECTION.",
            defaultValue = "${env:PGGAT_LEADER_ELECTION:-false}")
    boolean leaderElection;
    // [/issue7]

    @Override
    public Integer call() throws Exception {
        KubernetesClient client = new KubernetesClientBuilder().build();
        String image = defaultImage == null || defaultImage.isBlank() ? PggatOperator.defaultImage() : defaultImage;
        Operator operator = PggatOperator.create(
                client,
                namespaces == null ? java.util.Set.of() : new LinkedHashSet<>(namespaces),
                image,
                recheck,
                Clock.systemUTC(),
                true,
                leaderElection ? client.getNamespace() : null); // [issue7] lease namespace
        AutoCloseable webhookServer = webhook.start(client, image); // [issue7 webhook]
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            operator.stop();
                            closeQuietly(webhookServer); // [issue7 webhook]
                            stopped.countDown();
                        },
                        "pggat-operator-shutdown"));
        operator.start();
        stopped.await();
        return 0;
    }

    // [issue7 webhook]
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
                        "--recheck-interval \"" + value + "\" is not a duration; accepted: 500ms, 30s, 5m, 1h");
            }
        }
    }
}
