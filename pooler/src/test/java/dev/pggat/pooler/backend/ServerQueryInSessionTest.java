package dev.pggat.pooler.backend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ParameterStatus;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.Query;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The pooler's queries in line with a client's messages: what goes out, how the replies are counted and handed
 * over, on an EmbeddedChannel standing in for the server.
 */
class ServerQueryInSessionTest {
    private final EmbeddedChannel channel = new EmbeddedChannel();
    private final ServerConnection server = TestServerConnections.over(channel);
    private final List<String> seen = new ArrayList<>();

    private final ServerQuery.InSession.Replies replies = new ServerQuery.InSession.Replies() {
        @Override
        public void dataRow(ServerConnection s, ByteBuf frame) {
            seen.add("row");
        }

        @Override
        public void parameterStatus(ServerConnection s, ByteBuf frame) {
            seen.add("status " + ParameterStatus.name(frame));
        }

        @Override
        public void error(ServerConnection s, ErrorFields error) {
            seen.add("error " + error.sqlState());
        }

        @Override
        public void done(ServerConnection s) {
            seen.add("done " + (char) s.transactionStatus());
        }
    };

    private static ByteBuf message(char type, byte[] body) {
        ByteBuf b = Unpooled.buffer().writeByte(type).writeInt(4 + body.length).writeBytes(body);
        return b;
    }

    private static ByteBuf dataRow() {
        return Unpooled.buffer()
                .writeByte(ProtocolConstants.DATA_ROW)
                .writeInt(4 + 2 + 4 + 1)
                .writeShort(1)
                .writeInt(1)
                .writeByte('x');
    }

    @Test
    void queriesGoOutInOrderAndCountTheirReadyForQuery() {
        ServerQuery.InSession q = new ServerQuery.InSession();
        assertThat(q.active()).isFalse();
        q.send(server, "SET work_mem = '8MB'");
        q.send(server, "SELECT 1");
        channel.flush();
        ByteBuf first = channel.readOutbound();
        ByteBuf second = channel.readOutbound();
        assertThat(Query.text(first)).isEqualTo("SET work_mem = '8MB'");
        assertThat(Query.text(second)).isEqualTo("SELECT 1");
        first.release();
        second.release();
        assertThat(q.active()).isTrue();

        q.reply(server, Messages.parameterStatus(channel.alloc(), "work_mem", "8MB"), replies);
        q.reply(server, message('C', "SET\0".getBytes(StandardCharsets.US_ASCII)), replies);
        q.reply(server, Messages.readyForQuery(channel.alloc(), ProtocolConstants.TX_IDLE), replies);
        assertThat(q.active()).isTrue();
        q.reply(server, dataRow(), replies);
        q.reply(server, Messages.errorResponse(channel.alloc(), "ERROR", "22023", "bad"), replies);
        q.reply(server, Messages.readyForQuery(channel.alloc(), ProtocolConstants.TX_FAILED), replies);
        assertThat(q.active()).isFalse();
        assertThat(seen).containsExactly("status work_mem", "done I", "row", "error 22023", "done E");
        assertThat(server.transactionStatus()).isEqualTo(ProtocolConstants.TX_FAILED);
    }

    @Test
    void everyReplyIsReleased() {
        ServerQuery.InSession q = new ServerQuery.InSession();
        q.send(server, "SELECT 1");
        List<ByteBuf> frames = List.of(
                message('T', new byte[] {0, 0}), dataRow(), message('N', new byte[] {0}), message('Z', new byte[] {'I'
                }));
        for (ByteBuf f : frames) {
            q.reply(server, f, replies);
        }
        assertThat(frames).allSatisfy(f -> assertThat(f.refCnt()).isZero());
        channel.flush();
        ((ByteBuf) channel.readOutbound()).release();
    }
}
