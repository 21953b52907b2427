package dev.pggat.pooler.testing;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;

/**
 * A local HTTP server standing in for a cloud provider's REST API in tests: the test supplies the JSON the API
 * documents, and can make the next answers fail (429 with Retry-After, 500) to see the client keep its last good
 * state.
 */
public final class FakeApi implements AutoCloseable {
    /** Answers one request: status and JSON body. */
    public record Answer(int status, String json) {
        public static Answer ok(String json) {
            return new Answer(200, json);
        }
    }

    /** The test's model of the API. */
    public interface Handler {
        Answer handle(String method, URI uri, String authorization, String body);
    }

    private final HttpServer server;
    private final Deque<Integer> failures = new ArrayDeque<>();
    /** Every request's method and path with query, in order. */
    public final List<String> requests = new CopyOnWriteArrayList<>();

    public FakeApi(Handler handler) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setExecutor(Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "fake-api");
            t.setDaemon(true);
            return t;
        }));
        server.createContext("/", exchange -> {
            try (exchange) {
                serve(exchange, handler);
            }
        });
        server.start();
    }

    private void serve(HttpExchange exchange, Handler handler) throws IOException {
        String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        URI uri = exchange.getRequestURI();
        requests.add(exchange.getRequestMethod() + " " + uri);
        Integer fail;
        synchronized (failures) {
            fail = uri.getPath().endsWith("/token") ? null : failures.poll();
        }
        Answer a;
        if (fail != null) {
            if (fail == 429) {
                exchange.getResponseHeaders().add("Retry-After", "1");
            }
            a = new Answer(
                    fail,
                    "{\"error\":{\"code\":" + fail
                            + ",\"message\":\"injected by the test\",\"id\":\"too_many_requests\"}}");
        } else {
            a = handler.handle(
                    exchange.getRequestMethod(),
                    uri,
                    exchange.getRequestHeaders().getFirst("Authorization"),
                    body);
        }
        byte[] out = a.json().getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().add("Content-Type", "application/json; charset=UTF-8");
        exchange.sendResponseHeaders(a.status(), out.length);
        exchange.getResponseBody().write(out);
    }

    /** The next requests (other than token requests) fail with these statuses, in order. */
    public void failNext(int... statuses) {
        synchronized (failures) {
            for (int s : statuses) {
                failures.add(s);
            }
        }
    }

    public int pendingFailures() {
        synchronized (failures) {
            return failures.size();
        }
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
