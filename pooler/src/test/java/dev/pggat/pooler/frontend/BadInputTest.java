package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.testing.PoolerFixture;
import dev.pggat.pooler.testing.RawClient;
import java.sql.Connection;
import java.sql.ResultSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Malformed and hostile clients get a clear FATAL error and are closed; everyone else keeps working. */
class BadInputTest {
    static PoolerFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = PoolerFixture.start(2, "timeouts:\n  clientLogin: 3s\nlimits:\n  maxMessageSize: 1MB\n");
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    @AfterEach
    void othersStillServed() throws Exception {
        try (Connection c = fx.connect("appdb", "scram_user");
                ResultSet rs = c.createStatement().executeQuery("SELECT 7")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(7);
        }
    }

    private static RawClient raw() throws Exception {
        return new RawClient("127.0.0.1", fx.port());
    }

    private static void assertFatal(RawClient c, String sqlState, String messagePart) throws Exception {
        RawClient.Msg m = c.read();
        assertThat(m.type()).isEqualTo('E');
        assertThat(m.field('S')).isEqualTo("FATAL");
        assertThat(m.field('C')).isEqualTo(sqlState);
        assertThat(m.field('M')).contains(messagePart);
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void garbageBytesGetAProtocolError() throws Exception {
        try (RawClient c = raw()) {
            c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes());
            // "GET " read as a length is far over the startup packet limit.
            assertFatal(c, "08P01", "invalid length of startup packet");
        }
    }

    @Test
    void oversizedStartupLengthIsRefusedWithoutReadingIt() throws Exception {
        try (RawClient c = raw()) {
            c.send(new byte[] {0x7f, 0, 0, 0, 0, 3, 0, 0});
            assertFatal(c, "08P01", "invalid length of startup packet");
        }
    }

    @Test
    void unsupportedProtocolVersionIsRefusedLikePostgreSQL() throws Exception {
        try (RawClient c = raw()) {
            c.send(RawClient.startup(2 << 16, Map.of("user", "trust_user")));
            assertFatal(c, "0A000", "unsupported frontend protocol 2.0");
        }
    }

    @Test
    void oversizedMessageAfterLoginIsRefused() throws Exception {
        try (RawClient c = raw()) {
            List<RawClient.Msg> login = c.login("trust_user", "appdb", null);
            assertThat(login.get(login.size() - 1).type()).isEqualTo('Z');
            c.send(new byte[] {'Q', 0x10, 0, 0, 0}); // 256 MB announced
            assertFatal(c, "54000", "over the limit");
        }
    }

    @Test
    void passwordMessageOverTheAuthLimitIsRefusedWith08P01AtOnce() throws Exception {
        try (RawClient c = raw()) {
            c.send(RawClient.startup(196608, Map.of("user", "plain_user", "database", "appdb")));
            assertThat(c.read().authCode()).isEqualTo(3);
            byte[] password = RawClient.password("x".repeat(1 << 20));
            // The whole megabyte goes out in the background: the answer must not wait for it.
            Thread writer = new Thread(() -> {
                try {
                    c.send(password);
                } catch (java.io.IOException closedUnderUs) {
                    // The pooler closes after its answer; the rest of the message is never read.
                }
            });
            long start = System.nanoTime();
            writer.start();
            assertFatal(c, "08P01", "invalid message length");
            assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(5_000L);
            writer.join(10_000);
        }
    }

    @Test
    void queryLargerThanTheAuthLimitSentRightBehindThePasswordIsServed() throws Exception {
        try (RawClient c = raw()) {
            c.send(RawClient.startup(196608, Map.of("user", "plain_user", "database", "appdb")));
            assertThat(c.read().authCode()).isEqualTo(3);
            String literal = "y".repeat(200_000);
            // One write: the query is framed only once the login has completed, with the post-login limit.
            c.send(concat(
                    RawClient.password("plain_user-secret"), RawClient.query("SELECT length('" + literal + "')")));
            List<RawClient.Msg> login = c.readUntilReady();
            assertThat(login).anyMatch(m -> m.type() == 'R' && m.authCode() == 0);
            List<RawClient.Msg> reply = c.readUntilReady();
            assertThat(reply).noneMatch(m -> m.type() == 'E');
            RawClient.Msg row =
                    reply.stream().filter(m -> m.type() == 'D').findFirst().orElseThrow();
            assertThat(row.text()).endsWith("200000");
        }
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void truncatedStartupPacketThenHangupLeavesNothingBehind() throws Exception {
        int before = fx.pooler.frontend().clientCount();
        try (RawClient c = raw()) {
            byte[] full = RawClient.startup(196608, Map.of("user", "trust_user", "database", "appdb"));
            c.send(java.util.Arrays.copyOf(full, full.length / 2));
        }
        for (int i = 0; i < 50 && fx.pooler.frontend().clientCount() > before; i++) {
            Thread.sleep(20);
        }
        assertThat(fx.pooler.frontend().clientCount()).isEqualTo(before);
    }

    @Test
    void clientThatNeverFinishesLoginIsClosedAtTheLoginTimeout() throws Exception {
        // Timed from before the connection exists: the pooler's login timer starts when it accepts the connection,
        // which is after the client's connect began, so no delay can make the 3 s timeout look early. (At 1 s, the
        // other tests' own logins ran into it on a busy machine.)
        long start = System.nanoTime();
        try (RawClient c = raw()) {
            Map<String, String> p = new LinkedHashMap<>();
            p.put("user", "plain_user");
            p.put("database", "appdb");
            c.send(RawClient.startup(196608, p));
            RawClient.Msg auth = c.read();
            assertThat(auth.type()).isEqualTo('R');
            assertThat(auth.authCode()).isEqualTo(3);
            assertFatal(c, "57014", "canceling authentication due to timeout");
            assertThat((System.nanoTime() - start) / 1_000_000).isGreaterThanOrEqualTo(3000L);
        }
    }

    @Test
    void unexpectedMessageDuringAuthenticationIsAProtocolViolation() throws Exception {
        try (RawClient c = raw()) {
            c.send(RawClient.startup(196608, Map.of("user", "plain_user", "database", "appdb")));
            assertThat(c.read().type()).isEqualTo('R');
            c.send(RawClient.query("SELECT 1"));
            assertFatal(c, "08P01", "expected password response");
        }
    }

    @Test
    void newerMinorVersionAndUnknownOptionsAreNegotiatedDown() throws Exception {
        try (RawClient c = raw()) {
            Map<String, String> p = new LinkedHashMap<>();
            p.put("user", "trust_user");
            p.put("database", "appdb");
            p.put("_pq_.made_up", "on");
            c.send(RawClient.startup((3 << 16) | 2, p));
            RawClient.Msg v = c.read();
            assertThat(v.type()).isEqualTo('v');
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(v.body());
            assertThat(b.getInt()).isEqualTo(196608); // 3.0
            assertThat(b.getInt()).isEqualTo(1);
            assertThat(v.text()).contains("_pq_.made_up");
            List<RawClient.Msg> rest = c.readUntilReady();
            assertThat(rest.get(rest.size() - 1).type()).isEqualTo('Z');
        }
    }

    @Test
    void sslRequestIsDeclinedAndPlainLoginContinues() throws Exception {
        try (RawClient c = raw()) {
            c.send(new byte[] {0, 0, 0, 8, 0x04, (byte) 0xd2, 0x16, 0x2f});
            assertThat(c.socket.getInputStream().read()).isEqualTo('N');
            List<RawClient.Msg> login = c.login("trust_user", "appdb", null);
            assertThat(login.get(login.size() - 1).type()).isEqualTo('Z');
            c.send(RawClient.query("SELECT 1"));
            List<RawClient.Msg> reply = c.readUntilReady();
            assertThat(reply).extracting(RawClient.Msg::type).containsExactly('T', 'D', 'C', 'Z');
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {80877103, 80877104}) // SSLRequest, GSSENCRequest
    void startupMessageSentInTheSameWriteAsADeclinedEncryptionRequestIsServed(int requestCode) throws Exception {
        try (RawClient c = raw()) {
            byte[] request = java.nio.ByteBuffer.allocate(8)
                    .putInt(8)
                    .putInt(requestCode)
                    .array();
            byte[] startup = RawClient.startup(196608, Map.of("user", "trust_user", "database", "appdb"));
            // Not what libpq does (it waits for the answer), but nothing forbids it, and it left the startup
            // message in the decoder until the client's next bytes, which never came.
            c.send(concat(request, startup));
            assertThat(c.socket.getInputStream().read()).isEqualTo('N');
            List<RawClient.Msg> login = c.readUntilReady();
            assertThat(login).anyMatch(m -> m.type() == 'R' && m.authCode() == 0);
            c.send(RawClient.query("SELECT 1"));
            assertThat(c.readUntilReady()).extracting(RawClient.Msg::type).containsExactly('T', 'D', 'C', 'Z');
        }
    }

    @Test
    void missingUserIsRefusedWith28000() throws Exception {
        try (RawClient c = raw()) {
            c.send(RawClient.startup(196608, Map.of("database", "appdb")));
            assertFatal(c, "28000", "no PostgreSQL user name specified in startup packet");
        }
    }
}
