package dev.pggat.operator.webhook;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import picocli.CommandLine.Option;

/** The operator's command-line options for the sidecar injection webhook, and starting it from them. */
public final class WebhookOptions {
    public static final String SELF_SIGNED = "self-signed";
    /** tls.crt/tls.key from a mounted directory (cert-manager); its CA injector maintains the caBundle. */
    public static final String FILES = "files";

    @Option(
            names = "--webhook-port",
            description = "HTTPS port of the sidecar injection webhook; 0 turns it off (default: ${DEFAULT-VALUE})."
                    + " Env PGGAT_WEBHOOK_PORT.",
            defaultValue = "${env:PGGAT_WEBHOOK_PORT:-8443}")
    int port;

    @Option(
            names = "--webhook-cert-mode",
            description = "self-signed (default: the operator makes its CA and certificate, keeps them in a Secret"
                    + " and maintains the caBundle) or files (tls.crt/tls.key from --webhook-cert-dir, e.g. written"
                    + " by cert-manager). Env PGGAT_WEBHOOK_CERT_MODE.",
            defaultValue = "${env:PGGAT_WEBHOOK_CERT_MODE:-self-signed}")
    String certMode;

    @Option(
            names = "--webhook-cert-dir",
            description = "Directory with tls.crt and tls.key for --webhook-cert-mode files (default:"
                    + " ${DEFAULT-VALUE}). Env PGGAT_WEBHOOK_CERT_DIR.",
            defaultValue = "${env:PGGAT_WEBHOOK_CERT_DIR:-/etc/pggat-operator/webhook-tls}")
    Path certDir;

    @Option(
            names = "--webhook-service",
            description = "Name of the operator's Service the API server calls (default: ${DEFAULT-VALUE}).",
            defaultValue = "${env:PGGAT_WEBHOOK_SERVICE:-pggat-operator}")
    String service;

    @Option(
            names = "--webhook-secret",
            description = "Secret in the operator's namespace holding the self-signed CA and certificate (default:"
                    + " ${DEFAULT-VALUE}).",
            defaultValue = "${env:PGGAT_WEBHOOK_SECRET:-pggat-operator-webhook-cert}")
    String secret;

    @Option(
            names = "--webhook-configuration",
            description = "MutatingWebhookConfiguration whose caBundle the operator maintains (default:"
                    + " ${DEFAULT-VALUE}).",
            defaultValue = "${env:PGGAT_WEBHOOK_CONFIGURATION:-pggat-operator}")
    String configuration;

    @Option(
            names = "--operator-namespace",
            description = "Namespace the operator runs in. Default: env POD_NAMESPACE, else the client's namespace.",
            defaultValue = "${env:POD_NAMESPACE}")
    String operatorNamespace;

    /** --operator-namespace, else POD_NAMESPACE; null when neither is set. */
    public String operatorNamespace() {
        return operatorNamespace == null || operatorNamespace.isBlank() ? null : operatorNamespace.trim();
    }

    @Option(
            names = "--sidecar-stream-url",
            description = "Endpoint stream URL handed to sidecars, with {namespace} and {pgpool} placeholders."
                    + " Default: http://<webhook service>.<operator namespace>.svc:" + STREAM_PORT
                    + "/v1/namespaces/{namespace}/pgpools/{pgpool}/stream. Env PGGAT_SIDECAR_STREAM_URL.",
            defaultValue = "${env:PGGAT_SIDECAR_STREAM_URL}")
    String streamUrl;

    @Option(
            names = "--sidecar-mode",
            description = "How the sidecar is injected: auto (a native sidecar on Kubernetes 1.29 and later, an"
                    + " ordinary first container below), native (native only, also on 1.28 with the"
                    + " SidecarContainers feature gate; pods are refused on older servers) or container. Default:"
                    + " ${DEFAULT-VALUE}. Env PGGAT_SIDECAR_MODE.",
            defaultValue = "${env:PGGAT_SIDECAR_MODE:-auto}")
    String sidecarMode;

    /** The port of the operator's endpoint stream on its Service (deploy/ and the Helm chart expose it). */
    public static final int STREAM_PORT = 8090;

    /**
     * Starts the webhook, or does nothing when {@code --webhook-port 0}.
     *
     * @return what stops it again
     */
    public AutoCloseable start(KubernetesClient client, String defaultImage) throws IOException {
        if (port == 0) {
            return () -> {};
        }
        String ns =
                operatorNamespace != null && !operatorNamespace.isBlank() ? operatorNamespace : client.getNamespace();
        if (ns == null || ns.isBlank()) {
            throw new IllegalArgumentException(
                    "--operator-namespace is not set and neither POD_NAMESPACE nor the client names a namespace;"
                            + " set one, or turn the webhook off with --webhook-port 0");
        }
        String stream = streamUrl != null && !streamUrl.isBlank()
                ? streamUrl
                : "http://" + service + "." + ns + ".svc:" + STREAM_PORT
                        + "/v1/namespaces/{namespace}/pgpools/{pgpool}/stream";
        if (!SELF_SIGNED.equals(certMode) && !FILES.equals(certMode)) {
            throw new IllegalArgumentException(
                    "--webhook-cert-mode \"" + certMode + "\" is not known; accepted: " + SELF_SIGNED + ", " + FILES);
        }
        org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(WebhookOptions.class);
        String major = "0";
        String minor = "0";
        try {
            var version = client.getKubernetesVersion();
            major = java.util.Objects.toString(version.getMajor(), "0");
            minor = java.util.Objects.toString(version.getMinor(), "0");
        } catch (RuntimeException e) {
            // Unknown counts as old: an ordinary container works everywhere, a native sidecar only on new servers.
            log.warn("cannot read the API server's version ({}); assuming it has no native sidecars", e.getMessage());
        }
        SidecarPlacement placement = SidecarPlacement.choose(sidecarMode, major, minor);
        if (placement.refusal() != null) {
            log.error("sidecar injection: {}", placement.refusal());
        } else if (!placement.nativeSidecar()) {
            log.warn(
                    "sidecar injection: API server v{}.{} has no native sidecars; the pooler is injected as the pod's"
                            + " first container, which the app may reach before it listens",
                    major,
                    minor);
        }
        ReloadingKeyManager keys = new ReloadingKeyManager();
        AutoCloseable certificates;
        if (FILES.equals(certMode)) {
            certificates = new FileCertificates(certDir, keys).start(Duration.ofSeconds(30));
        } else {
            certificates = new SelfSignedCertificates(
                            client, ns, secret, service, configuration, keys, Clock.systemUTC())
                    .start(Duration.ofMinutes(5));
        }
        AdmissionHandler handler = new AdmissionHandler(
                new SidecarInjector(new SidecarSettings(defaultImage, stream, placement)), new ClientLookup(client));
        WebhookServer server = new WebhookServer(new InetSocketAddress(port), keys, handler).start();
        return () -> {
            server.close();
            certificates.close();
        };
    }
}
