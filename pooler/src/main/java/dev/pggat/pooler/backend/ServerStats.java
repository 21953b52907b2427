package dev.pggat.pooler.backend;

import dev.pggat.pooler.util.LatencyHistogram;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * What one pool's server connections did, counted where the pooler meets the server: queries and transactions (by
 * the ReadyForQuery messages that end them) with their durations, bytes each way, checkouts and the time clients
 * waited for them, connections opened and closed (with the reason), and errors by SQLSTATE class. Each update is a
 * {@link LongAdder} add with no allocation; the console and the metrics read the sums.
 */
public final class ServerStats {
    /** Why a server connection closed. */
    public enum CloseReason {
        /** Idle longer than timeouts.serverIdle. */
        IDLE_TIMEOUT,
        /** Older than timeouts.serverLifetime. */
        LIFETIME,
        /** Not needed: a reserve connection, or room made for another pool under a shared cap. */
        SURPLUS,
        /** Given back in an unknown state (client left mid-transaction, protocol error, pinned session). */
        DISCARDED,
        /** The pool closed: shutdown, the endpoint left the set, a removed dynamic user. */
        POOL_CLOSED,
        /** RECONNECT or KILL from the admin console. */
        RECONNECT,
        /** The server or the network ended it (FATAL, restart, reset). */
        SERVER_CLOSED,
        /** The pooler closed it for another reason. */
        OTHER;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public final LongAdder queries = new LongAdder();
    public final LongAdder transactions = new LongAdder();
    public final LongAdder queryNanos = new LongAdder();
    public final LongAdder transactionNanos = new LongAdder();
    /** Bytes the pooler wrote to servers: what clients sent, plus the pooler's own queries. */
    public final LongAdder bytesToServer = new LongAdder();
    /** Bytes servers sent: what clients got, plus the answers to the pooler's own queries. */
    public final LongAdder bytesFromServer = new LongAdder();
    /** Servers handed to clients (at once or after a wait). */
    public final LongAdder assignments = new LongAdder();
    /** Time clients spent queued for a server. */
    public final LongAdder waitNanos = new LongAdder();
    /** Parse and Bind messages written to servers. */
    public final LongAdder serverParses = new LongAdder();

    public final LongAdder binds = new LongAdder();
    public final LongAdder opened = new LongAdder();
    public final LatencyHistogram queryTime = new LatencyHistogram();
    public final LatencyHistogram transactionTime = new LatencyHistogram();
    public final LatencyHistogram waitTime = new LatencyHistogram();

    /**
     * Round trips of the servers of this pool's endpoint (shared by the pools of all users of the endpoint, set by
     * routing); null = not collected.
     */
    private volatile LatencyHistogram roundTrips;

    /** Prepared statements a server already had when a client used them (the pooler sent no Parse). */
    public final LongAdder statementHits = new LongAdder();
    /** Prepared statements the pooler had to prepare on a server first. */
    public final LongAdder statementMisses = new LongAdder();
    /** Prepared statements closed on a server to stay within its cache size. */
    public final LongAdder statementEvictions = new LongAdder();

    private final LongAdder[] closed = new LongAdder[CloseReason.values().length];
    /** Errors by SQLSTATE class (its first two characters, 36 x 36 slots), made on first use. */
    private final AtomicReferenceArray<LongAdder> errors = new AtomicReferenceArray<>(36 * 36);

    public ServerStats() {
        for (int i = 0; i < closed.length; i++) {
            closed[i] = new LongAdder();
        }
    }

    void query(long nanos) {
        queries.increment();
        queryNanos.add(nanos);
        queryTime.observe(nanos);
    }

    void transaction(long nanos) {
        transactions.increment();
        transactionNanos.add(nanos);
        transactionTime.observe(nanos);
    }

    /** Where the round trips of this pool's servers go, shared with the other pools of the same endpoint. */
    public void roundTrips(LatencyHistogram histogram) {
        this.roundTrips = histogram;
    }

    public LatencyHistogram roundTrips() {
        return roundTrips;
    }

    void roundTrip(long nanos) {
        LatencyHistogram h = roundTrips;
        if (h != null) {
            h.observe(nanos);
        }
    }

    /** A client got a server after waiting {@code nanos} (0 when one was idle). */
    public void assigned(long waitedNanos) {
        assignments.increment();
        if (waitedNanos > 0) {
            waitNanos.add(waitedNanos);
        }
        waitTime.observe(waitedNanos);
    }

    public void closed(CloseReason reason) {
        closed[reason.ordinal()].increment();
    }

    public long closedCount(CloseReason reason) {
        return closed[reason.ordinal()].sum();
    }

    /** An ErrorResponse with SQLSTATE class {@code c0 c1}; characters outside 0-9 and A-Z are ignored. */
    void error(int c0, int c1) {
        int a = slot(c0);
        int b = slot(c1);
        if (a < 0 || b < 0) {
            return;
        }
        int i = a * 36 + b;
        LongAdder adder = errors.get(i);
        if (adder == null) {
            errors.compareAndSet(i, null, new LongAdder());
            adder = errors.get(i);
        }
        adder.increment();
    }

    private static int slot(int c) {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'A' && c <= 'Z') {
            return 10 + c - 'A';
        }
        return -1;
    }

    /** Errors seen so far by SQLSTATE class ("23", "40", "57"...). */
    public Map<String, Long> errorsByClass() {
        Map<String, Long> m = new TreeMap<>();
        for (int i = 0; i < errors.length(); i++) {
            LongAdder a = errors.get(i);
            if (a != null) {
                m.put("" + symbol(i / 36) + symbol(i % 36), a.sum());
            }
        }
        return m;
    }

    private static char symbol(int s) {
        return (char) (s < 10 ? '0' + s : 'A' + s - 10);
    }
}
