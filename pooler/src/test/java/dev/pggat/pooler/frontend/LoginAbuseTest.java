package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.testing.PoolerFixture;
import dev.pggat.pooler.testing.RawClient;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Clients that guess passwords or try to forge log lines; each test has its own pooler and so its own limiter. */
class LoginAbuseTest {

    private static Map<String, String> startup(String user, String database) {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("user", user);
        p.put("database", database);
        return p;
    }

    @Test
    void connectionsOpenedBeforeTheLimitWasReachedCannotGoOnGuessing() throws Exception {
        try (PoolerFixture fx = PoolerFixture.start(1, "auth: {maxFailedLogins: 3, failedLoginWindow: 5m}")) {
            List<RawClient> open = new ArrayList<>();
            try {
                // All six are past their startup packet, and so past the first check, before any guess fails.
                for (int i = 0; i < 6; i++) {
                    RawClient c = new RawClient("127.0.0.1", fx.port());
                    open.add(c);
                    c.send(RawClient.startup(196608, startup("plain_user", "appdb")));
                }
                for (RawClient c : open) {
                    assertThat(c.read().authCode())
                            .as("cleartext password requested")
                            .isEqualTo(3);
                }
                List<String> states = new ArrayList<>();
                for (int i = 0; i < 5; i++) {
                    open.get(i).send(RawClient.password("wrong-" + i));
                    RawClient.Msg m = open.get(i).read();
                    assertThat(m.type()).isEqualTo('E');
                    states.add(m.field('C'));
                }
                assertThat(states).containsExactly("28P01", "28P01", "28P01", "28000", "28000");

                try (RawClient late = new RawClient("127.0.0.1", fx.port())) {
                    late.send(RawClient.startup(196608, startup("plain_user", "appdb")));
                    RawClient.Msg m = late.read();
                    assertThat(m.field('C')).isEqualTo("28000");
                    assertThat(m.field('M')).contains("too many failed login attempts from host \"127.0.0.1\"");
                }

                // The right password on a connection opened early gets what a wrong one gets: no login, no hint.
                RawClient sixth = open.get(5);
                sixth.send(RawClient.password("plain_user-secret"));
                List<RawClient.Msg> answer = sixth.readUntilReady();
                assertThat(answer).noneMatch(m -> m.type() == 'R');
                assertThat(answer).hasSize(1);
                assertThat(answer.get(0).field('S')).isEqualTo("FATAL");
                assertThat(answer.get(0).field('C')).isEqualTo("28000");
                assertThat(answer.get(0).field('M')).contains("too many failed login attempts");
            } finally {
                for (RawClient c : open) {
                    c.close();
                }
            }
        }
    }

    @Test
    void controlCharactersInClientNamesCannotForgeLogLines() throws Exception {
        String database = "nosuch\n[main] WARN forged database line";
        String user = "bob\r\n[main] WARN forged user line\u0007";
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream original = System.err;
        try (PoolerFixture fx = PoolerFixture.start(1, "auth: {maxFailedLogins: 0}")) {
            System.setErr(new PrintStream(new Tee(original, captured), true, StandardCharsets.UTF_8));
            try {
                for (Map<String, String> p : List.of(startup("plain_user", database), startup(user, "appdb"))) {
                    try (RawClient c = new RawClient("127.0.0.1", fx.port())) {
                        c.send(RawClient.startup(196608, p));
                        RawClient.Msg m = c.read();
                        if (m.type() == 'R') {
                            c.send(RawClient.password("wrong"));
                            m = c.read();
                        }
                        assertThat(m.type()).isEqualTo('E');
                        assertThat(c.closedByServer()).isTrue();
                    }
                }
            } finally {
                System.setErr(original);
            }
        }
        String logText = captured.toString(StandardCharsets.UTF_8);
        assertThat(logText)
                .as("the failed logins were logged")
                .contains(
                        "login failed for user \"plain_user\" (database \"nosuch\\n[main] WARN forged database line\")")
                .contains("for user \"bob\\r\\n[main] WARN forged user line\\u0007\"");
        assertThat(logText.lines()).noneMatch(l -> l.contains("forged") && !l.contains("failed for user"));
        assertThat(logText).doesNotContain("\u0007");
    }

    /** Writes to the original stream and keeps a copy. */
    private static final class Tee extends OutputStream {
        private final OutputStream a;
        private final ByteArrayOutputStream b;

        Tee(OutputStream a, ByteArrayOutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public void write(int c) throws IOException {
            a.write(c);
            synchronized (b) {
                b.write(c);
            }
        }

        @Override
        public void write(byte[] buf, int off, int len) throws IOException {
            a.write(buf, off, len);
            synchronized (b) {
                b.write(buf, off, len);
            }
        }
    }
}
