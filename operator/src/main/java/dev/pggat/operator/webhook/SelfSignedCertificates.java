package dev.pggat.operator.webhook;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhook;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ServiceReference;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.Signature;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator's own webhook certificate, kept in a Secret of its namespace so that every replica serves one made
 * by the same CA, and the CA written to the {@code caBundle} of each webhook in the MutatingWebhookConfiguration
 * that points at the operator's Service. It reacts to the configuration being re-applied (which empties the
 * {@code caBundle}) and looks again periodically to renew the serving certificate before it expires.
 *
 * <p>Replicas race only on creating or updating the Secret; the API server's optimistic concurrency picks one
 * writer, and the others read the winner's Secret on their next attempt.
 */
public final class SelfSignedCertificates implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SelfSignedCertificates.class);
    public static final String CA_CERT = "ca.crt";
    public static final String CA_KEY = "ca.key";
    public static final String TLS_CERT = "tls.crt";
    public static final String TLS_KEY = "tls.key";
    static final Duration RENEW_SERVING_BEFORE = Duration.ofDays(30);
    static final Duration RENEW_CA_BEFORE = Duration.ofDays(365);
    static final Duration FIRST_CERTIFICATE_RETRY = Duration.ofSeconds(5);

    private final KubernetesClient client;
    private final String namespace;
    private final String secretName;
    private final String service;
    private final String webhookConfiguration;
    private final ReloadingKeyManager keys;
    private final Clock clock;
    private final List<String> dnsNames;
    private ScheduledExecutorService executor;
    private SharedIndexInformer<MutatingWebhookConfiguration> informer;
    private boolean warnedMissing;

    public SelfSignedCertificates(
            KubernetesClient client,
            String namespace,
            String secretName,
            String service,
            String webhookConfiguration,
            ReloadingKeyManager keys,
            Clock clock) {
        this.client = client;
        this.namespace = namespace;
        this.secretName = secretName;
        this.service = service;
        this.webhookConfiguration = webhookConfiguration;
        this.keys = keys;
        this.clock = clock;
        this.dnsNames = WebhookPki.serviceDnsNames(service, namespace);
    }

    /** A first {@link #sync()} now, then one every {@code every} and whenever the webhook configuration changes. */
    public SelfSignedCertificates start(Duration every) {
        executor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "pggat-webhook-certs");
            t.setDaemon(true);
            return t;
        });
        executor.scheduleWithFixedDelay(this::syncLogged, 0, every.toMillis(), TimeUnit.MILLISECONDS);
        informer = client.admissionRegistration()
                .v1()
                .mutatingWebhookConfigurations()
                .withName(webhookConfiguration)
                .inform(new ResourceEventHandler<>() {
                    @Override
                    public void onAdd(MutatingWebhookConfiguration obj) {
                        trigger();
                    }

                    @Override
                    public void onUpdate(MutatingWebhookConfiguration oldObj, MutatingWebhookConfiguration newObj) {
                        trigger();
                    }

                    @Override
                    public void onDelete(MutatingWebhookConfiguration obj, boolean deletedFinalStateUnknown) {}
                });
        return this;
    }

    private void trigger() {
        ScheduledExecutorService e = executor;
        if (e != null && !e.isShutdown()) {
            e.execute(this::syncLogged);
        }
    }

    private void syncLogged() {
        try {
            sync();
        } catch (RuntimeException e) {
            LOG.warn("webhook certificate: {}", e.getMessage());
            // Without a certificate the webhook cannot answer at all: retry soon, not at the next period.
            ScheduledExecutorService ex = executor;
            if (!keys.loaded() && ex != null && !ex.isShutdown()) {
                ex.schedule(this::syncLogged, FIRST_CERTIFICATE_RETRY.toMillis(), TimeUnit.MILLISECONDS);
            }
        }
    }

    /**
     * Makes sure the Secret holds a CA and a serving certificate for the Service that are valid for a while yet,
     * serves that certificate, and puts the CA in the webhook configuration's {@code caBundle}.
     */
    public synchronized void sync() {
        for (int attempt = 0; ; attempt++) {
            Secret secret =
                    client.secrets().inNamespace(namespace).withName(secretName).get();
            Instant now = clock.instant();
            Material current = Material.of(secret);
            WebhookPki.Identity ca = current.ca;
            boolean caOk = ca != null && current.caKeyMatches() && validAfter(ca, now.plus(RENEW_CA_BEFORE));
            WebhookPki.Identity serving = current.serving;
            boolean servingOk = caOk
                    && serving != null
                    && validAfter(serving, now.plus(RENEW_SERVING_BEFORE))
                    && WebhookPki.covers(serving.leaf(), dnsNames)
                    && WebhookPki.signedBy(serving.leaf(), ca.leaf());
            if (!caOk || !servingOk) {
                if (!caOk) {
                    ca = WebhookPki.newCa(service + "." + namespace + " webhook CA", now);
                }
                serving = WebhookPki.newServing(ca, dnsNames, now);
                try {
                    write(secret, ca, serving);
                    LOG.info(
                            "webhook certificate: wrote {} to Secret {}/{} (valid until {})",
                            caOk ? "a new serving certificate" : "a new CA and serving certificate",
                            namespace,
                            secretName,
                            serving.leaf().getNotAfter().toInstant());
                } catch (KubernetesClientException e) {
                    // 409: another replica wrote first (created or updated); use what it wrote.
                    if (e.getCode() == 409 && attempt < 3) {
                        continue;
                    }
                    throw e;
                }
            }
            WebhookPki.Identity served = keys.current();
            if (served == null || !served.leaf().equals(serving.leaf())) {
                keys.update(serving);
            }
            ensureCaBundle(WebhookPki.pem(ca.leaf()));
            return;
        }
    }

    private static boolean validAfter(WebhookPki.Identity id, Instant when) {
        return id.leaf().getNotAfter().toInstant().isAfter(when);
    }

    private void write(Secret existing, WebhookPki.Identity ca, WebhookPki.Identity serving) {
        Map<String, String> data = new LinkedHashMap<>();
        data.put(CA_CERT, b64(WebhookPki.pem(ca.leaf())));
        data.put(CA_KEY, b64(WebhookPki.pem(ca.key())));
        data.put(TLS_CERT, b64(WebhookPki.pemChain(serving.chain())));
        data.put(TLS_KEY, b64(WebhookPki.pem(serving.key())));
        if (existing == null) {
            client.resource(new SecretBuilder()
                            .withNewMetadata()
                            .withName(secretName)
                            .withNamespace(namespace)
                            .addToLabels("app.kubernetes.io/name", "pggat-operator")
                            .addToLabels("app.kubernetes.io/component", "webhook")
                            .endMetadata()
                            .withType("Opaque")
                            .withData(data)
                            .build())
                    .create();
        } else {
            existing.setData(data);
            // Carries the resourceVersion we read: a concurrent writer makes this fail with 409.
            client.resource(existing).update();
        }
    }

    private void ensureCaBundle(String caPem) {
        MutatingWebhookConfiguration mwc = client.admissionRegistration()
                .v1()
                .mutatingWebhookConfigurations()
                .withName(webhookConfiguration)
                .get();
        if (mwc == null) {
            if (!warnedMissing) {
                LOG.warn(
                        "MutatingWebhookConfiguration {} does not exist: no Pod is sent to the webhook, so none gets"
                                + " a sidecar",
                        webhookConfiguration);
                warnedMissing = true;
            }
            return;
        }
        warnedMissing = false;
        String bundle = b64(caPem);
        int ours = 0;
        boolean changed = false;
        for (MutatingWebhook w : mwc.getWebhooks()) {
            ServiceReference ref =
                    w.getClientConfig() == null ? null : w.getClientConfig().getService();
            if (ref != null && service.equals(ref.getName()) && namespace.equals(ref.getNamespace())) {
                ours++;
                if (!Objects.equals(bundle, w.getClientConfig().getCaBundle())) {
                    w.getClientConfig().setCaBundle(bundle);
                    changed = true;
                }
            }
        }
        if (ours == 0) {
            LOG.warn(
                    "MutatingWebhookConfiguration {} has no webhook whose clientConfig.service is {}/{}; its"
                            + " caBundle is left alone",
                    webhookConfiguration,
                    namespace,
                    service);
        }
        if (changed) {
            client.resource(mwc).update();
            LOG.info("webhook certificate: caBundle of MutatingWebhookConfiguration {} updated", webhookConfiguration);
        }
    }

    private static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.US_ASCII));
    }

    @Override
    public void close() {
        if (informer != null) {
            informer.close();
        }
        if (executor != null) {
            executor.shutdownNow();
        }
    }

    /** What the Secret holds; a part that is missing or does not parse is null and gets replaced. */
    private record Material(WebhookPki.Identity ca, WebhookPki.Identity serving) {
        static Material of(Secret s) {
            if (s == null || s.getData() == null) {
                return new Material(null, null);
            }
            return new Material(identity(s.getData(), CA_CERT, CA_KEY), identity(s.getData(), TLS_CERT, TLS_KEY));
        }

        private static WebhookPki.Identity identity(Map<String, String> data, String certKey, String keyKey) {
            try {
                String cert = decode(data.get(certKey));
                String key = decode(data.get(keyKey));
                if (cert == null || key == null) {
                    return null;
                }
                return new WebhookPki.Identity(WebhookPki.parsePrivateKey(key), WebhookPki.parseCertificates(cert));
            } catch (IllegalArgumentException e) {
                return null;
            }
        }

        private static String decode(String b64) {
            return b64 == null ? null : new String(Base64.getDecoder().decode(b64), StandardCharsets.US_ASCII);
        }

        /** A CA key that does not belong to the CA certificate would sign certificates nobody trusts. */
        boolean caKeyMatches() {
            try {
                byte[] probe = "pggat".getBytes(StandardCharsets.US_ASCII);
                Signature s = Signature.getInstance("SHA256withECDSA");
                s.initSign(ca.key());
                s.update(probe);
                byte[] sig = s.sign();
                Signature v = Signature.getInstance("SHA256withECDSA");
                v.initVerify(ca.leaf().getPublicKey());
                v.update(probe);
                return v.verify(sig);
            } catch (GeneralSecurityException e) {
                return false;
            }
        }
    }
}
