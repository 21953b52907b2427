package dev.pggat.pooler.admin;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.pggat.pooler.metrics.PoolerMetrics;
import io.prometheus.metrics.exporter.httpserver.MetricsHandler;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;

/**
 * The small admin HTTP endpoint on its own port: {@code /healthz} (the process is alive), {@code /readyz} (the
 * pooler accepts clients; false while starting and draining), {@code /metrics} (Prometheus text format), and
 * {@code /endpoints}: GET shows each database's endpoint set and endpoint health; PUT {@code /endpoints/<db>}
 * with the bearer token from {@code admin.token} replaces a database's endpoint set.
 */
public final class AdminServer {
    private final HttpServer server;
    private final ExecutorService executor;

    /** What the admin endpoint can change: endpoint sets, by database. */
    public interface Control {
        /** Current endpoint sets and endpoint states as JSON. */
        String endpointsJson();

        /**
         * Applies an endpoint set.
         *
         * @return null on success, else why not (unknown database, stale version)
         */
        String applyEndpointSet(String database, String json);
    }

    public AdminServer(
            String host, int port, PoolerMetrics metrics, BooleanSupplier ready, String token, Control control)
            throws IOException {
        server = HttpServer.create(new InetSocketAddress(host, port), 64);
        executor = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "pggat-admin");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        server.createContext("/metrics", new MetricsHandler(metrics.registry()));
        server.createContext("/healthz", ex -> text(ex, 200, "ok\n"));
        server.createContext("/readyz", ex -> {
            boolean ok = ready.getAsBoolean();
            text(ex, ok ? 200 : 503, ok ? "ready\n" : "not ready\n");
        });
        byte[] expected = token == null ? null : token.getBytes(StandardCharsets.UTF_8);
        server.createContext("/endpoints", ex -> {
            try (ex) {
                String method = ex.getRequestMethod();
                String path = ex.getRequestURI().getPath();
                if (method.equals("GET") && (path.equals("/endpoints") || path.equals("/endpoints/"))) {
                    json(ex, 200, control.endpointsJson());
                    return;
                }
                if (!method.equals("PUT") || !path.startsWith("/endpoints/")) {
                    text(ex, 405, "use GET /endpoints or PUT /endpoints/<database>\n");
                    return;
                }
                if (expected == null) {
                    text(ex, 403, "changes are disabled: set admin.token in the configuration\n");
                    return;
                }
                String auth = ex.getRequestHeaders().getFirst("Authorization");
                byte[] given = auth != null && auth.startsWith("Bearer ")
                        ? auth.substring(7).getBytes(StandardCharsets.UTF_8)
                        : new byte[0];
                if (!MessageDigest.isEqual(expected, given)) {
                    text(ex, 401, "missing or wrong bearer token\n");
                    return;
                }
                byte[] body = ex.getRequestBody().readNBytes(MAX_BODY + 1);
                if (body.length > MAX_BODY) {
                    text(ex, 413, "endpoint set larger than " + MAX_BODY + " bytes\n");
                    return;
                }
                String database = path.substring("/endpoints/".length());
                String problem = control.applyEndpointSet(database, new String(body, StandardCharsets.UTF_8));
                if (problem == null) {
                    text(ex, 200, "applied\n");
                } else {
                    int status = problem.startsWith("stale") ? 409 : problem.startsWith("unknown") ? 404 : 400;
                    text(ex, status, problem + "\n");
                }
            }
        });
        server.createContext("/", ex -> text(ex, 404, "not found: try /healthz, /readyz, /metrics or /endpoints\n"));
    }

    public void start() {
        server.start();
    }

    public InetSocketAddress address() {
        return server.getAddress();
    }

    public void stop() {
        server.stop(0);
        executor.shutdownNow();
    }

    private static final int MAX_BODY = 1 << 20;

    private static void json(HttpExchange ex, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    private static void text(HttpExchange ex, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }
}
