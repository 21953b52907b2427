package dev.pggat.pooler.frontend;

import dev.pggat.pooler.protocol.DataRow;
import io.netty.buffer.ByteBuf;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads back from a transaction-mode client's server, before the server is let go, the session state its last
 * transaction left that the SQL text did not show: every setting set at session level ({@code pg_settings.source
 * = 'session'}: what SET, RESET and {@code set_config(.., false)} leave, also from inside a function, a DO block
 * or a procedure), plus the state that cannot move to another server at all (a session advisory lock, a temporary
 * table, a WITH HOLD cursor, an SQL-level prepared statement, LISTEN), which pins the client.
 *
 * <p>Run when a statement may have changed settings out of sight (DO, CALL, set_config with computed arguments)
 * and, with {@code pools.strictSessionState}, after every transaction.
 */
final class SessionStateCheck {
    /** Rows: kind ('s' setting, 'p' pin), name, value (text, or null when the setting does not exist). */
    private static final String STATE = "SELECT 's', name, pg_catalog.current_setting(name)"
            + " FROM pg_catalog.pg_settings WHERE source = 'session'"
            + " UNION ALL SELECT 'p', 'advisory_lock', NULL WHERE EXISTS (SELECT FROM pg_catalog.pg_locks"
            + " WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid())"
            + " UNION ALL SELECT 'p', 'temp_table', NULL WHERE EXISTS (SELECT FROM pg_catalog.pg_class"
            + " WHERE relnamespace = pg_catalog.pg_my_temp_schema())"
            + " UNION ALL SELECT 'p', 'with_hold_cursor', NULL WHERE EXISTS (SELECT FROM pg_catalog.pg_cursors)"
            + " UNION ALL SELECT 'p', 'sql_prepare', NULL WHERE EXISTS (SELECT FROM pg_catalog.pg_prepared_statements"
            + " WHERE from_sql)"
            + " UNION ALL SELECT 'p', 'listen', NULL WHERE EXISTS (SELECT FROM pg_catalog.pg_listening_channels())";

    private final Map<String, String> settings = new LinkedHashMap<>();
    private String pin;

    /**
     * The query; {@code names}: settings to read as well, whatever their source (those the pooler applied or the
     * client changed: one a function RESET is back at the server's value, which the client now has).
     */
    static String query(Collection<String> names) {
        StringBuilder sql = new StringBuilder(STATE.length() + 32 * names.size()).append(STATE);
        StringBuilder array = null;
        for (String name : names) {
            if (!StartupOptions.validName(name)) {
                continue;
            }
            array = array == null ? new StringBuilder() : array.append(", ");
            array.append(StartupOptions.literal(name));
        }
        if (array != null) {
            sql.append(" UNION ALL SELECT 's', n, pg_catalog.current_setting(n, true) FROM pg_catalog.unnest(ARRAY[")
                    .append(array)
                    .append("]::text[]) n");
        }
        return sql.toString();
    }

    /** One DataRow of the query's answer. */
    void row(ByteBuf dataRow) {
        int cols = DataRow.columnCount(dataRow);
        String[] v = new String[3];
        for (int i = 0; i < cols && i < 3; i++) {
            v[i] = DataRow.column(dataRow, i);
        }
        if ("p".equals(v[0])) {
            pin = pin == null ? v[1] : pin;
        } else if ("s".equals(v[0]) && v[1] != null) {
            if (v[1].equals("session_authorization")) {
                // Not a setting the pooler may carry to another server.
                pin = pin == null ? "session_authorization" : pin;
            } else {
                settings.put(v[1], v[2]);
            }
        }
    }

    /** Settings read (name to value; null: the setting does not exist on this server). */
    Map<String, String> settings() {
        return settings;
    }

    /** What pins the client, or null. */
    String pin() {
        return pin;
    }

    /**
     * Makes what was read the client's wanted values and this server's applied ones: the state now follows the
     * client to its next server, and is reset on this one before another client gets it.
     */
    void apply(Map<String, String> wanted, Map<String, String> applied) {
        settings.forEach((name, value) -> {
            if (value == null || !StartupOptions.validName(name)) {
                wanted.remove(name);
                applied.remove(name);
            } else {
                wanted.put(name, value);
                applied.put(name, value);
            }
        });
    }
}
