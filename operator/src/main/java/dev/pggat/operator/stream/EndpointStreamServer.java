package dev.pggat.operator.stream;

import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.operator.model.ClusterKinds;
import dev.pggat.pooler.admin.SmallHttpServer;
import dev.pggat.pooler.stream.Envelope;
import dev.pggat.pooler.stream.StreamProtocol;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves every PgPool's endpoint stream (see {@link StreamProtocol}) from this operator replica's informer caches,
 * whether or not it is the leader: snapshots follow the cluster objects directly, without waiting for a reconcile.
 *
 * <p>Resources are spent in order of trust. A connection costs no thread until its whole request is in (within
 * {@link #REQUEST_TIMEOUT}, see {@link SmallHttpServer}); its token is then checked on a few threads with a bounded
 * queue (503 beyond it); only an authenticated subscriber within the subscriber cap gets a thread of its own.
 */
public final class EndpointStreamServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EndpointStreamServer.class);
    private static final Pattern PATH = Pattern.compile(
            "^/v1/namespaces/([a-z0-9]([-a-z0-9]*[a-z0-9])?)/pgpools/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)/stream$");

    public static final Duration DEFAULT_HEARTBEAT = Duration.ofSeconds(5);
    public static final int DEFAULT_MAX_SUBSCRIBERS = 2000;
    /** How long a connection may take to send its request: poolers send a few hundred bytes at once. */
    static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(10);
    /** Subscribers send GET without a body. */
    private static final int MAX_BODY = 4096;
    /** Token checks at once (each may ask the API server) and waiting; a reconnect storm beyond that is told 503. */
    private static final int AUTH_THREADS = 4;

    private static final int AUTH_QUEUE = 512;

    private final StreamSources sources;
    private final EndpointHub hub;
    private final InetSocketAddress bind;
    private final Duration requestTimeout;
    private volatile SmallHttpServer http;
    private final ThreadPoolExecutor auth;
    private final ExecutorService streams;
    private final ExecutorService background;
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
            TokenReviews tokenReviews,
            Duration requestTimeout)
            throws IOException {
        this.client = client;
        this.tokenReviews = tokenReviews;
        this.hub = new EndpointHub(clock);
        this.heartbeatMillis = heartbeat.toMillis();
        this.subscriberSlots = new Semaphore(maxSubscribers);
        this.recompute = Executors.newSingleThreadExecutor(daemon("pggat-stream-recompute"));
        this.background = Executors.newSingleThreadExecutor(daemon("pggat-stream-informers"));
        this.sources = new StreamSources(client, namespaces, this::changed, background);
        this.auth = new ThreadPoolExecutor(
                AUTH_THREADS,
                AUTH_THREADS,
                60,
                TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(AUTH_QUEUE),
                daemon("pggat-stream-auth"));
        // Unbounded as a pool, bounded by the subscriber slots: a thread only after the token and the cap.
        this.streams = Executors.newCachedThreadPool(daemon("pggat-stream-subscriber"));
        this.bind = bind;
        this.requestTimeout = requestTimeout;
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
        return start(client, namespaces, bind, heartbeat, maxSubscribers, clock, tokenReviews, REQUEST_TIMEOUT);
    }

    /** @param requestTimeout how long a connection may take to send its whole request */
    public static EndpointStreamServer start(
            KubernetesClient client,
            Set<String> namespaces,
            InetSocketAddress bind,
            Duration heartbeat,
            int maxSubscribers,
            Clock clock,
            TokenReviews tokenReviews,
            Duration requestTimeout)
            throws IOException {
        EndpointStreamServer s = new EndpointStreamServer(
                client, namespaces, bind, heartbeat, maxSubscribers, clock, tokenReviews, requestTimeout);
        try {
            s.sources.start();
            s.recomputeAll();
            // Listening only now: a pooler that connects early waits in the backlog instead of hearing 401.
            s.http = SmallHttpServer.start("pggat-stream-io", s.bind, null, s.requestTimeout, MAX_BODY, 2, s::handle);
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
        LOG.info("endpoint stream listening on {}", s.http.address());
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
        return http.address().getPort();
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

    /** On the I/O thread: cheap checks only; the token check may call the API server and runs on {@link #auth}. */
    private void handle(SmallHttpServer.Exchange ex) {
        String path = ex.path();
        if (path.equals("/healthz")) {
            ex.respond(200, "ok\n");
            return;
        }
        if (!path.startsWith("/v1/namespaces/")) {
            respond(ex, 404, "expected " + StreamProtocol.path("<namespace>", "<pgpool>"));
            return;
        }
        if (!"GET".equals(ex.method())) {
            respond(ex, 405, "only GET is accepted", Map.of("Allow", "GET"));
            return;
        }
        Matcher m = PATH.matcher(path);
        if (!m.matches()) {
            respond(ex, 404, "expected " + StreamProtocol.path("<namespace>", "<pgpool>"));
            return;
        }
        String held = ex.header(StreamProtocol.LAST_VERSION_HEADER);
        Long heldVersion = null;
        if (held != null) {
            heldVersion = parseHeldVersion(held);
            if (heldVersion == null) {
                respond(
                        ex,
                        400,
                        StreamProtocol.LAST_VERSION_HEADER + " must be an integer from 0 to " + EndpointHub.MAX_VERSION
                                + "; got \"" + abbreviate(held) + "\"");
                return;
            }
        }
        Long version = heldVersion;
        try {
            auth.execute(() -> authenticate(ex, m.group(1), m.group(3), version));
        } catch (RejectedExecutionException e) {
            respond(ex, 503, "too many subscribers connecting at once", Map.of("Retry-After", "5"));
        }
    }

    /** The version a subscriber holds, or null when it is not an integer within {@link EndpointHub#MAX_VERSION}. */
    static Long parseHeldVersion(String header) {
        long v;
        try {
            v = Long.parseLong(header.trim());
        } catch (NumberFormatException e) {
            return null;
        }
        return v < 0 || v > EndpointHub.MAX_VERSION ? null : v;
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "...";
    }

    private void authenticate(SmallHttpServer.Exchange ex, String namespace, String name, Long held) {
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
            respond(ex, 503, "too many subscribers on this operator replica", Map.of("Retry-After", "5"));
            return;
        }
        try {
            streams.execute(() -> {
                try {
                    subscribers.incrementAndGet();
                    serve(ex, key, stream, held);
                } finally {
                    subscribers.decrementAndGet();
                    subscriberSlots.release();
                }
            });
        } catch (RejectedExecutionException e) {
            // stopping
            subscriberSlots.release();
            respond(ex, 503, "the operator is stopping", Map.of("Retry-After", "5"));
        }
    }

    private static String bearer(SmallHttpServer.Exchange ex) {
        String header = ex.header("Authorization");
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        return header.substring(7).trim();
    }

    private static void unauthorized(SmallHttpServer.Exchange ex) {
        respond(ex, 401, "a valid bearer token for this PgPool is required", Map.of("WWW-Authenticate", "Bearer"));
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

    private void serve(SmallHttpServer.Exchange ex, String key, EndpointHub.PoolStream stream, Long held) {
        if (held != null) {
            stream.raiseAbove(held);
        }
        String pod = ex.header(StreamProtocol.POD_HEADER);
        // A subscriber that stops reading is let go once a line has waited this long for room in the socket.
        Duration writeTimeout = Duration.ofMillis(Math.max(10_000, heartbeatMillis * 3));
        long sent = -1;
        try (SmallHttpServer.Stream out =
                ex.stream(200, StreamProtocol.CONTENT_TYPE, Map.of("Cache-Control", "no-store"))) {
            LOG.info(
                    "endpoint stream {}: subscriber {} from {}",
                    key,
                    pod == null ? "(unnamed)" : pod,
                    ex.remoteAddress());
            while (out.isOpen()) {
                EndpointHub.Snapshot s = stream.await(sent, heartbeatMillis);
                if (s == null) {
                    return;
                }
                String line =
                        s.seq() != sent ? StreamProtocol.snapshotLine(s.envelope()) : StreamProtocol.heartbeatLine();
                out.write(line.getBytes(StandardCharsets.UTF_8), writeTimeout);
                sent = s.seq();
            }
        } catch (IOException e) {
            LOG.debug("endpoint stream {}: subscriber {} left: {}", key, pod, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void respond(SmallHttpServer.Exchange ex, int status, String text) {
        respond(ex, status, text, Map.of());
    }

    private static void respond(SmallHttpServer.Exchange ex, int status, String text, Map<String, String> headers) {
        ex.respond(status, "text/plain; charset=utf-8", (text + "\n").getBytes(StandardCharsets.UTF_8), headers);
    }

    /** Stops listening and lets every subscriber go; poolers keep their last snapshot and reconnect elsewhere. */
    @Override
    public void close() {
        hub.endAll();
        if (http != null) {
            http.close();
        }
        sources.close();
        shutdownExecutors();
    }

    private void shutdownExecutors() {
        recompute.shutdownNow();
        background.shutdownNow();
        auth.shutdownNow();
        streams.shutdownNow();
    }
}
