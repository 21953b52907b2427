package dev.pggat.pooler.frontend;

import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.SqlState;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The timers stage: timeouts.clientIdle, idleInTransaction and query (with the grace a canceled query gets).
 * It claims no message; it watches the client's Query, Sync and FunctionCall and the server's ReadyForQuery.
 *
 * <p>One timer per session, armed for the earliest deadline that can apply and re-armed from where it fires, so a
 * busy session reschedules about once per timeout period rather than once per query. What expires depends on whom
 * the pooler waits for ({@link Owner#waitingOn()}): the client with no transaction open (clientIdle), the client
 * with a transaction open or an extended batch unsynced (idleInTransaction), or the server running a query.
 */
final class SessionTimers {
    /** Whom the session waits for now. */
    enum Waiting {
        NOTHING,
        CLIENT_IDLE,
        CLIENT_IN_TRANSACTION,
        SERVER
    }

    /** The session the timers belong to: what it waits for, and what to do when a wait is over. */
    interface Owner {
        Waiting waitingOn();

        /** False once the session is closed: a timer that fires then does nothing. */
        boolean open();

        void clientIdleExpired();

        void idleInTransactionExpired();

        /** The running query passed timeouts.query: cancel it on the server. */
        void cancelQuery();

        /** The server did not end the canceled query within {@code graceMillis}. */
        void cancelIgnored(long graceMillis);
    }

    /** Schedules {@code task} after {@code delayNanos}; the session's event loop in production. */
    interface Scheduler {
        Future<?> schedule(Runnable task, long delayNanos);
    }

    private static final long MIN_GRACE_NANOS = TimeUnit.MILLISECONDS.toNanos(500);
    private static final long MAX_GRACE_NANOS = TimeUnit.SECONDS.toNanos(5);

    private final Owner owner;
    private final Scheduler scheduler;
    private final LongSupplier clock;
    private long clientIdleNanos;
    private long idleInTransactionNanos;
    private long queryNanos;
    /** Any of the three is on: only then do the hooks read the clock. */
    boolean on;
    /**
     * Where the three timeouts come from (the session's database settings, which a reload replaces), read again
     * when a query starts and when a transaction ends; null when they are fixed.
     */
    private final java.util.function.Supplier<dev.pggat.pooler.pool.PoolSettings> source;
    /** The settings the timeouts were last read from. */
    private dev.pggat.pooler.pool.PoolSettings seen;

    private final Runnable due = this::due;
    private Future<?> timer;
    private long timerAt;
    /** When the client last sent something or was last told ReadyForQuery: idle since then. */
    private long lastClientNanos;
    /** When the query now running on the server was sent (or the one before it ended). */
    private long queryStartNanos;
    /** When the pooler canceled the running query for timeouts.query; 0 when it did not. */
    private long timeoutCancelNanos;
    /** The session let go of its server: whatever goes to the next one starts a query there. */
    private boolean freshServer;

    SessionTimers(
            Owner owner,
            Scheduler scheduler,
            LongSupplier clock,
            long clientIdleNanos,
            long idleInTransactionNanos,
            long queryNanos) {
        this.owner = owner;
        this.scheduler = scheduler;
        this.clock = clock;
        this.source = null;
        set(clientIdleNanos, idleInTransactionNanos, queryNanos);
    }

    /** Timeouts read from {@code source} now, and again as each query starts and each transaction ends. */
    SessionTimers(
            Owner owner,
            Scheduler scheduler,
            LongSupplier clock,
            java.util.function.Supplier<dev.pggat.pooler.pool.PoolSettings> source) {
        this.owner = owner;
        this.scheduler = scheduler;
        this.clock = clock;
        this.source = source;
        refresh();
    }

    private void set(long clientIdle, long idleInTransaction, long query) {
        this.clientIdleNanos = clientIdle;
        this.idleInTransactionNanos = idleInTransaction;
        this.queryNanos = query;
        this.on = clientIdle != 0 || idleInTransaction != 0 || query != 0;
    }

    /** Takes the source's timeouts if they changed since last read (one volatile read when they did not). */
    private void refresh() {
        if (source == null) {
            return;
        }
        dev.pggat.pooler.pool.PoolSettings now = source.get();
        if (now == seen) {
            return;
        }
        seen = now;
        boolean was = on;
        set(
                now.clientIdle().toNanos(),
                now.idleInTransaction().toNanos(),
                now.queryTimeout().toNanos());
        if (on && !was) {
            // The hooks did not read the clock while every timeout was off: the client is idle from now.
            long t = clock.getAsLong();
            lastClientNanos = t;
            queryStartNanos = t;
        }
    }

    /** The session is ready for its first query. */
    void started() {
        if (on) {
            lastClientNanos = clock.getAsLong();
            arm();
        }
    }

    /** The client's read ended: it is idle from now. */
    void clientRead() {
        if (on) {
            lastClientNanos = clock.getAsLong();
        }
    }

    /**
     * A client message went to the server. {@code batchStart}: nothing was outstanding before it, so a new query
     * starts now; {@code awaitingReady}: the ReadyForQuery messages the server now owes.
     */
    void fromClient(byte type, boolean batchStart, int awaitingReady) {
        if (batchStart) {
            refresh(); // a query starts: under the timeouts in force now
        }
        if (!on) {
            return;
        }
        if (batchStart || freshServer) {
            freshServer = false;
            queryStartNanos = clock.getAsLong();
            // Whatever the pooler canceled before is over: a new query gets its own full timeout. Without this, a
            // cancel whose ReadyForQuery the session never saw (a replica's replies dropped for a replay) would
            // make the next query's deadline the old cancel's grace, already past.
            timeoutCancelNanos = 0;
        }
        if (awaitingReady == 1
                && (type == ProtocolConstants.QUERY
                        || type == ProtocolConstants.SYNC
                        || type == ProtocolConstants.FUNCTION_CALL)) {
            arm();
        }
    }

    /**
     * The server said ReadyForQuery; {@code idle}: no transaction is open, so the next one runs under the timeouts
     * in force now (a reload reaches a connected client here).
     */
    void ready(boolean idle) {
        if (idle) {
            refresh();
        }
        ready();
    }

    /** The server said ReadyForQuery: the query ended; the client is idle, or the next queued query starts. */
    void ready() {
        if (!on) {
            return;
        }
        long now = clock.getAsLong();
        lastClientNanos = now;
        queryStartNanos = now;
        timeoutCancelNanos = 0;
        arm();
    }

    /**
     * The session let go of its server (released, replayed elsewhere, lost, discarded): a cancel the pooler sent
     * it is over with it. Without this, the next query whose first message continues a batch (no batch start
     * seen) would be timed from the old cancel: its grace already past, the timer would close the client at once.
     */
    void serverReleased() {
        timeoutCancelNanos = 0;
        freshServer = true;
    }

    /** The pooler canceled the running query for timeouts.query: its error is told as statement_timeout's. */
    boolean canceledForTimeout() {
        return timeoutCancelNanos != 0;
    }

    /**
     * An ErrorResponse for the client: the server's answer to the pooler's cancel after timeouts.query is told as
     * PostgreSQL's statement_timeout tells it; any other passes as it is.
     */
    ByteBuf fromServerError(ByteBuf frame, ByteBufAllocator alloc) {
        if (timeoutCancelNanos == 0
                || !SqlState.QUERY_CANCELED.equals(ErrorFields.parse(frame).sqlState())) {
            return frame;
        }
        frame.release();
        return Messages.errorResponse(
                alloc, "ERROR", SqlState.QUERY_CANCELED, "canceling statement due to statement timeout");
    }

    void stop() {
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }

    /** When the current wait expires, or Long.MAX_VALUE when no timeout applies to it. */
    private long deadline(Waiting w) {
        return switch (w) {
            case CLIENT_IDLE -> clientIdleNanos == 0 ? Long.MAX_VALUE : lastClientNanos + clientIdleNanos;
            case CLIENT_IN_TRANSACTION ->
                idleInTransactionNanos == 0 ? Long.MAX_VALUE : lastClientNanos + idleInTransactionNanos;
            case SERVER -> {
                if (timeoutCancelNanos != 0) {
                    yield timeoutCancelNanos + cancelGraceNanos();
                }
                yield queryNanos == 0 ? Long.MAX_VALUE : queryStartNanos + queryNanos;
            }
            case NOTHING -> Long.MAX_VALUE;
        };
    }

    /** How long a server gets to answer the cancel of a timed-out query: the query timeout, within 0.5 to 5 s. */
    long cancelGraceNanos() {
        return Math.min(MAX_GRACE_NANOS, Math.max(MIN_GRACE_NANOS, queryNanos));
    }

    /** Makes sure the timer fires no later than the current deadline. */
    private void arm() {
        long now = clock.getAsLong();
        long at = deadline(owner.waitingOn());
        if (at == Long.MAX_VALUE) {
            // Nothing to time now (queued, or the pooler's own queries): look again a timeout later.
            at = now + shortestTimeout();
        }
        if (timer != null) {
            if (timerAt <= at) {
                return;
            }
            timer.cancel(false);
        }
        timerAt = at;
        timer = scheduler.schedule(due, Math.max(0, at - now));
    }

    private long shortestTimeout() {
        long min = Long.MAX_VALUE;
        if (clientIdleNanos != 0) {
            min = clientIdleNanos;
        }
        if (idleInTransactionNanos != 0) {
            min = Math.min(min, idleInTransactionNanos);
        }
        if (queryNanos != 0) {
            min = Math.min(min, queryNanos);
        }
        return min;
    }

    private void due() {
        timer = null;
        if (!on || !owner.open()) {
            return;
        }
        Waiting w = owner.waitingOn();
        if (clock.getAsLong() < deadline(w)) {
            arm();
            return;
        }
        switch (w) {
            case CLIENT_IDLE -> owner.clientIdleExpired();
            case CLIENT_IN_TRANSACTION -> owner.idleInTransactionExpired();
            case SERVER -> {
                if (timeoutCancelNanos == 0) {
                    timeoutCancelNanos = clock.getAsLong();
                    owner.cancelQuery();
                    arm();
                } else {
                    owner.cancelIgnored(TimeUnit.NANOSECONDS.toMillis(cancelGraceNanos()));
                }
            }
            case NOTHING -> arm();
        }
    }
}
