package dev.pggat.pooler.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The admin port under clients that misbehave: stalled requests, oversized bodies, missing tokens. */
class AdminServerTest {
    static final String TOKEN = "admin-server-test-token";

    private final List<Socket> sockets = new ArrayList<>();
    private final AtomicReference<String> applied = new AtomicReference<>();
    private AdminServer server;
    /** Client-side timeouts only stop a test that would hang: far above what a busy machine takes. */
    private static final Duration CLIENT_TIMEOUT = Duration.ofSeconds(20);

    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(CLIENT_TIMEOUT).build();

    @AfterEach
    void stop() throws Exception {
        for (Socket s : sockets) {
            s.close();
        }
        if (server != null) {
            server.stop();
        }
    }

    private void start(String token, Duration requestTimeout) throws Exception {
        PrometheusRegistry registry = new PrometheusRegistry();
        Counter.builder().name("admin_test_total").register(registry).inc();
        server = new AdminServer(
                "127.0.0.1",
                0,
                registry,
                () -> true,
                token,
                new AdminServer.Control() {
                    @Override
                    public String endpointsJson() {
                        return "{\"app\":{}}";
                    }

                    @Override
                    public String applyEndpointSet(String database, String json) {
                        applied.set(database + ":" + json);
                        return null;
                    }
                },
                requestTimeout);
        server.start();
    }

    private String base() {
        return "http://127.0.0.1:" + server.address().getPort();
    }

    private Socket connect() throws Exception {
        Socket s = new Socket("127.0.0.1", server.address().getPort());
        s.setSoTimeout((int) CLIENT_TIMEOUT.toMillis());
        sockets.add(s);
        return s;
    }

    private HttpResponse<String> get(String path, String token) throws Exception {
        HttpRequest.Builder b =
                HttpRequest.newBuilder(URI.create(base() + path)).timeout(CLIENT_TIMEOUT);
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The status line of the response on a raw socket, or null when the server closed without one. */
    private static String statusLine(Socket s) throws Exception {
        InputStream in = s.getInputStream();
        StringBuilder line = new StringBuilder();
        int c;
        while ((c = in.read()) != -1 && c != '\n') {
            line.append((char) c);
        }
        return line.length() == 0 ? null : line.toString().trim();
    }

    @Test
    void healthReadinessAndMetricsAnswerFastWhileManyClientsStallMidRequest() throws Exception {
        start(TOKEN, Duration.ofSeconds(30));
        for (int i = 0; i < 16; i++) {
            OutputStream out = connect().getOutputStream();
            if (i % 2 == 0) {
                out.write("GET /healthz HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
            } else {
                out.write(("PUT /endpoints/app HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN
                                + "\r\nContent-Length: 100\r\n\r\n{\"vers")
                        .getBytes(StandardCharsets.US_ASCII));
            }
            out.flush();
        }
        long started = System.nanoTime();
        assertThat(get("/healthz", null).statusCode()).isEqualTo(200);
        assertThat(get("/readyz", null).statusCode()).isEqualTo(200);
        HttpResponse<String> metrics = get("/metrics", null);
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.body()).contains("admin_test_total 1");
        // Served while the stalled requests wait out their 30 s: a bound only a blocked server misses.
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(15));
        assertThat(applied.get()).as("a half-sent body is never applied").isNull();
    }

    @Test
    void aConnectionThatDoesNotFinishItsRequestInTimeIsClosed() throws Exception {
        start(TOKEN, Duration.ofMillis(300));
        Socket s = connect();
        s.getOutputStream().write("GET /healthz HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
        long started = System.nanoTime();
        assertThat(s.getInputStream().read()).as("closed without an answer").isEqualTo(-1);
        // Closed by the 300 ms request timeout; without it the connection would stay open for good.
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(15));
    }

    @Test
    void keepAliveConnectionsServeSeveralRequests() throws Exception {
        start(TOKEN, Duration.ofSeconds(5));
        Socket s = connect();
        for (int i = 0; i < 3; i++) {
            s.getOutputStream().write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(statusLine(s)).isEqualTo("HTTP/1.1 200 OK");
            // Skip the rest of the answer: headers, blank line, "ok\n".
            String line;
            do {
                line = readLine(s.getInputStream());
            } while (!line.isEmpty());
            assertThat(readLine(s.getInputStream())).isEqualTo("ok");
        }
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws Exception {
        start(TOKEN, Duration.ofSeconds(5));
        Socket s = connect();
        s.getOutputStream()
                .write(("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                + "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
        String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        assertThat(answer).startsWith("HTTP/1.1 200 OK").endsWith("ready\n");
        assertThat(answer.indexOf("ok\n")).isLessThan(answer.indexOf("ready\n"));
    }

    private static String readLine(InputStream in) throws Exception {
        StringBuilder line = new StringBuilder();
        int c;
        while ((c = in.read()) != -1 && c != '\n') {
            line.append((char) c);
        }
        return line.toString().trim();
    }

    @Test
    void anOversizedBodyGets413BeforeItIsRead() throws Exception {
        start(TOKEN, Duration.ofSeconds(5));
        Socket s = connect();
        s.getOutputStream()
                .write(("PUT /endpoints/app HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN
                                + "\r\nContent-Length: " + (AdminServer.MAX_BODY + 1) + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
        assertThat(statusLine(s)).isEqualTo("HTTP/1.1 413 Request Entity Too Large");
        assertThat(applied.get()).isNull();
    }

    @Test
    void oversizedHeadersGet400() throws Exception {
        start(TOKEN, Duration.ofSeconds(5));
        Socket s = connect();
        s.getOutputStream()
                .write(("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(SmallHttpServer.MAX_HEADER_BYTES)
                                + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
        assertThat(statusLine(s)).isEqualTo("HTTP/1.1 400 Bad Request");
    }

    @Test
    void endpointListingNeedsTheTokenWhenOneIsConfigured() throws Exception {
        start(TOKEN, Duration.ofSeconds(5));
        assertThat(get("/endpoints", null).statusCode()).isEqualTo(401);
        assertThat(get("/endpoints", TOKEN + "x").statusCode()).isEqualTo(401);
        HttpResponse<String> listed = get("/endpoints", TOKEN);
        assertThat(listed.statusCode()).isEqualTo(200);
        assertThat(listed.body()).isEqualTo("{\"app\":{}}");
        HttpResponse<String> put = http.send(
                HttpRequest.newBuilder(URI.create(base() + "/endpoints/app"))
                        .header("Authorization", "Bearer " + TOKEN)
                        .PUT(HttpRequest.BodyPublishers.ofString("{\"version\":2}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(put.statusCode()).isEqualTo(200);
        assertThat(applied.get()).isEqualTo("app:{\"version\":2}");
    }

    @Test
    void withoutATokenTheListingIsOpenAndChangesAreRefused() throws Exception {
        start(null, Duration.ofSeconds(5));
        assertThat(get("/endpoints", null).statusCode()).isEqualTo(200);
        HttpResponse<String> put = http.send(
                HttpRequest.newBuilder(URI.create(base() + "/endpoints/app"))
                        .PUT(HttpRequest.BodyPublishers.ofString("{}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(put.statusCode()).isEqualTo(403);
        assertThat(applied.get()).isNull();
    }
}
