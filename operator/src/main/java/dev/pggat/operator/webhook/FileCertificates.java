package dev.pggat.operator.webhook;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The webhook certificate from {@code tls.crt} and {@code tls.key} in a directory, as a mounted Secret that
 * cert-manager writes (cert-manager's CA injector then keeps the {@code caBundle}). Re-read periodically: the
 * kubelet swaps a mounted Secret's files in place when cert-manager renews it.
 */
public final class FileCertificates implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FileCertificates.class);

    private final Path dir;
    private final ReloadingKeyManager keys;
    private byte[] loadedDigest;
    private ScheduledExecutorService executor;

    public FileCertificates(Path dir, ReloadingKeyManager keys) {
        this.dir = dir;
        this.keys = keys;
    }

    /**
     * Loads the files when they changed since the last load.
     *
     * @return whether a new certificate is served now
     * @throws IllegalArgumentException naming the file that is missing or does not parse
     */
    public synchronized boolean reload() {
        Path certFile = dir.resolve(SelfSignedCertificates.TLS_CERT);
        Path keyFile = dir.resolve(SelfSignedCertificates.TLS_KEY);
        String cert = read(certFile);
        String key = read(keyFile);
        byte[] digest = digest(cert + "\0" + key);
        if (loadedDigest != null && MessageDigest.isEqual(digest, loadedDigest)) {
            return false;
        }
        WebhookPki.Identity id;
        try {
            id = new WebhookPki.Identity(WebhookPki.parsePrivateKey(key), WebhookPki.parseCertificates(cert));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    certFile + " / " + keyFile + ": " + e.getMessage() + " (expected a PEM certificate chain and"
                            + " its PEM private key)",
                    e);
        }
        keys.update(id);
        loadedDigest = digest;
        LOG.info(
                "webhook certificate: loaded {} (valid until {})",
                certFile,
                id.leaf().getNotAfter().toInstant());
        return true;
    }

    public FileCertificates start(Duration every) {
        executor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "pggat-webhook-cert-files");
            t.setDaemon(true);
            return t;
        });
        executor.scheduleWithFixedDelay(
                () -> {
                    try {
                        reload();
                    } catch (RuntimeException e) {
                        LOG.warn("webhook certificate: {}", e.getMessage());
                    }
                },
                0,
                every.toMillis(),
                TimeUnit.MILLISECONDS);
        return this;
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.US_ASCII);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IllegalArgumentException(file + " does not exist (mount the webhook certificate Secret there)");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static byte[] digest(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.US_ASCII));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    @Override
    public void close() {
        if (executor != null) {
            executor.shutdownNow();
        }
    }
}
