package dev.pggat.pooler.frontend;

import java.security.SecureRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The BackendKeyData the pooler gives its clients, and who holds each key. A process id is
 * {@code instance << 24 | sequence}: the top byte names the pooler instance that issued it, so that several
 * pooler replicas behind one Service can forward a cancel to the one that holds the client. The secret is random.
 */
public final class CancelRegistry {
    private final SecureRandom random = new SecureRandom();
    private final ConcurrentHashMap<Integer, ClientSession> sessions = new ConcurrentHashMap<>();
    private final AtomicInteger sequence = new AtomicInteger();
    private final int instance;

    public CancelRegistry(int instance) {
        if (instance < 0 || instance > 127) {
            throw new IllegalArgumentException("instance id must be 0-127, got " + instance);
        }
        this.instance = instance;
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

    /** Looks up the session a CancelRequest names; unknown or stale keys are ignored, as PostgreSQL does. */
    void cancel(int processId, int secretKey) {
        ClientSession s = sessions.get(processId);
        if (s != null) {
            s.cancelRequested(secretKey);
        }
    }

    public int size() {
        return sessions.size();
    }
}
