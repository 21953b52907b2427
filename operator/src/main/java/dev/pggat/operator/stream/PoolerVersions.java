package dev.pggat.operator.stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pggat.pooler.routing.EndpointSet;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.Pod;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Asks pooler pods which endpoint set they have applied, through their admin port's {@code GET /endpoints}.
 *
 * <p>A pod counts as at a version when every database it serves routes by that version's servers. Members are
 * compared rather than version numbers alone: each operator replica stamps its own versions, so a pod subscribed to
 * another replica holds the same servers under another number.
 */
public final class PoolerVersions implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PoolerVersions.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The container port the pooler's admin HTTP server listens on in the generated Deployment's pods. */
    public static final String ADMIN_PORT_NAME = "admin";

    private final Duration timeout;
    private final ExecutorService executor;
    private final HttpClient http;

    /** @param timeout per pod, for connecting and for the answer */
    public PoolerVersions(Duration timeout) {
        this.timeout = timeout;
        AtomicInteger n = new AtomicInteger();
        this.executor = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "pggat-pooler-versions-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(timeout)
                .executor(executor)
                .build();
    }

    /** How many pods were asked, and how many of them have applied the expected set. */
    public record Count(int pods, int atVersion) {}

    /**
     * @param pods the PgPool's pooler pods; those not running with an address are left out of both counts
     * @param expected the endpoint set the stream serves now
     */
    public Count count(List<Pod> pods, EndpointSet expected) {
        return count(pods, expected, ADMIN_PORT_NAME);
    }

    /**
     * @param adminPortName the name of the container port the pooler's admin server listens on: {@link
     *     #ADMIN_PORT_NAME} in pooler pods, the injector's own name in application pods, where {@code admin} may
     *     well be the application's
     */
    public Count count(List<Pod> pods, EndpointSet expected, String adminPortName) {
        List<CompletableFuture<Boolean>> answers = new ArrayList<>();
        for (Pod pod : pods) {
            URI uri = endpointsUri(pod, adminPortName);
            if (uri == null) {
                continue;
            }
            HttpRequest request =
                    HttpRequest.newBuilder(uri).timeout(timeout).GET().build();
            String name = pod.getMetadata().getName();
            answers.add(http.sendAsync(request, HttpResponse.BodyHandlers.ofString())
                    .thenApply(r -> r.statusCode() == 200 && applied(r.body(), expected))
                    .exceptionally(e -> {
                        LOG.debug("pooler pod {}: cannot read its endpoint sets: {}", name, e.getMessage());
                        return false;
                    }));
        }
        int at = 0;
        for (CompletableFuture<Boolean> a : answers) {
            try {
                if (a.get(timeout.toMillis() * 2, TimeUnit.MILLISECONDS)) {
                    at++;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            } catch (Exception e) {
                a.cancel(true);
            }
        }
        return new Count(answers.size(), at);
    }

    /**
     * {@code http://<pod IP>:<admin port>/endpoints}, or null for a pod that cannot answer (yet). The port is looked
     * up in init containers too: an injected sidecar is a native sidecar, which is an init container.
     */
    static URI endpointsUri(Pod pod, String adminPortName) {
        if (pod.getMetadata().getDeletionTimestamp() != null
                || pod.getStatus() == null
                || !"Running".equals(pod.getStatus().getPhase())
                || pod.getStatus().getPodIP() == null
                || pod.getStatus().getPodIP().isBlank()
                || pod.getSpec() == null) {
            return null;
        }
        Integer port = null;
        List<Container> containers = new ArrayList<>();
        if (pod.getSpec().getInitContainers() != null) {
            containers.addAll(pod.getSpec().getInitContainers());
        }
        if (pod.getSpec().getContainers() != null) {
            containers.addAll(pod.getSpec().getContainers());
        }
        for (Container c : containers) {
            for (ContainerPort p : c.getPorts() == null ? List.<ContainerPort>of() : c.getPorts()) {
                if (adminPortName.equals(p.getName()) && p.getContainerPort() != null) {
                    port = p.getContainerPort();
                }
            }
        }
        if (port == null) {
            return null;
        }
        String ip = pod.getStatus().getPodIP();
        String host = ip.contains(":") ? "[" + ip + "]" : ip;
        return URI.create("http://" + host + ":" + port + "/endpoints");
    }

    /**
     * Whether every database in a pooler's {@code GET /endpoints} answer routes by the expected servers.
     *
     * @param body {@code {"<database>":{"set":{"version":...,"endpoints":[...]},"states":[...]},...}}
     */
    static boolean applied(String body, EndpointSet expected) {
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (Exception e) {
            return false;
        }
        if (root == null || !root.isObject() || root.isEmpty()) {
            return false;
        }
        List<EndpointSet.Member> want = sorted(expected.endpoints());
        for (JsonNode db : root) {
            JsonNode set = db.get("set");
            if (set == null) {
                return false;
            }
            EndpointSet have;
            try {
                have = EndpointSet.fromJson(set.toString());
            } catch (IllegalArgumentException e) {
                return false;
            }
            if (!sorted(have.endpoints()).equals(want)) {
                return false;
            }
        }
        return true;
    }

    private static List<EndpointSet.Member> sorted(List<EndpointSet.Member> members) {
        return members.stream()
                .sorted(Comparator.comparing(EndpointSet.Member::name)
                        .thenComparing(EndpointSet.Member::host)
                        .thenComparingInt(EndpointSet.Member::port))
                .toList();
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
