package dev.pggat.pooler.util;

import java.util.concurrent.atomic.LongAdder;

/**
 * A fixed-bucket latency histogram that costs a bucket search and two {@link LongAdder} increments per observation,
 * with no allocation. The buckets fit a pooler: from a tenth of a millisecond (a cached read next door) to ten
 * seconds (a report query). Read at scrape time, not on the hot path.
 */
public final class LatencyHistogram {
    /** Upper bounds in seconds, as Prometheus buckets show them; +Inf is implied. */
    public static final double[] BOUNDS_SECONDS = {
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
    };

    private static final long[] BOUNDS_NANOS = new long[BOUNDS_SECONDS.length];

    static {
        for (int i = 0; i < BOUNDS_SECONDS.length; i++) {
            BOUNDS_NANOS[i] = Math.round(BOUNDS_SECONDS[i] * 1e9);
        }
    }

    /** Per bucket (the last is +Inf), not cumulative. */
    private final LongAdder[] buckets = new LongAdder[BOUNDS_SECONDS.length + 1];

    private final LongAdder sumNanos = new LongAdder();

    public LatencyHistogram() {
        for (int i = 0; i < buckets.length; i++) {
            buckets[i] = new LongAdder();
        }
    }

    public void observe(long nanos) {
        if (nanos < 0) {
            nanos = 0;
        }
        int i = 0;
        while (i < BOUNDS_NANOS.length && nanos > BOUNDS_NANOS[i]) {
            i++;
        }
        buckets[i].increment();
        sumNanos.add(nanos);
    }

    /** Observations per bucket (not cumulative), the last one above the largest bound. */
    public long[] counts() {
        long[] out = new long[buckets.length];
        for (int i = 0; i < buckets.length; i++) {
            out[i] = buckets[i].sum();
        }
        return out;
    }

    /** Observations so far. */
    public long count() {
        long n = 0;
        for (LongAdder b : buckets) {
            n += b.sum();
        }
        return n;
    }

    public long sumNanos() {
        return sumNanos.sum();
    }
}
