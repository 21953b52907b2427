package dev.pggat.pooler.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * The typed views read real message bytes (as pgjdbc and PostgreSQL write them) and, cut short at every length,
 * fail with a protocol violation instead of reading past the frame.
 */
class ProtocolViewsTest {

    /** A frame of {@code type} with {@code body}, its length field set, as the framers deliver it. */
    private static ByteBuf frame(char type, byte[] body) {
        return Unpooled.buffer().writeByte(type).writeInt(4 + body.length).writeBytes(body);
    }

    private static byte[] bytes(Object... parts) {
        ByteBuf b = Unpooled.buffer();
        for (Object p : parts) {
            if (p instanceof String s) {
                b.writeBytes(s.getBytes(StandardCharsets.UTF_8)).writeByte(0);
            } else if (p instanceof Short s) {
                b.writeShort(s);
            } else if (p instanceof Integer i) {
                b.writeInt(i);
            } else if (p instanceof Character c) {
                b.writeByte(c);
            } else {
                b.writeBytes((byte[]) p);
            }
        }
        return ByteBufUtil.getBytes(b);
    }

    /** Every prefix of the body (and the frame itself sliced behind a larger buffer) must not read out of bounds. */
    private static void truncatedAtEveryLength(char type, byte[] body, Consumer<ByteBuf> read) {
        for (int n = 0; n < body.length; n++) {
            // A slice, so that bytes past the frame exist in memory but must not be read.
            ByteBuf whole = Unpooled.buffer().writeByte(type).writeInt(4 + n).writeBytes(body, 0, n);
            whole.writeBytes(new byte[] {'x', 0, 0, 0, 0});
            ByteBuf f = whole.slice(0, 5 + n);
            try {
                read.accept(f);
            } catch (ProtocolException e) {
                assertThat(e.sqlState()).isEqualTo(SqlState.PROTOCOL_VIOLATION);
            }
        }
    }

    @Test
    void readsParse() {
        byte[] body = bytes("s1", "select $1", (short) 1, 23);
        ByteBuf f = frame('P', body);
        assertThat(Parse.isUnnamed(f)).isFalse();
        assertThat(Parse.statementName(f)).isEqualTo("s1");
        assertThat(Parse.query(f)).isEqualTo("select $1");
        assertThat(Parse.declaresNoParameterTypes(f)).isFalse();
        assertThat(Parse.copyStatement(f)).isEqualTo(bytes("select $1", (short) 1, 23));
        assertThat(f.toString(Parse.queryStart(f), Parse.queryEnd(f) - Parse.queryStart(f), StandardCharsets.UTF_8))
                .isEqualTo("select $1");
        ByteBuf unnamed = frame('P', bytes("", "LISTEN a", (short) 0));
        assertThat(Parse.isUnnamed(unnamed)).isTrue();
        assertThat(Parse.declaresNoParameterTypes(unnamed)).isTrue();
        truncatedAtEveryLength('P', body, p -> {
            Parse.statementName(p);
            Parse.query(p);
            Parse.declaresNoParameterTypes(p);
            Parse.copyStatement(p);
        });
        assertThat(Parse.queryEndOrMinusOne(f)).isEqualTo(Parse.queryEnd(f));
        assertThat(Parse.queryEndOrMinusOne(frame('P', bytes("s1", "no NUL".getBytes(StandardCharsets.UTF_8)))))
                .isEqualTo(-1);
        // No parameter-type count at all: not "no types declared".
        assertThat(Parse.declaresNoParameterTypes(frame('P', bytes("", "LISTEN a"))))
                .isFalse();
    }

    @Test
    void readsBindAndRenamesItsStatement() {
        byte[] body = bytes("p", "s1", (short) 0, (short) 1, 3, "abc".getBytes(StandardCharsets.US_ASCII), (short) 0);
        ByteBuf f = frame('B', body);
        assertThat(Bind.portalIsUnnamed(f)).isFalse();
        assertThat(Bind.statementIsUnnamed(f)).isFalse();
        assertThat(Bind.statementName(f)).isEqualTo("s1");
        assertThat(Bind.hasNoParameters(f)).isFalse();
        ByteBuf renamed =
                Bind.withStatement(ByteBufAllocator.DEFAULT, f, "pggat_7".getBytes(StandardCharsets.US_ASCII));
        ByteBuf expected = frame(
                'B',
                bytes("p", "pggat_7", (short) 0, (short) 1, 3, "abc".getBytes(StandardCharsets.US_ASCII), (short) 0));
        assertThat(ByteBufUtil.getBytes(renamed)).isEqualTo(ByteBufUtil.getBytes(expected));
        renamed.release();
        assertThat(f.refCnt()).isEqualTo(1);
        assertThat(Bind.hasNoParameters(frame('B', bytes("", "", (short) 0, (short) 0, (short) 0))))
                .isTrue();
        truncatedAtEveryLength('B', body, b -> {
            Bind.portalIsUnnamed(b);
            Bind.statementName(b);
            Bind.hasNoParameters(b);
        });
        // A negative format count must not walk backwards.
        assertThat(Bind.hasNoParameters(frame('B', bytes("", "", (short) -3, (short) 0))))
                .isFalse();
    }

    @Test
    void readsDescribeAndClose() {
        ByteBuf ds = frame('D', bytes('S', "s1"));
        assertThat(Describe.isStatement(ds)).isTrue();
        assertThat(Describe.isPortal(ds)).isFalse();
        assertThat(Describe.isUnnamed(ds)).isFalse();
        assertThat(Describe.name(ds)).isEqualTo("s1");
        ByteBuf cp = frame('C', bytes('P', ""));
        assertThat(Close.isPortal(cp)).isTrue();
        assertThat(Close.isUnnamed(cp)).isTrue();
        truncatedAtEveryLength('D', bytes('S', "s1"), d -> {
            Describe.isStatement(d);
            Describe.isUnnamed(d);
            Describe.name(d);
        });
        truncatedAtEveryLength('C', bytes('S', "s1"), c -> {
            Close.isStatement(c);
            Close.isUnnamed(c);
            Close.name(c);
        });
        assertThatThrownBy(() -> Describe.isStatement(frame('D', new byte[0]))).isInstanceOf(ProtocolException.class);
    }

    @Test
    void readsExecuteQueryAndReadyForQuery() {
        assertThat(Execute.portalIsUnnamed(frame('E', bytes("", 0)))).isTrue();
        assertThat(Execute.portalIsUnnamed(frame('E', bytes("p", 0)))).isFalse();
        ByteBuf q = frame('Q', bytes("SELECT 1"));
        assertThat(Query.text(q)).isEqualTo("SELECT 1");
        assertThat(Query.textEnd(q) - Query.textStart(q)).isEqualTo(8);
        assertThat(Query.textEndOrMinusOne(q)).isEqualTo(Query.textEnd(q));
        assertThat(Query.textEndOrMinusOne(frame('Q', "no NUL".getBytes(StandardCharsets.UTF_8))))
                .isEqualTo(-1);
        assertThat(Query.textEndOrMinusOne(frame('Q', new byte[0]))).isEqualTo(-1);
        assertThat(ReadyForQuery.status(frame('Z', new byte[] {'T'}))).isEqualTo(ProtocolConstants.TX_IN_BLOCK);
        truncatedAtEveryLength('E', bytes("", 0), Execute::portalIsUnnamed);
        truncatedAtEveryLength('Q', bytes("SELECT 1"), Query::text);
        truncatedAtEveryLength('Q', bytes("SELECT 1"), Query::textEnd);
        assertThatThrownBy(() -> ReadyForQuery.status(frame('Z', new byte[0]))).isInstanceOf(ProtocolException.class);
    }

    @Test
    void readsDataRowColumnsIncludingNull() {
        byte[] body = bytes(
                (short) 3, 2, "ab".getBytes(StandardCharsets.UTF_8), -1, 4, "16/B".getBytes(StandardCharsets.UTF_8));
        ByteBuf f = frame('D', body);
        assertThat(DataRow.columnCount(f)).isEqualTo(3);
        assertThat(DataRow.column(f, 0)).isEqualTo("ab");
        assertThat(DataRow.column(f, 1)).isNull();
        assertThat(DataRow.column(f, 2)).isEqualTo("16/B");
        assertThatThrownBy(() -> DataRow.column(f, 3)).isInstanceOf(IndexOutOfBoundsException.class);
        truncatedAtEveryLength('D', body, d -> {
            for (int i = 0; i < 3; i++) {
                DataRow.column(d, i);
            }
        });
        // A length that claims more than the frame holds.
        ByteBuf lying = frame('D', bytes((short) 1, 1000, "ab".getBytes(StandardCharsets.UTF_8)));
        assertThatThrownBy(() -> DataRow.column(lying, 0)).isInstanceOf(ProtocolException.class);
    }

    /** Found by ProtocolViewsFuzzTest: a column length near 2^31 overflowed the bounds check into an index error. */
    @Test
    void columnLengthNearIntMaxIsMalformedNotAnIndexError() {
        ByteBuf f = frame(
                'D',
                bytes(
                        (short) 2,
                        0x7ffffff0,
                        "ab".getBytes(StandardCharsets.UTF_8),
                        1,
                        "c".getBytes(StandardCharsets.UTF_8)));
        assertThatThrownBy(() -> DataRow.column(f, 0)).isInstanceOf(ProtocolException.class);
        assertThatThrownBy(() -> DataRow.column(f, 1)).isInstanceOf(ProtocolException.class);
    }

    @Test
    void readsServerMessages() {
        ByteBuf cc = frame('C', bytes("DISCARD ALL"));
        assertThat(CommandComplete.tag(cc)).isEqualTo("DISCARD ALL");
        assertThat(CommandComplete.tagIs(cc, CommandComplete.ascii("DISCARD ALL")))
                .isTrue();
        assertThat(CommandComplete.tagIs(cc, CommandComplete.ascii("DISCARD"))).isFalse();
        assertThat(CommandComplete.tagIs(frame('C', new byte[0]), CommandComplete.ascii("RESET")))
                .isFalse();
        ByteBuf ps = frame('S', bytes("DateStyle", "ISO, MDY"));
        assertThat(ParameterStatus.name(ps)).isEqualTo("DateStyle");
        assertThat(ParameterStatus.value(ps)).isEqualTo("ISO, MDY");
        ByteBuf n = frame('A', bytes(42, "chan", "payload"));
        assertThat(NotificationResponse.processId(n)).isEqualTo(42);
        assertThat(NotificationResponse.channel(n)).isEqualTo("chan");
        truncatedAtEveryLength('C', bytes("DISCARD ALL"), CommandComplete::tag);
        truncatedAtEveryLength('S', bytes("DateStyle", "ISO, MDY"), p -> {
            ParameterStatus.name(p);
            ParameterStatus.value(p);
        });
        truncatedAtEveryLength('A', bytes(42, "chan", "payload"), NotificationResponse::channel);
    }

    @Test
    void writesTheMessagesThePoolerMakesUp() {
        ByteBuf p = Messages.parse(
                ByteBufAllocator.DEFAULT, "s".getBytes(StandardCharsets.US_ASCII), bytes("q", (short) 0));
        assertThat(ByteBufUtil.getBytes(p)).isEqualTo(ByteBufUtil.getBytes(frame('P', bytes("s", "q", (short) 0))));
        ByteBuf d = Messages.statementMessage(
                ByteBufAllocator.DEFAULT, ProtocolConstants.DESCRIBE, "s".getBytes(StandardCharsets.US_ASCII));
        assertThat(ByteBufUtil.getBytes(d)).isEqualTo(ByteBufUtil.getBytes(frame('D', bytes('S', "s"))));
        ByteBuf c = Messages.commandComplete(ByteBufAllocator.DEFAULT, "LISTEN");
        assertThat(ByteBufUtil.getBytes(c)).isEqualTo(ByteBufUtil.getBytes(frame('C', bytes("LISTEN"))));
        ByteBuf t = Messages.noParameters(ByteBufAllocator.DEFAULT);
        assertThat(ByteBufUtil.getBytes(t)).isEqualTo(ByteBufUtil.getBytes(frame('t', bytes((short) 0))));
        p.release();
        d.release();
        c.release();
        t.release();
    }
}
