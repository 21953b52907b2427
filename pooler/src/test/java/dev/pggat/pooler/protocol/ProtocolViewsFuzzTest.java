package dev.pggat.pooler.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import java.nio.charset.StandardCharsets;
import java.util.function.Function;

/**
 * The typed views (Parse, Bind, Describe, Close, Execute, Query, DataRow, CommandComplete, ParameterStatus,
 * ReadyForQuery, NotificationResponse, ErrorResponse) on any frame body. The input is one message without its
 * length (type byte, then body): the harness adds the length the framer would have checked, so that every input is
 * a frame the pooler could be handed. Every view is applied to every frame whatever its type, which covers what a
 * view sees on a well-typed frame with any body. Seeds are the single messages of real psql, pgbench and pgjdbc
 * sessions (both directions), cut from the framer's corpus.
 *
 * <p>Checked on every input: a view returns or fails with a protocol violation (never an index error or another
 * exception), leaves the frame's reader index where it was, and {@link Bind#withStatement} makes the same Bind for
 * another statement (read back through the views) without leaking.
 */
class ProtocolViewsFuzzTest {
    private static final byte[] STATEMENT = "pggat_s_1".getBytes(StandardCharsets.US_ASCII);

    @FuzzTest(maxDuration = "30s")
    void oneMessage(byte[] input) {
        if (input.length == 0) {
            return;
        }
        ByteBuf frame = PooledByteBufAllocator.DEFAULT.buffer(input.length + 4);
        try {
            frame.writeByte(input[0]).writeInt(input.length + 3).writeBytes(input, 1, input.length - 1);
            viewsOf(frame);
            // The same frame behind other bytes: views must use its reader index, not 0.
            ByteBuf shifted = PooledByteBufAllocator.DEFAULT.buffer(input.length + 7);
            try {
                shifted.writeBytes(new byte[] {'x', 'y', 'z'}).writeBytes(frame, 0, frame.writerIndex());
                shifted.readerIndex(3);
                viewsOf(shifted);
            } finally {
                shifted.release();
            }
        } finally {
            frame.release();
        }
    }

    private static void viewsOf(ByteBuf frame) {
        read(frame, Parse::isUnnamed);
        read(frame, Parse::statementName);
        read(frame, Parse::queryStart);
        read(frame, Parse::queryEnd);
        read(frame, Parse::queryEndOrMinusOne);
        read(frame, Parse::query);
        read(frame, Parse::declaresNoParameterTypes);
        read(frame, Parse::copyStatement);
        read(frame, Bind::portalIsUnnamed);
        read(frame, Bind::statementIsUnnamed);
        read(frame, Bind::statementName);
        read(frame, Bind::hasNoParameters);
        read(frame, Describe::isStatement);
        read(frame, Describe::isPortal);
        read(frame, Describe::isUnnamed);
        read(frame, Describe::name);
        read(frame, Close::isStatement);
        read(frame, Close::isPortal);
        read(frame, Close::isUnnamed);
        read(frame, Close::name);
        read(frame, Execute::portalIsUnnamed);
        read(frame, Query::textStart);
        read(frame, Query::textEnd);
        read(frame, Query::textEndOrMinusOne);
        read(frame, Query::text);
        read(frame, Frames::queryText);
        read(frame, CommandComplete::tag);
        read(frame, f -> CommandComplete.tagIs(f, CommandComplete.ascii("SELECT 1")));
        read(frame, ParameterStatus::name);
        read(frame, ParameterStatus::value);
        read(frame, ReadyForQuery::status);
        read(frame, NotificationResponse::processId);
        read(frame, NotificationResponse::channel);
        read(frame, ErrorFields::parse);
        Integer columns = read(frame, DataRow::columnCount);
        if (columns != null) {
            for (int i = 0; i < Math.min(columns, 64); i++) {
                int column = i;
                read(frame, f -> DataRow.column(f, column));
            }
            assertThatThrownBy(() -> DataRow.column(frame, columns)).isInstanceOf(IndexOutOfBoundsException.class);
        }
        String statement = Frames.type(frame) == ProtocolConstants.BIND ? read(frame, Bind::statementName) : null;
        if (statement != null) {
            ByteBuf renamed = Bind.withStatement(PooledByteBufAllocator.DEFAULT, frame, STATEMENT);
            try {
                assertThat(Frames.type(renamed)).isEqualTo(Frames.type(frame));
                assertThat(renamed.getInt(renamed.readerIndex() + 1))
                        .as("the copy's length field")
                        .isEqualTo(renamed.readableBytes() - 1);
                assertThat(Bind.statementName(renamed)).isEqualTo("pggat_s_1");
                assertThat(Bind.portalIsUnnamed(renamed)).isEqualTo(Bind.portalIsUnnamed(frame));
                assertThat(read(renamed, Bind::hasNoParameters)).isEqualTo(read(frame, Bind::hasNoParameters));
                assertThat(ByteBufUtil.getBytes(
                                renamed, afterNames(renamed), renamed.writerIndex() - afterNames(renamed)))
                        .as("parameters and result formats are carried over")
                        .isEqualTo(ByteBufUtil.getBytes(
                                frame, afterNames(frame), frame.writerIndex() - afterNames(frame)));
            } finally {
                renamed.release();
            }
        }
    }

    /** Where a Bind's parameters start: after the NULs of its portal and statement names. */
    private static int afterNames(ByteBuf bind) {
        int portalEnd = bind.indexOf(bind.readerIndex() + 5, bind.writerIndex(), (byte) 0);
        return bind.indexOf(portalEnd + 1, bind.writerIndex(), (byte) 0) + 1;
    }

    /** The view's answer, or null when it refused the frame as malformed. */
    private static <T> T read(ByteBuf frame, Function<ByteBuf, T> view) {
        int readerIndex = frame.readerIndex();
        int writerIndex = frame.writerIndex();
        try {
            return view.apply(frame);
        } catch (ProtocolException expected) {
            assertThat(expected.sqlState()).isEqualTo(SqlState.PROTOCOL_VIOLATION);
            return null;
        } finally {
            assertThat(frame.readerIndex()).as("views do not move the frame").isEqualTo(readerIndex);
            assertThat(frame.writerIndex()).isEqualTo(writerIndex);
        }
    }
}
