package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ProtocolConstants;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** What a session answers by itself after its server was lost: as PostgreSQL answers in a failed transaction. */
class ServerLossStageTest {
    private static final ByteBufAllocator ALLOC = UnpooledByteBufAllocator.DEFAULT;
    private final ServerLossStage stage = new ServerLossStage(() -> ALLOC);
    private final List<ByteBuf> out = new ArrayList<>();

    @AfterEach
    void release() {
        out.forEach(ByteBuf::release);
    }

    /** The messages written since the last call, as "E:08006", "Z:E", "C:ROLLBACK", "1"... */
    private List<String> written() {
        List<String> seen = new ArrayList<>();
        for (ByteBuf b : out) {
            char t = (char) Frames.type(b);
            seen.add(
                    switch (t) {
                        case 'E' ->
                            "E:" + ErrorFields.parse(b).severity() + ":"
                                    + ErrorFields.parse(b).sqlState();
                        case 'Z' -> "Z:" + (char) dev.pggat.pooler.protocol.ReadyForQuery.status(b);
                        case 'C' -> "C:" + b.toString(5, b.readableBytes() - 6, StandardCharsets.US_ASCII);
                        default -> String.valueOf(t);
                    });
            b.release();
        }
        out.clear();
        return seen;
    }

    private boolean send(ByteBuf frame) {
        return stage.fromClient(frame, out::add);
    }

    private static ByteBuf query(String sql) {
        return Messages.query(ALLOC, sql);
    }

    private static ByteBuf parse(String sql) {
        byte[] text = sql.getBytes(StandardCharsets.UTF_8);
        byte[] statement = java.util.Arrays.copyOf(text, text.length + 3); // NUL, then no parameter types
        return Messages.parse(ALLOC, new byte[0], statement);
    }

    private static ByteBuf bare(byte type, int bodyBytes) {
        return ALLOC.buffer().writeByte(type).writeInt(4 + bodyBytes).writeZero(bodyBytes);
    }

    @Test
    void anAutocommitStatementLostGetsAnErrorAndTheSessionGoesOn() {
        stage.serverLost(1, false, false, out::add);
        assertThat(written()).containsExactly("E:ERROR:08006", "Z:I");
        assertThat(stage.active()).isFalse();
        ByteBuf next = query("SELECT 1");
        assertThat(send(next)).as("the next statement goes to a server").isFalse();
        next.release();
    }

    @Test
    void aTransactionLostRefusesStatementsUntilRollback() {
        stage.serverLost(1, false, true, out::add);
        assertThat(written()).containsExactly("E:ERROR:08006", "Z:E");
        assertThat(send(query("SELECT 1"))).isTrue();
        assertThat(written()).containsExactly("E:ERROR:25P02", "Z:E");
        assertThat(send(query("ROLLBACK TO SAVEPOINT a"))).isTrue();
        assertThat(written()).as("the savepoint died with the server").containsExactly("E:ERROR:25P02", "Z:E");
        assertThat(send(query("/* app */ rollback"))).isTrue();
        assertThat(written()).containsExactly("C:ROLLBACK", "Z:I");
        assertThat(stage.active()).isFalse();
    }

    @Test
    void commitOfAFailedTransactionRollsBackAsPostgresSays() {
        stage.serverLost(1, false, true, out::add);
        written();
        assertThat(send(query("COMMIT"))).isTrue();
        assertThat(written()).containsExactly("C:ROLLBACK", "Z:I");
    }

    @Test
    void anExtendedRollbackIsAnsweredMessageByMessage() {
        // pgjdbc ends a transaction with Parse/Bind/Describe/Execute/Sync of COMMIT or ROLLBACK.
        stage.serverLost(1, false, true, out::add);
        written();
        send(parse("COMMIT"));
        send(bare(ProtocolConstants.BIND, 8));
        send(bare(ProtocolConstants.DESCRIBE, 2));
        send(bare(ProtocolConstants.EXECUTE, 5));
        send(Messages.sync());
        assertThat(written()).containsExactly("1", "2", "n", "C:ROLLBACK", "Z:I");
        assertThat(stage.active()).isFalse();
    }

    @Test
    void anExtendedStatementInAFailedTransactionIsRefusedOnceThenSkippedToSync() {
        stage.serverLost(1, false, true, out::add);
        written();
        send(parse("SELECT 1"));
        send(bare(ProtocolConstants.BIND, 8));
        send(bare(ProtocolConstants.EXECUTE, 5));
        send(Messages.sync());
        assertThat(written()).containsExactly("E:ERROR:25P02", "Z:E");
        assertThat(stage.active()).isTrue();
    }

    @Test
    void aBatchLostBeforeItsSyncGetsItsErrorNowAndItsReadyForQueryAtTheSync() {
        stage.serverLost(0, true, false, out::add);
        assertThat(written()).containsExactly("E:ERROR:08006");
        send(bare(ProtocolConstants.EXECUTE, 5));
        assertThat(written()).isEmpty();
        send(Messages.sync());
        assertThat(written()).containsExactly("Z:I");
        assertThat(stage.active()).isFalse();
    }

    @Test
    void aTransactionLostWhileIdleTellsTheLossAtItsNextStatementAndNeverCommits() {
        stage.serverLost(0, false, true, out::add);
        assertThat(written())
                .as("the client owed nothing, so nothing is written yet")
                .isEmpty();
        send(query("COMMIT"));
        assertThat(written()).as("not a ROLLBACK tag the client may not read").containsExactly("E:ERROR:08006", "Z:I");
        assertThat(stage.active()).isFalse();

        stage.serverLost(0, false, true, out::add);
        send(query("SELECT 1"));
        send(query("SELECT 2"));
        send(query("ROLLBACK"));
        assertThat(written()).containsExactly("E:ERROR:08006", "Z:E", "E:ERROR:25P02", "Z:E", "C:ROLLBACK", "Z:I");
    }

    @Test
    void anExtendedCommitOfATransactionLostWhileIdleGetsTheLoss() {
        stage.serverLost(0, false, true, out::add);
        send(parse("COMMIT"));
        send(bare(ProtocolConstants.BIND, 8));
        send(bare(ProtocolConstants.EXECUTE, 5));
        send(Messages.sync());
        assertThat(written()).containsExactly("1", "2", "E:ERROR:08006", "Z:I");
    }

    /** The rest of the Query the stage leaves for a server, as text (null: none). */
    private String rest() {
        ByteBuf r = stage.takeRest();
        if (r == null) {
            return null;
        }
        try {
            assertThat(Frames.type(r)).isEqualTo(ProtocolConstants.QUERY);
            assertThat(r.getInt(1)).isEqualTo(r.readableBytes() - 1);
            assertThat(r.getByte(r.writerIndex() - 1)).isZero();
            return r.toString(5, r.readableBytes() - 6, StandardCharsets.UTF_8);
        } finally {
            r.release();
        }
    }

    @Test
    void aQueryThatEndsTheFailedTransactionFirstSendsItsRestToAServerWithoutAReadyForQuery() {
        stage.serverLost(1, false, true, out::add);
        written();
        assertThat(send(query("ROLLBACK; SELECT 1"))).isTrue();
        assertThat(written())
                .as("the server's ReadyForQuery is the client's one")
                .containsExactly("C:ROLLBACK");
        assertThat(rest()).isEqualTo(" SELECT 1");
        assertThat(stage.active()).isFalse();
    }

    @Test
    void commitThenMoreIsARollbackThenTheRest() {
        stage.serverLost(1, false, true, out::add);
        written();
        assertThat(send(query(";; commit /* ; */; SELECT ';' -- x;\n"))).isTrue();
        assertThat(written()).containsExactly("C:ROLLBACK");
        assertThat(rest())
                .as("split by the lexer, not at the ';' in a comment or a string")
                .isEqualTo(" SELECT ';' -- x;\n");
    }

    @Test
    void onlyEmptyStatementsAfterTheEndLeaveNothingForAServer() {
        stage.serverLost(1, false, true, out::add);
        written();
        assertThat(send(query("ABORT ; ; -- done"))).isTrue();
        assertThat(written()).containsExactly("C:ROLLBACK", "Z:I");
        assertThat(rest()).isNull();
    }

    @Test
    void aStatementBeforeTheEndIsRefusedOnceAndTheRestOfTheQueryIsSkipped() {
        stage.serverLost(1, false, true, out::add);
        written();
        assertThat(send(query("SELECT 1; ROLLBACK; SELECT 3"))).isTrue();
        assertThat(written()).containsExactly("E:ERROR:25P02", "Z:E");
        assertThat(rest()).isNull();
        assertThat(stage.active())
                .as("still in the failed transaction, as PostgreSQL")
                .isTrue();
    }

    @Test
    void aCommitThatTellsTheUntoldLossSkipsTheRestOfItsQuery() {
        stage.serverLost(0, false, true, out::add);
        assertThat(written()).isEmpty();
        assertThat(send(query("COMMIT; SELECT 2"))).isTrue();
        assertThat(written()).containsExactly("E:ERROR:08006", "Z:I");
        assertThat(rest()).isNull();
        assertThat(stage.active()).isFalse();
    }

    @Test
    void queriesPipelinedBehindTheLostOneEachGetAnError() {
        stage.serverLost(3, false, true, out::add);
        assertThat(written()).containsExactly("E:ERROR:08006", "Z:E", "E:ERROR:25P02", "Z:E", "E:ERROR:25P02", "Z:E");
    }

    @Test
    void transactionEndsAreRecognisedAsPostgresSpellsThem() {
        assertThat(ServerLossStage.endsTransaction("ROLLBACK")).isTrue();
        assertThat(ServerLossStage.endsTransaction("abort work")).isTrue();
        assertThat(ServerLossStage.endsTransaction("End")).isTrue();
        assertThat(ServerLossStage.endsTransaction("-- x\nCOMMIT;")).isTrue();
        assertThat(ServerLossStage.endsTransaction("rollback to savepoint s")).isFalse();
        assertThat(ServerLossStage.endsTransaction("ROLLBACK WORK TO s")).isFalse();
        assertThat(ServerLossStage.endsTransaction("rollback transaction to savepoint s"))
                .isFalse();
        assertThat(ServerLossStage.endsTransaction("ROLLBACK TRANSACTION")).isTrue();
        assertThat(ServerLossStage.endsTransaction("SELECT 'commit'")).isFalse();
        assertThat(ServerLossStage.endsTransaction("")).isFalse();
    }
}
