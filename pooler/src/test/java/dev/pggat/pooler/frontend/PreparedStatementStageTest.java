package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.backend.StatementCache;
import dev.pggat.pooler.protocol.ProtocolConstants;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The prepared-statement stage on its own: client messages in, what reaches the server (an EmbeddedChannel) and
 * what the client hears, with no PostgreSQL behind it.
 */
class PreparedStatementStageTest {
    private final PreparedStatements registry = new PreparedStatements();
    private final List<ByteBuf> toClient = new ArrayList<>();
    private final EmbeddedChannel server = new EmbeddedChannel();
    private final PreparedStatementStage stage =
            new PreparedStatementStage(registry, new PreparedStatementStage.Output() {
                @Override
                public ByteBufAllocator alloc() {
                    return ByteBufAllocator.DEFAULT;
                }

                @Override
                public void toClient(ByteBuf frame) {
                    toClient.add(frame);
                }

                @Override
                public void reply(Object payload) {
                    throw new AssertionError("no other stage's replies here");
                }
            });

    @AfterEach
    void noLeak() {
        toClient.forEach(ByteBuf::release);
        server.flush();
        Object o;
        while ((o = server.readOutbound()) != null) {
            ((ByteBuf) o).release();
        }
        server.finishAndReleaseAll();
    }

    private static ByteBuf msg(char type, Object... parts) {
        ByteBuf b = Unpooled.buffer().writeByte(type).writeInt(0);
        for (Object p : parts) {
            if (p instanceof String s) {
                b.writeBytes(s.getBytes(StandardCharsets.UTF_8)).writeByte(0);
            } else if (p instanceof Short s) {
                b.writeShort(s);
            } else if (p instanceof Character c) {
                b.writeByte(c);
            }
        }
        return b.setInt(1, b.writerIndex() - 1);
    }

    private ByteBuf send(ByteBuf frame) {
        return stage.fromClient(frame, frame.getByte(0));
    }

    private String sentToServer() {
        ByteBuf f = server.readOutbound();
        if (f == null) {
            return null;
        }
        String s = text(f);
        f.release();
        return s;
    }

    /** A frame as readable text: its type, then its NUL-separated strings. */
    private static String text(ByteBuf f) {
        byte[] b = ByteBufUtil.getBytes(f);
        StringBuilder sb = new StringBuilder().append((char) b[0]);
        for (int i = 5; i < b.length; i++) {
            sb.append(b[i] == 0 ? '|' : b[i] < 32 ? '.' : (char) b[i]);
        }
        return sb.toString();
    }

    @Test
    void aNamedStatementIsPreparedUnderItsServerNameOnceAndBindNamesIt() {
        stage.attached(new StatementCache(10), server);
        ByteBuf parse = send(msg('P', "s1", "SELECT 1", (short) 0));
        assertThat(text(parse)).isEqualTo("Ppggat_1|SELECT 1|||");
        parse.release();
        ByteBuf bind = send(msg('B', "", "s1", (short) 0, (short) 0, (short) 0));
        assertThat(text(bind)).startsWith("B|pggat_1|");
        bind.release();
        // The server answers ParseComplete and BindComplete: both reach the client.
        ByteBuf pc =
                Unpooled.buffer().writeByte(ProtocolConstants.PARSE_COMPLETE).writeInt(4);
        assertThat(stage.fromServer(pc, ProtocolConstants.PARSE_COMPLETE)).isSameAs(pc);
        pc.release();
    }

    @Test
    void aStatementTheServerAlreadyHasIsAnsweredByThePooler() {
        StatementCache cache = new StatementCache(10);
        stage.attached(cache, server);
        send(msg('P', "s1", "SELECT 1", (short) 0)).release();
        // Another client name for the same query on the same server: nothing goes to the server.
        assertThat(send(msg('P', "s2", "SELECT 1", (short) 0))).isNull();
        assertThat(toClient).isEmpty(); // held until the first Parse is answered
        ByteBuf pc =
                Unpooled.buffer().writeByte(ProtocolConstants.PARSE_COMPLETE).writeInt(4);
        stage.fromServer(pc, ProtocolConstants.PARSE_COMPLETE).release();
        stage.afterServerFrame();
        assertThat(toClient).hasSize(1);
        assertThat(toClient.get(0).getByte(0)).isEqualTo(ProtocolConstants.PARSE_COMPLETE);
        assertThat(registry.hits.sum()).isEqualTo(1);
    }

    @Test
    void bindOfAStatementThisServerLacksPreparesItFirstAndDropsThatReply() {
        stage.attached(new StatementCache(10), server);
        send(msg('P', "s1", "SELECT 2", (short) 0)).release();
        // The next transaction runs on another server that never saw the statement.
        EmbeddedChannel other = new EmbeddedChannel();
        stage.attached(new StatementCache(10), other);
        ByteBuf bind = send(msg('B', "", "s1", (short) 0, (short) 0, (short) 0));
        other.flush();
        ByteBuf added = other.readOutbound();
        assertThat(text(added)).isEqualTo("Ppggat_1|SELECT 2|||");
        added.release();
        bind.release();
        ByteBuf pc =
                Unpooled.buffer().writeByte(ProtocolConstants.PARSE_COMPLETE).writeInt(4);
        assertThat(stage.fromServer(pc, ProtocolConstants.PARSE_COMPLETE)).isNull(); // the client never sent it
        assertThat(pc.refCnt()).isZero();
        other.finishAndReleaseAll();
    }

    @Test
    void bindOfAnUnknownStatementGets26000AndTheBatchIsSkippedToSync() {
        stage.attached(new StatementCache(10), server);
        ByteBuf bind = msg('B', "", "nope", (short) 0, (short) 0, (short) 0);
        assertThat(send(bind)).isNull();
        assertThat(bind.refCnt()).isZero();
        assertThat(toClient).hasSize(1);
        assertThat(text(toClient.get(0))).contains("C26000|").contains("\"nope\" does not exist");
        ByteBuf execute = msg('E', "", (short) 0, (short) 0);
        assertThat(stage.skipping(execute, ProtocolConstants.EXECUTE)).isTrue();
        assertThat(execute.refCnt()).isZero();
        ByteBuf sync = msg('S');
        assertThat(stage.skipping(sync, ProtocolConstants.SYNC)).isFalse();
        sync.release();
    }

    @Test
    void closeOfANamedStatementIsAnsweredWithoutTheServer() {
        stage.attached(new StatementCache(10), server);
        ByteBuf close = msg('C', 'S', "s1");
        assertThat(send(close)).isNull();
        assertThat(toClient).hasSize(1);
        assertThat(toClient.get(0).getByte(0)).isEqualTo(ProtocolConstants.CLOSE_COMPLETE);
    }

    @Test
    void unclaimedMessagesPassThroughUntouched() {
        stage.attached(new StatementCache(10), server);
        for (ByteBuf f :
                List.of(msg('Q', "SELECT 1"), msg('P', "", "SELECT 1", (short) 0), msg('d', "copy"), msg('H'))) {
            assertThat(send(f)).isSameAs(f);
            assertThat(f.refCnt()).isEqualTo(1);
            f.release();
        }
    }

    @Test
    void aVerifiedParseAndItsSyncAreAnsweredWithNoServerAtAll() {
        stage.attached(new StatementCache(10), server);
        send(msg('P', "s1", "SELECT 3", (short) 0)).release();
        stage.parsed(registry.known("SELECT 3\0\0\0".getBytes(StandardCharsets.UTF_8)));
        EmbeddedChannel client = new EmbeddedChannel(new ChannelInboundHandlerAdapter());
        ChannelHandlerContext ctx = client.pipeline().firstContext();
        ArrayDeque<ByteBuf> pending = new ArrayDeque<>();
        ByteBuf parse = msg('P', "s9", "SELECT 3", (short) 0);
        assertThat(stage.answerWithoutServer(pending, parse, ProtocolConstants.PARSE, ctx))
                .isTrue();
        assertThat(stage.answerWithoutServer(pending, msg('S'), ProtocolConstants.SYNC, ctx))
                .isTrue();
        ByteBuf a = client.readOutbound();
        ByteBuf b = client.readOutbound();
        assertThat(a.getByte(0)).isEqualTo(ProtocolConstants.PARSE_COMPLETE);
        assertThat(b.getByte(0)).isEqualTo(ProtocolConstants.READY_FOR_QUERY);
        a.release();
        b.release();
        assertThat(pending).isEmpty();
        assertThat(client.finish()).isFalse();
    }
}
