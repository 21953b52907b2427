package dev.pggat.pooler.admin;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.pggat.pooler.metrics.PoolerMetrics;
import io.prometheus.metrics.exporter.httpserver.MetricsHandler;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;

/**
 * The small admin HTTP endpoint on its own port: {@code /healthz} (the process is alive), {@code /readyz} (the
 * pooler accepts clients; false while starting and draining) and {@code /metrics} (Prometheus text format).
 */
public final class AdminServer {
    private final HttpServer server;
    private final ExecutorService executor;

    public AdminServer(String host, int port, PoolerMetrics metrics, BooleanSupplier ready) throws IOException {
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
        server.createContext("/", ex -> text(ex, 404, "not found: try /healthz, /readyz or /metrics\n"));
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

    private static void text(HttpExchange ex, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }
}
