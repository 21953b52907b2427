package dev.pggat.pooler.listen;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.TestServerConnections;
import dev.pggat.pooler.protocol.CommandComplete;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Parse;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.ReadyForQuery;
import dev.pggat.pooler.routing.Router;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The LISTEN stage on its own, with a plain session: what it claims inside a transaction block, the replies it makes
 * up in the server's place, and that it claims nothing when off. The relay itself is tested against PostgreSQL in
 * ListenRelayTest.
 */
class ListenStageClaimsTest {
    private final EmbeddedChannel client = new EmbeddedChannel(new ChannelInboundHandlerAdapter());
    private final EmbeddedChannel serverChannel = new EmbeddedChannel();
    private final FakeSession session = new FakeSession();

    @AfterEach
    void close() {
        client.finishAndReleaseAll();
        serverChannel.finishAndReleaseAll();
    }

    private static ByteBuf frame(char type, Object... parts) {
        ByteBuf b = Unpooled.buffer().writeByte(type).writeInt(0);
        for (Object p : parts) {
            if (p instanceof String s) {
                b.writeBytes(s.getBytes(StandardCharsets.UTF_8)).writeByte(0);
            } else if (p instanceof Short s) {
                b.writeShort(s);
            } else if (p instanceof Byte by) {
                b.writeByte(by);
            }
        }
        return b.setInt(1, b.writerIndex() - 1);
    }

    private static ByteBuf tag(String tag) {
        return frame('C', tag);
    }

    @Test
    void offItClaimsNothingAndHoldsNothing() {
        ListenStage off = new ListenStage(session, null, true);
        ByteBuf listen = frame('Q', "LISTEN jobs");
        assertThat(off.idleFrame(listen)).isFalse();
        assertThat(off.takes(listen)).isFalse();
        assertThat(off.claims(listen, ProtocolConstants.QUERY, false)).isFalse();
        assertThat(listen.refCnt()).isEqualTo(1);
        ByteBuf ready = frame('Z', (byte) 'I');
        assertThat(off.ready(session.server, ready, ProtocolConstants.TX_IDLE, true))
                .isFalse();
        assertThat(off.defers(ready)).isFalse();
        listen.release();
        ready.release();
        off.closed();
    }

    @Test
    void aListenInsideATransactionBlockIsAnsweredInTheServersPlace() {
        ListenStage stage = new ListenStage(session, new ListenRelays(null, null, 10), true);
        ByteBuf listen = frame('Q', "LISTEN jobs");
        assertThat(stage.claims(listen, ProtocolConstants.QUERY, false)).isTrue();
        assertThat(listen.refCnt()).isZero();
        assertThat(session.kept).isEqualTo(1); // still part of a replica transaction's replay
        assertThat(session.expected).hasSize(1);

        stage.reply(session.expected.get(0));
        assertThat(session.toClient).hasSize(2);
        ByteBuf complete = session.toClient.get(0);
        assertThat(CommandComplete.tag(complete)).isEqualTo("LISTEN");
        assertThat(ReadyForQuery.status(session.toClient.get(1))).isEqualTo(ProtocolConstants.TX_IN_BLOCK);
        session.toClient.forEach(ByteBuf::release);

        // Rolled back: nothing reaches the relay, and the ReadyForQuery goes on.
        ByteBuf rollback = tag("ROLLBACK");
        stage.commandComplete(rollback);
        rollback.release();
        ByteBuf ready = frame('Z', (byte) 'I');
        assertThat(stage.ready(session.server, ready, ProtocolConstants.TX_IDLE, true))
                .isFalse();
        ready.release();
    }

    @Test
    void aPinnedClientsListenGoesToItsServer() {
        ListenStage stage = new ListenStage(session, new ListenRelays(null, null, 10), true);
        ByteBuf listen = frame('Q', "LISTEN jobs");
        assertThat(stage.claims(listen, ProtocolConstants.QUERY, true)).isFalse();
        assertThat(listen.refCnt()).isEqualTo(1);
        listen.release();
    }

    @Test
    void anUnnamedListenBoundWithParametersIsSentToTheServerAfterAll() {
        ListenStage stage = new ListenStage(session, new ListenRelays(null, null, 10), true);
        ByteBuf parse = frame('P', "", "LISTEN jobs", (short) 0);
        assertThat(stage.claims(parse, ProtocolConstants.PARSE, false)).isTrue();
        assertThat(session.extendedOpen).isTrue();
        // A Bind with a parameter value is not one the pooler can answer: the kept Parse goes to the server.
        ByteBuf bind = Unpooled.buffer()
                .writeByte('B')
                .writeInt(0)
                .writeByte(0)
                .writeByte(0)
                .writeShort(0)
                .writeShort(1)
                .writeInt(1)
                .writeByte('x')
                .writeShort(0);
        bind.setInt(1, bind.writerIndex() - 1);
        assertThat(stage.claims(bind, ProtocolConstants.BIND, false)).isFalse();
        bind.release();
        serverChannel.flush();
        ByteBuf sent = serverChannel.readOutbound();
        assertThat(Frames.type(sent)).isEqualTo(ProtocolConstants.PARSE);
        assertThat(Parse.query(sent)).isEqualTo("LISTEN jobs");
        sent.release();
        assertThat(session.addedParses).isEqualTo(1);
        assertThat(session.notedParses).isEqualTo(1);
    }

    @Test
    void aMalformedMessageIsLeftToTheServer() {
        ListenStage stage = new ListenStage(session, new ListenRelays(null, null, 10), true);
        ByteBuf parse = frame('P', "", "LISTEN jobs", (short) 0);
        assertThat(stage.claims(parse, ProtocolConstants.PARSE, false)).isTrue();
        ByteBuf describe = Unpooled.buffer().writeByte('D').writeInt(5).writeByte('S'); // no name
        assertThat(stage.claims(describe, ProtocolConstants.DESCRIBE, false)).isFalse();
        assertThat(describe.refCnt()).isEqualTo(1);
        describe.release();
        stage.closed();
    }

    /** A session inside a transaction block on a server, nothing in flight. */
    private final class FakeSession implements ListenStage.Session {
        final ServerConnection server = TestServerConnections.over(serverChannel);
        final ArrayDeque<ByteBuf> pending = new ArrayDeque<>();
        final List<Object> expected = new ArrayList<>();
        final List<ByteBuf> toClient = new ArrayList<>();
        boolean extendedOpen;
        int kept;
        int addedParses;
        int notedParses;

        FakeSession() {
            server.transactionStatus(ProtocolConstants.TX_IN_BLOCK);
        }

        @Override
        public ChannelHandlerContext client() {
            return client.pipeline().firstContext();
        }

        @Override
        public EventLoop loop() {
            return client.eventLoop();
        }

        @Override
        public Router.User user() {
            return null;
        }

        @Override
        public ArrayDeque<ByteBuf> pending() {
            return pending;
        }

        @Override
        public boolean closed() {
            return false;
        }

        @Override
        public boolean idle() {
            return false;
        }

        @Override
        public boolean attached() {
            return true;
        }

        @Override
        public void checkOut() {}

        @Override
        public void reread(ByteBuf frame) {
            frame.release();
        }

        @Override
        public ServerConnection server() {
            return server;
        }

        @Override
        public int awaitingReady() {
            return 0;
        }

        @Override
        public boolean extendedOpen() {
            return extendedOpen;
        }

        @Override
        public void extendedOpened() {
            extendedOpen = true;
        }

        @Override
        public void expectReply(Object reply) {
            expected.add(reply);
        }

        @Override
        public void expectAddedParse() {
            addedParses++;
        }

        @Override
        public void keepForReplay(ByteBuf frame) {
            kept++;
        }

        @Override
        public void noteParse(ByteBuf parse) {
            notedParses++;
        }

        @Override
        public void toClient(ByteBuf frame) {
            toClient.add(frame);
        }

        @Override
        public void finishReady(ServerConnection s, ByteBuf frame, byte status) {
            frame.release();
        }

        @Override
        public void serverFrame(ServerConnection s, ByteBuf frame) {
            frame.release();
        }

        @Override
        public void afterServerFrame() {}
    }
}
