package dev.pggat.operator.webhook;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTPS endpoint the API server calls: {@code POST /mutate-pods} with an AdmissionReview, and {@code GET /readyz}
 * (200 once a certificate is loaded) for the operator pod's probes.
 */
public final class WebhookServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(WebhookServer.class);
    public static final String MUTATE_PATH = "/mutate-pods";
    public static final String READY_PATH = "/readyz";
    /** The API server sends a Pod of at most a few hundred kB; refuse anything absurd before buffering it. */
    static final int MAX_BODY = 8 * 1024 * 1024;

    private final HttpsServer server;
    private final ExecutorService executor;
    private final AdmissionHandler handler;
    private final ReloadingKeyManager keys;

    public WebhookServer(InetSocketAddress bind, ReloadingKeyManager keys, AdmissionHandler handler)
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
        server = HttpsServer.create(bind, 64);
        server.setHttpsConfigurator(new HttpsConfigurator(tls));
        executor = Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "pggat-webhook");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        server.createContext(MUTATE_PATH, this::mutate);
        server.createContext(READY_PATH, this::ready);
    }

    public WebhookServer start() {
        server.start();
        LOG.info("admission webhook listening on https://{}:{}{}", host(), port(), MUTATE_PATH);
        return this;
    }

    public int port() {
        return server.getAddress().getPort();
    }

    private String host() {
        return server.getAddress().getHostString();
    }

    private void mutate(HttpExchange ex) throws IOException {
        try (ex) {
            if (!"POST".equals(ex.getRequestMethod())) {
                send(ex, 405, "text/plain; charset=utf-8", "use POST with an AdmissionReview\n");
                return;
            }
            byte[] body = readLimited(ex.getRequestBody());
            if (body == null) {
                send(ex, 413, "text/plain; charset=utf-8", "the request body exceeds " + MAX_BODY + " bytes\n");
                return;
            }
            AdmissionHandler.Reply reply;
            try {
                reply = handler.handle(body);
            } catch (RuntimeException e) {
                LOG.warn("admission review failed", e);
                reply = AdmissionHandler.Reply.text(
                        500, "internal error: " + e.getClass().getSimpleName());
            }
            ex.getResponseHeaders().set("Content-Type", reply.contentType());
            ex.sendResponseHeaders(reply.status(), reply.body().length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(reply.body());
            }
        }
    }

    private void ready(HttpExchange ex) throws IOException {
        try (ex) {
            boolean ok = keys.loaded();
            send(ex, ok ? 200 : 503, "text/plain; charset=utf-8", ok ? "ok\n" : "no certificate loaded yet\n");
        }
    }

    private static void send(HttpExchange ex, int status, String type, String text) throws IOException {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    /** The body, or null when it is longer than {@link #MAX_BODY}. */
    private static byte[] readLimited(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[16384];
        int n;
        while ((n = in.read(buf)) > 0) {
            if (out.size() + n > MAX_BODY) {
                return null;
            }
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdown();
        try {
            executor.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
