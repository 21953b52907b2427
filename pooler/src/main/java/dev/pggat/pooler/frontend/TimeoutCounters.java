package dev.pggat.pooler.frontend;

import java.util.concurrent.atomic.LongAdder;

/** How often each client-side timeout expired, for metrics. */
public final class TimeoutCounters {
    /** Clients closed after timeouts.clientIdle outside a transaction (57P05). */
    public final LongAdder clientIdle = new LongAdder();
    /** Clients closed after timeouts.idleInTransaction with a transaction open (25P03). */
    public final LongAdder idleInTransaction = new LongAdder();
    /** Queries canceled after timeouts.query (57014). */
    public final LongAdder query = new LongAdder();
    /** Of those, the ones whose server did not answer the cancel in time: server and client were closed. */
    public final LongAdder queryCancelUnanswered = new LongAdder();
}
