package dev.pggat.pooler.stream;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Subscribes to the operator's endpoint stream and hands every snapshot to a callback. Connection failures,
 * refusals and silent connections lead to a new attempt after an exponentially growing, jittered delay; the
 * pooler keeps serving from the last snapshot (or its configuration) meanwhile, since nothing is applied until a
 * new snapshot arrives.
 *
 * <p>The callback runs on one thread at a time, in stream order.
 *
 * <p>What the operator sends is bounded: of a refusal's body only the first {@value #MAX_ERROR_BODY_BYTES} bytes
 * are read, and a stream line (one snapshot: every endpoint and peer of the PgPool, a few hundred bytes each) may
 * be at most {@value #DEFAULT_MAX_LINE_BYTES} bytes, tens of thousands of endpoints. A longer line ends the
 * connection like any other failure, and the next attempt follows the backoff.
 */
public final class EndpointStreamClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EndpointStreamClient.class);
    private static final int MAX_ERROR_BODY = 200;
    /** How much of a refusal's body is read: enough for the operator's one-line reasons. */
    static final int MAX_ERROR_BODY_BYTES = 4096;
    /** The longest stream line accepted, in bytes; see the class comment. */
    public static final int DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

    private int maxLineBytes = DEFAULT_MAX_LINE_BYTES;

    private final StreamSettings settings;
    private final Consumer<Envelope> onEnvelope;
    private final ScheduledExecutorService scheduler;
    private final ExecutorService httpExecutor;
    private final HttpClient http;
    private final CountDownLatch first = new CountDownLatch(1);
    private final AtomicInteger failures = new AtomicInteger();

    private volatile boolean closed;
    private volatile Envelope last;
    private volatile Connection current;

    /** Subscriptions that delivered a snapshot. */
    public final LongAdder subscriptionsTotal = new LongAdder();
    /** Attempts that failed or connections that ended. */
    public final LongAdder disconnectsTotal = new LongAdder();
    /** Snapshots handed to the callback. */
    public final LongAdder snapshotsTotal = new LongAdder();

    public EndpointStreamClient(StreamSettings settings, Consumer<Envelope> onEnvelope) {
        this.settings = settings;
        this.onEnvelope = onEnvelope;
        this.scheduler = Executors.newSingleThreadScheduledExecutor(daemon("pggat-endpoint-stream"));
        this.httpExecutor = Executors.newCachedThreadPool(daemon("pggat-endpoint-stream-http"));
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(settings.connectTimeout())
                .executor(httpExecutor)
                .build();
    }

    private static ThreadFactory daemon(String name) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    /** A lower line cap, for tests: nobody sends 16 MiB lines quickly. */
    EndpointStreamClient withMaxLineBytes(int maxLineBytes) {
        this.maxLineBytes = maxLineBytes;
        return this;
    }

    /** Connects in the background and returns at once. */
    public EndpointStreamClient start() {
        long period = Math.max(100, settings.heartbeatTimeout().toMillis() / 4);
        scheduler.scheduleWithFixedDelay(this::checkSilence, period, period, TimeUnit.MILLISECONDS);
        scheduler.execute(this::connect);
        return this;
    }

    /** The last snapshot received, or null before the first. */
    public Envelope last() {
        return last;
    }

    /** Waits for the first snapshot; false when none came within the timeout. */
    public boolean awaitFirst(Duration timeout) throws InterruptedException {
        return first.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Whether a subscription is open and has delivered its snapshot. */
    public boolean isConnected() {
        Connection c = current;
        return c != null && c.delivered && !c.ended;
    }

    private void connect() {
        if (closed) {
            return;
        }
        HttpRequest.Builder request = HttpRequest.newBuilder(settings.url())
                .timeout(settings.connectTimeout())
                .header("Accept", StreamProtocol.CONTENT_TYPE)
                .GET();
        try {
            String token = settings.currentToken();
            if (token == null || token.isEmpty()) {
                retryLater("the token " + (settings.tokenFile() != null ? "file " + settings.tokenFile() : "")
                        + " is empty");
                return;
            }
            request.header("Authorization", "Bearer " + token);
        } catch (IOException e) {
            retryLater("cannot read token file " + settings.tokenFile() + ": " + e.getMessage());
            return;
        }
        Envelope held = last;
        if (held != null && held.endpoints() != null) {
            request.header(
                    StreamProtocol.LAST_VERSION_HEADER,
                    Long.toString(held.endpoints().version()));
        }
        if (settings.podName() != null) {
            request.header(StreamProtocol.POD_HEADER, settings.podName());
        }
        Connection c = new Connection();
        current = c;
        CompletableFuture<HttpResponse<String>> response;
        try {
            response = http.sendAsync(request.build(), c::bodyFor);
        } catch (RuntimeException e) {
            c.end("cannot send the request: " + e.getMessage());
            return;
        }
        c.future = response;
        response.whenComplete((r, error) -> {
            if (error != null) {
                Throwable cause = error.getCause() != null ? error.getCause() : error;
                c.end(cause.getClass().getSimpleName() + (cause.getMessage() == null ? "" : ": " + cause.getMessage()));
            } else if (r.statusCode() != 200) {
                String body = r.body() == null ? "" : r.body().strip();
                if (body.length() > MAX_ERROR_BODY) {
                    body = body.substring(0, MAX_ERROR_BODY) + "...";
                }
                c.end("the operator answered " + r.statusCode() + (body.isEmpty() ? "" : ": " + body));
            } else {
                c.end("the operator closed the stream");
            }
        });
    }

    private void checkSilence() {
        Connection c = current;
        if (c == null || c.ended || !c.streaming) {
            return;
        }
        long silentNanos = System.nanoTime() - c.lastLineNanos;
        if (silentNanos > settings.heartbeatTimeout().toNanos()) {
            c.end("no heartbeat for " + TimeUnit.NANOSECONDS.toMillis(silentNanos) + " ms");
        }
    }

    private void retryLater(String reason) {
        if (closed) {
            return;
        }
        disconnectsTotal.increment();
        int attempt = failures.getAndIncrement();
        long base = settings.backoffInitial().toMillis() << Math.min(attempt, 20);
        long capped = Math.min(settings.backoffMax().toMillis(), base);
        // Half fixed, half random: poolers that lost the same operator do not all come back at the same moment.
        long delay = capped / 2 + ThreadLocalRandom.current().nextLong(capped / 2 + 1);
        if (attempt == 0 || Integer.bitCount(attempt) == 1) {
            log.warn(
                    "endpoint stream {}: {}; reconnecting in {} ms (attempt {}); serving from the last endpoints"
                            + " meanwhile",
                    settings.url(),
                    reason,
                    delay,
                    attempt + 1);
        } else {
            log.debug("endpoint stream {}: {}; reconnecting in {} ms", settings.url(), reason, delay);
        }
        try {
            scheduler.schedule(this::connect, delay, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // closing
        }
    }

    private void deliver(Connection c, String line) {
        if (line.isBlank()) {
            return;
        }
        Envelope e;
        try {
            e = StreamProtocol.parseLine(line);
        } catch (IllegalArgumentException ex) {
            c.end(ex.getMessage());
            return;
        }
        if (e == null) {
            return;
        }
        if (!c.delivered) {
            c.delivered = true;
            failures.set(0);
            subscriptionsTotal.increment();
            log.info(
                    "endpoint stream {}: subscribed (endpoint set version {}, {} peers)",
                    settings.url(),
                    e.endpoints() == null ? "none" : e.endpoints().version(),
                    e.peers().size());
        }
        last = e;
        snapshotsTotal.increment();
        try {
            onEnvelope.accept(e);
        } catch (RuntimeException ex) {
            log.error("endpoint stream {}: applying a snapshot failed", settings.url(), ex);
        }
        first.countDown();
    }

    @Override
    public void close() {
        closed = true;
        Connection c = current;
        if (c != null) {
            c.end("closing");
        }
        scheduler.shutdownNow();
        httpExecutor.shutdownNow();
    }

    /** One attempt: the request, and while the answer is 200 the lines of its body. */
    private final class Connection {
        volatile boolean ended;
        volatile boolean streaming;
        volatile boolean delivered;
        volatile long lastLineNanos = System.nanoTime();
        volatile Flow.Subscription subscription;
        volatile CompletableFuture<?> future;

        HttpResponse.BodySubscriber<String> bodyFor(HttpResponse.ResponseInfo info) {
            if (info.statusCode() != 200) {
                return new ErrorBody(this);
            }
            streaming = true;
            lastLineNanos = System.nanoTime();
            return new Lines(this, maxLineBytes);
        }

        void subscribed(Flow.Subscription s) {
            subscription = s;
            if (ended) {
                s.cancel();
            } else {
                s.request(Long.MAX_VALUE);
            }
        }

        void line(String line) {
            if (ended) {
                return;
            }
            lastLineNanos = System.nanoTime();
            deliver(this, line);
        }

        void failed(Throwable t) {
            end(t.getClass().getSimpleName() + (t.getMessage() == null ? "" : ": " + t.getMessage()));
        }

        /** Ends this attempt once, whatever noticed first, and schedules the next unless closing. */
        synchronized void end(String reason) {
            if (ended) {
                return;
            }
            ended = true;
            Flow.Subscription s = subscription;
            if (s != null) {
                s.cancel();
            }
            CompletableFuture<?> f = future;
            if (f != null) {
                f.cancel(true);
            }
            if (!closed && current == this) {
                retryLater(reason);
            }
        }
    }

    /** The body of a 200: lines split at LF, each at most {@code maxLineBytes} long. */
    private static final class Lines implements HttpResponse.BodySubscriber<String> {
        private final Connection c;
        private final int maxLineBytes;
        private final CompletableFuture<String> body = new CompletableFuture<>();
        private final ByteArrayOutputStream line = new ByteArrayOutputStream();

        Lines(Connection c, int maxLineBytes) {
            this.c = c;
            this.maxLineBytes = maxLineBytes;
        }

        @Override
        public CompletionStage<String> getBody() {
            return body;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            c.subscribed(s);
        }

        @Override
        public void onNext(List<ByteBuffer> items) {
            for (ByteBuffer b : items) {
                while (b.hasRemaining()) {
                    if (c.ended) {
                        return;
                    }
                    int start = b.position();
                    int newline = -1;
                    for (int i = start; i < b.limit(); i++) {
                        if (b.get(i) == '\n') {
                            newline = i;
                            break;
                        }
                    }
                    int end = newline < 0 ? b.limit() : newline;
                    if (line.size() + (end - start) > maxLineBytes) {
                        line.reset();
                        c.end("a stream line is longer than " + maxLineBytes + " bytes");
                        body.complete("");
                        return;
                    }
                    byte[] chunk = new byte[end - start];
                    b.get(chunk);
                    line.write(chunk, 0, chunk.length);
                    if (newline >= 0) {
                        b.get(); // the LF
                        String text = line.toString(StandardCharsets.UTF_8);
                        line.reset();
                        c.line(text);
                    }
                }
            }
        }

        @Override
        public void onError(Throwable t) {
            c.failed(t);
            body.completeExceptionally(t);
        }

        @Override
        public void onComplete() {
            if (line.size() > 0) {
                c.line(line.toString(StandardCharsets.UTF_8));
                line.reset();
            }
            c.end("the operator closed the stream");
            body.complete("");
        }
    }

    /** The body of a refusal: its first {@link #MAX_ERROR_BODY_BYTES} bytes; the rest is not read. */
    private static final class ErrorBody implements HttpResponse.BodySubscriber<String> {
        private final Connection c;
        private final CompletableFuture<String> body = new CompletableFuture<>();
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private Flow.Subscription subscription;

        ErrorBody(Connection c) {
            this.c = c;
        }

        @Override
        public CompletionStage<String> getBody() {
            return body;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            c.subscription = s;
            // One batch at a time: with unbounded demand the client would keep reading (and buffering) a large
            // refusal body ahead of the cancel below.
            s.request(1);
        }

        @Override
        public void onNext(List<ByteBuffer> items) {
            if (body.isDone()) {
                return;
            }
            for (ByteBuffer b : items) {
                int n = Math.min(b.remaining(), MAX_ERROR_BODY_BYTES - bytes.size());
                byte[] chunk = new byte[n];
                b.get(chunk);
                bytes.write(chunk, 0, n);
                if (bytes.size() >= MAX_ERROR_BODY_BYTES) {
                    subscription.cancel();
                    body.complete(bytes.toString(StandardCharsets.UTF_8) + "...");
                    return;
                }
            }
            subscription.request(1);
        }

        @Override
        public void onError(Throwable t) {
            body.completeExceptionally(t);
        }

        @Override
        public void onComplete() {
            body.complete(bytes.toString(StandardCharsets.UTF_8));
        }
    }
}
