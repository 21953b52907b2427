package dev.pggat.operator;

import static dev.pggat.operator.MockApi.NS;
import static dev.pggat.operator.MockApi.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.DatabaseSpec;
import dev.pggat.crds.v1alpha1.EndpointRole;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.SecretKeyRef;
import dev.pggat.crds.v1alpha1.StaticCluster;
import dev.pggat.crds.v1alpha1.StaticEndpoint;
import dev.pggat.crds.v1alpha1.UserSpec;
import dev.pggat.operator.stream.EndpointStreamServer;
import dev.pggat.operator.stream.StreamAuth;
import dev.pggat.operator.stream.StreamTokens;
import dev.pggat.pooler.stream.EndpointStreamClient;
import dev.pggat.pooler.stream.StreamProtocol;
import dev.pggat.pooler.stream.StreamSettings;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectRulesReviewBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Two operator replicas against one API server: only the Lease holder reconciles, the other takes over when it
 * stops, and both serve the endpoint stream all along. Each replica has its own default pooler image, so the
 * Deployment's image tells which one wrote it.
 */
class LeaderElectionTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final Duration LEASE = Duration.ofSeconds(3);
    private static final Duration RETRY = Duration.ofMillis(250);
    /** This test polls the Lease every 50 ms, so it sees a takeover up to that late. */
    private static final Duration POLL_SLACK = Duration.ofMillis(150);

    private static final String POOL = "orders";

    private MockApi api;
    private final List<AutoCloseable> closing = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
        if (api != null) {
            api.close();
        }
    }

    @Test
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void onlyTheLeaseHolderReconcilesAndTheOtherReplicaTakesOverWithinTheLeaseDuration() throws Exception {
        api = new MockApi();
        allowLeases();
        api.secret("app-password", Map.of("password", "not-a-real-password"));
        api.create(staticPool());

        Replica a = replica("op-a");
        a.operator.start();
        await("op-a to hold the Lease", WAIT, () -> "op-a".equals(holder()));
        Replica b = replica("op-b");
        b.operator.start();

        await("the leader to create the Deployment", WAIT, this::deployment);
        // The follower has started its informers and sees the PgPool; give it time to (wrongly) act.
        api.client.resource(api.get(POOL)).edit(p -> {
            p.getSpec().deployment = new dev.pggat.crds.v1alpha1.DeploymentSpec();
            p.getSpec().deployment.replicas = 3;
            return p;
        });
        await("the leader to apply the spec change", WAIT, () -> {
            Deployment d = deployment();
            return d != null && d.getSpec().getReplicas() == 3;
        });
        Thread.sleep(LEASE.toMillis());
        assertThat(image(deployment())).as("only the leader writes").isEqualTo("image-of-op-a");
        assertThat(holder()).isEqualTo("op-a");

        // Every replica serves the stream, leader or not.
        EndpointStreamClient viaA = subscribe(a);
        EndpointStreamClient viaB = subscribe(b);
        assertThat(viaA.awaitFirst(WAIT)).as("op-a serves the stream").isTrue();
        assertThat(viaB.awaitFirst(WAIT)).as("op-b serves the stream").isTrue();

        a.operator.stop();
        // A lease runs from its holder's last renewal; the follower checks it every retry period.
        Lease afterStop = lease();
        Instant lastRenewal = afterStop.getSpec().getRenewTime().toInstant();
        // A stop may or may not get to release the Lease (the release is interrupted when the JVM-wide executor
        // stops first); only an unreleased Lease must run out before anyone else takes it.
        boolean released = !"op-a".equals(afterStop.getSpec().getHolderIdentity())
                || afterStop.getSpec().getLeaseDurationSeconds() < LEASE.toSeconds();
        await("op-b to take the Lease", WAIT, () -> "op-b".equals(holder()));
        Instant acquired = Instant.now();
        await("op-b to reconcile as the new leader", WAIT, () -> "image-of-op-b".equals(image(deployment())));
        long takeoverMs = Duration.between(lastRenewal, acquired).toMillis();
        long reconciledMs = Duration.between(acquired, Instant.now()).toMillis();
        System.out.println("leader takeover: lease taken " + takeoverMs + " ms after op-a's last renewal (lease "
                + LEASE.toMillis() + " ms), first reconcile " + reconciledMs + " ms later");
        // Never before the lease ran out (two leaders at once). That op-b took over at all is the await above (20 s);
        // how soon after the lease ran out depends on the machine, so it is printed, not bounded.
        if (!released) {
            assertThat(takeoverMs)
                    .as("no takeover while op-a's lease still ran")
                    .isGreaterThanOrEqualTo(LEASE.minus(POLL_SLACK).toMillis());
        }
        assertThat(viaB.isConnected())
                .as("the new leader's stream kept its subscriber")
                .isTrue();
    }

    /** JOSDK asks, before it campaigns, whether it may use Leases; the CRUD store cannot answer a review. */
    private void allowLeases() {
        api.server
                .expect()
                .post()
                .withPath("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews")
                .andReturn(
                        201,
                        new SelfSubjectRulesReviewBuilder()
                                .withNewStatus()
                                .addNewResourceRule()
                                .withApiGroups("coordination.k8s.io")
                                .withResources("leases")
                                .withVerbs("get", "create", "update")
                                .endResourceRule()
                                .withIncomplete(false)
                                .endStatus()
                                .build())
                .always();
    }

    private record Replica(KubernetesClient client, EndpointStreamServer stream, Operator operator) {}

    private Replica replica(String identity) throws Exception {
        KubernetesClient client = api.server.createClient();
        EndpointStreamServer stream = EndpointStreamServer.start(
                client,
                Set.of(),
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                Duration.ofMillis(300),
                Clock.systemUTC());
        LeaderElectionConfiguration election = new LeaderElectionConfiguration(
                PggatOperator.LEASE_NAME,
                NS,
                LEASE,
                Duration.ofMillis(2000),
                RETRY,
                identity,
                null,
                // In production losing the lease ends the process; here the JVM is the test's.
                false);
        Operator operator = PggatOperator.create(
                client,
                Set.of(),
                "image-of-" + identity,
                Duration.ofMillis(300),
                Clock.systemUTC(),
                false,
                new PggatOperator.Options(
                        "http://127.0.0.1:" + stream.port(),
                        stream.hub(),
                        election,
                        StreamAuth.TOKEN,
                        Duration.ofMillis(500)));
        closing.add(client);
        closing.add(stream);
        closing.add(operator::stop);
        return new Replica(client, stream, operator);
    }

    private EndpointStreamClient subscribe(Replica r) {
        Secret s = await("Secret " + StreamTokens.secretName(POOL), WAIT, () -> api.client
                .secrets()
                .inNamespace(NS)
                .withName(StreamTokens.secretName(POOL))
                .get());
        String token =
                new String(Base64.getDecoder().decode(s.getData().get(StreamTokens.KEY)), StandardCharsets.UTF_8);
        EndpointStreamClient c = new EndpointStreamClient(
                        StreamSettings.of(
                                URI.create("http://127.0.0.1:" + r.stream().port() + StreamProtocol.path(NS, POOL)),
                                token,
                                null,
                                null),
                        e -> {})
                .start();
        closing.add(c);
        return c;
    }

    private Lease lease() {
        return api.client
                .leases()
                .inNamespace(NS)
                .withName(PggatOperator.LEASE_NAME)
                .get();
    }

    private String holder() {
        Lease l = lease();
        return l == null || l.getSpec() == null ? null : l.getSpec().getHolderIdentity();
    }

    private Deployment deployment() {
        return api.client
                .apps()
                .deployments()
                .inNamespace(NS)
                .withName(POOL + "-pggat")
                .get();
    }

    private static String image(Deployment d) {
        return d == null
                ? null
                : d.getSpec().getTemplate().getSpec().getContainers().get(0).getImage();
    }

    private static PgPool staticPool() {
        PgPool pool = new PgPool();
        pool.setMetadata(new ObjectMetaBuilder().withName(POOL).build());
        PgPoolSpec spec = new PgPoolSpec();
        spec.cluster = new ClusterRef();
        spec.cluster.staticCluster = new StaticCluster();
        spec.cluster.staticCluster.endpoints.add(new StaticEndpoint("10.0.0.1", 5432, EndpointRole.PRIMARY));
        spec.databases.add(
                new DatabaseSpec("app", List.of(new UserSpec("app", new SecretKeyRef("app-password", "password")))));
        pool.setSpec(spec);
        return pool;
    }
}
