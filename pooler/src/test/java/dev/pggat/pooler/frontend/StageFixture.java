package dev.pggat.pooler.frontend;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.backend.TestServerConnections;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.net.Transport;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.routing.Router;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A real session in an {@link EmbeddedChannel}, for the stages that need one: the router of a pooler that is not
 * started (no probes, so no endpoint is known yet and a transaction waits for one; its pools are paused, so no
 * server is ever opened), with {@link #grantServer} handing the session a server over another EmbeddedChannel.
 */
final class StageFixture {
    private static final String YAML = """
            databases:
              stagedb:
                endpoints:
                  - host: 127.0.0.1
                    port: 1
                    role: primary
                users:
                  alice:
                    password: only-the-fixture-knows-it
            """;

    static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;

    final FrontendContext context;
    final ClientSession session;
    final EmbeddedChannel channel;
    final Router router;
    final PoolerConfig config;
    ServerConnection server;
    /** The secret of the cancel key the session told its client. */
    int secret;

    StageFixture() {
        try {
            config = ConfigLoader.parse(YAML, "stages.yaml", Map.of());
            Transport transport = Transport.best();
            EventLoopGroup loops = transport.newGroup(1, "pggat-stage-test");
            ServerConnector connector = new ServerConnector(transport, Duration.ofSeconds(1), Duration.ZERO);
            router = new Router(config, connector, loops);
            context = new FrontendContext(
                    router, new CancelRegistry(0), transport, 10_000, 1 << 16, 1_000, Duration.ofHours(1));
            Router.User user = router.database("stagedb").user("alice");
            // Paused: a waiting client stays queued and no server is ever opened for it.
            router.database("stagedb").states().forEach(e -> user.pool(e).pause());
            session = new ClientSession(context, "alice", "stagedb", user, Map.of());
            channel = new EmbeddedChannel(session);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Starts the session as the login handler does, with {@code early} frames pipelined behind the login. */
    void start(ByteBuf... early) {
        session.start(Map.of(), new ArrayDeque<>());
        Object o;
        while ((o = channel.readOutbound()) != null) { // BackendKeyData, ReadyForQuery
            ByteBuf f = (ByteBuf) o;
            if (Frames.type(f) == ProtocolConstants.BACKEND_KEY_DATA) {
                secret = f.getInt(9);
            }
            f.release();
        }
        // As if pipelined behind the login: the first starts a transaction, the rest queue behind it.
        for (ByteBuf frame : early) {
            channel.writeInbound(frame);
        }
    }

    /** What the session wrote to the client since the last call, as "type" or "E:severity:SQLSTATE" or "Z:status". */
    List<String> drain() {
        List<String> seen = new ArrayList<>();
        Object o;
        while ((o = channel.readOutbound()) != null) {
            ByteBuf f = (ByteBuf) o;
            byte type = Frames.type(f);
            if (type == ProtocolConstants.ERROR_RESPONSE) {
                ErrorFields e = ErrorFields.parse(f);
                seen.add("E:" + e.severity() + ":" + e.sqlState());
            } else if (type == ProtocolConstants.READY_FOR_QUERY) {
                seen.add("Z:" + (char) f.getByte(5));
            } else {
                seen.add(String.valueOf((char) type));
            }
            f.release();
        }
        return seen;
    }

    /** A server connection over an {@link EmbeddedChannel}, granted to the waiting session. */
    EmbeddedChannel grantServer() {
        EmbeddedChannel serverChannel = new EmbeddedChannel();
        server = TestServerConnections.over(serverChannel);
        session.checkout.granted(server);
        return serverChannel;
    }

    /** The server's frames to the session, as its connection hands them over. */
    void fromServer(ByteBuf... frames) {
        for (ByteBuf f : frames) {
            session.onFrame(server, f);
        }
        session.onReadComplete(server);
    }

    /** What the session sent to {@code serverChannel}, as "type" or "Q:text". */
    static List<String> sent(EmbeddedChannel serverChannel) {
        List<String> seen = new ArrayList<>();
        Object o;
        while ((o = serverChannel.readOutbound()) != null) {
            ByteBuf f = (ByteBuf) o;
            byte type = Frames.type(f);
            seen.add(
                    type == ProtocolConstants.QUERY
                            ? "Q:" + f.toString(5, f.readableBytes() - 6, StandardCharsets.UTF_8)
                            : String.valueOf((char) type));
            f.release();
        }
        return seen;
    }

    static ByteBuf query(String sql) {
        return Messages.query(ALLOC, sql);
    }

    static ByteBuf parse(String sql) {
        byte[] text = sql.getBytes(StandardCharsets.UTF_8);
        byte[] statement = java.util.Arrays.copyOf(text, text.length + 3); // NUL, then no parameter types
        return Messages.parse(ALLOC, new byte[0], statement);
    }

    /** A message of {@code type} with a zeroed body (Bind, Execute: what matters here is that they are dropped). */
    static ByteBuf bare(byte type, int bodyBytes) {
        return ALLOC.buffer().writeByte(type).writeInt(4 + bodyBytes).writeZero(bodyBytes);
    }

    static ByteBuf sync() {
        return Unpooled.copiedBuffer(Messages.sync());
    }
}
