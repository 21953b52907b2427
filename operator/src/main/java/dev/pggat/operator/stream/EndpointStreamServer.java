package dev.pggat.operator.stream;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.operator.model.ClusterKinds;
import dev.pggat.pooler.stream.Envelope;
import dev.pggat.pooler.stream.StreamProtocol;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves every PgPool's endpoint stream (see {@link StreamProtocol}) from this operator replica's informer caches,
 * whether or not it is the leader: snapshots follow the cluster objects directly, without waiting for a reconcile.
 */
public final class EndpointStreamServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EndpointStreamServer.class);
    private static final Pattern PATH = Pattern.compile(
            "^/v1/namespaces/([a-z0-9]([-a-z0-9]*[a-z0-9])?)/pgpools/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)/stream$");

    public static final Duration DEFAULT_HEARTBEAT = Duration.ofSeconds(5);
    public static final int DEFAULT_MAX_SUBSCRIBERS = 2000;

    private final StreamSources sources;
    private final EndpointHub hub;
    private final HttpServer http;
    private final ExecutorService handlers;
    private final ExecutorService recompute;
    private final Set<String> dirty = ConcurrentHashMap.newKeySet();
    private final Semaphore subscriberSlots;
    private final long heartbeatMillis;
    private final AtomicInteger subscribers = new AtomicInteger();
    private final KubernetesClient client;
    private final Map<String, CachedSecret> tokenSecrets = new ConcurrentHashMap<>();
    private final TokenReviews tokenReviews;

    /** Tokens are read with a GET when poolers connect, so the operator needs no right to list or watch Secrets. */
    private record CachedSecret(Secret secret, long readAtNanos) {}

    private static final long TOKEN_CACHE_NANOS = 5_000_000_000L;

    private EndpointStreamServer(
            KubernetesClient client,
            Set<String> namespaces,
            InetSocketAddress bind,
            Duration heartbeat,
            int maxSubscribers,
            Clock clock,
            TokenReviews tokenReviews)
            throws IOException {
        this.client = client;
        this.tokenReviews = tokenReviews;
        this.hub = new EndpointHub(clock);
        this.heartbeatMillis = heartbeat.toMillis();
        this.subscriberSlots = new Semaphore(maxSubscribers);
        this.recompute = Executors.newSingleThreadExecutor(daemon("pggat-stream-recompute"));
        this.handlers = Executors.newCachedThreadPool(daemon("pggat-stream-http"));
        this.sources = new StreamSources(client, namespaces, this::changed, handlers);
        this.http = HttpServer.create(bind, 128);
        http.setExecutor(handlers);
        http.createContext("/v1/namespaces/", this::handleStream);
        http.createContext("/healthz", ex -> respond(ex, 200, "ok"));
    }

    /**
     * Starts the informers, waits for their first lists, computes every PgPool's snapshot, then listens.
     *
     * @param namespaces where PgPools are watched; empty for all
     * @param heartbeat the longest silence on a stream; poolers give a stream up after three of these
     */
    public static EndpointStreamServer start(
            KubernetesClient client, Set<String> namespaces, InetSocketAddress bind, Duration heartbeat, Clock clock)
            throws IOException {
        return start(client, namespaces, bind, heartbeat, DEFAULT_MAX_SUBSCRIBERS, clock);
    }

    public static EndpointStreamServer start(
            KubernetesClient client,
            Set<String> namespaces,
            InetSocketAddress bind,
            Duration heartbeat,
            int maxSubscribers,
            Clock clock)
            throws IOException {
        return start(client, namespaces, bind, heartbeat, maxSubscribers, clock, null);
    }

    /**
     * @param tokenReviews checks projected ServiceAccount tokens; null accepts per-PgPool tokens only
     */
    public static EndpointStreamServer start(
            KubernetesClient client,
            Set<String> namespaces,
            InetSocketAddress bind,
            Duration heartbeat,
            int maxSubscribers,
            Clock clock,
            TokenReviews tokenReviews)
            throws IOException {
        EndpointStreamServer s =
                new EndpointStreamServer(client, namespaces, bind, heartbeat, maxSubscribers, clock, tokenReviews);
        try {
            s.sources.start();
            s.recomputeAll();
            s.http.start();
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
        LOG.info("endpoint stream listening on {}", s.http.getAddress());
        return s;
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    public int port() {
        return http.getAddress().getPort();
    }

    public EndpointHub hub() {
        return hub;
    }

    /** Open streams right now. */
    public int subscribers() {
        return subscribers.get();
    }

    // ------------------------------------------------------------------ snapshots

    /** Informer callbacks only mark the namespace; one thread recomputes, so a burst of events costs one pass. */
    private void changed(String namespace) {
        if (namespace != null && dirty.add(namespace)) {
            try {
                recompute.execute(() -> {
                    dirty.remove(namespace);
                    recompute(namespace);
                });
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // stopping
            }
        }
    }

    private void recomputeAll() {
        Set<String> namespaces = new HashSet<>();
        hub.keys().forEach(k -> namespaces.add(k.substring(0, k.indexOf('/'))));
        for (PgPool pool : sources.allPools()) {
            namespaces.add(pool.getMetadata().getNamespace());
        }
        namespaces.forEach(this::recompute);
    }

    private void recompute(String namespace) {
        Set<String> seen = new HashSet<>();
        for (PgPool pool : sources.pools(namespace)) {
            String key = Snapshots.key(pool);
            seen.add(key);
            try {
                hub.update(key, snapshot(pool));
            } catch (RuntimeException e) {
                LOG.warn("endpoint stream: cannot compute the snapshot of PgPool {}: {}", key, e.getMessage());
            }
        }
        for (String key : hub.keys()) {
            if (key.startsWith(namespace + "/") && !seen.contains(key)) {
                tokenSecrets.remove(key);
                hub.remove(key);
            }
        }
    }

    private Envelope snapshot(PgPool pool) {
        var ref = pool.getSpec() == null ? null : pool.getSpec().cluster;
        String ns = pool.getMetadata().getNamespace();
        GenericKubernetesResource cluster = null;
        List<Pod> pods = List.of();
        if (ref != null && (ref.cnpg != null || ref.zalando != null)) {
            ClusterKinds kind = ref.cnpg != null ? ClusterKinds.CNPG : ClusterKinds.ZALANDO;
            String name = ref.cnpg != null ? ref.cnpg.name : ref.zalando.name;
            if (name != null) {
                cluster = sources.cluster(kind, ns, name);
                pods = sources.clusterPods(kind, ns, name);
            }
        }
        return Snapshots.of(pool, cluster, pods, sources.poolerPods(pool));
    }

    // ------------------------------------------------------------------ HTTP

    private void handleStream(HttpExchange ex) throws IOException {
        try {
            if (!"GET".equals(ex.getRequestMethod())) {
                ex.getResponseHeaders().set("Allow", "GET");
                respond(ex, 405, "only GET is accepted");
                return;
            }
            Matcher m = PATH.matcher(ex.getRequestURI().getPath());
            if (!m.matches()) {
                respond(ex, 404, "expected " + StreamProtocol.path("<namespace>", "<pgpool>"));
                return;
            }
            String namespace = m.group(1);
            String name = m.group(3);
            String key = namespace + "/" + name;
            EndpointHub.PoolStream stream = hub.stream(key);
            String token = bearer(ex);
            if (tokenReviews != null && TokenReviews.looksLikeServiceAccountToken(token)) {
                TokenReviews.Identity who = tokenReviews.review(token);
                if (who != null && !who.namespace().equals(namespace)) {
                    // Authenticated, so the answer may say why; it still tells nothing of the PgPool.
                    LOG.info(
                            "endpoint stream {}: refused service account {}/{} of another namespace",
                            key,
                            who.namespace(),
                            who.serviceAccount());
                    respond(
                            ex,
                            403,
                            "service account " + who.namespace() + "/" + who.serviceAccount()
                                    + " may only subscribe to PgPools of namespace " + who.namespace());
                    return;
                }
                if (who == null || stream == null) {
                    unauthorized(ex);
                    return;
                }
            } else if (stream == null || !StreamTokens.matches(tokenSecret(namespace, name), token)) {
                // The same answer whether the PgPool exists or not, so the endpoint tells nothing to a stranger.
                unauthorized(ex);
                return;
            }
            if (!subscriberSlots.tryAcquire()) {
                ex.getResponseHeaders().set("Retry-After", "5");
                respond(ex, 503, "too many subscribers on this operator replica");
                return;
            }
            try {
                subscribers.incrementAndGet();
                serve(ex, key, stream);
            } finally {
                subscribers.decrementAndGet();
                subscriberSlots.release();
            }
        } finally {
            ex.close();
        }
    }

    private static String bearer(HttpExchange ex) {
        String header = ex.getRequestHeaders().getFirst("Authorization");
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        return header.substring(7).trim();
    }

    private static void unauthorized(HttpExchange ex) throws IOException {
        ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
        respond(ex, 401, "a valid bearer token for this PgPool is required");
    }

    /**
     * The PgPool's token Secret, read at most every few seconds: a reconnect storm after an operator restart costs
     * one GET per PgPool, not one per pooler pod.
     */
    private Secret tokenSecret(String namespace, String poolName) {
        String key = namespace + "/" + poolName;
        long now = System.nanoTime();
        CachedSecret cached = tokenSecrets.get(key);
        if (cached != null && now - cached.readAtNanos() < TOKEN_CACHE_NANOS) {
            return cached.secret();
        }
        Secret s;
        try {
            s = client.secrets()
                    .inNamespace(namespace)
                    .withName(StreamTokens.secretName(poolName))
                    .get();
        } catch (KubernetesClientException e) {
            LOG.warn("endpoint stream {}: cannot read the token Secret: {}", key, e.getMessage());
            return null;
        }
        tokenSecrets.put(key, new CachedSecret(s, now));
        return s;
    }

    private void serve(HttpExchange ex, String key, EndpointHub.PoolStream stream) throws IOException {
        String held = ex.getRequestHeaders().getFirst(StreamProtocol.LAST_VERSION_HEADER);
        if (held != null) {
            try {
                stream.raiseAbove(Long.parseLong(held.trim()));
            } catch (NumberFormatException e) {
                respond(ex, 400, StreamProtocol.LAST_VERSION_HEADER + " \"" + held + "\" is not an integer");
                return;
            }
        }
        String pod = ex.getRequestHeaders().getFirst(StreamProtocol.POD_HEADER);
        ex.getResponseHeaders().set("Content-Type", StreamProtocol.CONTENT_TYPE);
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.sendResponseHeaders(200, 0);
        LOG.info(
                "endpoint stream {}: subscriber {} from {}",
                key,
                pod == null ? "(unnamed)" : pod,
                ex.getRemoteAddress());
        long sent = -1;
        try (OutputStream out = ex.getResponseBody()) {
            // Headers go out at once; the subscriber's request timeout covers only them.
            out.flush();
            while (true) {
                EndpointHub.Snapshot s = stream.await(sent, heartbeatMillis);
                if (s == null) {
                    return;
                }
                String line =
                        s.seq() != sent ? StreamProtocol.snapshotLine(s.envelope()) : StreamProtocol.heartbeatLine();
                out.write(line.getBytes(StandardCharsets.UTF_8));
                out.flush();
                sent = s.seq();
            }
        } catch (IOException e) {
            LOG.debug("endpoint stream {}: subscriber {} left: {}", key, pod, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void respond(HttpExchange ex, int status, String text) throws IOException {
        byte[] body = (text + "\n").getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        ex.sendResponseHeaders(status, body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    /** Stops listening and lets every subscriber go; poolers keep their last snapshot and reconnect elsewhere. */
    @Override
    public void close() {
        hub.endAll();
        http.stop(0);
        sources.close();
        recompute.shutdownNow();
        handlers.shutdownNow();
    }
}
