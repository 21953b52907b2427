package dev.pggat.operator.stream;

import dev.pggat.pooler.stream.Envelope;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * The current snapshot of every PgPool, and the subscribers waiting for the next one.
 *
 * <p>Endpoint-set versions must only grow as a pooler sees them, also across operator restarts and when a pooler
 * moves from one operator replica to another, which keep no shared state. A new version is therefore at least
 * the wall clock in milliseconds (and at least one more than the last), and a subscriber that says which version it
 * holds gets the current snapshot under a higher version than that.
 */
public final class EndpointHub {
    /**
     * The highest version a subscriber may say it holds. Versions are milliseconds of the wall clock, so this is
     * millions of years away; the headroom keeps {@code version + 1} from ever wrapping.
     */
    public static final long MAX_VERSION = Long.MAX_VALUE / 2;

    private final Clock clock;
    private final Map<String, PoolStream> pools = new ConcurrentHashMap<>();
    private final List<Consumer<String>> versionListeners = new CopyOnWriteArrayList<>();

    public EndpointHub(Clock clock) {
        this.clock = clock;
    }

    /** One snapshot as sent: {@code seq} grows by one per change, for subscribers to tell what they have sent. */
    public record Snapshot(long seq, Envelope envelope) {}

    /** The stream of one PgPool, or null when the PgPool is not known (yet, or any more). */
    public PoolStream stream(String key) {
        return pools.get(key);
    }

    public Set<String> keys() {
        return Set.copyOf(pools.keySet());
    }

    /**
     * Told the key of a PgPool whose endpoint-set version moved, after the move, on the thread that moved it: the
     * reconciler reports that version in the PgPool's status.
     */
    public void onVersionChange(Consumer<String> listener) {
        versionListeners.add(listener);
    }

    private void versionChanged(String key) {
        for (Consumer<String> l : versionListeners) {
            l.accept(key);
        }
    }

    /** Publishes what the PgPool's poolers should know now; versions are assigned here. */
    public void update(String key, Envelope unversioned) {
        PoolStream s = pools.computeIfAbsent(key, PoolStream::new);
        if (s.offer(unversioned)) {
            versionChanged(key);
        }
    }

    /** The PgPool is gone: its subscribers are let go. */
    public void remove(String key) {
        PoolStream s = pools.remove(key);
        if (s != null) {
            s.end();
        }
    }

    /** Lets every subscriber go, as when the operator stops. */
    public void endAll() {
        pools.values().forEach(PoolStream::end);
    }

    public final class PoolStream {
        private final String key;
        private long seq;
        private long version;
        private Envelope current;
        private boolean ended;

        private PoolStream(String key) {
            this.key = key;
        }

        /** @return whether the endpoint-set version moved */
        private synchronized boolean offer(Envelope unversioned) {
            if (current != null
                    && Objects.equals(endpointsOf(current), endpointsOf(unversioned))
                    && current.peers().equals(unversioned.peers())) {
                return false;
            }
            boolean endpointsChanged =
                    current == null || !Objects.equals(endpointsOf(current), endpointsOf(unversioned));
            boolean versionMoved = endpointsChanged && unversioned.endpoints() != null;
            if (versionMoved) {
                version = Math.max(version + 1, clock.millis());
            }
            current = unversioned.withVersion(version);
            seq++;
            notifyAll();
            return versionMoved;
        }

        private Object endpointsOf(Envelope e) {
            return e.endpoints() == null ? null : e.endpoints().endpoints();
        }

        /** Makes sure the snapshot carries a version above what a subscriber holds, re-stamping it if needed. */
        public void raiseAbove(long held) {
            if (held < 0 || held > MAX_VERSION) {
                throw new IllegalArgumentException("held version " + held + " is not within 0.." + MAX_VERSION);
            }
            if (restamp(held)) {
                versionChanged(key);
            }
        }

        private synchronized boolean restamp(long held) {
            if (current != null && current.endpoints() != null && version <= held) {
                version = held + 1;
                current = current.withVersion(version);
                seq++;
                notifyAll();
                return true;
            }
            return false;
        }

        public synchronized Snapshot current() {
            return current == null ? null : new Snapshot(seq, current);
        }

        /**
         * Waits until there is a snapshot other than {@code sentSeq}, the stream ends, or the timeout passes.
         *
         * @return the newest snapshot (the same one on timeout), or null when the stream ended
         */
        public synchronized Snapshot await(long sentSeq, long timeoutMillis) throws InterruptedException {
            long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
            while (!ended && (current == null || seq == sentSeq)) {
                long left = (deadline - System.nanoTime()) / 1_000_000L;
                if (left <= 0) {
                    break;
                }
                wait(left);
            }
            return ended ? null : current == null ? null : new Snapshot(seq, current);
        }

        public synchronized boolean ended() {
            return ended;
        }

        private synchronized void end() {
            ended = true;
            notifyAll();
        }
    }
}
