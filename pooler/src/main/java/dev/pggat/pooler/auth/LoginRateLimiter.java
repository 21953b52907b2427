package dev.pggat.pooler.auth;

import java.net.InetAddress;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Counts failed logins per client address in a fixed window; once an address reaches the limit, its logins are
 * refused until the window that started with its first failure ends. A success does not clear the count: an
 * attacker who knows one password must not get unlimited guesses at others from the same address.
 */
public final class LoginRateLimiter {
    private static final int SWEEP_THRESHOLD = 10_000;

    private final int maxFailures;
    private final long windowNanos;
    private final ConcurrentHashMap<InetAddress, Window> windows = new ConcurrentHashMap<>();

    private static final class Window {
        final long startNanos;
        int failures;

        Window(long startNanos) {
            this.startNanos = startNanos;
        }
    }

    /** @param maxFailures 0 disables the limit */
    public LoginRateLimiter(int maxFailures, Duration window) {
        this.maxFailures = maxFailures;
        this.windowNanos = window.toNanos();
    }

    /** How long {@code address} must still wait; zero when it may try to log in. */
    public Duration blockedFor(InetAddress address) {
        if (maxFailures <= 0 || address == null) {
            return Duration.ZERO;
        }
        Window w = windows.get(address);
        if (w == null) {
            return Duration.ZERO;
        }
        long now = System.nanoTime();
        synchronized (w) {
            long left = w.startNanos + windowNanos - now;
            if (left <= 0) {
                windows.remove(address, w);
                return Duration.ZERO;
            }
            return w.failures >= maxFailures ? Duration.ofNanos(left) : Duration.ZERO;
        }
    }

    public void failed(InetAddress address) {
        if (maxFailures <= 0 || address == null) {
            return;
        }
        long now = System.nanoTime();
        if (windows.size() > SWEEP_THRESHOLD) {
            windows.entrySet().removeIf(e -> e.getValue().startNanos + windowNanos - now <= 0);
        }
        while (true) {
            Window w = windows.computeIfAbsent(address, a -> new Window(now));
            synchronized (w) {
                if (w.startNanos + windowNanos - now <= 0) {
                    windows.remove(address, w);
                    continue;
                }
                w.failures++;
                return;
            }
        }
    }

    /** Addresses currently tracked, for metrics. */
    public int trackedAddresses() {
        return windows.size();
    }
}
