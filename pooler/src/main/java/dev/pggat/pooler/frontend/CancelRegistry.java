package dev.pggat.pooler.frontend;

import dev.pggat.pooler.stream.InstanceIds;
import java.net.InetSocketAddress;
import java.security.SecureRandom;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * The BackendKeyData the pooler gives its clients, and who holds each key. A process id is
 * {@code instance << 24 | sequence}: the top byte names the pooler instance that issued it, so that several
 * pooler replicas behind one Service can forward a cancel to the one that holds the client. The secret is random.
 *
 * <p>The instance id and the peers (instance id to the address of that pooler's client listener) may change at
 * runtime, as the operator assigns them. Keys already issued keep the instance id they were issued under; they are
 * still found locally by their full process id.
 */
public final class CancelRegistry {
    /** Never given to a pooler by the operator: keys issued under it are known only to the pooler that holds them. */
    public static final int UNASSIGNED = InstanceIds.UNASSIGNED;

    /**
     * Two poolers whose peer lists disagree for a moment (an id moved from one pod to another) could send a cancel
     * back and forth; a key forwarded this recently is not forwarded again. Much shorter than any human or driver
     * would take to cancel twice, much longer than a round trip inside a cluster.
     */
    static final long REFORWARD_GUARD_NANOS = 500_000_000L;

    private final SecureRandom random = new SecureRandom();
    private final ConcurrentHashMap<Integer, ClientSession> sessions = new ConcurrentHashMap<>();
    private final AtomicInteger sequence = new AtomicInteger();
    private final PeerCancelForwarder forwarder;
    private final ConcurrentHashMap<Long, Long> recentlyForwarded = new ConcurrentHashMap<>();
    private volatile int instance;
    private volatile Map<Integer, InetSocketAddress> peers = Map.of();

    /** Cancels that named another pooler and were sent on to it. */
    public final LongAdder forwardedTotal = new LongAdder();

    public CancelRegistry(int instance) {
        this(instance, null);
    }

    /** @param forwarder sends cancels for other poolers' keys; null keeps every cancel local */
    public CancelRegistry(int instance, PeerCancelForwarder forwarder) {
        checkInstance(instance);
        this.instance = instance;
        this.forwarder = forwarder;
    }

    private static void checkInstance(int instance) {
        if (instance < 0 || instance > 127) {
            throw new IllegalArgumentException("instance id must be 0-127, got " + instance);
        }
    }

    public int instance() {
        return instance;
    }

    /** Keys issued from now on carry this instance id. */
    public void setInstance(int newInstance) {
        checkInstance(newInstance);
        this.instance = newInstance;
    }

    public Map<Integer, InetSocketAddress> peers() {
        return peers;
    }

    /**
     * Replaces the peers: instance id (0-126) to the host and port of that pooler's client listener. An entry for
     * this pooler's own id is ignored when cancels are routed.
     */
    public void setPeers(Map<Integer, InetSocketAddress> newPeers) {
        for (Integer id : newPeers.keySet()) {
            if (id == null || id < 0 || id >= UNASSIGNED) {
                throw new IllegalArgumentException("peer instance id must be 0-126, got " + id);
            }
        }
        this.peers = Map.copyOf(newPeers);
    }

    /** Registers a session under a fresh key: returns {processId, secretKey}. */
    int[] register(ClientSession session) {
        while (true) {
            int pid = (instance << 24) | (sequence.incrementAndGet() & 0xFFFFFF);
            if (pid != 0 && sessions.putIfAbsent(pid, session) == null) {
                return new int[] {pid, random.nextInt()};
            }
        }
    }

    void unregister(int processId, ClientSession session) {
        sessions.remove(processId, session);
    }

    /**
     * Looks up the session a CancelRequest names. A key this pooler did not issue goes to the peer whose instance
     * id it carries; unknown or stale keys are ignored, as PostgreSQL does.
     */
    void cancel(int processId, int secretKey) {
        ClientSession s = sessions.get(processId);
        if (s != null) {
            s.cancel.requested(secretKey);
            return;
        }
        int owner = processId >>> 24;
        if (forwarder == null || owner == instance || owner >= UNASSIGNED) {
            return;
        }
        InetSocketAddress peer = peers.get(owner);
        if (peer == null || !firstForwardOfKey(processId, secretKey)) {
            return;
        }
        forwardedTotal.increment();
        forwarder.forward(peer, processId, secretKey);
    }

    private boolean firstForwardOfKey(int processId, int secretKey) {
        long now = System.nanoTime();
        long key = ((long) processId << 32) | (secretKey & 0xFFFFFFFFL);
        if (recentlyForwarded.size() > 4096) {
            for (Iterator<Long> it = recentlyForwarded.values().iterator(); it.hasNext(); ) {
                if (now - it.next() > REFORWARD_GUARD_NANOS) {
                    it.remove();
                }
            }
        }
        boolean[] first = {false};
        recentlyForwarded.compute(key, (k, at) -> {
            if (at == null || now - at > REFORWARD_GUARD_NANOS) {
                first[0] = true;
                return now;
            }
            return at;
        });
        return first[0];
    }

    public int size() {
        return sessions.size();
    }
}
