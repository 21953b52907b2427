package dev.pggat.operator;

import dev.pggat.operator.stream.EndpointHub;
import dev.pggat.operator.stream.StreamAuth;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Duration;
import java.util.Properties;
import java.util.Set;

/** Builds the JOSDK {@link Operator} with the settings that work on real clusters and on the test API server alike. */
public final class PggatOperator {
    public static final String IMAGE_REPOSITORY = "ghcr.io/pggat/pggat";

    private PggatOperator() {}

    /** The operator's own version, which is also the default pooler image tag. */
    public static String version() {
        try (InputStream in = PggatOperator.class.getResourceAsStream("version.properties")) {
            Properties p = new Properties();
            if (in != null) {
                p.load(in);
            }
            return p.getProperty("version", "latest");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static String defaultImage() {
        return IMAGE_REPOSITORY + ":" + version();
    }

    /**
     * @param namespaces namespaces to watch; empty watches all
     * @param closeClient whether stopping the operator closes the client (tests keep theirs)
     */
    public static Operator create(
            KubernetesClient client,
            Set<String> namespaces,
            String defaultImage,
            Duration recheck,
            Clock clock,
            boolean closeClient) {
        return create(client, namespaces, defaultImage, recheck, clock, closeClient, (String) null);
    }

    /**
     * @param streamBaseUrl how pooler pods reach this operator's endpoint stream ({@code http://host:port}); null
     *     runs poolers from their configuration file alone
     */
    public static Operator create(
            KubernetesClient client,
            Set<String> namespaces,
            String defaultImage,
            Duration recheck,
            Clock clock,
            boolean closeClient,
            String streamBaseUrl) {
        return create(client, namespaces, defaultImage, recheck, clock, closeClient, streamBaseUrl, null);
    }

    /** Leader election for the two-replica operator Deployment: the Lease it holds. */
    public static final String LEASE_NAME = "pggat-operator";

    /**
     * @param streamBaseUrl how pooler pods reach this operator's endpoint stream; null: no stream
     * @param leaseNamespace where the leader election Lease lives; null runs without leader election
     */
    public static Operator create(
            KubernetesClient client,
            Set<String> namespaces,
            String defaultImage,
            Duration recheck,
            Clock clock,
            boolean closeClient,
            String streamBaseUrl,
            String leaseNamespace) {
        return create(
                client,
                namespaces,
                defaultImage,
                recheck,
                clock,
                closeClient,
                new Options(
                        streamBaseUrl,
                        null,
                        leaseNamespace == null ? null : leaderElection(leaseNamespace),
                        StreamAuth.TOKEN,
                        DEFAULT_STATUS_RECHECK));
    }

    /** How soon to ask the pooler pods again while some have not applied the current endpoint set. */
    public static final Duration DEFAULT_STATUS_RECHECK = Duration.ofSeconds(2);

    /**
     * @param streamBaseUrl how pooler pods reach the endpoint stream ({@code http://host:port}); null: no stream
     * @param hub this process's endpoint stream, whose versions the status reports; null: the status reports the
     *     configuration file's version
     * @param leaderElection null runs without leader election
     * @param streamAuth how generated pooler pods authenticate to the stream
     * @param statusRecheck how soon to look at the pooler pods again while not all have the current endpoint set
     */
    public record Options(
            String streamBaseUrl,
            EndpointHub hub,
            LeaderElectionConfiguration leaderElection,
            StreamAuth streamAuth,
            Duration statusRecheck) {
        public Options {
            streamAuth = streamAuth == null ? StreamAuth.TOKEN : streamAuth;
            statusRecheck = statusRecheck == null ? DEFAULT_STATUS_RECHECK : statusRecheck;
        }
    }

    /**
     * Production timings (JOSDK's defaults: a 15 s lease renewed within 10 s). Losing the lease ends the process
     * (see {@link LeaderElection}); Kubernetes restarts it as a follower. The identity is the pod name (HOSTNAME).
     */
    public static LeaderElectionConfiguration leaderElection(String leaseNamespace) {
        return new LeaderElection(leaseNamespace, System.getenv("HOSTNAME")).configuration();
    }

    public static Operator create(
            KubernetesClient client,
            Set<String> namespaces,
            String defaultImage,
            Duration recheck,
            Clock clock,
            boolean closeClient,
            Options options) {
        Operator operator = new Operator(o -> o.withKubernetesClient(client)
                .withLeaderElectionConfiguration(options.leaderElection())
                .withCloseClientOnStop(closeClient)
                // Merge patches and plain updates work on every API server; server-side apply does not work on the
                // test server and buys nothing here, since the operator owns every field it writes.
                .withUseSSAToPatchPrimaryResource(false)
                .withSSABasedCreateUpdateMatchForDependentResources(false));
        PgPoolReconciler reconciler = new PgPoolReconciler(defaultImage, recheck, clock, options);
        operator.register(reconciler, c -> {
            if (namespaces.isEmpty()) {
                c.watchingAllNamespaces();
            } else {
                c.settingNamespaces(namespaces);
            }
        });
        return operator;
    }
}
