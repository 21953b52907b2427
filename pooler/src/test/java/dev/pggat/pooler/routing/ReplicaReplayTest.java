package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ProtocolConstants;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The routing stage's replay of a replica transaction, on its own: what is kept, what the client is shown and
 * when, and that nothing kept leaks.
 */
class ReplicaReplayTest {
    private final List<ByteBuf> shown = new ArrayList<>();

    private static ByteBuf msg(char type) {
        return Unpooled.buffer().writeByte(type).writeInt(4);
    }

    private static ByteBuf error(String sqlState) {
        return Messages.errorResponse(ByteBufAllocator.DEFAULT, "ERROR", sqlState, "x");
    }

    @Test
    void aRefusedWriteIsTakenWithTheRepliesHeldBeforeItAndTheClientFramesComeBackInOrder() {
        ReplicaReplay r = new ReplicaReplay();
        r.begin(true);
        ByteBuf parse = msg('P');
        ByteBuf sync = msg('S');
        r.fromClient(parse);
        r.fromClient(sync);
        ByteBuf parseComplete = msg((char) ProtocolConstants.PARSE_COMPLETE);
        assertThat(r.fromServer(parseComplete, ProtocolConstants.PARSE_COMPLETE, shown::add))
                .isNull();
        ByteBuf refused = error("25006");
        assertThat(r.fromServer(refused, ProtocolConstants.ERROR_RESPONSE, shown::add))
                .isNull();
        assertThat(r.replaying()).isTrue();
        assertThat(shown).isEmpty();
        assertThat(parseComplete.refCnt()).as("dropped").isZero();
        assertThat(refused.refCnt()).isZero();
        ArrayDeque<ByteBuf> again = r.end();
        assertThat(again).hasSize(2);
        ByteBuf first = again.poll();
        ByteBuf second = again.poll();
        assertThat(first.getByte(0)).isEqualTo((byte) 'P');
        assertThat(second.getByte(0)).isEqualTo((byte) 'S');
        first.release();
        second.release();
        parse.release();
        sync.release();
        assertThat(parse.refCnt()).isZero();
        assertThat(r.replaying()).isFalse();
    }

    @Test
    void aDecisiveReplyShowsTheHeldOnesFirstAndEndsTheKeeping() {
        ReplicaReplay r = new ReplicaReplay();
        r.begin(true);
        ByteBuf q = msg('Q');
        r.fromClient(q);
        ByteBuf rowDescription = msg((char) ProtocolConstants.ROW_DESCRIPTION);
        assertThat(r.fromServer(rowDescription, ProtocolConstants.ROW_DESCRIPTION, shown::add))
                .isNull();
        ByteBuf dataRow = msg((char) ProtocolConstants.DATA_ROW);
        assertThat(r.fromServer(dataRow, ProtocolConstants.DATA_ROW, shown::add))
                .isSameAs(dataRow);
        assertThat(shown).containsExactly(rowDescription);
        assertThat(r.active()).isFalse();
        q.release();
        assertThat(q.refCnt()).as("the kept copy was released").isZero();
        // Nothing is kept any more: later frames pass straight through.
        ByteBuf later = msg((char) ProtocolConstants.ROW_DESCRIPTION);
        assertThat(r.fromServer(later, ProtocolConstants.ROW_DESCRIPTION, shown::add))
                .isSameAs(later);
        later.release();
        dataRow.release();
        rowDescription.release();
    }

    @Test
    void onThePrimaryA25006IsTheClientsAndTheKeptFramesStillComeBackAfterALoss() {
        ReplicaReplay r = new ReplicaReplay();
        r.begin(false);
        ByteBuf q = msg('Q');
        r.fromClient(q);
        ByteBuf rowDescription = msg((char) ProtocolConstants.ROW_DESCRIPTION);
        assertThat(r.fromServer(rowDescription, ProtocolConstants.ROW_DESCRIPTION, shown::add))
                .as("held until decisive, as on a replica")
                .isNull();
        ArrayDeque<ByteBuf> again = r.takeFrames();
        assertThat(again).hasSize(1);
        assertThat(rowDescription.refCnt())
                .as("the dead server's reply was dropped")
                .isZero();
        again.poll().release();
        r.begin(false);
        r.fromClient(q);
        ByteBuf refused = error("25006");
        assertThat(r.fromServer(refused, ProtocolConstants.ERROR_RESPONSE, shown::add))
                .isSameAs(refused);
        assertThat(r.replaying()).isFalse();
        assertThat(r.active()).isFalse();
        refused.release();
        q.release();
        assertThat(q.refCnt()).isZero();
    }

    @Test
    void beginsCompletionIsHeldSoABatchThatOpenedATransactionStaysItsStart() {
        ReplicaReplay r = new ReplicaReplay();
        r.begin(false);
        ByteBuf q = msg('P');
        r.fromClient(q);
        ByteBuf begin = Messages.commandComplete(ByteBufAllocator.DEFAULT, "BEGIN");
        assertThat(r.fromServer(begin, ProtocolConstants.COMMAND_COMPLETE, shown::add))
                .isNull();
        assertThat(r.active()).isTrue();
        ByteBuf select = Messages.commandComplete(ByteBufAllocator.DEFAULT, "SELECT 1");
        assertThat(r.fromServer(select, ProtocolConstants.COMMAND_COMPLETE, shown::add))
                .isSameAs(select);
        assertThat(shown).containsExactly(begin);
        assertThat(r.active()).isFalse();
        ByteBuf other = Messages.commandComplete(ByteBufAllocator.DEFAULT, "BEGINX");
        assertThat(ReplicaReplay.begins(other)).isFalse();
        other.release();
        ByteBuf start = Messages.commandComplete(ByteBufAllocator.DEFAULT, "START TRANSACTION");
        assertThat(ReplicaReplay.begins(start)).isTrue();
        start.release();
        begin.release();
        select.release();
        q.release();
    }

    @Test
    void anotherErrorIsShownAsTheServerSentIt() {
        ReplicaReplay r = new ReplicaReplay();
        r.begin(true);
        ByteBuf e = error("42P01");
        assertThat(r.fromServer(e, ProtocolConstants.ERROR_RESPONSE, shown::add))
                .isSameAs(e);
        assertThat(r.replaying()).isFalse();
        e.release();
    }

    @Test
    void aTransactionPastTheReplayLimitIsNoLongerKept() {
        ReplicaReplay r = new ReplicaReplay();
        r.begin(true);
        ByteBuf big = Unpooled.buffer().writeByte('d').writeInt(4 + ReplicaReplay.MAX_REPLAY_BYTES);
        big.writeZero(ReplicaReplay.MAX_REPLAY_BYTES);
        r.fromClient(big);
        assertThat(r.active()).isFalse();
        assertThat(big.refCnt()).isEqualTo(1);
        big.release();
    }

    @Test
    void withNothingKeptEveryMessageGoesStraightThrough() {
        ReplicaReplay r = new ReplicaReplay();
        ByteBuf f = msg((char) ProtocolConstants.PARSE_COMPLETE);
        r.fromClient(f);
        assertThat(f.refCnt()).isEqualTo(1);
        assertThat(r.hold(f)).isFalse();
        assertThat(r.fromServer(f, ProtocolConstants.PARSE_COMPLETE, shown::add))
                .isSameAs(f);
        f.release();
    }

    @Test
    void targetSessionAttrsAndPggatRouteChooseTheTarget() {
        assertThat(RouteStage.target(null, null)).isEqualTo(RouteStage.Target.AUTO);
        assertThat(RouteStage.target("read-write", null)).isEqualTo(RouteStage.Target.PRIMARY);
        assertThat(RouteStage.target("Standby", null)).isEqualTo(RouteStage.Target.REPLICA_ONLY);
        assertThat(RouteStage.target("read-write", "prefer-replica")).isEqualTo(RouteStage.Target.PREFER_REPLICA);
        assertThat(RouteStage.target("any", null)).isEqualTo(RouteStage.Target.AUTO);
    }
}
