package dev.pggat.pooler.routing;

import dev.pggat.pooler.routing.RouteHint.Reason;
import dev.pggat.pooler.routing.RouteHint.SessionAccess;
import dev.pggat.pooler.sql.SqlLexer;
import dev.pggat.pooler.sql.SqlTokens;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Tells from the SQL text of a transaction's first Query whether it may run on a replica, without a full parser:
 * it scans tokens (see {@link SqlLexer}) and looks at statement keywords and a few patterns. It runs once per
 * transaction on the hot path, so it uses no regular expressions and allocates one small object per call.
 *
 * <p>Reads are SELECT, WITH ... SELECT, VALUES, TABLE, SHOW, EXPLAIN of a read, COPY ... TO, DECLARE of a read
 * cursor, transaction control, SET/RESET and cursor commands. A read still needs the primary when it locks rows,
 * selects INTO a table, holds a data-modifying WITH, or calls a function from {@link #DEFAULT_PRIMARY_FUNCTIONS}
 * or the configured list. A Query of several statements is a read only if all of them are. A transaction left
 * open by the Query stays on the primary unless it is READ ONLY, since later Queries are not seen in advance.
 *
 * <p>Comments {@code /* pggat:primary * /}, {@code /* pggat:replica * /}, {@code -- pggat:primary} anywhere in
 * the text override the statements; when both appear, primary wins.
 *
 * <p>Known limits: functions that write but are not listed are taken for reads; the text is read as with
 * standard_conforming_strings on unless told otherwise; a session default of SERIALIZABLE is not tracked.
 * Instances are immutable and thread-safe.
 */
public final class QueryClassifier {

    /**
     * Functions that write, or whose result only makes sense on the primary. {@code set_config} is left out on
     * purpose: it changes a setting, not data, and works on a standby (list it to change that). {@code currval}
     * and {@code lastval} are in because they read what nextval did in the same session, on the primary.
     * {@code lo_open} is in because its mode argument may ask for writing. A trailing {@code *} matches a prefix.
     */
    public static final List<String> DEFAULT_PRIMARY_FUNCTIONS = List.of(
            "nextval",
            "setval",
            "currval",
            "lastval",
            "pg_advisory_*",
            "pg_try_advisory_*",
            "txid_current",
            "pg_current_xact_id",
            "pg_current_wal_lsn",
            "pg_current_wal_insert_lsn",
            "pg_current_wal_flush_lsn",
            "pg_switch_wal",
            "pg_create_restore_point",
            "pg_notify",
            "pg_logical_emit_message",
            "lo_create",
            "lo_creat",
            "lo_import",
            "lo_unlink",
            "lo_put",
            "lo_from_bytea",
            "lo_truncate",
            "lo_truncate64",
            "lo_open",
            "lowrite");

    private static final int MODE_READ_ONLY = 1;
    private static final int MODE_READ_WRITE = 2;
    private static final int MODE_SERIALIZABLE = 4;

    private final String[] exact;
    private final String[] prefixes;
    private final int mask;
    /** Every function name is ASCII: a message's bytes can be matched without decoding them. */
    private final boolean asciiNames;

    /** A classifier with {@link #DEFAULT_PRIMARY_FUNCTIONS} only. */
    public QueryClassifier() {
        this(List.of());
    }

    /**
     * @param extraPrimaryFunctions more function names that send a Query to the primary (case-insensitive, no
     *     schema; a trailing {@code *} matches every name with that prefix)
     * @throws IllegalArgumentException naming the first entry that is not a function name
     */
    public QueryClassifier(Collection<String> extraPrimaryFunctions) {
        Set<String> names = new LinkedHashSet<>();
        List<String> prefixList = new ArrayList<>();
        List<String> all = new ArrayList<>(DEFAULT_PRIMARY_FUNCTIONS);
        all.addAll(extraPrimaryFunctions);
        for (String raw : all) {
            String name = validName(raw);
            if (name.endsWith("*")) {
                prefixList.add(name.substring(0, name.length() - 1));
            } else {
                names.add(name);
            }
        }
        int size = Integer.highestOneBit(Math.max(4, names.size() * 4) - 1) << 1;
        this.exact = new String[size];
        this.mask = size - 1;
        for (String n : names) {
            int h = hash(n, 0, n.length(), false) & mask;
            while (exact[h] != null) {
                h = (h + 1) & mask;
            }
            exact[h] = n;
        }
        this.prefixes = prefixList.toArray(new String[0]);
        this.asciiNames = all.stream().allMatch(n -> n.chars().allMatch(c -> c < 0x80));
    }

    private static String validName(String raw) {
        if (raw == null || raw.isEmpty()) {
            throw new IllegalArgumentException("primary function name is empty: accepted are SQL function names"
                    + " (letters, digits, _ and $), optionally ending in * to match a prefix");
        }
        String name = raw.toLowerCase(Locale.ROOT);
        int stop = name.endsWith("*") ? name.length() - 1 : name.length();
        boolean ok = stop > 0 && SqlLexer.identStart(name.charAt(0));
        for (int i = 1; ok && i < stop; i++) {
            ok = SqlLexer.identPart(name.charAt(i));
        }
        if (!ok) {
            throw new IllegalArgumentException("primary function name '" + raw + "' is not accepted: accepted are SQL"
                    + " function names without schema (letters, digits, _ and $), optionally ending in * to match a"
                    + " prefix");
        }
        return name;
    }

    /** Classifies with a read-write session default and standard_conforming_strings on. */
    public RouteHint classify(CharSequence sql) {
        return classify(sql, false, true);
    }

    /**
     * @param sessionReadOnly whether the session's default transaction access mode is READ ONLY (kept by the
     *     session from earlier {@link RouteHint#sessionAccess()} results or default_transaction_read_only)
     */
    public RouteHint classify(CharSequence sql, boolean sessionReadOnly) {
        return classify(sql, sessionReadOnly, true);
    }

    /**
     * @param standardConformingStrings the session's standard_conforming_strings (a ParameterStatus the server
     *     reports); when off, a backslash escapes a quote in '...' literals
     */
    public RouteHint classify(CharSequence sql, boolean sessionReadOnly, boolean standardConformingStrings) {
        return new Run(sql, standardConformingStrings, sessionReadOnly).classify();
    }

    /**
     * Classifies a message's text from the tokens its session lexed once ({@link SqlTokens}), without decoding it;
     * decodes it first only where a configured function name is not ASCII (bytes then could not match it).
     */
    public RouteHint classify(SqlTokens tokens, boolean sessionReadOnly) {
        if (!asciiNames) {
            return classify(tokens.text().toString(), sessionReadOnly, tokens.standardConformingStrings());
        }
        if (!tokens.recorded()) {
            return classify(tokens.text(), sessionReadOnly, tokens.standardConformingStrings());
        }
        return new Run(tokens, sessionReadOnly).classify();
    }

    boolean isPrimaryFunction(CharSequence sql, int start, int end, boolean quoted) {
        int h = hash(sql, start, end, !quoted) & mask;
        int n = end - start;
        while (true) {
            String candidate = exact[h];
            if (candidate == null) {
                break;
            }
            if (candidate.length() == n && matches(sql, start, candidate, n, quoted)) {
                return true;
            }
            h = (h + 1) & mask;
        }
        for (String p : prefixes) {
            if (n >= p.length() && matches(sql, start, p, p.length(), quoted)) {
                return true;
            }
        }
        return false;
    }

    private static boolean matches(CharSequence sql, int start, String lower, int n, boolean quoted) {
        for (int i = 0; i < n; i++) {
            char c = sql.charAt(start + i);
            if (!quoted && c >= 'A' && c <= 'Z') {
                c += 'a' - 'A';
            }
            if (c != lower.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private static int hash(CharSequence s, int start, int end, boolean fold) {
        int h = 0;
        for (int i = start; i < end; i++) {
            char c = s.charAt(i);
            if (fold && c >= 'A' && c <= 'Z') {
                c += 'a' - 'A';
            }
            h = 31 * h + c;
        }
        return h ^ (h >>> 16);
    }

    /** One classification: the scanner plus what has been learned so far. */
    private final class Run extends SqlLexer {
        private Reason write;
        private int statements;
        private boolean open;
        private int txMode;
        private boolean sessionReadOnly;
        private SessionAccess sessionChange = SessionAccess.UNCHANGED;

        Run(CharSequence sql, boolean standardConformingStrings, boolean sessionReadOnly) {
            super(sql, standardConformingStrings);
            this.sessionReadOnly = sessionReadOnly;
        }

        Run(SqlTokens tokens, boolean sessionReadOnly) {
            super(tokens);
            this.sessionReadOnly = sessionReadOnly;
        }

        RouteHint classify() {
            while (next() != END) {
                if (isPunct(';')) {
                    continue;
                }
                statements++;
                statement();
            }
            Reason reason;
            if (primaryHint()) {
                reason = Reason.PRIMARY_COMMENT;
            } else if (replicaHint()) {
                reason = Reason.REPLICA_COMMENT;
            } else if (write != null) {
                reason = write;
            } else if (open && txMode != MODE_READ_ONLY) {
                reason = Reason.READ_WRITE_TRANSACTION;
            } else if (open) {
                reason = Reason.READ_ONLY_TRANSACTION;
            } else if (statements == 0) {
                reason = Reason.EMPTY;
            } else {
                reason = Reason.READS;
            }
            return RouteHint.of(reason, sessionChange);
        }

        private void write(Reason r) {
            if (write == null) {
                write = r;
            }
        }

        /** Handles the statement starting at the current token and stops on its ';' or the end. */
        private void statement() {
            if (type() == WORD) {
                if (kw("select") || kw("values") || kw("table")) {
                    readStatement(false);
                    return;
                }
                if (kw("with")) {
                    readStatement(true);
                    return;
                }
                if (kw("show")
                        || kw("fetch")
                        || kw("move")
                        || kw("close")
                        || kw("deallocate")
                        || kw("savepoint")
                        || kw("release")) {
                    skipStatement();
                    return;
                }
                if (kw("explain")) {
                    explain();
                    return;
                }
                if (kw("begin")) {
                    next();
                    if (kw("work") || kw("transaction")) {
                        next();
                    }
                    begin();
                    return;
                }
                if (kw("start") && nextKeywordsAre("transaction", null, null)) {
                    next();
                    next();
                    begin();
                    return;
                }
                if (kw("commit") || kw("end") || kw("rollback") || kw("abort")) {
                    endTransaction();
                    return;
                }
                if (kw("set")) {
                    set();
                    return;
                }
                if (kw("reset") || kw("discard")) {
                    resetOrDiscard();
                    return;
                }
                if (kw("declare")) {
                    declare();
                    return;
                }
                if (kw("copy")) {
                    copy();
                    return;
                }
                if (kw("prepare")) {
                    prepare();
                    return;
                }
            } else if (isPunct('(')) {
                readStatement(false);
                return;
            }
            write(Reason.WRITE_STATEMENT);
            skipStatement();
        }

        /**
         * A query that reads unless it locks rows, selects INTO, modifies data in WITH, or calls a primary
         * function. In a WITH statement, INSERT/UPDATE/DELETE/MERGE right after the CTE list is its main statement.
         */
        private void readStatement(boolean with) {
            int depth = 0;
            boolean afterOpen = false;
            boolean afterClose = false;
            while (!atStatementEnd()) {
                boolean opens = false;
                boolean closes = false;
                if (type() == PUNCT) {
                    if (punct() == '(') {
                        depth++;
                        opens = true;
                    } else if (punct() == ')') {
                        depth--;
                        closes = true;
                    }
                } else if (type() == WORD) {
                    if (kw("for")) {
                        if (nextKeywordsAre("update", null, null)
                                || nextKeywordsAre("share", null, null)
                                || nextKeywordsAre("no", "key", "update")
                                || nextKeywordsAre("key", "share", null)) {
                            write(Reason.LOCKING_READ);
                        }
                    } else if (kw("into")) {
                        write(Reason.SELECT_INTO);
                    } else if (kw("insert") || kw("update") || kw("delete") || kw("merge")) {
                        if (afterOpen && dataModifyingBody()) {
                            write(Reason.DATA_MODIFYING_WITH);
                        } else if (with && depth == 0 && afterClose) {
                            write(Reason.WRITE_STATEMENT);
                        }
                    } else if (nextIsPunct('(') && isPrimaryFunction(sql(), start(), end(), false)) {
                        write(Reason.PRIMARY_FUNCTION);
                    }
                } else if (type() == QUOTED_IDENT
                        && nextIsPunct('(')
                        && isPrimaryFunction(sql(), start(), end(), true)) {
                    write(Reason.PRIMARY_FUNCTION);
                }
                afterOpen = opens;
                afterClose = closes;
                next();
            }
        }

        /** At INSERT/UPDATE/DELETE/MERGE after '(': whether what follows is that statement, not a column name. */
        private boolean dataModifyingBody() {
            if (kw("insert") || kw("merge")) {
                return nextKeywordsAre("into", null, null);
            }
            if (kw("delete")) {
                return nextKeywordsAre("from", null, null);
            }
            int t = peekType();
            return t == WORD || t == QUOTED_IDENT;
        }

        /** EXPLAIN is what it explains: ANALYZE runs the statement, so EXPLAIN ANALYZE of a read is a read too. */
        private void explain() {
            next();
            if (isPunct('(')) {
                int depth = 0;
                while (!atStatementEnd()) {
                    if (isPunct('(')) {
                        depth++;
                    } else if (isPunct(')') && --depth == 0) {
                        next();
                        break;
                    }
                    next();
                }
            } else {
                while (kw("analyze") || kw("analyse") || kw("verbose")) {
                    next();
                }
            }
            statement();
        }

        /** At the token after BEGIN [WORK | TRANSACTION] or START TRANSACTION. */
        private void begin() {
            int modes = transactionModes();
            if (open) {
                // PostgreSQL ignores a BEGIN inside a transaction block (with a warning).
                return;
            }
            open = true;
            txMode = (modes & (MODE_READ_ONLY | MODE_READ_WRITE)) != 0
                    ? modes & (MODE_READ_ONLY | MODE_READ_WRITE)
                    : sessionReadOnly ? MODE_READ_ONLY : MODE_READ_WRITE;
            if ((modes & MODE_SERIALIZABLE) != 0) {
                write(Reason.SERIALIZABLE);
            }
        }

        /** Reads transaction modes up to the end of the statement. */
        private int transactionModes() {
            int modes = 0;
            while (!atStatementEnd()) {
                if (kw("isolation")) {
                    next();
                    if (kw("level")) {
                        next();
                    }
                    if (kw("serializable")) {
                        modes |= MODE_SERIALIZABLE;
                    } else if (kw("repeatable") || kw("read")) {
                        // REPEATABLE READ, READ COMMITTED, READ UNCOMMITTED: the second word is no access mode.
                        next();
                    }
                } else if (kw("read")) {
                    next();
                    if (kw("only")) {
                        modes = (modes & ~MODE_READ_WRITE) | MODE_READ_ONLY;
                    } else if (kw("write")) {
                        modes = (modes & ~MODE_READ_ONLY) | MODE_READ_WRITE;
                    } else {
                        continue;
                    }
                }
                if (!atStatementEnd()) {
                    next();
                }
            }
            return modes;
        }

        /** Modes of SET TRANSACTION or SET transaction_*: they only act inside a transaction block. */
        private void applyToTransaction(int modes) {
            if (!open) {
                return;
            }
            if ((modes & MODE_READ_ONLY) != 0) {
                txMode = MODE_READ_ONLY;
            } else if ((modes & MODE_READ_WRITE) != 0) {
                txMode = MODE_READ_WRITE;
            }
            if ((modes & MODE_SERIALIZABLE) != 0) {
                write(Reason.SERIALIZABLE);
            }
        }

        /** COMMIT/END/ROLLBACK/ABORT, with ROLLBACK TO SAVEPOINT, AND [NO] CHAIN and the two-phase forms. */
        private void endTransaction() {
            boolean rollback = kw("rollback");
            boolean closes = true;
            boolean afterNo = false;
            next();
            while (!atStatementEnd()) {
                if (kw("prepared")) {
                    // COMMIT/ROLLBACK PREPARED finish a two-phase transaction, which a standby cannot do.
                    write(Reason.WRITE_STATEMENT);
                    closes = false;
                } else if (rollback && kw("to")) {
                    closes = false;
                } else if (kw("chain") && !afterNo) {
                    // A chained transaction starts at once with the same characteristics.
                    closes = false;
                }
                afterNo = kw("no");
                next();
            }
            if (closes) {
                open = false;
                txMode = 0;
            }
        }

        private void set() {
            next();
            boolean local = false;
            if (kw("session")) {
                if (nextKeywordsAre("characteristics", "as", "transaction")) {
                    next();
                    next();
                    next();
                    next();
                    int modes = transactionModes();
                    if ((modes & MODE_READ_ONLY) != 0) {
                        session(SessionAccess.READ_ONLY);
                    } else if ((modes & MODE_READ_WRITE) != 0) {
                        session(SessionAccess.READ_WRITE);
                    }
                    return;
                }
                next();
            } else if (kw("local")) {
                local = true;
                next();
            }
            if (kw("transaction")) {
                next();
                applyToTransaction(transactionModes());
                return;
            }
            if (nameIs("default_transaction_read_only")) {
                int value = settingValue();
                if (!local && value >= 0) {
                    session(value == 1 ? SessionAccess.READ_ONLY : SessionAccess.READ_WRITE);
                }
            } else if (nameIs("transaction_read_only")) {
                int value = settingValue();
                if (value >= 0) {
                    applyToTransaction(value == 1 ? MODE_READ_ONLY : MODE_READ_WRITE);
                }
            } else if (nameIs("transaction_isolation")) {
                next();
                if (kw("to") || isPunct('=')) {
                    next();
                }
                if (valueIs("serializable")) {
                    applyToTransaction(MODE_SERIALIZABLE);
                }
            }
            skipStatement();
        }

        /** At a boolean setting's name: 1 for true, 0 for false or DEFAULT, -1 for anything else. */
        private int settingValue() {
            next();
            if (kw("to") || isPunct('=')) {
                next();
            }
            if (valueIs("on") || valueIs("true") || valueIs("yes") || valueIs("1") || valueIs("t") || valueIs("y")) {
                return 1;
            }
            if (valueIs("off")
                    || valueIs("false")
                    || valueIs("no")
                    || valueIs("0")
                    || valueIs("f")
                    || valueIs("n")
                    || kw("default")) {
                return 0;
            }
            return -1;
        }

        private void resetOrDiscard() {
            boolean reset = kw("reset");
            next();
            if (kw("all") || (reset && nameIs("default_transaction_read_only"))) {
                session(SessionAccess.READ_WRITE);
            }
            skipStatement();
        }

        private void session(SessionAccess access) {
            sessionChange = access;
            sessionReadOnly = access == SessionAccess.READ_ONLY;
        }

        /** DECLARE name ... CURSOR ... FOR query: a read when the query is one. */
        private void declare() {
            while (!atStatementEnd() && !kw("for")) {
                next();
            }
            if (atStatementEnd()) {
                write(Reason.WRITE_STATEMENT);
                return;
            }
            next();
            statement();
        }

        /** COPY (query) TO and COPY table TO read; COPY table FROM writes. */
        private void copy() {
            next();
            if (isPunct('(')) {
                readStatement(false);
                return;
            }
            int depth = 0;
            while (!atStatementEnd()) {
                if (isPunct('(')) {
                    depth++;
                } else if (isPunct(')')) {
                    depth--;
                } else if (depth == 0 && kw("to")) {
                    skipStatement();
                    return;
                } else if (depth == 0 && kw("from")) {
                    break;
                }
                next();
            }
            write(Reason.WRITE_STATEMENT);
            skipStatement();
        }

        /** PREPARE TRANSACTION 'gid' writes; PREPARE name AS statement is what the statement is. */
        private void prepare() {
            next();
            if (kw("transaction") && peekType() == STRING) {
                write(Reason.WRITE_STATEMENT);
                skipStatement();
                return;
            }
            int depth = 0;
            while (!atStatementEnd()) {
                if (isPunct('(')) {
                    depth++;
                } else if (isPunct(')')) {
                    depth--;
                } else if (depth == 0 && kw("as")) {
                    next();
                    statement();
                    return;
                }
                next();
            }
            write(Reason.WRITE_STATEMENT);
        }
    }
}
