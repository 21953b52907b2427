package dev.pggat.operator.kube;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.operator.PggatOperator;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBuilder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Two operator processes with the ServiceAccount and RBAC of deploy/ and a real Lease: the leader keeps renewing
 * (every renewal is a PATCH), SIGTERM ends it within seconds, and the other replica takes over. Bounds are loose:
 * the machine running the tests is busy, and a JVM start alone can take many seconds there.
 */
@RealApiServer
class LeaderElectionOnRealServerTest {
    private static final String OPERATOR_NS = "pggat-system";
    private static final Duration START = Duration.ofSeconds(180);
    /** The Lease runs 15 s; a takeover after SIGTERM must not need more than a few of them. */
    private static final Duration TAKEOVER = Duration.ofSeconds(90);
    /** SIGTERM to exit: the pod's grace period is 30 s; everything after that is a SIGKILL. */
    private static final Duration SIGTERM_TO_EXIT = Duration.ofSeconds(25);

    @Test
    @Timeout(600)
    void leaderRenewsWithDeployRbacEndsWithinSecondsOnSigtermAndTheOtherTakesOver(KubeApiServer k8s) throws Exception {
        Clusters.installDeploy(k8s);
        String watched = k8s.createNamespace("leader");
        k8s.admin()
                .leases()
                .inNamespace(OPERATOR_NS)
                .withName(PggatOperator.LEASE_NAME)
                .delete();
        // The kubeconfig's namespace is not the operator's: the Lease must still go where POD_NAMESPACE says.
        Path kubeconfig = k8s.kubeconfig(
                "operator.kubeconfig", k8s.serviceAccountToken(OPERATOR_NS, "pggat-operator"), "default");
        try (OperatorProcess a = start(kubeconfig, "op-a", watched);
                OperatorProcess b = start(kubeconfig, "op-b", watched)) {
            String leader = await(
                    "a holder of Lease " + OPERATOR_NS + "/" + PggatOperator.LEASE_NAME,
                    START,
                    () -> holder(k8s),
                    a,
                    b);
            OperatorProcess leading = leader.equals("op-a") ? a : b;
            OperatorProcess following = leading == a ? b : a;
            String follower = leading == a ? "op-b" : "op-a";

            // Renewals are patches: with the Role of deploy/ they go through and the leader stays.
            String firstRenewal = renewTime(k8s);
            await(
                    "a renewal of the Lease",
                    Duration.ofSeconds(60),
                    () -> {
                        String now = renewTime(k8s);
                        return now != null && !now.equals(firstRenewal) ? now : null;
                    },
                    a,
                    b);
            String secondRenewal = renewTime(k8s);
            await(
                    "a second renewal",
                    Duration.ofSeconds(60),
                    () -> {
                        String now = renewTime(k8s);
                        return now != null && !now.equals(secondRenewal) ? now : null;
                    },
                    a,
                    b);
            assertThat(leading.process().isAlive())
                    .as("leader after renewals:\n%s", leading.output())
                    .isTrue();
            assertThat(holder(k8s)).isEqualTo(leader);

            leading.terminate();
            assertThat(leading.waitFor(SIGTERM_TO_EXIT))
                    .as("the leader ends within %s of SIGTERM; its output:\n%s", SIGTERM_TO_EXIT, leading.output())
                    .isTrue();
            await("takeover by " + follower, TAKEOVER, () -> follower.equals(holder(k8s)) ? follower : null, following);
            assertThat(following.process().isAlive()).isTrue();
            for (OperatorProcess p : new OperatorProcess[] {a, b}) {
                assertThat(p.output()).doesNotContainIgnoringCase("forbidden");
            }
        }
    }

    @Test
    @Timeout(300)
    void startRefusesNamingTheVerbWhenTheRoleCannotPatchTheLease(KubeApiServer k8s) throws Exception {
        Clusters.installCrds(k8s);
        String ns = k8s.createNamespace("nopatch");
        k8s.ensureServiceAccount(ns, "op");
        // What deploy/ granted before: enough for JOSDK's own check, not for a renewal.
        k8s.admin()
                .rbac()
                .roles()
                .inNamespace(ns)
                .resource(new RoleBuilder()
                        .withNewMetadata()
                        .withName("op")
                        .endMetadata()
                        .addNewRule()
                        .withApiGroups("coordination.k8s.io")
                        .withResources("leases")
                        .withVerbs("create")
                        .endRule()
                        .addNewRule()
                        .withApiGroups("coordination.k8s.io")
                        .withResources("leases")
                        .withResourceNames(PggatOperator.LEASE_NAME)
                        .withVerbs("get", "update")
                        .endRule()
                        .build())
                .create();
        k8s.admin()
                .rbac()
                .roleBindings()
                .inNamespace(ns)
                .resource(new RoleBindingBuilder()
                        .withNewMetadata()
                        .withName("op")
                        .endMetadata()
                        .withNewRoleRef("rbac.authorization.k8s.io", "Role", "op")
                        .addNewSubject()
                        .withKind("ServiceAccount")
                        .withName("op")
                        .withNamespace(ns)
                        .endSubject()
                        .build())
                .create();
        Path kubeconfig = k8s.kubeconfig("nopatch.kubeconfig", k8s.serviceAccountToken(ns, "op"), ns);
        try (OperatorProcess p = OperatorProcess.start(
                kubeconfig,
                Map.of("POD_NAMESPACE", ns, "HOSTNAME", "op-nopatch"),
                "--leader-election",
                "--webhook-port",
                "0",
                "--stream-port",
                "0",
                "--namespace",
                ns)) {
            assertThat(p.waitFor(START)).as("output:\n%s", p.output()).isTrue();
            assertThat(p.process().exitValue()).isNotZero();
            assertThat(p.output())
                    .contains("--leader-election needs to patch the Lease " + ns + "/" + PggatOperator.LEASE_NAME);
            assertThat(k8s.admin()
                            .leases()
                            .inNamespace(ns)
                            .withName(PggatOperator.LEASE_NAME)
                            .get())
                    .as("no Lease taken before the permissions are there")
                    .isNull();
        }
    }

    private static OperatorProcess start(Path kubeconfig, String identity, String watched) throws Exception {
        return OperatorProcess.start(
                kubeconfig,
                Map.of("POD_NAMESPACE", OPERATOR_NS, "HOSTNAME", identity),
                "--leader-election",
                "--webhook-port",
                "0",
                "--stream-port",
                Integer.toString(KubeApiServer.freePort()),
                "--stream-bind",
                "127.0.0.1",
                "--namespace",
                watched);
    }

    private static String holder(KubeApiServer k8s) {
        Lease l = k8s.admin()
                .leases()
                .inNamespace(OPERATOR_NS)
                .withName(PggatOperator.LEASE_NAME)
                .get();
        return l == null || l.getSpec() == null ? null : l.getSpec().getHolderIdentity();
    }

    private static String renewTime(KubeApiServer k8s) {
        Lease l = k8s.admin()
                .leases()
                .inNamespace(OPERATOR_NS)
                .withName(PggatOperator.LEASE_NAME)
                .get();
        return l == null || l.getSpec() == null || l.getSpec().getRenewTime() == null
                ? null
                : Objects.toString(l.getSpec().getRenewTime());
    }

    /** Polls until the supplier gives non-null; fails early, with their output, when a process that must live dies. */
    private static <T> T await(String what, Duration within, Supplier<T> check, OperatorProcess... mustLive) {
        long deadline = System.nanoTime() + within.toNanos();
        while (true) {
            T v = check.get();
            if (v != null) {
                return v;
            }
            for (OperatorProcess p : mustLive) {
                if (!p.process().isAlive()) {
                    throw new AssertionError("waiting for " + what + ", an operator exited ("
                            + p.process().exitValue() + "):\n" + p.output());
                }
            }
            if (System.nanoTime() > deadline) {
                StringBuilder out = new StringBuilder("no " + what + " within " + within);
                for (OperatorProcess p : mustLive) {
                    out.append("\n--- operator output:\n").append(p.output());
                }
                throw new AssertionError(out.toString());
            }
            KubeApiServer.sleep(250);
        }
    }
}
