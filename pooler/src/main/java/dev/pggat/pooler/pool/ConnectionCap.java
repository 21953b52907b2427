package dev.pggat.pooler.pool;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.LongAdder;

/**
 * A limit on server connections shared by several pools: all pools of one database
 * ({@code maxDatabaseConnections}), or all pools of one user across databases ({@code maxUserConnections}).
 *
 * <p>A pool takes a slot before it opens a connection and gives it back once that connection's backend has
 * gone, so the count never runs ahead of what the server sees. A pool that has waiting clients but no slot is
 * recorded as blocked; it is woken when a slot frees, and meanwhile the other pools close idle servers instead
 * of keeping them, to make room.
 *
 * <p>The cap's lock is a leaf: it is taken while a pool holds its own lock, and never calls into a pool while
 * held. Blocked pools are woken on their event loops, outside every lock.
 */
public final class ConnectionCap {
    public enum Kind {
        DATABASE,
        USER
    }

    private final Kind kind;
    private final String name;
    private final int limit;
    private final List<Pool> members = new CopyOnWriteArrayList<>();
    private final Set<Pool> blocked = new LinkedHashSet<>();
    private int used;

    /** Times a pool with waiting clients could not open a connection because this cap was full. */
    public final LongAdder waitsTotal = new LongAdder();

    public ConnectionCap(Kind kind, String name, int limit) {
        if (limit < 1) {
            throw new IllegalArgumentException("a cap needs a limit of at least 1, got " + limit);
        }
        this.kind = kind;
        this.name = name;
        this.limit = limit;
    }

    public Kind kind() {
        return kind;
    }

    /** The database or user name the cap applies to. */
    public String name() {
        return name;
    }

    public int limit() {
        return limit;
    }

    /** Server connections counted against the cap now (open, opening, or closing until their backend exits). */
    public synchronized int used() {
        return used;
    }

    void join(Pool pool) {
        members.add(pool);
    }

    void leave(Pool pool) {
        members.remove(pool);
        synchronized (this) {
            blocked.remove(pool);
        }
    }

    synchronized boolean tryTake() {
        if (used >= limit) {
            return false;
        }
        used++;
        return true;
    }

    void give(int n) {
        List<Pool> wake = null;
        synchronized (this) {
            used -= n;
            if (!blocked.isEmpty()) {
                wake = new ArrayList<>(blocked);
                blocked.clear();
            }
        }
        if (wake != null) {
            wake.forEach(Pool::capFreed);
        }
    }

    /**
     * Records that {@code pool} has clients waiting that this cap keeps from getting a connection.
     *
     * @return true when the pool was not blocked yet, so the caller should look for an idle server to close
     */
    synchronized boolean block(Pool pool) {
        if (blocked.add(pool)) {
            waitsTotal.increment();
            return true;
        }
        return false;
    }

    /** True when a pool other than {@code self} waits for a slot: an idle server of {@code self} should go. */
    synchronized boolean othersWaiting(Pool self) {
        return !blocked.isEmpty() && !(blocked.size() == 1 && blocked.contains(self));
    }

    /** Closes one idle server of another member pool, if any has one, so that {@code blockedPool} can connect. */
    void makeRoom(Pool blockedPool) {
        for (Pool p : members) {
            if (p != blockedPool && p.closeIdleForCap()) {
                return;
            }
        }
    }

    @Override
    public String toString() {
        return kind.name().toLowerCase(java.util.Locale.ROOT) + " " + name + " (" + limit + ")";
    }
}
