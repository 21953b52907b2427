package dev.pggat.pooler.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.TestServerConnections;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The session-parameters stage with plain objects: what it asks of a server, and what it learns from one. */
class SessionParametersTest {
    private final EmbeddedChannel channel = new EmbeddedChannel();
    private final ServerConnection server = TestServerConnections.over(channel);
    private final Object owner = new Object();

    @AfterEach
    void close() {
        channel.finishAndReleaseAll();
    }

    private SessionParameters startup(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return new SessionParameters(owner, m);
    }

    private static SessionStatements.Effect effect(String sql) {
        return SessionStatements.analyse(sql, true);
    }

    private static ByteBuf parameterStatus(String name, String value) {
        ByteBuf b = Unpooled.buffer().writeByte('S').writeInt(0);
        b.writeBytes(name.getBytes(StandardCharsets.UTF_8)).writeByte(0);
        b.writeBytes(value.getBytes(StandardCharsets.UTF_8)).writeByte(0);
        return b.setInt(1, b.writerIndex() - 1);
    }

    private static ByteBuf dataRow(String... values) {
        ByteBuf b = Unpooled.buffer().writeByte('D').writeInt(0).writeShort(values.length);
        for (String v : values) {
            if (v == null) {
                b.writeInt(-1);
            } else {
                byte[] bytes = v.getBytes(StandardCharsets.UTF_8);
                b.writeInt(bytes.length).writeBytes(bytes);
            }
        }
        return b.setInt(1, b.writerIndex() - 1);
    }

    @Test
    void syncSetsWhatDiffersOnceAndNothingOnTheServerItJustLeft() {
        SessionParameters p = startup("datestyle", "Postgres, MDY", "application_name", "app");
        server.reportedParameters().put("application_name", "app");
        assertThat(p.syncQuery(server))
                .isEqualTo("SELECT pg_catalog.set_config(E'datestyle', E'Postgres, MDY', false)");
        assertThat(p.syncQuery(server)).as("the server has it now").isNull();
        server.lastOwner(owner, p.version());
        assertThat(p.syncQuery(server)).isNull();
    }

    @Test
    void settingsAnEarlierClientSetAreReset() {
        server.appliedParameters().put("work_mem", "7777kB");
        assertThat(startup().syncQuery(server)).isEqualTo("RESET \"work_mem\"");
    }

    @Test
    void aResetOfAStartupSettingIsRestoredWhereTheServerNoLongerHasItFromTheSession() {
        SessionParameters p = startup("DateStyle", "Postgres, MDY");
        assertThat(p.restoreQuery(server)).isNull();
        p.note(effect("RESET datestyle"), true);
        assertThat(p.restoreQuery(server))
                .isEqualTo("SELECT pg_catalog.set_config(s.name, v.value, false) FROM (VALUES (E'datestyle',"
                        + " E'Postgres, MDY')) AS v(name, value) JOIN pg_catalog.pg_settings s ON"
                        + " pg_catalog.lower(s.name) = v.name WHERE s.source <> 'session'");
        assertThat(p.restoring()).isTrue();
        p.poolerQueryDone(server);
        assertThat(p.restoring()).isFalse();
        assertThat(p.restoreQuery(server)).as("once").isNull();
        // A setting the client did not give at startup has nothing to go back to but the server's default.
        p.note(effect("RESET work_mem"), true);
        assertThat(p.restoreQuery(server)).isNull();
    }

    @Test
    void resetAllAndDiscardAllRestoreEveryStartupSettingAndTheClientWantsItsStartupValuesAgain() {
        SessionParameters p = startup("datestyle", "Postgres, MDY", "application_name", "app");
        ByteBuf ps = parameterStatus("application_name", "other");
        server.recordParameterStatus(ps);
        p.parameterStatus(server, ps);
        ps.release();
        assertThat(p.wanted()).containsEntry("application_name", "other");
        p.note(effect("DISCARD ALL"), true);
        assertThat(p.restoreQuery(server))
                .contains("(E'datestyle', E'Postgres, MDY')", "(E'application_name', E'app')");
        p.poolerQueryDone(server);
        assertThat(p.readBackQuery(server)).isNull();
        assertThat(p.wanted())
                .containsExactlyEntriesOf(Map.of("datestyle", "Postgres, MDY", "application_name", "app"));
    }

    @Test
    void touchedSettingsAreReadBackAndFollowTheClient() {
        SessionParameters p = startup();
        p.note(effect("BEGIN; SET work_mem = '7777kB'; COMMIT"), true);
        assertThat(p.readBackQuery(server)).isEqualTo("SELECT pg_catalog.current_setting(E'work_mem', true)");
        assertThat(p.capturing()).isTrue();
        ByteBuf row = dataRow("7777kB");
        p.captured(server, row);
        row.release();
        p.poolerQueryDone(server);
        assertThat(p.wanted()).containsEntry("work_mem", "7777kB");
        assertThat(server.appliedParameters()).containsEntry("work_mem", "7777kB");
        // Session mode does not read back.
        SessionParameters session = startup();
        session.note(effect("SET work_mem = '1MB'"), false);
        assertThat(session.readBackQuery(server)).isNull();
    }

    @Test
    void thePinIsTheFirstReasonAndIsNotCountedTwice() {
        SessionParameters p = startup();
        assertThat(p.pin(null)).isFalse();
        assertThat(p.pin("temp_table")).isTrue();
        assertThat(p.pin("listen")).isFalse();
        assertThat(p.pinned()).isEqualTo("temp_table");
    }
}
