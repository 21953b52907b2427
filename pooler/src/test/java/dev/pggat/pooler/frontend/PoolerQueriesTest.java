package dev.pggat.pooler.frontend;

import static dev.pggat.pooler.frontend.StageFixture.ALLOC;
import static dev.pggat.pooler.frontend.StageFixture.query;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.protocol.Messages;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The pooler's own queries on a session's server (an {@link EmbeddedChannel} standing in for it). */
class PoolerQueriesTest {
    private final StageFixture f = new StageFixture();
    private EmbeddedChannel server;

    @AfterEach
    void close() {
        f.session.server = null; // no pool stands behind this server: nothing to give back
        f.channel.finishAndReleaseAll();
        if (server != null) {
            server.finishAndReleaseAll();
        }
    }

    @Test
    void aReadBackAfterASetIsConsumedNotForwardedAndTheClientGetsItsOwnReady() {
        f.start(query("SET work_mem = '7MB'"));
        // The pool the server goes back to once the pooler's queries are done (paused: it opens none of its own).
        f.session.checkout.pool = f.router.database("stagedb").pools().get(0);
        server = f.grantServer();
        assertThat(StageFixture.sent(server)).containsExactly("Q:SET work_mem = '7MB'");

        f.fromServer(Messages.commandComplete(ALLOC, "SET"), Messages.readyForQueryIdle());
        assertThat(f.drain()).as("the client's own reply and ReadyForQuery").containsExactly("C", "Z:I");
        // Transaction mode: what the SET changed is read back before the server is let go.
        List<String> own = StageFixture.sent(server);
        assertThat(own).hasSize(1);
        assertThat(own.get(0)).startsWith("Q:").contains("work_mem");
        assertThat(f.session.queries.active()).isTrue();

        f.fromServer(Messages.commandComplete(ALLOC, "SELECT 0"), Messages.readyForQueryIdle());
        assertThat(f.drain()).as("the pooler's query's replies are consumed").isEmpty();
        assertThat(f.session.queries.active()).isFalse();
        assertThat(f.session.state).as("then the server is let go").isEqualTo(ClientSession.State.IDLE);
    }
}
