package dev.pggat.pooler.console;

import dev.pggat.pooler.backend.ServerStats;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.routing.Router;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Totals per database, and their averages over the last full period (PgBouncer's stats_period): counts and bytes per
 * second, times per transaction, query or assignment. Sampled by a timer; read by SHOW STATS and friends.
 */
final class StatsWindow {
    /** One database's counters at one instant; times in microseconds. */
    record Totals(
            long assignments,
            long xacts,
            long queries,
            long received,
            long sent,
            long xactMicros,
            long queryMicros,
            long waitMicros,
            long clientParses,
            long serverParses,
            long binds) {
        static final Totals ZERO = new Totals(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

        Totals plus(ServerStats s) {
            return new Totals(
                    assignments + s.assignments.sum(),
                    xacts + s.transactions.sum(),
                    queries + s.queries.sum(),
                    received + s.bytesToServer.sum(),
                    sent + s.bytesFromServer.sum(),
                    xactMicros + s.transactionNanos.sum() / 1000,
                    queryMicros + s.queryNanos.sum() / 1000,
                    waitMicros + s.waitNanos.sum() / 1000,
                    clientParses,
                    serverParses + s.serverParses.sum(),
                    binds + s.binds.sum());
        }

        /** What changed since {@code before}, as PgBouncer's averages: per second, or per event for times. */
        Totals averageSince(Totals before, long seconds) {
            long x = xacts - before.xacts;
            long q = queries - before.queries;
            long a = assignments - before.assignments;
            return new Totals(
                    a / seconds,
                    x / seconds,
                    q / seconds,
                    (received - before.received) / seconds,
                    (sent - before.sent) / seconds,
                    x == 0 ? 0 : (xactMicros - before.xactMicros) / x,
                    q == 0 ? 0 : (queryMicros - before.queryMicros) / q,
                    a == 0 ? 0 : (waitMicros - before.waitMicros) / a,
                    (clientParses - before.clientParses) / seconds,
                    (serverParses - before.serverParses) / seconds,
                    (binds - before.binds) / seconds);
        }
    }

    private final Router router;
    private final long seconds;
    private Map<String, Totals> last = Map.of();
    private volatile Map<String, Totals> averages = Map.of();

    StatsWindow(Router router, Duration period) {
        this.router = router;
        this.seconds = Math.max(1, period.toSeconds());
    }

    /** Totals per database now, in configuration order. Pools that were closed take their counts with them. */
    Map<String, Totals> totals() {
        Map<String, Totals> out = new LinkedHashMap<>();
        for (Router.Database d : router.databases()) {
            Totals t = Totals.ZERO;
            for (Pool p : d.pools()) {
                t = t.plus(p.serverStats);
            }
            out.put(d.name(), t);
        }
        return out;
    }

    synchronized void sample() {
        Map<String, Totals> now = totals();
        Map<String, Totals> avg = new LinkedHashMap<>();
        now.forEach((db, t) -> avg.put(db, t.averageSince(last.getOrDefault(db, Totals.ZERO), seconds)));
        last = now;
        averages = avg;
    }

    Totals averages(String database) {
        return averages.getOrDefault(database, Totals.ZERO);
    }
}
