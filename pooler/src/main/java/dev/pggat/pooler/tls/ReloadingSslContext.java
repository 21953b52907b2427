package dev.pggat.pooler.tls;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An {@link SslContext} that follows its certificate, key and CA files. Each handshake takes the context current at
 * that moment; connections already established keep the one they started with.
 *
 * <p>Files are compared by content (a SHA-256 over all of them), read through their path on every check. That
 * follows Kubernetes' update of a mounted Secret, which swaps a {@code ..data} symlink so that neither the watched
 * path nor (after {@code cp -p}) its modification time need change, and which inotify on the path would miss.
 * The files are a few kilobytes, so reading them every few seconds costs nothing.
 *
 * <p>A new content that does not load (half-written files, a key from another rotation, garbage) keeps the old
 * context, logs one error naming the file and the problem, and sets {@link #lastError()} until a later content
 * loads.
 */
public final class ReloadingSslContext implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ReloadingSslContext.class);

    /** A freshly built context and a one-line description of it for the log (no key material). */
    public record Loaded(SslContext context, String summary) {
        public Loaded {
            Objects.requireNonNull(context, "context");
            Objects.requireNonNull(summary, "summary");
        }
    }

    /** Builds a context from the files; runs on the reload thread. */
    @FunctionalInterface
    public interface Loader {
        Loaded load() throws TlsConfigException;
    }

    private final String description;
    private final List<Path> files;
    private final Loader loader;
    private final AtomicReference<SslContext> current = new AtomicReference<>();
    private final Object checkLock = new Object();
    private byte[] loadedDigest;
    private byte[] failedDigest;
    private volatile String lastError;
    private volatile long generation;
    private ScheduledExecutorService poller;

    private ReloadingSslContext(String description, List<Path> files, Loader loader) {
        this.description = Objects.requireNonNull(description, "description");
        this.files = List.copyOf(files);
        this.loader = Objects.requireNonNull(loader, "loader");
    }

    /**
     * Loads the files once; a failure here is a startup error (thrown), unlike failures of later reloads.
     *
     * @param description what the context is for, in log lines ("client TLS", "server TLS for app")
     * @param files the files {@code loader} reads; their content is watched
     */
    public static ReloadingSslContext load(String description, List<Path> files, Loader loader)
            throws TlsConfigException {
        ReloadingSslContext r = new ReloadingSslContext(description, files, loader);
        byte[] digest = r.digest();
        Loaded loaded = loader.load();
        r.current.set(loaded.context());
        r.loadedDigest = digest;
        r.generation = 1;
        log.info("{}: loaded {}", description, loaded.summary());
        return r;
    }

    /** A context that never changes, for callers that handle every context as a reloading one. */
    public static ReloadingSslContext fixed(String description, Loaded loaded) {
        ReloadingSslContext r = new ReloadingSslContext(description, List.of(), () -> loaded);
        r.current.set(loaded.context());
        r.loadedDigest = r.digestOrNull();
        r.generation = 1;
        log.info("{}: using {}", description, loaded.summary());
        return r;
    }

    /** The context new handshakes use. */
    public SslContext current() {
        return current.get();
    }

    /** A handler for the server side of a new connection, from the current context. */
    public SslHandler newHandler(ByteBufAllocator alloc) {
        SslHandler h = current.get().newHandler(alloc);
        HandshakeObserver o = observer;
        if (o != null) {
            h.handshakeFuture().addListener(f -> {
                String protocol = f.isSuccess() ? h.engine().getSession().getProtocol() : null;
                o.handshake(f.isSuccess(), protocol);
            });
        }
        return h;
    }

    /** Told how each handshake of a handler from {@link #newHandler} ended (metrics). */
    @FunctionalInterface
    public interface HandshakeObserver {
        /** @param protocol the negotiated version, null when the handshake failed */
        void handshake(boolean ok, String protocol);
    }

    private volatile HandshakeObserver observer;

    public void observeHandshakes(HandshakeObserver observer) {
        this.observer = observer;
    }

    /** The files watched. */
    public List<Path> files() {
        return files;
    }

    /** 1 after the first load, +1 for every successful reload. */
    public long generation() {
        return generation;
    }

    /** Why the newest file content could not be loaded, while the previous context is still in use. */
    public Optional<String> lastError() {
        return Optional.ofNullable(lastError);
    }

    /** Checks the files every {@code interval} on a daemon thread of its own until {@link #close()}. */
    public synchronized ReloadingSslContext startWatching(Duration interval) {
        if (interval.isZero() || interval.isNegative() || poller != null) {
            return this;
        }
        poller = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "pggat-tls-reload");
            t.setDaemon(true);
            return t;
        });
        long millis = Math.max(1, interval.toMillis());
        poller.scheduleWithFixedDelay(this::checkQuietly, millis, millis, TimeUnit.MILLISECONDS);
        return this;
    }

    /**
     * Checks the files now and swaps the context if their content changed and loads.
     *
     * @return true if a new context is now in use
     */
    public boolean checkNow() {
        synchronized (checkLock) {
            byte[] before;
            try {
                before = digest();
            } catch (TlsConfigException e) {
                fail(null, e.getMessage());
                return false;
            }
            if (Arrays.equals(before, loadedDigest)) {
                // Back to what is in use (a broken update was reverted): nothing is wrong any more.
                failedDigest = null;
                lastError = null;
                return false;
            }
            if (Arrays.equals(before, failedDigest)) {
                return false;
            }
            Loaded loaded;
            try {
                loaded = loader.load();
            } catch (TlsConfigException | RuntimeException e) {
                if (!Arrays.equals(before, digestOrNull())) {
                    // The files changed while being read (a swap in progress): judge the settled content next time.
                    return false;
                }
                String why = e instanceof TlsConfigException
                        ? e.getMessage()
                        : "unexpected " + e.getClass().getSimpleName();
                fail(before, why);
                return false;
            }
            if (!Arrays.equals(before, digestOrNull())) {
                return false;
            }
            current.set(loaded.context());
            loadedDigest = before;
            failedDigest = null;
            lastError = null;
            generation++;
            log.info("{}: reloaded {}", description, loaded.summary());
            return true;
        }
    }

    private void fail(byte[] digest, String why) {
        // An unreadable file is retried on every check; say so once, not every few seconds.
        boolean repeated = digest == null && why.equals(lastError);
        failedDigest = digest;
        lastError = why;
        if (!repeated) {
            log.error("{}: new files not loaded, still using the previous certificate: {}", description, why);
        }
    }

    private void checkQuietly() {
        try {
            checkNow();
        } catch (RuntimeException e) {
            // The poller must survive anything, or certificates would silently stop rotating.
            log.error("{}: certificate reload check failed: {}", description, e.toString());
        }
    }

    private byte[] digestOrNull() {
        try {
            return digest();
        } catch (TlsConfigException e) {
            return null;
        }
    }

    private byte[] digest() throws TlsConfigException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        for (Path f : files) {
            byte[] content;
            try {
                content = Files.readAllBytes(f);
            } catch (NoSuchFileException e) {
                throw new TlsConfigException("file " + f + " does not exist");
            } catch (IOException e) {
                throw new TlsConfigException(
                        "file " + f + " cannot be read: " + e.getClass().getSimpleName());
            }
            // Length first, so that moving bytes from one file to the next changes the digest.
            md.update(Long.toString(content.length).getBytes(StandardCharsets.US_ASCII));
            md.update((byte) 0);
            md.update(content);
        }
        return md.digest();
    }

    @Override
    public synchronized void close() {
        if (poller != null) {
            poller.shutdownNow();
            poller = null;
        }
    }
}
