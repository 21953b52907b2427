package dev.pggat.operator.webhook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfigurationBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The webhook's certificate in both modes, checked the way the API server checks it: a TLS handshake that trusts
 * only the {@code caBundle} and verifies the Service's DNS name.
 */
class WebhookTlsTest {
    static final String NS = "pggat-system";
    static final String SERVICE = "pggat-operator";
    static final String SECRET = "pggat-operator-webhook-cert";
    static final String CONFIG = "pggat-operator";
    static final String SERVICE_DNS = SERVICE + "." + NS + ".svc";

    KubernetesMockServer server;
    KubernetesClient client;
    WebhookServer webhook;
    ReloadingKeyManager keys;

    @BeforeEach
    void start() throws Exception {
        server = new KubernetesMockServer(
                new Context(), new MockWebServer(), new HashMap<>(), new KubernetesCrudDispatcher(List.of()), false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        client = server.createClient();
        keys = new ReloadingKeyManager();
        AdmissionHandler handler = new AdmissionHandler(
                new SidecarInjector(new SidecarSettings("img", "http://s/{namespace}/{pgpool}")),
                new ClientLookup(client));
        webhook = new WebhookServer(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), keys, handler).start();
    }

    @AfterEach
    void stop() {
        webhook.close();
        client.close();
        server.destroy();
    }

    MutatingWebhookConfiguration createWebhookConfiguration() {
        return client.resource(new MutatingWebhookConfigurationBuilder()
                        .withNewMetadata()
                        .withName(CONFIG)
                        .endMetadata()
                        .withWebhooks(
                                new MutatingWebhookBuilder()
                                        .withName("sidecar.pggat.dev")
                                        .withNewClientConfig()
                                        .withNewService()
                                        .withNamespace(NS)
                                        .withName(SERVICE)
                                        .withPath(WebhookServer.MUTATE_PATH)
                                        .withPort(443)
                                        .endService()
                                        .endClientConfig()
                                        .withAdmissionReviewVersions("v1")
                                        .withSideEffects("None")
                                        .build(),
                                new MutatingWebhookBuilder()
                                        .withName("someone-else.example.com")
                                        .withNewClientConfig()
                                        .withNewService()
                                        .withNamespace("other")
                                        .withName("other")
                                        .endService()
                                        .withCaBundle("b3RoZXI=")
                                        .endClientConfig()
                                        .withAdmissionReviewVersions("v1")
                                        .withSideEffects("None")
                                        .build())
                        .build())
                .create();
    }

    MutatingWebhookConfiguration webhookConfiguration() {
        return client.admissionRegistration()
                .v1()
                .mutatingWebhookConfigurations()
                .withName(CONFIG)
                .get();
    }

    SelfSignedCertificates selfSigned(Clock clock) {
        return new SelfSignedCertificates(client, NS, SECRET, SERVICE, CONFIG, keys, clock);
    }

    /** What the API server does: trust only the caBundle, check the Service name, POST, read the reply. */
    String post(String caBundleBase64, String path, String body) throws Exception {
        String pem = new String(Base64.getDecoder().decode(caBundleBase64), StandardCharsets.US_ASCII);
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        int i = 0;
        for (X509Certificate c : WebhookPki.parseCertificates(pem)) {
            trust.setCertificateEntry("ca" + i++, c);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        try (Socket plain = new Socket(InetAddress.getLoopbackAddress(), webhook.port());
                SSLSocket tls =
                        (SSLSocket) ctx.getSocketFactory().createSocket(plain, SERVICE_DNS, webhook.port(), true)) {
            SSLParameters p = tls.getSSLParameters();
            p.setEndpointIdentificationAlgorithm("HTTPS");
            p.setServerNames(List.of(new SNIHostName(SERVICE_DNS)));
            tls.setSSLParameters(p);
            tls.startHandshake();
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            OutputStream out = tls.getOutputStream();
            out.write(("POST " + path + " HTTP/1.1\r\nHost: " + SERVICE_DNS + "\r\nContent-Type: application/json\r\n"
                            + "Content-Length: " + b.length + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.write(b);
            out.flush();
            InputStream in = tls.getInputStream();
            ByteArrayOutputStream reply = new ByteArrayOutputStream();
            in.transferTo(reply);
            return reply.toString(StandardCharsets.UTF_8);
        }
    }

    static String review(String uid) {
        return "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"" + uid
                + "\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},\"namespace\":\"shop\","
                + "\"operation\":\"CREATE\",\"object\":{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":"
                + "[{\"name\":\"app\",\"image\":\"app\"}]}}}}";
    }

    static X509Certificate servedLeaf(ReloadingKeyManager keys) {
        return keys.current().leaf();
    }

    @Test
    void selfSignedModeStoresTheCertificateFillsOurCaBundleAndServesTheApiServer() throws Exception {
        createWebhookConfiguration();
        selfSigned(Clock.systemUTC()).sync();

        Secret secret = client.secrets().inNamespace(NS).withName(SECRET).get();
        assertThat(secret.getData()).containsOnlyKeys("ca.crt", "ca.key", "tls.crt", "tls.key");
        MutatingWebhookConfiguration mwc = webhookConfiguration();
        String bundle = mwc.getWebhooks().get(0).getClientConfig().getCaBundle();
        assertThat(bundle).isEqualTo(secret.getData().get("ca.crt"));
        assertThat(mwc.getWebhooks().get(1).getClientConfig().getCaBundle()).isEqualTo("b3RoZXI=");

        String reply = post(bundle, WebhookServer.MUTATE_PATH, review("tls-1"));
        assertThat(reply)
                .startsWith("HTTP/1.1 200")
                .contains("\"uid\":\"tls-1\"")
                .contains("\"allowed\":true");
        X509Certificate leaf = servedLeaf(keys);
        assertThat(WebhookPki.covers(leaf, WebhookPki.serviceDnsNames(SERVICE, NS)))
                .isTrue();
        assertThat(leaf.getNotAfter().toInstant()).isAfter(Instant.now().plus(Duration.ofDays(300)));
    }

    @Test
    void aHandshakeTrustingAnotherCaFails() throws Exception {
        createWebhookConfiguration();
        selfSigned(Clock.systemUTC()).sync();
        WebhookPki.Identity stranger = WebhookPki.newCa("stranger", Instant.now());
        String strangerBundle = Base64.getEncoder()
                .encodeToString(WebhookPki.pem(stranger.leaf()).getBytes(StandardCharsets.US_ASCII));
        assertThatThrownBy(() -> post(strangerBundle, WebhookServer.MUTATE_PATH, review("x")))
                .isInstanceOf(SSLHandshakeException.class);
    }

    @Test
    void aSecondReplicaServesTheSameCertificateWithoutRewritingTheSecret() {
        createWebhookConfiguration();
        selfSigned(Clock.systemUTC()).sync();
        Secret first = client.secrets().inNamespace(NS).withName(SECRET).get();
        X509Certificate firstLeaf = servedLeaf(keys);

        ReloadingKeyManager otherKeys = new ReloadingKeyManager();
        new SelfSignedCertificates(client, NS, SECRET, SERVICE, CONFIG, otherKeys, Clock.systemUTC()).sync();
        Secret after = client.secrets().inNamespace(NS).withName(SECRET).get();
        assertThat(after.getMetadata().getResourceVersion())
                .isEqualTo(first.getMetadata().getResourceVersion());
        assertThat(otherKeys.current().leaf()).isEqualTo(firstLeaf);
    }

    @Test
    void servingCertificateIsRenewedBeforeExpiryUnderTheSameCa() throws Exception {
        createWebhookConfiguration();
        selfSigned(Clock.systemUTC()).sync();
        String bundleBefore =
                webhookConfiguration().getWebhooks().get(0).getClientConfig().getCaBundle();
        X509Certificate before = servedLeaf(keys);

        Clock later = Clock.fixed(Instant.now().plus(Duration.ofDays(340)), ZoneOffset.UTC);
        selfSigned(later).sync();
        X509Certificate after = servedLeaf(keys);
        assertThat(after.getSerialNumber()).isNotEqualTo(before.getSerialNumber());
        assertThat(after.getNotAfter().toInstant()).isAfter(before.getNotAfter().toInstant());
        assertThat(webhookConfiguration().getWebhooks().get(0).getClientConfig().getCaBundle())
                .isEqualTo(bundleBefore);
        // Signed by the CA the unchanged caBundle holds, so the API server keeps trusting the webhook.
        X509Certificate ca = WebhookPki.parseCertificates(
                        new String(Base64.getDecoder().decode(bundleBefore), StandardCharsets.US_ASCII))
                .get(0);
        assertThat(WebhookPki.signedBy(after, ca)).isTrue();
    }

    @Test
    void aSecretWithABrokenKeyIsReplaced() {
        createWebhookConfiguration();
        selfSigned(Clock.systemUTC()).sync();
        Secret s = client.secrets().inNamespace(NS).withName(SECRET).get();
        s.getData().put("tls.key", Base64.getEncoder().encodeToString("garbage".getBytes(StandardCharsets.US_ASCII)));
        client.resource(s).update();

        selfSigned(Clock.systemUTC()).sync();
        Secret repaired = client.secrets().inNamespace(NS).withName(SECRET).get();
        String key =
                new String(Base64.getDecoder().decode(repaired.getData().get("tls.key")), StandardCharsets.US_ASCII);
        assertThat(key).contains("PRIVATE KEY");
        assertThat(WebhookPki.parsePrivateKey(key)).isEqualTo(keys.current().key());
    }

    @Test
    void reApplyingTheWebhookConfigurationWithAnEmptyCaBundleIsRepairedAtOnce() throws Exception {
        createWebhookConfiguration();
        // A long period: only the watch on the configuration can repair it within the test.
        try (SelfSignedCertificates certs = selfSigned(Clock.systemUTC()).start(Duration.ofHours(1))) {
            String good = awaitBundle(null);
            MutatingWebhookConfiguration mwc = webhookConfiguration();
            mwc.getWebhooks().get(0).getClientConfig().setCaBundle(null);
            client.resource(mwc).update();
            assertThat(awaitBundle(null)).isEqualTo(good);
        }
    }

    private String awaitBundle(String not) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (System.nanoTime() < deadline) {
            MutatingWebhookConfiguration mwc = webhookConfiguration();
            String b = mwc == null
                    ? null
                    : mwc.getWebhooks().get(0).getClientConfig().getCaBundle();
            if (b != null && !b.isEmpty() && !b.equals(not)) {
                return b;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("caBundle was not filled in within 15 s");
    }

    @Test
    void filesModeServesMountedCertificateAndPicksUpItsRenewal(@TempDir Path dir) throws Exception {
        WebhookPki.Identity ca = WebhookPki.newCa("cert-manager-ish", Instant.now());
        WebhookPki.Identity first = WebhookPki.newServing(ca, WebhookPki.serviceDnsNames(SERVICE, NS), Instant.now());
        Files.writeString(dir.resolve("tls.crt"), WebhookPki.pemChain(first.chain()));
        Files.writeString(dir.resolve("tls.key"), WebhookPki.pem(first.key()));
        FileCertificates files = new FileCertificates(dir, keys);
        assertThat(files.reload()).isTrue();
        assertThat(files.reload()).as("unchanged files are not reloaded").isFalse();
        String bundle =
                Base64.getEncoder().encodeToString(WebhookPki.pem(ca.leaf()).getBytes(StandardCharsets.US_ASCII));
        assertThat(post(bundle, WebhookServer.MUTATE_PATH, review("files-1"))).startsWith("HTTP/1.1 200");

        WebhookPki.Identity second = WebhookPki.newServing(ca, WebhookPki.serviceDnsNames(SERVICE, NS), Instant.now());
        Files.writeString(dir.resolve("tls.crt"), WebhookPki.pemChain(second.chain()));
        Files.writeString(dir.resolve("tls.key"), WebhookPki.pem(second.key()));
        assertThat(files.reload()).isTrue();
        assertThat(servedLeaf(keys)).isEqualTo(second.leaf());
        assertThat(post(bundle, WebhookServer.MUTATE_PATH, review("files-2"))).startsWith("HTTP/1.1 200");
    }

    @Test
    void filesModeNamesTheMissingOrBrokenFile(@TempDir Path dir) throws Exception {
        FileCertificates files = new FileCertificates(dir, keys);
        assertThatThrownBy(files::reload)
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(dir.resolve("tls.crt").toString())
                .hasMessageContaining("does not exist");
        Files.writeString(dir.resolve("tls.crt"), "not a certificate");
        Files.writeString(dir.resolve("tls.key"), "not a key");
        assertThatThrownBy(files::reload)
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("tls.key")
                .hasMessageContaining("PEM");
        assertThat(keys.loaded()).isFalse();
    }

    @Test
    void pkcs1RsaKeysAsCertManagerWritesThemAreRead() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        var kp = g.generateKeyPair();
        java.io.StringWriter w = new java.io.StringWriter();
        try (var pw = new org.bouncycastle.openssl.jcajce.JcaPEMWriter(w)) {
            pw.writeObject(kp);
        }
        String pkcs1 = w.toString();
        assertThat(pkcs1).contains("BEGIN RSA PRIVATE KEY");
        assertThat(WebhookPki.parsePrivateKey(pkcs1)).isEqualTo(kp.getPrivate());
    }

    @Test
    void readinessWaitsForACertificateAndOnlyPostIsAccepted() throws Exception {
        assertThat(keys.loaded()).isFalse();
        createWebhookConfiguration();
        selfSigned(Clock.systemUTC()).sync();
        String bundle =
                webhookConfiguration().getWebhooks().get(0).getClientConfig().getCaBundle();
        assertThat(post(bundle, WebhookServer.READY_PATH, "")).startsWith("HTTP/1.1 200");
        // GET via a POST-only path: the handler says what it wants.
        String reply = get(bundle, WebhookServer.MUTATE_PATH);
        assertThat(reply).startsWith("HTTP/1.1 405").contains("use POST");
    }

    private String get(String bundle, String path) throws Exception {
        // post() with an empty body to a GET-only check would not show a 405; send a real GET.
        String pem = new String(Base64.getDecoder().decode(bundle), StandardCharsets.US_ASCII);
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("ca", WebhookPki.parseCertificates(pem).get(0));
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        try (SSLSocket tls =
                (SSLSocket) ctx.getSocketFactory().createSocket(InetAddress.getLoopbackAddress(), webhook.port())) {
            tls.getOutputStream()
                    .write(("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            ByteArrayOutputStream reply = new ByteArrayOutputStream();
            tls.getInputStream().transferTo(reply);
            return reply.toString(StandardCharsets.UTF_8);
        }
    }

    /** A TLS connection that trusts only {@code bundle}, handshake done, nothing sent yet. */
    private SSLSocket tlsSocket(String bundle, int port) throws Exception {
        String pem = new String(Base64.getDecoder().decode(bundle), StandardCharsets.US_ASCII);
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("ca", WebhookPki.parseCertificates(pem).get(0));
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        SSLSocket tls = (SSLSocket) ctx.getSocketFactory().createSocket(InetAddress.getLoopbackAddress(), port);
        // Generous: it only turns a server that never answers into a failure instead of a hang.
        tls.setSoTimeout(30_000);
        tls.startHandshake();
        return tls;
    }

    private String filesModeBundle(Path dir) throws Exception {
        WebhookPki.Identity ca = WebhookPki.newCa("limits", Instant.now());
        WebhookPki.Identity serving = WebhookPki.newServing(ca, WebhookPki.serviceDnsNames(SERVICE, NS), Instant.now());
        Files.writeString(dir.resolve("tls.crt"), WebhookPki.pemChain(serving.chain()));
        Files.writeString(dir.resolve("tls.key"), WebhookPki.pem(serving.key()));
        assertThat(new FileCertificates(dir, keys).reload()).isTrue();
        return Base64.getEncoder().encodeToString(WebhookPki.pem(ca.leaf()).getBytes(StandardCharsets.US_ASCII));
    }

    private static String statusLine(InputStream in) throws Exception {
        StringBuilder line = new StringBuilder();
        int c;
        while ((c = in.read()) != -1 && c != '\n') {
            line.append((char) c);
        }
        return line.toString().trim();
    }

    @Test
    void connectionsStalledInTheHandshakeOrMidRequestDoNotDelayReviews(@TempDir Path dir) throws Exception {
        String bundle = filesModeBundle(dir);
        List<Socket> stalled = new java.util.ArrayList<>();
        try {
            for (int i = 0; i < 8; i++) {
                // TCP only: the TLS handshake never starts.
                stalled.add(new Socket(InetAddress.getLoopbackAddress(), webhook.port()));
                SSLSocket tls = tlsSocket(bundle, webhook.port());
                stalled.add(tls);
                tls.getOutputStream()
                        .write(("POST " + WebhookServer.MUTATE_PATH + " HTTP/1.1\r\nHost: x\r\n"
                                        + "Content-Length: 1000\r\n\r\n{\"apiVer")
                                .getBytes(StandardCharsets.US_ASCII));
                tls.getOutputStream().flush();
            }
            long started = System.nanoTime();
            assertThat(post(bundle, WebhookServer.MUTATE_PATH, review("while-stalled")))
                    .startsWith("HTTP/1.1 200")
                    .contains("\"uid\":\"while-stalled\"");
            // Not waiting for the stalled connections is what matters: a server that served them first would answer
            // only once they were dropped, at the request timeout. Any time short of that is right, however slow.
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(WebhookServer.REQUEST_TIMEOUT);
        } finally {
            for (Socket s : stalled) {
                s.close();
            }
        }
    }

    @Test
    void anOversizedReviewGets413WithoutBeingRead(@TempDir Path dir) throws Exception {
        String bundle = filesModeBundle(dir);
        try (SSLSocket tls = tlsSocket(bundle, webhook.port())) {
            tls.getOutputStream()
                    .write(("POST " + WebhookServer.MUTATE_PATH + " HTTP/1.1\r\nHost: x\r\n"
                                    + "Content-Type: application/json\r\nContent-Length: "
                                    + (WebhookServer.MAX_BODY + 1) + "\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            tls.getOutputStream().flush();
            assertThat(statusLine(tls.getInputStream())).isEqualTo("HTTP/1.1 413 Request Entity Too Large");
        }
    }

    @Test
    void aReviewNotFinishedWithinTheRequestTimeoutIsDropped(@TempDir Path dir) throws Exception {
        String bundle = filesModeBundle(dir);
        AdmissionHandler handler = new AdmissionHandler(
                new SidecarInjector(new SidecarSettings("img", "http://s/{namespace}/{pgpool}")),
                new ClientLookup(client));
        try (WebhookServer quick = new WebhookServer(
                                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                                keys,
                                handler,
                                Duration.ofMillis(300))
                        .start();
                SSLSocket tls = tlsSocket(bundle, quick.port())) {
            tls.getOutputStream()
                    .write(("POST " + WebhookServer.MUTATE_PATH + " HTTP/1.1\r\nHost: x\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            tls.getOutputStream().flush();
            // A server that did not drop it would leave this read blocked: it fails at the socket timeout (30 s,
            // a hundred times the request timeout) instead of returning -1.
            assertThat(tls.getInputStream().read())
                    .as("closed without an answer")
                    .isEqualTo(-1);
        }
    }

    @Test
    void beforeAnyCertificateTheServerRefusesHandshakes() {
        WebhookPki.Identity ca = WebhookPki.newCa("x", Instant.now());
        String bundle =
                Base64.getEncoder().encodeToString(WebhookPki.pem(ca.leaf()).getBytes(StandardCharsets.US_ASCII));
        assertThatThrownBy(() -> post(bundle, WebhookServer.READY_PATH, "")).isInstanceOf(java.io.IOException.class);
    }
}
