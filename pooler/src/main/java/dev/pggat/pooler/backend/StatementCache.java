package dev.pggat.pooler.backend;

import java.util.Iterator;
import java.util.LinkedHashSet;

/**
 * The prepared statements one server connection holds, least recently used first, bounded: past the capacity
 * the oldest is closed on the server to make room. Touched only by the client session the server is attached to.
 */
public final class StatementCache {
    /** Used until the pool sets the configured size (pools.preparedStatementCacheSize). */
    public static final int DEFAULT_CAPACITY = 1000;

    private int capacity;
    private final LinkedHashSet<String> names = new LinkedHashSet<>();
    private boolean invalidated;
    /** Where hits, misses and evictions are counted (the pool's statistics); null = not counted. */
    private ServerStats stats;

    public StatementCache(int capacity) {
        this.capacity = Math.max(1, capacity);
    }

    /** Sets the size before the connection is first used; a smaller size applies as statements are added. */
    public void capacity(int newCapacity) {
        this.capacity = Math.max(1, newCapacity);
    }

    void stats(ServerStats stats) {
        this.stats = stats;
    }

    /**
     * True (and marks it recently used) when the server has this statement. Each call is a client's use of a
     * statement: counted as a hit, or as a miss that the caller answers by preparing it.
     */
    public boolean touch(String name) {
        if (names.remove(name)) {
            names.add(name);
            if (stats != null) {
                stats.statementHits.increment();
            }
            return true;
        }
        if (stats != null) {
            stats.statementMisses.increment();
        }
        return false;
    }

    /**
     * Records that the server now has {@code name}.
     *
     * @return the name evicted to stay within capacity (the caller closes it on the server), or null
     */
    public String add(String name) {
        names.add(name);
        if (names.size() <= capacity) {
            return null;
        }
        Iterator<String> it = names.iterator();
        String eldest = it.next();
        it.remove();
        if (stats != null) {
            stats.statementEvictions.increment();
        }
        return eldest;
    }

    public void remove(String name) {
        names.remove(name);
    }

    /** DISCARD ALL / DEALLOCATE ALL ran: the server holds none any more. */
    public void clear() {
        names.clear();
        invalidated = false;
    }

    /**
     * "cached plan must not change result type": the plans this server holds no longer fit their tables. It is
     * deallocated when next idle, and prepares everything again afterwards.
     */
    public void invalidate() {
        invalidated = true;
    }

    public boolean invalidated() {
        return invalidated;
    }

    public int size() {
        return names.size();
    }
}
