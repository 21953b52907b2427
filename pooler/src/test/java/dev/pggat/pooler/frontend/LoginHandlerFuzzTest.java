package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.net.Transport;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.protocol.StartupDecoder;
import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.security.Security;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.embedded.EmbeddedChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The login handler behind the startup decoder, as the pooler's pipeline has them, on any bytes a client sends
 * before it is logged in: startup, SSL, GSSENC and cancel requests, then cleartext, md5 and SCRAM password messages
 * for users that exist (one per method). Seeds are hand-written logins of each kind (the users' passwords are not
 * in them, so no login succeeds and no server is contacted) and the startup decoder's captured psql, pgbench and
 * pgjdbc sessions.
 *
 * <p>Checked on every input, fed whole and then one byte at a time: nothing escapes the handler as an unexpected
 * exception (that would answer with an internal error, XX000), every ErrorResponse carries a SQLSTATE and is
 * FATAL, what the pooler writes before it is an answer PostgreSQL gives at login (a one-byte SSL/GSSENC answer or
 * an authentication request), and nothing leaks.
 */
class LoginHandlerFuzzTest {
    private static final int MAX_STARTUP = 10_000;
    private static final int MAX_MESSAGE = 1 << 16;

    static {
        // Every refused login is logged at INFO; at tens of thousands a second that is all the fuzzer would do.
        System.setProperty("org.slf4j.simpleLogger.log.dev.pggat.pooler.frontend.LoginHandler", "warn");
    }

    /** Passwords the seeds do not contain: a login can fail only, so no server connection is ever attempted. */
    private static final String YAML = """
            databases:
              fuzzdb:
                endpoints:
                  - host: 127.0.0.1
                    port: 1
                users:
                  clear:
                    auth: password
                    password: c1ear-only-the-harness-knows
                  md5user:
                    auth: md5
                    password: md5-only-the-harness-knows
                  scramuser:
                    password: scram-only-the-harness-knows
            """;

    private static final FrontendContext CONTEXT;

    static {
        try {
            PoolerConfig config = ConfigLoader.parse(YAML, "fuzz.yaml", Map.of());
            Transport transport = Transport.best();
            EventLoopGroup loops = transport.newGroup(1, "pggat-fuzz");
            ServerConnector connector = new ServerConnector(transport, Duration.ofSeconds(1), Duration.ZERO);
            // Not started: no probes and no pool upkeep, so the harness opens no connection of its own.
            Router router = new Router(config, connector, loops);
            CONTEXT = new FrontendContext(
                    router, new CancelRegistry(0), transport, MAX_STARTUP, MAX_MESSAGE, 1_000_000, Duration.ofHours(1));
        } catch (Exception e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @FuzzTest(maxDuration = "30s")
    void clientBytes(byte[] input) {
        login(input, input.length);
        if (input.length <= 512) {
            login(input, 1);
        }
    }

    private static void login(byte[] input, int piece) {
        EmbeddedChannel ch = new EmbeddedChannel(
                new StartupDecoder(MAX_STARTUP, MAX_MESSAGE), new LoginHandler(CONTEXT, Security.none()));
        List<ByteBuf> out = new ArrayList<>();
        try {
            for (int at = 0; at < input.length && ch.isActive(); at += piece) {
                ch.writeInbound(Unpooled.wrappedBuffer(input, at, Math.min(piece, input.length - at)));
                ch.runPendingTasks();
            }
            ch.checkException();
            Object o;
            while ((o = ch.readOutbound()) != null) {
                out.add((ByteBuf) o);
            }
            boolean errorSeen = false;
            for (ByteBuf b : out) {
                if (b.readableBytes() == 1) {
                    assertThat(b.getByte(0))
                            .as("answer to SSLRequest or GSSENCRequest")
                            .isIn((byte) 'N', (byte) 'S');
                    continue;
                }
                assertThat(errorSeen).as("nothing follows a FATAL").isFalse();
                byte type = Frames.type(b);
                assertThat(type)
                        .as("the pooler's answers at login")
                        .isIn(ProtocolConstants.ERROR_RESPONSE, ProtocolConstants.AUTHENTICATION, (byte) 'v');
                if (type == ProtocolConstants.ERROR_RESPONSE) {
                    ErrorFields e = ErrorFields.parse(b);
                    assertThat(e.severity()).isEqualTo("FATAL");
                    assertThat(e.sqlState()).as(e.message()).isNotNull().isNotEqualTo(SqlState.INTERNAL_ERROR);
                    errorSeen = true;
                }
            }
        } finally {
            out.forEach(ByteBuf::release);
            ch.finishAndReleaseAll();
        }
    }
}
