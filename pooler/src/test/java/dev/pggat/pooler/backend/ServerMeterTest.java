package dev.pggat.pooler.backend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.util.LatencyHistogram;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** What the meter counts from hand-written protocol messages, written and received as a server connection would. */
class ServerMeterTest {
    private ServerStats stats;
    private ServerMeter meter;
    private EmbeddedChannel ch;

    @BeforeEach
    void setUp() {
        stats = new ServerStats();
        meter = new ServerMeter(stats);
        ch = new EmbeddedChannel(meter);
        meter.loggedIn();
    }

    @AfterEach
    void tearDown() {
        Object o;
        while ((o = ch.readOutbound()) != null) {
            ((ByteBuf) o).release();
        }
        assertThat(ch.finish()).isFalse();
    }

    private static ByteBuf message(char type, byte[] body) {
        ByteBuf b = Unpooled.buffer();
        b.writeByte(type).writeInt(4 + body.length).writeBytes(body);
        return b;
    }

    private static ByteBuf query(String sql) {
        byte[] s = (sql + "\0").getBytes(StandardCharsets.UTF_8);
        return message('Q', s);
    }

    private void ready(char status) {
        ByteBuf f = message('Z', new byte[] {(byte) status});
        meter.received(f);
        f.release();
    }

    private long written() {
        long n = 0;
        Object o;
        while ((o = ch.readOutbound()) != null) {
            n += ((ByteBuf) o).readableBytes();
            ((ByteBuf) o).release();
        }
        return n;
    }

    @Test
    void eachReadyForQueryEndsAQueryAndAnIdleOneEndsATransaction() {
        for (String sql : new String[] {"BEGIN", "SELECT 1", "COMMIT"}) {
            ch.writeAndFlush(query(sql));
            ready(sql.equals("COMMIT") ? 'I' : 'T');
        }
        ch.writeAndFlush(query("SELECT 2"));
        ready('I');
        assertThat(stats.queries.sum()).isEqualTo(4);
        assertThat(stats.transactions.sum()).isEqualTo(2);
        assertThat(stats.queryTime.counts())
                .satisfies(c -> assertThat(Arrays.stream(c).sum()).isEqualTo(4));
        assertThat(stats.transactionTime.counts())
                .satisfies(c -> assertThat(Arrays.stream(c).sum()).isEqualTo(2));
        assertThat(stats.transactionNanos.sum()).isGreaterThanOrEqualTo(0);
    }

    @Test
    void pipelinedQueriesInOneWriteAreEachCounted() {
        ByteBuf both = Unpooled.wrappedBuffer(query("SELECT 1"), query("SELECT 2"));
        int size = both.readableBytes();
        ch.writeAndFlush(both);
        ready('I');
        ready('I');
        assertThat(stats.queries.sum()).isEqualTo(2);
        assertThat(stats.transactions.sum()).isEqualTo(2);
        assertThat(stats.bytesToServer.sum()).isEqualTo(size).isEqualTo(written());
        assertThat(stats.bytesFromServer.sum()).isEqualTo(12);
    }

    @Test
    void thePoolersOwnQueryIsNotAClientsQuery() {
        meter.poolerQuery();
        ch.write(query("SELECT pg_catalog.set_config('application_name', 'x', false)"));
        ch.writeAndFlush(query("SELECT 1"));
        ready('I');
        ready('I');
        assertThat(stats.queries.sum()).isEqualTo(1);
        assertThat(stats.transactions.sum()).isEqualTo(1);
    }

    @Test
    void extendedQueryMessagesAreCountedAndOweOneReadyForQueryPerSync() {
        ByteBuf batch = Unpooled.wrappedBuffer(
                message('P', "\0SELECT 1\0\0\0".getBytes(StandardCharsets.UTF_8)),
                message('B', new byte[] {0, 0, 0, 0, 0, 0, 0, 0}),
                message('E', new byte[] {0, 0, 0, 0, 0}),
                message('S', new byte[0]));
        ch.writeAndFlush(batch);
        ready('I');
        assertThat(stats.serverParses.sum()).isEqualTo(1);
        assertThat(stats.binds.sum()).isEqualTo(1);
        assertThat(stats.queries.sum()).isEqualTo(1);
    }

    @Test
    void errorsAreCountedBySqlStateClass() {
        ch.writeAndFlush(query("SELECT 1/0"));
        ByteBuf error = message('E', "SERROR\0C22012\0Mdivision by zero\0\0".getBytes(StandardCharsets.UTF_8));
        meter.received(error);
        error.release();
        ready('I');
        assertThat(stats.errorsByClass()).isEqualTo(Map.of("22", 1L));
    }

    @Test
    void loginTrafficIsNotCounted() {
        EmbeddedChannel login = new EmbeddedChannel(new ServerMeter(stats));
        ByteBuf startup = Unpooled.buffer().writeInt(8).writeInt(196608);
        login.writeAndFlush(startup);
        ((ByteBuf) login.readOutbound()).release();
        assertThat(login.finish()).isFalse();
        assertThat(stats.bytesToServer.sum()).isZero();
    }

    private void reply(char type, byte[] body) {
        ByteBuf f = message(type, body);
        meter.received(f);
        f.release();
    }

    @Test
    void aRoundTripRunsFromTheMessageThatOwesAReplyToTheFirstReplyFrame() {
        LatencyHistogram roundTrips = new LatencyHistogram();
        stats.roundTrips(roundTrips);
        // A Parse alone owes nothing the server sends at once: no round trip starts.
        ch.writeAndFlush(message('P', "s1\0SELECT 1\0\0\0".getBytes(StandardCharsets.UTF_8)));
        assertThat(roundTrips.count()).isZero();
        ch.writeAndFlush(message('S', new byte[0]));
        reply('1', new byte[0]);
        assertThat(roundTrips.count()).isEqualTo(1);
        // The rest of the answer is not another round trip.
        ready('I');
        assertThat(roundTrips.count()).isEqualTo(1);
        // Two queries written together wait for one first reply.
        ch.writeAndFlush(Unpooled.wrappedBuffer(query("SELECT 1"), query("SELECT 2")));
        reply('C', "SELECT 1\0".getBytes(StandardCharsets.UTF_8));
        ready('I');
        reply('C', "SELECT 1\0".getBytes(StandardCharsets.UTF_8));
        ready('I');
        assertThat(roundTrips.count()).isEqualTo(2);
        for (int i = 0; i < 5; i++) {
            ch.writeAndFlush(query("SELECT 3"));
            ready('I');
        }
        assertThat(roundTrips.count()).isEqualTo(7);
        assertThat(stats.queries.sum()).isEqualTo(8);
    }

    @Test
    void withoutAHistogramRoundTripsAreNotCollected() {
        ch.writeAndFlush(query("SELECT 1"));
        ready('I');
        assertThat(stats.roundTrips()).isNull();
        assertThat(stats.queries.sum()).isEqualTo(1);
    }
}
