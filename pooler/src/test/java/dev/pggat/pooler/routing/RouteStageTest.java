package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.net.Transport;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.SqlState;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.EventLoopGroup;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The routing stage on its own, over a router built from YAML and never started: how a client's startup parameters
 * choose its target, and what a reload that removed the client's user makes of its next transaction. The decisions
 * over live endpoints are covered by ReplicaReplayTest, QueryClassifierTest and ReplicaChooserTest (the stage's parts)
 * and end to end by the ReplicaRouting tests.
 */
class RouteStageTest {
    private static final String YAML = """
            databases:
              solo:
                endpoints:
                  - {host: 127.0.0.1, port: 1, role: primary}
                users:
                  alice: {password: only-the-test-knows-it}
              split:
                endpoints:
                  - {name: p, host: 127.0.0.1, port: 1, role: primary}
                  - {name: r, host: 127.0.0.1, port: 2, role: replica}
                users:
                  alice: {password: only-the-test-knows-it}
            """;

    private final EventLoopGroup loops = Transport.best().newGroup(1, "pggat-route-test");
    private Router router;

    private Router router(String yaml) throws Exception {
        router = new Router(
                ConfigLoader.parse(yaml, "route-stage.yaml", Map.of()),
                new ServerConnector(Transport.best(), Duration.ofSeconds(1), Duration.ZERO),
                loops);
        return router;
    }

    @AfterEach
    void close() throws Exception {
        if (router != null) {
            router.close();
        }
        loops.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.SECONDS);
    }

    private static ByteBuf query(String sql) {
        return Messages.query(ByteBufAllocator.DEFAULT, sql);
    }

    private static RouteStage.Outcome route(RouteStage stage, String sql) {
        ByteBuf q = query(sql);
        try {
            return stage.route(q);
        } finally {
            q.release();
        }
    }

    @Test
    void targetSessionAttrsAndThePggatRouteParameterChooseTheTarget() {
        assertThat(RouteStage.target(null, null)).isEqualTo(RouteStage.Target.AUTO);
        assertThat(RouteStage.target("read-write", null)).isEqualTo(RouteStage.Target.PRIMARY);
        assertThat(RouteStage.target("READ-ONLY", null)).isEqualTo(RouteStage.Target.REPLICA_ONLY);
        assertThat(RouteStage.target("prefer-standby", null)).isEqualTo(RouteStage.Target.PREFER_REPLICA);
        // pggat.route wins over target_session_attrs; an unknown value leaves the choice to the classifier.
        assertThat(RouteStage.target("read-only", "primary")).isEqualTo(RouteStage.Target.PRIMARY);
        assertThat(RouteStage.target("any", null)).isEqualTo(RouteStage.Target.AUTO);
    }

    @Test
    void aUserARemovedByAReloadIsToldSoWithItsSqlState() throws Exception {
        Router r = router(YAML);
        RouteStage stage = new RouteStage(r.database("solo").user("alice"), "solo", null, null);
        r.reconfigure(ConfigLoader.parse(YAML.replace("""
                  alice: {password: only-the-test-knows-it}
                """, """
                  bob: {password: only-the-test-knows-it}
                """), "route-stage.yaml", Map.of()));
        assertThat(route(stage, "SELECT 1")).isEqualTo(RouteStage.Outcome.FAILED);
        assertThat(stage.failureSqlState()).isEqualTo(SqlState.INVALID_AUTHORIZATION_SPECIFICATION);
        assertThat(stage.failure()).contains("alice").contains("removed");
    }
}
