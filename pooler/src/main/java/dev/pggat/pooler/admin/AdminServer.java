package dev.pggat.pooler.admin;

import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * The small admin HTTP endpoint on its own port: {@code /healthz} (the process is alive), {@code /readyz} (the
 * pooler accepts clients; false while starting and draining), {@code /metrics} (Prometheus text format), and
 * {@code /endpoints}: GET shows each database's endpoint set and endpoint health; PUT {@code /endpoints/<db>}
 * replaces a database's endpoint set; {@code /trace}: GET lists the packet traces, POST starts or stops one (the
 * body is what follows TRACE on the console, such as {@code USER alice FOR 100 MESSAGES} or {@code OFF}). With
 * {@code admin.token} configured, all but GET /endpoints need it as a bearer token; without one, GET /endpoints is
 * open and everything else is refused (a trace shows SQL text).
 *
 * <p>Served by {@link SmallHttpServer}: clients that stall mid-request cannot delay the probes.
 */
public final class AdminServer {
    /** How long a connection may take to send a whole request; probes and scrapes take milliseconds. */
    static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(10);

    static final int MAX_BODY = 1 << 20;

    private final String host;
    private final int port;
    private final PrometheusRegistry registry;
    private final Duration requestTimeout;
    private final BooleanSupplier ready;
    private final byte[] expected;
    private final Control control;
    private final ExpositionFormats formats = ExpositionFormats.init();
    private SmallHttpServer server;

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

        /**
         * Runs the words of a console TRACE command (packet tracing), or lists the traces for null.
         *
         * @return the answer as text; an answer starting with "error: " is the user's mistake
         */
        default String trace(String command) {
            return "error: packet tracing is not available here";
        }
    }

    public AdminServer(
            String host, int port, PrometheusRegistry registry, BooleanSupplier ready, String token, Control control) {
        this(host, port, registry, ready, token, control, REQUEST_TIMEOUT);
    }

    AdminServer(
            String host,
            int port,
            PrometheusRegistry registry,
            BooleanSupplier ready,
            String token,
            Control control,
            Duration requestTimeout) {
        this.host = host;
        this.port = port;
        this.registry = registry;
        this.requestTimeout = requestTimeout;
        this.ready = ready;
        this.expected = token == null ? null : token.getBytes(StandardCharsets.UTF_8);
        this.control = control;
    }

    public void start() throws IOException {
        // Two I/O threads: a slow scrape on one leaves the other for the probes.
        server = SmallHttpServer.start(
                "pggat-admin", new InetSocketAddress(host, port), null, requestTimeout, MAX_BODY, 2, this::handle);
    }

    public InetSocketAddress address() {
        return server.address();
    }

    public void stop() {
        if (server != null) {
            server.close();
        }
    }

    private void handle(SmallHttpServer.Exchange ex) throws IOException {
        String path = ex.path();
        switch (path) {
            case "/healthz" -> ex.respond(200, "ok\n");
            case "/readyz" -> {
                boolean ok = ready.getAsBoolean();
                ex.respond(ok ? 200 : 503, ok ? "ready\n" : "not ready\n");
            }
            case "/metrics" -> metrics(ex);
            default -> {
                if (path.equals("/endpoints") || path.startsWith("/endpoints/")) {
                    endpoints(ex, path);
                } else if (path.equals("/trace")) {
                    trace(ex);
                } else {
                    ex.respond(404, "not found: try /healthz, /readyz, /metrics or /endpoints\n");
                }
            }
        }
    }

    private void metrics(SmallHttpServer.Exchange ex) throws IOException {
        String accept = ex.header("Accept");
        ExpositionFormatWriter writer = accept == null ? null : formats.findWriter(accept);
        if (writer == null || !writer.isAvailable()) {
            writer = formats.getPrometheusTextFormatWriter();
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(16384);
        writer.write(out, registry.scrape());
        ex.respond(200, writer.getContentType(), out.toByteArray(), Map.of());
    }

    private void endpoints(SmallHttpServer.Exchange ex, String path) {
        String method = ex.method();
        boolean list = method.equals("GET") && (path.equals("/endpoints") || path.equals("/endpoints/"));
        if (!list && !method.equals("PUT")) {
            ex.respond(405, "use GET /endpoints or PUT /endpoints/<database>\n");
            return;
        }
        if (list && expected == null) {
            // Hosts and ports only, no secrets; without a token the port is meant to be firewalled (docs/security.md).
            json(ex, control.endpointsJson());
            return;
        }
        if (expected == null) {
            ex.respond(403, "changes are disabled: set admin.token in the configuration\n");
            return;
        }
        String auth = ex.header("Authorization");
        byte[] given = auth != null && auth.startsWith("Bearer ")
                ? auth.substring(7).getBytes(StandardCharsets.UTF_8)
                : new byte[0];
        if (!MessageDigest.isEqual(expected, given)) {
            ex.respond(401, "missing or wrong bearer token\n");
            return;
        }
        if (list) {
            json(ex, control.endpointsJson());
            return;
        }
        if (path.length() <= "/endpoints/".length()) {
            ex.respond(404, "use PUT /endpoints/<database>\n");
            return;
        }
        String database = path.substring("/endpoints/".length());
        String problem = control.applyEndpointSet(database, new String(ex.body(), StandardCharsets.UTF_8));
        if (problem == null) {
            ex.respond(200, "applied\n");
        } else {
            int status = problem.startsWith("stale") ? 409 : problem.startsWith("unknown") ? 404 : 400;
            ex.respond(status, problem + "\n");
        }
    }

    private void trace(SmallHttpServer.Exchange ex) {
        String method = ex.method();
        if (!method.equals("GET") && !method.equals("POST")) {
            ex.respond(405, "use GET /trace or POST /trace with a body such as: USER alice FOR 100 MESSAGES\n");
            return;
        }
        if (expected == null) {
            ex.respond(403, "packet tracing is disabled: set admin.token in the configuration\n");
            return;
        }
        if (!authorized(ex)) {
            ex.respond(401, "missing or wrong bearer token\n");
            return;
        }
        String answer = control.trace(method.equals("GET") ? null : new String(ex.body(), StandardCharsets.UTF_8));
        ex.respond(answer.startsWith("error: ") ? 400 : 200, answer + "\n");
    }

    private boolean authorized(SmallHttpServer.Exchange ex) {
        String auth = ex.header("Authorization");
        byte[] given = auth != null && auth.startsWith("Bearer ")
                ? auth.substring(7).getBytes(StandardCharsets.UTF_8)
                : new byte[0];
        return MessageDigest.isEqual(expected, given);
    }

    private static void json(SmallHttpServer.Exchange ex, String body) {
        ex.respond(200, "application/json", body.getBytes(StandardCharsets.UTF_8), Map.of());
    }
}
