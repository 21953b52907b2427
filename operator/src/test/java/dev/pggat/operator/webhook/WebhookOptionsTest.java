package dev.pggat.operator.webhook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.security.cert.X509Certificate;
import java.util.HashMap;
import java.util.List;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The operator's webhook options, parsed as the command line parses them, and the webhook they start. */
class WebhookOptionsTest {
    KubernetesMockServer server;
    KubernetesClient client;

    @BeforeEach
    void start() throws Exception {
        server = new KubernetesMockServer(
                new Context(), new MockWebServer(), new HashMap<>(), new KubernetesCrudDispatcher(List.of()), false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        client = server.createClient();
    }

    @AfterEach
    void stop() {
        client.close();
        server.destroy();
    }

    static WebhookOptions parse(String... args) {
        return CommandLine.populateCommand(new WebhookOptions(), args);
    }

    @Test
    void unknownCertificateModeIsRefusedNamingWhatIsAccepted() {
        WebhookOptions o = parse("--webhook-cert-mode", "vault", "--operator-namespace", "pggat-system");
        assertThatThrownBy(() -> o.start(client, "img"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--webhook-cert-mode \"vault\"")
                .hasMessageContaining("self-signed, files");
    }

    @Test
    void portZeroStartsNothing() throws Exception {
        try (AutoCloseable c = parse("--webhook-port", "0", "--operator-namespace", "pggat-system")
                .start(client, "img")) {
            // A started webhook would have written its certificate Secret by now.
            Thread.sleep(500);
            assertThat(client.secrets().inNamespace("pggat-system").list().getItems())
                    .isEmpty();
        }
    }

    @Test
    void selfSignedDefaultsStoreTheCertificateAndServeReadinessOverHttps() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        WebhookOptions o = parse("--webhook-port", Integer.toString(port), "--operator-namespace", "pggat-system");
        try (AutoCloseable c = o.start(client, "img")) {
            Secret secret = null;
            long deadline = System.nanoTime() + 15_000_000_000L;
            while (secret == null && System.nanoTime() < deadline) {
                secret = client.secrets()
                        .inNamespace("pggat-system")
                        .withName("pggat-operator-webhook-cert")
                        .get();
                Thread.sleep(50);
            }
            assertThat(secret)
                    .as("the default Secret name in the operator namespace")
                    .isNotNull();
            int status = 0;
            while (status != 200 && System.nanoTime() < deadline) {
                status = readyz(port);
                Thread.sleep(50);
            }
            assertThat(status).isEqualTo(200);
        }
    }

    /** Only the status code matters here; the certificate itself is checked in {@link WebhookTlsTest}. */
    private static int readyz(int port) throws Exception {
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, new TrustManager[] {new TrustAll()}, null);
        HttpsURLConnection c = (HttpsURLConnection)
                new java.net.URL("https://127.0.0.1:" + port + WebhookServer.READY_PATH).openConnection();
        c.setSSLSocketFactory(ctx.getSocketFactory());
        c.setHostnameVerifier((h, s) -> true);
        try {
            return c.getResponseCode();
        } catch (java.io.IOException e) {
            return -1;
        } finally {
            c.disconnect();
        }
    }

    private static final class TrustAll implements X509TrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {}

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {}

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
