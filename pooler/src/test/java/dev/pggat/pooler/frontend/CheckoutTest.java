package dev.pggat.pooler.frontend;

import static dev.pggat.pooler.frontend.StageFixture.query;
import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.SqlState;
import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The checkout stage on a real session whose endpoint never answers (no server is ever granted). */
class CheckoutTest {
    private final StageFixture f = new StageFixture();

    @AfterEach
    void close() {
        f.channel.finishAndReleaseAll();
    }

    @Test
    void aGrantedServerGetsTheQueuedFramesInOrder() {
        f.start(
                query("SELECT 1"),
                StageFixture.parse("SELECT 2"),
                StageFixture.bare(ProtocolConstants.BIND, 4),
                StageFixture.bare(ProtocolConstants.EXECUTE, 5),
                StageFixture.sync());
        EmbeddedChannel server = f.grantServer();
        assertThat(f.session.state).isEqualTo(ClientSession.State.ATTACHED);
        assertThat(StageFixture.sent(server)).containsExactly("Q:SELECT 1", "P", "B", "E", "S");
        assertThat(f.session.nothingPending()).isTrue();
        assertThat(f.session.awaitingReady)
                .as("a Query and a Sync owe two ReadyForQuery")
                .isEqualTo(2);
        assertThat(f.channel.config().isAutoRead()).isTrue();
        // No pool stands behind this server: the session forgets it rather than give it back at the client's close.
        f.session.server = null;
        server.finishAndReleaseAll();
    }

    @Test
    void aFailedRoutingFailsTheClientWithTheRoutingSqlStateAndReleasesWhatItQueued() throws Exception {
        // The user leaves the configuration: the routing stage refuses the next transaction.
        f.router.reconfigure(ConfigLoader.parse("""
                databases:
                  stagedb:
                    endpoints:
                      - host: 127.0.0.1
                        port: 1
                        role: primary
                    users:
                      bob:
                        password: another-secret
                """, "stages.yaml", Map.of()));
        ByteBuf first = query("SELECT 1");
        ByteBuf second = query("SELECT 2");
        // Pipelined behind the login: both are queued when the first starts the transaction.
        f.session.start(Map.of(), new java.util.ArrayDeque<>(java.util.List.of(first, second)));
        assertThat(f.drain()).containsExactly("K", "Z:I", "E:FATAL:" + SqlState.INVALID_AUTHORIZATION_SPECIFICATION);
        assertThat(f.session.routing.failureSqlState()).isEqualTo(SqlState.INVALID_AUTHORIZATION_SPECIFICATION);
        assertThat(first.refCnt()).isZero();
        assertThat(second.refCnt()).isZero();
        assertThat(f.session.checkout.waiter).isNull();
        assertThat(f.channel.isOpen()).as("the FATAL closes the client").isFalse();
    }
}
