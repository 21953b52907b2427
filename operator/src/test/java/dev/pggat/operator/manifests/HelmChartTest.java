package dev.pggat.operator.manifests;

import static dev.pggat.operator.manifests.StrictManifests.documents;
import static dev.pggat.operator.manifests.StrictManifests.repo;
import static dev.pggat.operator.manifests.StrictManifests.typed;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/** The Helm chart, rendered by Helm's own engine, against deploy/. */
class HelmChartTest {
    static final String NAMESPACE = "pggat-system";

    static Path chart() {
        return repo().resolve("charts/pggat");
    }

    static String render(UnaryOperator<TemplateCommand> values) {
        return values.apply(new Helm(chart()).template().withName("pggat").withNamespace(NAMESPACE))
                .call();
    }

    /** kind/namespace/name -> the object as JSON after a trip through its typed model. */
    static Map<String, JsonNode> byIdentity(List<HasMetadata> objects) {
        Map<String, JsonNode> out = new TreeMap<>();
        for (HasMetadata o : objects) {
            String key = o.getKind() + "/" + o.getMetadata().getNamespace() + "/"
                    + o.getMetadata().getName();
            assertThat(out.put(key, StrictManifests.K8S.convertValue(o, JsonNode.class)))
                    .as("two objects are " + key)
                    .isNull();
        }
        return out;
    }

    static List<HasMetadata> typedAll(String yaml, String where) {
        List<HasMetadata> out = new ArrayList<>();
        List<JsonNode> docs = documents(yaml);
        for (int i = 0; i < docs.size(); i++) {
            out.add(typed(docs.get(i), where + " document " + (i + 1)));
        }
        return out;
    }

    @Test
    void defaultValuesRenderTheSameObjectsAsDeployLessTheNamespace() throws IOException {
        List<HasMetadata> rendered = typedAll(render(t -> t), "helm template");
        // Helm applies crds/ itself before the templates, and `helm template` leaves it out of its output.
        rendered.addAll(
                typedAll(Files.readString(chart().resolve("crds/pgpools.pggat.dev-v1.yml")), "charts/pggat/crds"));
        Map<String, JsonNode> chart = byIdentity(rendered);
        List<HasMetadata> deployObjects = DeployManifestsTest.objects();
        // Helm installs into a namespace it is given (--create-namespace); deploy/ must create its own.
        assertThat(deployObjects).filteredOn(Namespace.class::isInstance).hasSize(1);
        deployObjects.removeIf(Namespace.class::isInstance);
        Map<String, JsonNode> deploy = byIdentity(deployObjects);
        assertThat(chart.keySet()).containsExactlyElementsOf(deploy.keySet());
        for (String key : deploy.keySet()) {
            assertThat(chart.get(key)).as(key).isEqualTo(deploy.get(key));
        }
    }

    @Test
    void chartCarriesTheSameCrdAsDeploy() throws IOException {
        assertThat(Files.readString(chart().resolve("crds/pgpools.pggat.dev-v1.yml")))
                .as("copy deploy/crds/pgpools.pggat.dev-v1.yml to charts/pggat/crds/ after regenerating the CRD")
                .isEqualTo(Files.readString(repo().resolve("deploy/crds/pgpools.pggat.dev-v1.yml")));
    }

    @Test
    void imageReplicasAndResourcesComeFromValues() {
        List<HasMetadata> objects = typedAll(
                render(t -> t.set("image.repository", "registry.example.com/pggat")
                        .set("image.tag", "1.2.3")
                        .set("replicas", 3)
                        .set("resources.requests.cpu", "500m")
                        .set("resources.limits.memory", "1Gi")),
                "helm template with values");
        Deployment d = objects.stream()
                .filter(Deployment.class::isInstance)
                .map(Deployment.class::cast)
                .findFirst()
                .orElseThrow();
        assertThat(d.getSpec().getReplicas()).isEqualTo(3);
        Container c = d.getSpec().getTemplate().getSpec().getContainers().get(0);
        assertThat(c.getImage()).isEqualTo("registry.example.com/pggat:1.2.3");
        assertThat(c.getResources().getRequests()).containsEntry("cpu", new Quantity("500m"));
        assertThat(c.getResources().getLimits()).containsEntry("memory", new Quantity("1Gi"));
    }

    @Test
    void certManagerModeIssuesACertificateMountsItAndLetsCertManagerInjectTheCa() {
        String yaml = render(t -> t.set("webhook.certificate.mode", "cert-manager"));
        List<JsonNode> docs = documents(yaml);
        // cert-manager's kinds have no typed model here; check them as trees.
        JsonNode certificate = docs.stream()
                .filter(d -> d.path("kind").asText().equals("Certificate"))
                .findFirst()
                .orElseThrow();
        assertThat(certificate.at("/spec/secretName").asText()).isEqualTo("pggat-operator-webhook-tls");
        assertThat(certificate.at("/spec/dnsNames/0").asText()).isEqualTo("pggat-operator.pggat-system.svc");
        assertThat(certificate.at("/spec/issuerRef/name").asText()).isEqualTo("pggat-operator-selfsigned");
        assertThat(docs).anySatisfy(d -> assertThat(d.path("kind").asText()).isEqualTo("Issuer"));

        List<HasMetadata> typedObjects = new ArrayList<>();
        for (JsonNode d : docs) {
            if (!d.path("apiVersion").asText().startsWith("cert-manager.io/")) {
                typedObjects.add(typed(d, "helm template cert-manager"));
            }
        }
        MutatingWebhookConfiguration mwc = typedObjects.stream()
                .filter(MutatingWebhookConfiguration.class::isInstance)
                .map(MutatingWebhookConfiguration.class::cast)
                .findFirst()
                .orElseThrow();
        assertThat(mwc.getMetadata().getAnnotations())
                .containsEntry("cert-manager.io/inject-ca-from", "pggat-system/pggat-operator-webhook");
        Deployment d = typedObjects.stream()
                .filter(Deployment.class::isInstance)
                .map(Deployment.class::cast)
                .findFirst()
                .orElseThrow();
        Container c = d.getSpec().getTemplate().getSpec().getContainers().get(0);
        assertThat(c.getEnv()).anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("PGGAT_WEBHOOK_CERT_MODE");
            assertThat(e.getValue()).isEqualTo("files");
        });
        assertThat(c.getVolumeMounts())
                .anySatisfy(m -> assertThat(m.getMountPath()).isEqualTo("/etc/pggat-operator/webhook-tls"));
        assertThat(d.getSpec().getTemplate().getSpec().getVolumes()).anySatisfy(v -> assertThat(v.getSecret())
                .isNotNull()
                .extracting(s -> s.getSecretName())
                .isEqualTo("pggat-operator-webhook-tls"));
    }

    @Test
    void certManagerModeUsesAGivenIssuerInsteadOfItsOwn() {
        List<JsonNode> docs = documents(render(t -> t.set("webhook.certificate.mode", "cert-manager")
                .set("webhook.certificate.issuerRef.name", "corp-ca")
                .set("webhook.certificate.issuerRef.kind", "ClusterIssuer")));
        assertThat(docs).noneSatisfy(d -> assertThat(d.path("kind").asText()).isEqualTo("Issuer"));
        JsonNode certificate = docs.stream()
                .filter(d -> d.path("kind").asText().equals("Certificate"))
                .findFirst()
                .orElseThrow();
        assertThat(certificate.at("/spec/issuerRef/name").asText()).isEqualTo("corp-ca");
        assertThat(certificate.at("/spec/issuerRef/kind").asText()).isEqualTo("ClusterIssuer");
    }

    @Test
    void anUnknownCertificateModeFailsNamingTheValueAndWhatIsAccepted() {
        assertThatThrownBy(() -> render(t -> t.set("webhook.certificate.mode", "vault")))
                .hasMessageContaining("webhook.certificate.mode \"vault\"")
                .hasMessageContaining("self-signed, cert-manager");
    }

    @Test
    void helmLintFindsNothing() {
        var lint = new Helm(chart()).lint().call();
        assertThat(lint.isFailed()).as(String.join("\n", lint.getMessages())).isFalse();
    }
}
