package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.protocol.ProtocolConstants;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The timers stage on its own: a hand-driven clock and scheduler, and a session that records what expired. */
class SessionTimersTest {
    private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);

    private static final long START = 1_000 * MS;
    private long now = START;
    private final List<long[]> scheduled = new ArrayList<>(); // {at, index}
    private final List<Runnable> tasks = new ArrayList<>();
    private final List<CompletableFuture<Void>> futures = new ArrayList<>();
    private SessionTimers.Waiting waiting = SessionTimers.Waiting.CLIENT_IDLE;
    private final List<String> events = new ArrayList<>();

    private final SessionTimers.Owner owner = new SessionTimers.Owner() {
        @Override
        public SessionTimers.Waiting waitingOn() {
            return waiting;
        }

        @Override
        public boolean open() {
            return true;
        }

        @Override
        public void clientIdleExpired() {
            events.add("clientIdle@" + (now - START) / MS);
        }

        @Override
        public void idleInTransactionExpired() {
            events.add("idleInTransaction@" + (now - START) / MS);
        }

        @Override
        public void cancelQuery() {
            events.add("cancel@" + (now - START) / MS);
        }

        @Override
        public void cancelIgnored(long graceMillis) {
            events.add("cancelIgnored@" + (now - START) / MS + "(grace " + graceMillis + ")");
        }
    };

    private Future<?> schedule(Runnable task, long delayNanos) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        scheduled.add(new long[] {now + delayNanos, tasks.size()});
        tasks.add(task);
        futures.add(f);
        return f;
    }

    /** Moves the clock to {@code ms} (since the start), running every timer due on the way, in order. */
    private void advanceTo(long ms) {
        long target = START + ms * MS;
        while (true) {
            long[] next = null;
            for (long[] s : scheduled) {
                int i = (int) s[1];
                if (!futures.get(i).isCancelled() && !futures.get(i).isDone() && s[0] <= target) {
                    if (next == null || s[0] < next[0]) {
                        next = s;
                    }
                }
            }
            if (next == null) {
                now = target;
                return;
            }
            now = Math.max(now, next[0]);
            futures.get((int) next[1]).complete(null);
            tasks.get((int) next[1]).run();
        }
    }

    private SessionTimers timers(long clientIdleMs, long idleInTransactionMs, long queryMs) {
        return new SessionTimers(
                owner, this::schedule, () -> now, clientIdleMs * MS, idleInTransactionMs * MS, queryMs * MS);
    }

    @Test
    void anIdleClientExpiresAfterClientIdleCountedFromItsLastMessage() {
        SessionTimers t = timers(1500, 0, 0);
        t.started();
        advanceTo(1000);
        t.clientRead(); // the client said something at 1000 ms
        advanceTo(2400);
        assertThat(events).isEmpty();
        advanceTo(2600);
        assertThat(events).containsExactly("clientIdle@2500");
    }

    @Test
    void aQueryPastTheQueryTimeoutIsCanceledThenTheServerGetsItsGrace() {
        SessionTimers t = timers(1500, 300, 300);
        t.started();
        advanceTo(100);
        waiting = SessionTimers.Waiting.SERVER;
        t.fromClient(ProtocolConstants.QUERY, true, 1);
        advanceTo(399);
        assertThat(events).isEmpty();
        advanceTo(400);
        assertThat(events).containsExactly("cancel@400");
        assertThat(t.canceledForTimeout()).isTrue();
        advanceTo(10_000);
        assertThat(events).containsExactly("cancel@400", "cancelIgnored@900(grace 500)");
    }

    @Test
    void aCanceledQueryThatEndsResetsTheTimersForTheNextOne() {
        SessionTimers t = timers(0, 0, 300);
        t.started();
        waiting = SessionTimers.Waiting.SERVER;
        t.fromClient(ProtocolConstants.QUERY, true, 1);
        advanceTo(300);
        assertThat(events).containsExactly("cancel@300");
        advanceTo(350);
        t.ready(); // the server answered the cancel
        assertThat(t.canceledForTimeout()).isFalse();
        waiting = SessionTimers.Waiting.CLIENT_IDLE;
        advanceTo(5_000);
        assertThat(events).containsExactly("cancel@300");
    }

    @Test
    void aNewQueryNeverInheritsTheGraceOfAnEarlierCancel() {
        // A cancel whose ReadyForQuery the session never saw (a replica's replies dropped for a 25006 replay):
        // the next query must get its full timeout, not the old cancel's grace, which is already past.
        SessionTimers t = timers(0, 0, 300);
        t.started();
        waiting = SessionTimers.Waiting.SERVER;
        t.fromClient(ProtocolConstants.QUERY, true, 1);
        advanceTo(300);
        assertThat(events).containsExactly("cancel@300");
        waiting = SessionTimers.Waiting.NOTHING; // queued for the primary
        advanceTo(5_000);
        waiting = SessionTimers.Waiting.SERVER;
        t.fromClient(ProtocolConstants.QUERY, true, 1);
        advanceTo(5_299);
        assertThat(events).containsExactly("cancel@300");
        advanceTo(5_300);
        assertThat(events).containsExactly("cancel@300", "cancel@5300");
    }

    @Test
    void aCancelEndsWithTheServerItWasSentTo() {
        // The session lets go of the server it canceled a query on, before its ReadyForQuery (the server was lost,
        // or its replies were dropped for a replay). The next server's first message continues an extended batch
        // (its Sync: no batch start seen by the timers): it must be timed afresh, not from the old cancel, whose
        // grace is long past and would end the client as soon as the timer looked.
        SessionTimers t = timers(0, 0, 300);
        t.started();
        waiting = SessionTimers.Waiting.SERVER;
        t.fromClient(ProtocolConstants.QUERY, true, 1);
        advanceTo(300);
        assertThat(events).containsExactly("cancel@300");
        waiting = SessionTimers.Waiting.NOTHING;
        t.serverReleased();
        assertThat(t.canceledForTimeout()).isFalse();
        advanceTo(5_000);
        waiting = SessionTimers.Waiting.SERVER;
        t.fromClient(ProtocolConstants.SYNC, false, 1);
        advanceTo(5_001);
        assertThat(events).as("no cancel grace carried over").containsExactly("cancel@300");
        advanceTo(5_300);
        assertThat(events).containsExactly("cancel@300", "cancel@5300");
    }

    @Test
    void aTransactionLeftOpenExpiresAfterIdleInTransaction() {
        SessionTimers t = timers(1500, 300, 0);
        t.started();
        waiting = SessionTimers.Waiting.SERVER;
        t.fromClient(ProtocolConstants.QUERY, true, 1);
        advanceTo(50);
        waiting = SessionTimers.Waiting.CLIENT_IN_TRANSACTION;
        t.ready(); // BEGIN answered at 50 ms
        advanceTo(349);
        assertThat(events).isEmpty();
        advanceTo(400);
        assertThat(events).containsExactly("idleInTransaction@350");
    }

    @Test
    void withEveryTimeoutOffNothingIsScheduled() {
        SessionTimers t = timers(0, 0, 0);
        t.started();
        t.fromClient(ProtocolConstants.QUERY, true, 1);
        t.ready();
        assertThat(t.on).isFalse();
        assertThat(scheduled).isEmpty();
    }
}
