package dev.pggat.operator.webhook;

import dev.pggat.pooler.admin.SmallHttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTPS endpoint the API server calls: {@code POST /mutate-pods} with an AdmissionReview, and {@code GET /readyz}
 * (200 once a certificate is loaded) for the operator pod's probes.
 *
 * <p>The webhook's failure policy is Ignore, so an endpoint that hangs admits pods without their sidecar. Requests
 * are therefore read without holding a thread (see {@link SmallHttpServer}): a connection must deliver its TLS
 * handshake and whole request within {@link #REQUEST_TIMEOUT} and its body is capped at {@link #MAX_BODY}. Only
 * complete reviews reach the few worker threads that may call the API server.
 */
public final class WebhookServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(WebhookServer.class);
    public static final String MUTATE_PATH = "/mutate-pods";
    public static final String READY_PATH = "/readyz";
    /**
     * The API server stores objects of at most about 1.5 MiB (etcd's request limit) and sends one Pod per review;
     * 4 MiB leaves room for the review around it and refuses anything absurd before buffering it.
     */
    static final int MAX_BODY = 4 * 1024 * 1024;
    /** The API server gives a webhook 10 s by default; a review arrives in milliseconds. */
    static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(10);

    private static final int WORKERS = 4;
    /** Reviews waiting for a worker; beyond this the API server is answered 503 at once rather than at its timeout. */
    private static final int QUEUE = 64;

    private final SmallHttpServer server;
    private final ThreadPoolExecutor workers;
    private final AdmissionHandler handler;
    private final ReloadingKeyManager keys;

    public WebhookServer(InetSocketAddress bind, ReloadingKeyManager keys, AdmissionHandler handler)
            throws IOException {
        this(bind, keys, handler, REQUEST_TIMEOUT);
    }

    WebhookServer(InetSocketAddress bind, ReloadingKeyManager keys, AdmissionHandler handler, Duration requestTimeout)
            throws IOException {
        this.handler = handler;
        this.keys = keys;
        SSLContext tls;
        try {
            tls = SSLContext.getInstance("TLS");
            tls.init(new KeyManager[] {keys}, null, null);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the Java runtime offers no TLS", e);
        }
        AtomicInteger n = new AtomicInteger();
        workers = new ThreadPoolExecutor(WORKERS, WORKERS, 60, TimeUnit.SECONDS, new ArrayBlockingQueue<>(QUEUE), r -> {
            Thread t = new Thread(r, "pggat-webhook-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        try {
            server = SmallHttpServer.start("pggat-webhook-io", bind, tls, requestTimeout, MAX_BODY, 1, this::handle);
        } catch (IOException | RuntimeException e) {
            workers.shutdownNow();
            throw e;
        }
    }

    public WebhookServer start() {
        LOG.info("admission webhook listening on https://{}:{}{}", host(), port(), MUTATE_PATH);
        return this;
    }

    public int port() {
        return server.address().getPort();
    }

    private String host() {
        return server.address().getHostString();
    }

    private void handle(SmallHttpServer.Exchange ex) {
        switch (ex.path()) {
            case MUTATE_PATH -> mutate(ex);
            case READY_PATH -> {
                boolean ok = keys.loaded();
                ex.respond(ok ? 200 : 503, ok ? "ok\n" : "no certificate loaded yet\n");
            }
            default -> ex.respond(404, "not found: POST " + MUTATE_PATH + " or GET " + READY_PATH + "\n");
        }
    }

    private void mutate(SmallHttpServer.Exchange ex) {
        if (!"POST".equals(ex.method())) {
            ex.respond(405, "use POST with an AdmissionReview\n");
            return;
        }
        try {
            workers.execute(() -> {
                AdmissionHandler.Reply reply;
                try {
                    reply = handler.handle(ex.body());
                } catch (RuntimeException e) {
                    LOG.warn("admission review failed", e);
                    reply = AdmissionHandler.Reply.text(
                            500, "internal error: " + e.getClass().getSimpleName());
                }
                ex.respond(reply.status(), reply.contentType(), reply.body(), Map.of());
            });
        } catch (RejectedExecutionException e) {
            ex.respond(503, "too many admission reviews at once; retry\n");
        }
    }

    @Override
    public void close() {
        server.close();
        workers.shutdown();
        try {
            workers.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
