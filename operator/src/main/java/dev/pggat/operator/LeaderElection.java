package dev.pggat.operator;

import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReview;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Leader election on the Lease {@value PggatOperator#LEASE_NAME} in the operator's namespace.
 *
 * <p>What the Lease needs, as fabric8's elector uses it: get, create (the first replica), and patch (every renewal and
 * takeover). JOSDK's own start-up check also demands update, so the Role grants it too. {@link #checkPermissions}
 * asks the API server for each of them before the operator starts, so a Role missing one fails at start-up with a
 * message naming it instead of a leader that stops leading at its first renewal.
 *
 * <p>Losing the Lease ends the process (a replica that may have missed a renewal must not keep reconciling beside
 * the new leader), but never from inside a shutdown hook: there {@code System.exit} waits for the hooks, that is
 * for itself, and SIGTERM would never finish.
 */
public final class LeaderElection {
    private static final Logger LOG = LoggerFactory.getLogger(LeaderElection.class);

    /** The verbs the elector and JOSDK's start-up check use on the Lease. */
    static final List<String> LEASE_VERBS = List.of("get", "create", "update", "patch");

    private final String namespace;
    private final String identity;
    private final AtomicBoolean shuttingDown = new AtomicBoolean();

    /**
     * @param identity this replica's name in the Lease (the pod name)
     */
    public LeaderElection(String namespace, String identity) {
        this.namespace = Objects.requireNonNull(namespace, "namespace");
        this.identity = identity == null || identity.isBlank()
                ? java.util.UUID.randomUUID().toString()
                : identity;
    }

    public String namespace() {
        return namespace;
    }

    public String identity() {
        return identity;
    }

    /** Production timings (JOSDK's defaults): a 15 s lease, renewed every 2 s, given up after 10 s of failures. */
    public LeaderElectionConfiguration configuration() {
        return configuration(Duration.ofSeconds(15), Duration.ofSeconds(10), Duration.ofSeconds(2));
    }

    LeaderElectionConfiguration configuration(Duration lease, Duration renewDeadline, Duration retry) {
        LeaderCallbacks callbacks = new LeaderCallbacks(
                () -> LOG.info("leading as {} (Lease {}/{})", identity, namespace, PggatOperator.LEASE_NAME),
                this::stoppedLeading,
                leader -> LOG.info("leader is {}", leader));
        return new LeaderElectionConfiguration(
                PggatOperator.LEASE_NAME, namespace, lease, renewDeadline, retry, identity, callbacks, false);
    }

    private void stoppedLeading() {
        if (shuttingDown.get()) {
            LOG.info("stopped leading: shutting down");
            return;
        }
        LOG.error(
                "lost the Lease {}/{}; exiting so that only the new leader reconciles",
                namespace,
                PggatOperator.LEASE_NAME);
        // Not on the elector's thread: the shutdown hooks stop the operator, which waits for that thread.
        Thread exit = new Thread(() -> System.exit(1), "pggat-operator-lost-lease");
        exit.start();
    }

    /** Called first thing in the shutdown hook: stopping the elector is no lost Lease. */
    public void shuttingDown() {
        shuttingDown.set(true);
    }

    /**
     * Hands the Lease back if this replica holds it, so that another replica takes over within its retry period
     * instead of waiting for the lease to run out. Call after the operator stopped reconciling.
     */
    public void release(KubernetesClient client) {
        try {
            var lease = client.leases().inNamespace(namespace).withName(PggatOperator.LEASE_NAME);
            var current = lease.get();
            if (current == null
                    || current.getSpec() == null
                    || !identity.equals(current.getSpec().getHolderIdentity())) {
                return;
            }
            lease.edit(l -> {
                if (l.getSpec() != null && identity.equals(l.getSpec().getHolderIdentity())) {
                    l.getSpec().setHolderIdentity(null);
                    l.getSpec().setLeaseDurationSeconds(1);
                }
                return l;
            });
            LOG.info("released the Lease {}/{}", namespace, PggatOperator.LEASE_NAME);
        } catch (KubernetesClientException e) {
            // The other replica takes over when the lease runs out instead.
            LOG.warn("could not release the Lease {}/{}: {}", namespace, PggatOperator.LEASE_NAME, e.getMessage());
        }
    }

    /**
     * @throws IllegalStateException naming every verb on the Lease that this ServiceAccount may not use
     */
    public void checkPermissions(KubernetesClient client) {
        List<String> missing = new ArrayList<>();
        for (String verb : LEASE_VERBS) {
            SelfSubjectAccessReview review = client.authorization()
                    .v1()
                    .selfSubjectAccessReview()
                    .create(new SelfSubjectAccessReviewBuilder()
                            .withNewSpec()
                            .withNewResourceAttributes()
                            .withGroup("coordination.k8s.io")
                            .withResource("leases")
                            .withNamespace(namespace)
                            // create cannot name the object (RBAC never matches resourceNames for create)
                            .withName(verb.equals("create") ? null : PggatOperator.LEASE_NAME)
                            .withVerb(verb)
                            .endResourceAttributes()
                            .endSpec()
                            .build());
            if (review.getStatus() == null
                    || !Boolean.TRUE.equals(review.getStatus().getAllowed())) {
                missing.add(verb);
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalStateException("--leader-election needs to " + String.join(", ", missing)
                    + " the Lease " + namespace + "/" + PggatOperator.LEASE_NAME
                    + " (coordination.k8s.io leases), and this ServiceAccount may not; grant "
                    + String.join(", ", LEASE_VERBS)
                    + " in the operator's Role (deploy/032-role-operator.yaml), or check that the operator's"
                    + " namespace (--operator-namespace, POD_NAMESPACE) is the one the Role is in");
        }
    }
}
