package dev.pggat.operator.manifests;

import static dev.pggat.operator.manifests.StrictManifests.documents;
import static dev.pggat.operator.manifests.StrictManifests.repo;
import static dev.pggat.operator.manifests.StrictManifests.typed;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pggat.operator.PggatOperator;
import dev.pggat.operator.webhook.SelfSignedCertificates;
import dev.pggat.operator.webhook.SidecarInjector;
import dev.pggat.operator.webhook.WebhookServer;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhook;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.api.model.rbac.Subject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** deploy/ as {@code kubectl apply -k deploy/} installs it: typed, complete, consistent with the operator code. */
class DeployManifestsTest {
    /** The kustomization keys we use; kustomize has no Java model, so this one fails on any other key. */
    record Kustomization(String apiVersion, String kind, List<String> resources) {}

    static Path deploy() {
        return repo().resolve("deploy");
    }

    static Kustomization kustomization() throws IOException {
        JsonNode doc = documents(deploy().resolve("kustomization.yaml")).get(0);
        return StrictManifests.STRICT.treeToValue(doc, Kustomization.class);
    }

    /** Every object deploy/ installs, in kustomization order, each parsed strictly. */
    static List<HasMetadata> objects() throws IOException {
        List<HasMetadata> out = new ArrayList<>();
        for (String r : kustomization().resources()) {
            List<JsonNode> docs = documents(deploy().resolve(r));
            for (int i = 0; i < docs.size(); i++) {
                out.add(typed(docs.get(i), "deploy/" + r + " document " + (i + 1)));
            }
        }
        return out;
    }

    static <T extends HasMetadata> List<T> ofKind(List<HasMetadata> all, Class<T> type) {
        return all.stream().filter(type::isInstance).map(type::cast).collect(Collectors.toList());
    }

    static <T extends HasMetadata> T one(List<HasMetadata> all, Class<T> type) {
        List<T> l = ofKind(all, type);
        assertThat(l).as(type.getSimpleName() + " objects in deploy/").hasSize(1);
        return l.get(0);
    }

    /** deploy/grafana and deploy/prometheus: optional monitoring assets (docs/observability.md), not part of -k. */
    private static boolean isMonitoringAddOn(String relative) {
        return relative.startsWith("grafana/") || relative.startsWith("prometheus/");
    }

    @Test
    void kustomizationListsEveryFileOfDeployOnceCrdsFirstThenInNumberOrder() throws IOException {
        Kustomization k = kustomization();
        assertThat(k.apiVersion()).isEqualTo("kustomize.config.k8s.io/v1beta1");
        assertThat(k.kind()).isEqualTo("Kustomization");
        List<String> onDisk;
        try (Stream<Path> files = Files.walk(deploy())) {
            onDisk = files.filter(Files::isRegularFile)
                    .map(p -> deploy().relativize(p).toString())
                    .filter(p -> !p.equals("kustomization.yaml"))
                    .filter(p -> !isMonitoringAddOn(p))
                    .sorted()
                    .collect(Collectors.toList());
        }
        assertThat(k.resources()).containsExactlyInAnyOrderElementsOf(onDisk).doesNotHaveDuplicates();
        // The dashboard and the PrometheusRule are applied on their own: the base install must not need Grafana or
        // the Prometheus Operator's CRDs.
        assertThat(k.resources()).noneMatch(DeployManifestsTest::isMonitoringAddOn);
        List<String> numbered =
                k.resources().stream().filter(r -> !r.startsWith("crds/")).collect(Collectors.toList());
        assertThat(k.resources().subList(0, k.resources().size() - numbered.size()))
                .allMatch(r -> r.startsWith("crds/"));
        assertThat(numbered).isSorted().allMatch(r -> r.matches("[0-9]{3}-[a-z0-9-]+\\.yaml"));
    }

    @Test
    void everyDeployFileParsesIntoItsTypedModelWithNoUnknownKeys() throws IOException {
        List<HasMetadata> all = objects();
        assertThat(all).extracting(HasMetadata::getKind).contains("CustomResourceDefinition", "Namespace");
        one(all, CustomResourceDefinition.class);
        one(all, Namespace.class);
        one(all, ServiceAccount.class);
        for (HasMetadata o : all) {
            boolean clusterScoped = o instanceof Namespace
                    || o instanceof CustomResourceDefinition
                    || o instanceof ClusterRole
                    || o instanceof ClusterRoleBinding
                    || o instanceof MutatingWebhookConfiguration;
            assertThat(o.getMetadata().getNamespace())
                    .as(o.getKind() + " " + o.getMetadata().getName())
                    .isEqualTo(clusterScoped ? null : "pggat-system");
        }
    }

    @Test
    void rbacIsLeastPrivilegeAReadOnlyRoleForWatchedKindsAndANamedRoleForWhatIsWritten() throws IOException {
        List<HasMetadata> all = objects();
        List<ClusterRole> clusterRoles = ofKind(all, ClusterRole.class);
        assertThat(clusterRoles)
                .extracting(r -> r.getMetadata().getName())
                .containsExactlyInAnyOrder("pggat-operator-read", "pggat-operator-manage");
        List<PolicyRule> rules = new ArrayList<>();
        clusterRoles.forEach(r -> rules.addAll(r.getRules()));
        ofKind(all, Role.class).forEach(r -> rules.addAll(r.getRules()));
        for (PolicyRule r : rules) {
            assertThat(r.getVerbs()).doesNotContain("*");
            assertThat(r.getResources()).doesNotContain("*");
            assertThat(r.getApiGroups()).doesNotContain("*");
        }
        ClusterRole read = clusterRoles.stream()
                .filter(r -> r.getMetadata().getName().equals("pggat-operator-read"))
                .findFirst()
                .orElseThrow();
        assertThat(read.getRules()).allSatisfy(r -> assertThat(r.getVerbs()).isSubsetOf("get", "list", "watch"));
        assertThat(read.getRules())
                .anySatisfy(r -> assertThat(r.getResources()).contains("pgpools"))
                .anySatisfy(r -> assertThat(r.getResources()).contains("clusters"))
                .anySatisfy(r -> assertThat(r.getResources()).contains("postgresqls"));
        // Secrets anywhere may be read one by one, never listed or watched, and written only in our namespace.
        assertThat(clusterRoles)
                .flatMap(ClusterRole::getRules)
                .filteredOn(r -> r.getResources().contains("secrets"))
                .allSatisfy(r -> assertThat(r.getVerbs()).containsExactly("get"));
        // The endpoint stream checks pooler pods' projected tokens.
        assertThat(clusterRoles).flatMap(ClusterRole::getRules).anySatisfy(r -> {
            assertThat(r.getApiGroups()).containsExactly("authentication.k8s.io");
            assertThat(r.getResources()).containsExactly("tokenreviews");
            assertThat(r.getVerbs()).containsExactly("create");
        });
        // The webhook configuration and the certificate Secret are writable only by name.
        assertThat(rules)
                .filteredOn(r -> r.getResources().contains("mutatingwebhookconfigurations"))
                .allSatisfy(r -> assertThat(r.getResourceNames()).containsExactly("pggat-operator"));
        assertThat(ofKind(all, Role.class))
                .flatMap(Role::getRules)
                .filteredOn(r ->
                        r.getResources().contains("secrets") && r.getVerbs().contains("update"))
                .allSatisfy(r -> assertThat(r.getResourceNames()).containsExactly("pggat-operator-webhook-cert"));
        // Leader election: the Lease the operator takes is the one the Role grants.
        assertThat(ofKind(all, Role.class))
                .flatMap(Role::getRules)
                .filteredOn(
                        r -> r.getResources().contains("leases") && r.getVerbs().contains("update"))
                .allSatisfy(r -> assertThat(r.getResourceNames()).containsExactly(PggatOperator.LEASE_NAME));
    }

    @Test
    void bindingsGiveEachRoleToTheOperatorServiceAccount() throws IOException {
        List<HasMetadata> all = objects();
        ServiceAccount sa = one(all, ServiceAccount.class);
        List<String> roles = ofKind(all, ClusterRole.class).stream()
                .map(r -> "ClusterRole/" + r.getMetadata().getName())
                .collect(Collectors.toList());
        ofKind(all, Role.class).forEach(r -> roles.add("Role/" + r.getMetadata().getName()));
        List<String> bound = new ArrayList<>();
        List<Subject> subjects = new ArrayList<>();
        for (ClusterRoleBinding b : ofKind(all, ClusterRoleBinding.class)) {
            bound.add(b.getRoleRef().getKind() + "/" + b.getRoleRef().getName());
            subjects.addAll(b.getSubjects());
        }
        for (RoleBinding b : ofKind(all, RoleBinding.class)) {
            bound.add(b.getRoleRef().getKind() + "/" + b.getRoleRef().getName());
            subjects.addAll(b.getSubjects());
        }
        assertThat(bound).containsExactlyInAnyOrderElementsOf(roles);
        assertThat(subjects).allSatisfy(s -> {
            assertThat(s.getKind()).isEqualTo("ServiceAccount");
            assertThat(s.getName()).isEqualTo(sa.getMetadata().getName());
            assertThat(s.getNamespace()).isEqualTo(sa.getMetadata().getNamespace());
        });
    }

    @Test
    void operatorRunsTwoReplicasWithLeaderElectionTheReleaseImageAndTheWebhookPort() throws IOException {
        List<HasMetadata> all = objects();
        Deployment d = one(all, Deployment.class);
        assertThat(d.getSpec().getReplicas()).isEqualTo(2);
        assertThat(d.getSpec().getTemplate().getSpec().getServiceAccountName())
                .isEqualTo(one(all, ServiceAccount.class).getMetadata().getName());
        Container c = d.getSpec().getTemplate().getSpec().getContainers().get(0);
        // The operator's default pooler image is this same image: one release, one tag.
        assertThat(c.getImage()).isEqualTo(PggatOperator.defaultImage());
        assertThat(c.getEnv())
                .extracting(EnvVar::getName, EnvVar::getValue)
                .contains(
                        org.assertj.core.groups.Tuple.tuple("PGGAT_LEADER_ELECTION", "true"),
                        org.assertj.core.groups.Tuple.tuple("PGGAT_WEBHOOK_CERT_MODE", "self-signed"),
                        org.assertj.core.groups.Tuple.tuple("PGGAT_WEBHOOK_PORT", "8443"));
        assertThat(c.getEnv())
                .filteredOn(e -> e.getName().equals("POD_NAMESPACE"))
                .singleElement()
                .satisfies(e -> assertThat(e.getValueFrom().getFieldRef().getFieldPath())
                        .isEqualTo("metadata.namespace"));
        assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo(WebhookServer.READY_PATH);
        assertThat(c.getReadinessProbe().getHttpGet().getScheme()).isEqualTo("HTTPS");
        assertThat(c.getPorts())
                .filteredOn(p -> p.getName().equals("webhook"))
                .singleElement()
                .satisfies(p -> assertThat(p.getContainerPort()).isEqualTo(8443));
        assertThat(d.getSpec().getTemplate().getMetadata().getLabels())
                .containsAllEntriesOf(d.getSpec().getSelector().getMatchLabels());
    }

    @Test
    void webhookReachesTheOperatorServiceOnlyForLabelledPodsFailsOpenAndTimesOutFast() throws IOException {
        List<HasMetadata> all = objects();
        MutatingWebhookConfiguration mwc = one(all, MutatingWebhookConfiguration.class);
        Service svc = one(all, Service.class);
        Deployment d = one(all, Deployment.class);
        assertThat(mwc.getMetadata().getName()).isEqualTo("pggat-operator");
        assertThat(mwc.getWebhooks()).hasSize(1);
        MutatingWebhook w = mwc.getWebhooks().get(0);
        assertThat(w.getFailurePolicy()).isEqualTo("Ignore");
        assertThat(w.getTimeoutSeconds()).isBetween(1, 10);
        assertThat(w.getSideEffects()).isEqualTo("None");
        assertThat(w.getAdmissionReviewVersions()).containsExactly("v1");
        assertThat(w.getClientConfig().getCaBundle())
                .as("the operator fills it in")
                .isNull();
        assertThat(w.getClientConfig().getService().getName())
                .isEqualTo(svc.getMetadata().getName());
        assertThat(w.getClientConfig().getService().getNamespace())
                .isEqualTo(svc.getMetadata().getNamespace());
        assertThat(w.getClientConfig().getService().getPath()).isEqualTo(WebhookServer.MUTATE_PATH);
        assertThat(w.getObjectSelector().getMatchExpressions()).singleElement().satisfies(e -> {
            assertThat(e.getKey()).isEqualTo(SidecarInjector.POOL_LABEL);
            assertThat(e.getOperator()).isEqualTo("Exists");
        });
        assertThat(w.getNamespaceSelector().getMatchExpressions().get(0).getValues())
                .contains("kube-system", "pggat-system");
        assertThat(w.getRules()).singleElement().satisfies(r -> {
            assertThat(r.getResources()).containsExactly("pods");
            assertThat(r.getOperations()).containsExactly("CREATE");
        });
        // The Service port the webhook names leads to the container's webhook port, on the operator's pods.
        var port = svc.getSpec().getPorts().stream()
                .filter(p -> p.getPort().equals(w.getClientConfig().getService().getPort()))
                .findFirst()
                .orElseThrow();
        assertThat(port.getTargetPort().getStrVal()).isEqualTo("webhook");
        assertThat(svc.getSpec().getSelector())
                .isEqualTo(d.getSpec().getSelector().getMatchLabels());
        // Defaults of the operator's options match the names used here.
        assertThat(SelfSignedCertificates.TLS_CERT).isEqualTo("tls.crt");
    }
}
