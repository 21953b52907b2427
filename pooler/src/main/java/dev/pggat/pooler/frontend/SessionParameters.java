package dev.pggat.pooler.frontend;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.protocol.DataRow;
import dev.pggat.pooler.protocol.ParameterStatus;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The session-parameters stage: the settings a client wants on whatever server it runs on (its startup values,
 * then what it changed), made true on each server it is given, and the reasons that keep a transaction-mode client
 * on one server (pins). It claims no message: it reads the client's Query and Parse texts (SET, RESET, DISCARD
 * ALL, what pins) and the server's ParameterStatus, and it makes up the pooler's own queries that sync, restore
 * and read back settings.
 *
 * <p>RESET, RESET ALL and DISCARD ALL put a server's settings back to the server connection's defaults, but the
 * client expects its own startup values, as PostgreSQL gives it. So after a statement that may have reset one of
 * the client's startup settings, the pooler sets back the startup value of each such setting whose source on the
 * server is no longer the session (a SET keeps source "session"; a reset does not).
 */
final class SessionParameters {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(SessionParameters.class);
    private final Object owner;
    /** What the client asked for at startup: RESET and RESET ALL go back to these values, as in PostgreSQL. */
    private final Map<String, String> startup;
    /** Session parameters this client wants on any server it runs on (startup values, then reported changes). */
    private Map<String, String> wanted;
    /** Bumped whenever {@link #wanted} changes, so a server can tell whether it still matches. */
    private int version;
    /** Transaction mode: settings the current transaction may have changed (SET/RESET), read back at its end. */
    private LinkedHashSet<String> touched;
    /** The read-back in flight: the names of its columns. */
    private List<String> capturing;
    /** A RESET ALL or DISCARD ALL ran: the server is back at its own defaults. */
    private boolean resetAll;
    /** Startup settings a statement may have reset, by their startup names: their values are set back. */
    private LinkedHashSet<String> mayBeReset;
    /** The restore in flight: its ParameterStatus messages are the client's values again. */
    private boolean restoring;
    /** The session's state is read back after this transaction (strict mode, or SQL that hides its effects). */
    private boolean checkState;
    /** The read-back of the session's state in flight. */
    private SessionStateCheck stateCheck;
    /** Why this transaction-mode client keeps its server for the rest of its session (null: it does not). */
    private String pinned;

    /** {@code owner}: the session, as servers remember their last owner. */
    SessionParameters(Object owner, Map<String, String> startup) {
        this.owner = owner;
        // One map for both while the client changes nothing: most never do, and an idle client then holds one
        // copy of its startup parameters (wanted is copied on its first change, see mutable).
        this.startup = Map.copyOf(startup);
        this.wanted = this.startup;
    }

    private LinkedHashSet<String> touched() {
        if (touched == null) {
            touched = new LinkedHashSet<>();
        }
        return touched;
    }

    private LinkedHashSet<String> mayBeReset() {
        if (mayBeReset == null) {
            mayBeReset = new LinkedHashSet<>();
        }
        return mayBeReset;
    }

    /** The startup name of setting {@code name} (settings are case-insensitive), or null when not a startup one. */
    private String startupKey(String name) {
        for (String key : startup.keySet()) {
            if (key.equalsIgnoreCase(name)) {
                return key;
            }
        }
        return null;
    }

    Map<String, String> wanted() {
        return wanted;
    }

    int version() {
        return version;
    }

    String pinned() {
        return pinned;
    }

    /** Records a pin; returns true when the client was not pinned before. */
    boolean pin(String reason) {
        if (pinned != null || reason == null) {
            return false;
        }
        pinned = reason;
        return true;
    }

    /**
     * A Query or Parse text (bytes {@code start} to {@code end} of {@code frame}) on its way to {@code server}: what
     * it may change in the session is noted. Returns its effect, or null when it changes nothing.
     * {@code strict}: pools.strictSessionState (transaction mode only).
     */
    SessionStatements.Effect noteStatement(dev.pggat.pooler.sql.SqlTokens sql, boolean sessionMode, boolean strict) {
        if (!sessionMode && strict) {
            checkState();
        }
        SessionStatements.Effect effect = SessionStatements.analyse(sql);
        if (effect.isNone()) {
            return null;
        }
        note(effect, !sessionMode);
        return effect;
    }

    /** Pins the client for {@code reason} (null: nothing pins), counted and logged the first time. */
    void pin(String reason, FrontendContext context) {
        if (pin(reason)) {
            context.pinned(reason);
            log.info(
                    "{}: keeps its server for the rest of its session ({}: state that cannot move between servers)",
                    owner,
                    reason);
        }
    }

    /**
     * What a statement the client sent may change. {@code readBack}: transaction mode, where the touched settings
     * are read back at the transaction's end.
     */
    void note(SessionStatements.Effect effect, boolean readBack) {
        List<String> settings = effect.settings();
        for (int i = 0; i < settings.size(); i++) {
            String name = settings.get(i);
            if (readBack) {
                touched().add(name);
            }
            String key = startupKey(name);
            if (key != null) {
                mayBeReset().add(key);
            }
        }
        if (effect.resetAll()) {
            mayBeReset().addAll(startup.keySet());
            resetAll |= readBack;
        }
        checkState |= readBack && effect.unknownSettings();
    }

    /** pools.strictSessionState: the session's settings are read back after every transaction. */
    void checkState() {
        checkState = true;
    }

    /**
     * Makes the server's session parameters what this client expects, pipelined in front of the client's own
     * messages: set what differs, reset what an earlier client set and this one did not ask for. Returns the query,
     * or null when the server already matches.
     */
    String syncQuery(ServerConnection s) {
        if (s.lastOwnedBy(owner, version)) {
            // Back on the server it just left: its parameters are still this client's.
            return null;
        }
        Map<String, String> applied = s.appliedParameters();
        Map<String, String> reported = s.reportedParameters();
        StringBuilder sql = null;
        for (Map.Entry<String, String> e : wanted.entrySet()) {
            String name = e.getKey();
            String current = applied.containsKey(name) ? applied.get(name) : reported.get(name);
            if (e.getValue().equals(current) || !StartupOptions.validName(name)) {
                continue;
            }
            sql = sql == null ? new StringBuilder("SELECT ") : sql.append(", ");
            sql.append("pg_catalog.set_config(")
                    .append(StartupOptions.literal(name))
                    .append(", ")
                    .append(StartupOptions.literal(e.getValue()))
                    .append(", false)");
            applied.put(name, e.getValue());
        }
        StringBuilder reset = null;
        for (var it = applied.entrySet().iterator(); it.hasNext(); ) {
            String name = it.next().getKey();
            if (!wanted.containsKey(name)) {
                reset = reset == null ? new StringBuilder() : reset;
                reset.append("; RESET ").append(quoteIdent(name));
                it.remove();
            }
        }
        if (sql == null && reset == null) {
            return null;
        }
        return sql == null
                ? reset.substring(2)
                : reset == null ? sql.toString() : sql.append(reset).toString();
    }

    private static String quoteIdent(String name) {
        return '"' + name.replace("\"", "\"\"") + '"';
    }

    /**
     * After statements that may have reset startup settings: the query that sets back the startup value of each
     * one the server no longer has from the session, or null. Its ParameterStatus messages update what the client
     * wants; the client itself last heard the value the RESET reported.
     */
    String restoreQuery(ServerConnection s) {
        if (mayBeReset == null || mayBeReset.isEmpty()) {
            return null;
        }
        StringBuilder values = null;
        for (String name : mayBeReset) {
            if (!StartupOptions.validName(name)) {
                continue;
            }
            values = values == null ? new StringBuilder() : values.append(", ");
            values.append('(')
                    .append(StartupOptions.literal(name.toLowerCase(Locale.ROOT)))
                    .append(", ")
                    .append(StartupOptions.literal(startup.get(name)))
                    .append(')');
            s.appliedParameters().remove(name);
        }
        mayBeReset.clear();
        if (values == null) {
            return null;
        }
        restoring = true;
        return "SELECT pg_catalog.set_config(s.name, v.value, false) FROM (VALUES " + values
                + ") AS v(name, value) JOIN pg_catalog.pg_settings s ON pg_catalog.lower(s.name) = v.name WHERE s.source <> 'session'";
    }

    boolean restoring() {
        return restoring;
    }

    /**
     * Transaction mode, at the transaction's end: after RESET ALL or DISCARD ALL the client is back at its startup
     * values; returns the query that reads back the settings the transaction touched, or null.
     */
    String readBackQuery(ServerConnection s) {
        if (resetAll) {
            resetAll = false;
            s.appliedParameters().clear();
            wanted = startup;
            version++;
        }
        if (checkState && pinned == null) {
            checkState = false;
            // Read back everything set at session level, what the client wants and this server has, and what the
            // transaction touched: one round trip instead of two.
            java.util.Set<String> names = new LinkedHashSet<>(touched());
            names.addAll(wanted.keySet());
            names.addAll(s.appliedParameters().keySet());
            touched.clear();
            stateCheck = new SessionStateCheck();
            return SessionStateCheck.query(names);
        }
        checkState = false; // a pinned client keeps its server: nothing to carry over
        if (touched == null || touched.isEmpty()) {
            return null;
        }
        capturing = new ArrayList<>(touched);
        touched.clear();
        StringBuilder sql = new StringBuilder("SELECT ");
        for (int i = 0; i < capturing.size(); i++) {
            sql.append(i == 0 ? "" : ", ")
                    .append("pg_catalog.current_setting(")
                    .append(StartupOptions.literal(capturing.get(i)))
                    .append(", true)");
        }
        return sql.toString();
    }

    boolean capturing() {
        return capturing != null;
    }

    /** The values a settings read-back returned: they now follow the client, and this server has them. */
    void captured(ServerConnection s, io.netty.buffer.ByteBuf dataRow) {
        int cols = DataRow.columnCount(dataRow);
        wanted = mutable(wanted);
        for (int i = 0; i < cols && i < capturing.size(); i++) {
            String name = capturing.get(i);
            String value = DataRow.column(dataRow, i);
            if (value == null) {
                wanted.remove(name);
                s.appliedParameters().remove(name);
            } else if (StartupOptions.validName(name)) {
                wanted.put(name, value);
                s.appliedParameters().put(name, value);
            }
        }
        version++;
    }

    boolean checkingState() {
        return stateCheck != null;
    }

    void stateRow(io.netty.buffer.ByteBuf dataRow) {
        stateCheck.row(dataRow);
    }

    /**
     * A ReadyForQuery ended one of the pooler's queries. Returns what a session-state read-back found that pins the
     * client, or null.
     */
    String poolerQueryDone(ServerConnection s) {
        capturing = null;
        restoring = false;
        if (stateCheck == null) {
            return null;
        }
        SessionStateCheck check = stateCheck;
        stateCheck = null;
        wanted = mutable(wanted);
        check.apply(wanted, s.appliedParameters());
        version++;
        return check.pin();
    }

    /**
     * The server reported a setting (SET application_name, SET TimeZone, a rollback that undid one, a restore):
     * it follows the client to its next server instead of staying on this one.
     */
    void parameterStatus(ServerConnection s, io.netty.buffer.ByteBuf frame) {
        String name = ParameterStatus.name(frame);
        if (StartupOptions.followsClient(name)) {
            String value = s.reportedParameters().get(name);
            wanted = mutable(wanted);
            wanted.put(name, value);
            version++;
            s.appliedParameters().put(name, value);
        }
    }

    /** The server rejected a startup value (PostgreSQL would have refused the connection): stop asking for it. */
    void rejected(ServerConnection s) {
        s.appliedParameters().clear();
        wanted = mutable(wanted);
        wanted.keySet().removeIf(k -> !s.reportedParameters().containsKey(k));
        version++;
    }

    private static Map<String, String> mutable(Map<String, String> m) {
        return m instanceof LinkedHashMap ? m : new LinkedHashMap<>(m);
    }
}
