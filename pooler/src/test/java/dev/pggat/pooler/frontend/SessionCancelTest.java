package dev.pggat.pooler.frontend;

import static dev.pggat.pooler.frontend.StageFixture.bare;
import static dev.pggat.pooler.frontend.StageFixture.parse;
import static dev.pggat.pooler.frontend.StageFixture.query;
import static dev.pggat.pooler.frontend.StageFixture.sync;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.protocol.ProtocolConstants;
import io.netty.buffer.ByteBuf;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The cancel stage on a real session that waits for a server (in the queue of a paused pool). */
class SessionCancelTest {
    private final StageFixture f = new StageFixture();

    @AfterEach
    void close() {
        f.channel.finishAndReleaseAll();
    }

    /** Queues the session in its pool, as a checkout that routed would. */
    private void waitInPool() {
        Pool pool = f.router.database("stagedb").pools().get(0);
        f.session.checkout.pool = pool;
        f.session.checkout.waiter = pool.acquire(f.session.loop, f.session);
        assertThat(f.session.checkout.waiter).isNotNull();
        assertThat(f.session.state).isEqualTo(ClientSession.State.WAITING);
    }

    @Test
    void aCancelWhileWaitingAnswers57014AndDropsTheBatchUntilItsSync() {
        ByteBuf parse = parse("SELECT 1");
        ByteBuf bind = bare(ProtocolConstants.BIND, 4);
        f.start(parse, bind);
        waitInPool();

        f.session.cancel.requested();
        // The queued start of the batch is gone; the client is told at the batch's Sync, not before.
        assertThat(parse.refCnt()).isZero();
        assertThat(bind.refCnt()).isZero();
        assertThat(f.session.state).isEqualTo(ClientSession.State.IDLE);
        assertThat(f.drain()).isEmpty();

        ByteBuf execute = bare(ProtocolConstants.EXECUTE, 5);
        f.channel.writeInbound(execute);
        assertThat(execute.refCnt())
                .as("the rest of the canceled batch is dropped")
                .isZero();
        assertThat(f.drain()).isEmpty();

        f.channel.writeInbound(sync());
        assertThat(f.drain()).containsExactly("E:ERROR:57014", "Z:I");
        assertThat(f.session.nothingPending()).isTrue();
    }

    @Test
    void aCancelOfAQueuedQueryAnswersItAndLeavesWhatCameAfterQueued() {
        ByteBuf first = query("SELECT pg_sleep(10)");
        ByteBuf second = query("SELECT 2");
        f.start(first, second);
        waitInPool();

        f.session.cancel.requested();
        assertThat(f.drain()).containsExactly("E:ERROR:57014", "Z:I");
        assertThat(first.refCnt()).isZero();
        assertThat(f.session.firstPending())
                .as("the next query still waits for its server")
                .isSameAs(second);
        assertThat(f.session.state).isEqualTo(ClientSession.State.WAITING);
    }

    @Test
    void onlyTheSessionsSecretCancels() {
        f.start(query("SELECT 1"));
        waitInPool();
        f.session.cancel.requested(f.secret ^ 1);
        f.channel.runPendingTasks();
        assertThat(f.drain()).isEmpty();

        f.session.cancel.requested(f.secret);
        f.channel.runPendingTasks();
        assertThat(f.drain()).containsExactly("E:ERROR:57014", "Z:I");
    }
}
