package dev.pggat.pooler.auth;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Counts failed logins per client source in a fixed window; once a source reaches the limit, its logins are
 * refused until the window that started with its first failure ends. A success does not clear the count: an
 * attacker who knows one password must not get unlimited guesses at others from the same address.
 *
 * <p>A source is an IPv4 address, or an IPv6 /64 prefix: a single IPv6 host usually holds a whole /64, so counting
 * its addresses one by one would give it 2^64 budgets.
 *
 * <p>Memory stays bounded under a flood of distinct sources: expired windows are swept at most once per sweep
 * interval (not on every failure), and the table holds at most {@code maxEntries} sources. When it is full, sources
 * that are not blocked are dropped first (they lose only a partial count); if every tracked source is blocked,
 * failures from untracked sources share one overflow window, so that a flood cannot hide new guessers, at the cost
 * of refusing untracked sources together while the flood lasts.
 */
public final class LoginRateLimiter {
    private static final Logger log = LoggerFactory.getLogger(LoginRateLimiter.class);
    /** About 100 bytes per source: some 10 MB at most. */
    static final int DEFAULT_MAX_ENTRIES = 100_000;

    private final int maxFailures;
    private final long windowNanos;
    private final int maxEntries;
    private final long sweepEveryNanos;
    private final ConcurrentHashMap<InetAddress, Window> windows = new ConcurrentHashMap<>();
    private final AtomicLong lastSweep = new AtomicLong(System.nanoTime());
    /** Shared by the sources that found the table full of blocked ones; null while unused. */
    private volatile Window overflow;
    /** Guarded by {@code this}. */
    private long lastFullSweep;

    private int keptByLastFullSweep;

    private static final class Window {
        final long startNanos;
        int failures;

        Window(long startNanos) {
            this.startNanos = startNanos;
        }
    }

    /** @param maxFailures 0 disables the limit */
    public LoginRateLimiter(int maxFailures, Duration window) {
        this(maxFailures, window, DEFAULT_MAX_ENTRIES);
    }

    LoginRateLimiter(int maxFailures, Duration window, int maxEntries) {
        this.maxFailures = maxFailures;
        this.windowNanos = window.toNanos();
        this.maxEntries = maxEntries;
        // Expired entries may linger for a quarter window (at most a second): they are refused nothing meanwhile.
        this.sweepEveryNanos = Math.min(windowNanos / 4, Duration.ofSeconds(1).toNanos());
    }

    /** How long {@code address} must still wait; zero when it may try to log in. */
    public Duration blockedFor(InetAddress address) {
        if (maxFailures <= 0 || address == null) {
            return Duration.ZERO;
        }
        InetAddress source = source(address);
        long now = System.nanoTime();
        Window w = windows.get(source);
        if (w == null) {
            w = overflow;
            if (w == null) {
                return Duration.ZERO;
            }
        }
        synchronized (w) {
            long left = w.startNanos + windowNanos - now;
            if (left <= 0) {
                windows.remove(source, w);
                return Duration.ZERO;
            }
            return w.failures >= maxFailures ? Duration.ofNanos(left) : Duration.ZERO;
        }
    }

    public void failed(InetAddress address) {
        if (maxFailures <= 0 || address == null) {
            return;
        }
        InetAddress source = source(address);
        long now = System.nanoTime();
        long last = lastSweep.get();
        if (now - last >= sweepEveryNanos && lastSweep.compareAndSet(last, now)) {
            sweep(now, false);
        }
        while (true) {
            Window w = windows.get(source);
            if (w == null) {
                if (windows.size() >= maxEntries && !makeRoom(now)) {
                    countInOverflow(now);
                    return;
                }
                w = windows.computeIfAbsent(source, a -> new Window(now));
            }
            synchronized (w) {
                if (w.startNanos + windowNanos - now <= 0) {
                    windows.remove(source, w);
                    continue;
                }
                w.failures++;
                return;
            }
        }
    }

    /** The table is full: drop what is expired, then what is not blocked; false when all of it is blocked. */
    private boolean makeRoom(long now) {
        synchronized (this) {
            if (windows.size() < maxEntries) {
                return true;
            }
            // A full sweep leaves only blocked sources: when they filled at most half the table, the next one is
            // half a table of insertions away, a constant cost per failure. Otherwise a flood would rescan the
            // table on every failure: then one scan per sweep interval, and untracked sources share the overflow.
            if (keptByLastFullSweep <= maxEntries / 2 || now - lastFullSweep >= sweepEveryNanos) {
                sweep(now, true);
                lastFullSweep = now;
                keptByLastFullSweep = windows.size();
            }
            return windows.size() < maxEntries;
        }
    }

    private void sweep(long now, boolean dropUnblocked) {
        windows.values().removeIf(w -> {
            synchronized (w) {
                return w.startNanos + windowNanos - now <= 0 || (dropUnblocked && w.failures < maxFailures);
            }
        });
        Window o = overflow;
        if (o != null && o.startNanos + windowNanos - now <= 0) {
            overflow = null;
        }
    }

    private void countInOverflow(long now) {
        Window o;
        synchronized (this) {
            o = overflow;
            if (o == null || o.startNanos + windowNanos - now <= 0) {
                o = new Window(now);
                overflow = o;
                log.warn(
                        "failed logins come from more than {} distinct sources: untracked sources now share one"
                                + " limit until the window ends",
                        maxEntries);
            }
        }
        synchronized (o) {
            o.failures++;
        }
    }

    /** The key an address is counted under: itself for IPv4, its /64 prefix for IPv6. */
    static InetAddress source(InetAddress address) {
        if (!(address instanceof Inet6Address)) {
            return address;
        }
        byte[] prefix = Arrays.copyOf(address.getAddress(), 16);
        Arrays.fill(prefix, 8, 16, (byte) 0);
        try {
            return InetAddress.getByAddress(prefix);
        } catch (UnknownHostException e) {
            throw new IllegalStateException("a 16-byte address is always valid", e);
        }
    }

    /** Sources currently tracked, for metrics and tests. */
    public int trackedAddresses() {
        return windows.size();
    }
}
