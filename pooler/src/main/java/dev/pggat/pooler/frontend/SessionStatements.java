package dev.pggat.pooler.frontend;

import dev.pggat.pooler.listen.ListenStatement;
import dev.pggat.pooler.sql.SqlLexer;
import dev.pggat.pooler.sql.SqlTokens;
import dev.pggat.pooler.sql.Utf8Text;
import io.netty.buffer.ByteBuf;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Spots, in the SQL a transaction-mode client sends, what changes session state, in every statement of the text:
 * SET and RESET and {@code set_config(name, value, false)} (whose effect must follow the client to its next
 * server), what may change settings unseen ({@code DO}, {@code CALL}, a {@code set_config} whose arguments are no
 * constants: the pooler then reads the session's settings back), and what cannot follow a client at all (session
 * advisory locks, temporary tables, WITH HOLD cursors, LISTEN, SQL-level PREPARE, SET SESSION AUTHORIZATION),
 * which pins the client to its server. Built on {@link SqlLexer}, so nothing inside a literal, a quoted name or
 * a comment counts; an ordinary query is scanned once without allocating.
 */
final class SessionStatements {
    private SessionStatements() {}

    /**
     * What a text does to the session. {@code settings}: names of settings it may change (read back after the
     * transaction). {@code unknownSettings}: it may change settings no lexer can name (DO, CALL, set_config with
     * computed arguments), so all of the session's settings are read back. {@code unlisten}: channels an UNLISTEN
     * sent to a server names (null for {@code UNLISTEN *}), which the LISTEN relay must stop delivering too.
     */
    record Effect(
            List<String> settings,
            boolean resetAll,
            String pinReason,
            List<ListenStatement> unlisten,
            boolean unknownSettings) {
        static final Effect NONE = new Effect(List.of(), false, null, List.of(), false);

        boolean isNone() {
            return settings.isEmpty() && !resetAll && pinReason == null && unlisten.isEmpty() && !unknownSettings;
        }
    }

    /** Session (not transaction) advisory lock functions: their locks outlive the transaction. */
    private static final String[] SESSION_LOCK_FUNCTIONS = {
        "pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_lock_shared"
    };

    /** A DO body is read for what it pins; a DO inside a DO body is left at that (its effects are read back). */
    private static final int MAX_DEPTH = 1;

    /**
     * The effect of the text of a Query or Parse, bytes [start, end) of {@code frame}, without copying it; {@link
     * Effect#NONE} for an ordinary query.
     */
    static Effect analyse(ByteBuf frame, int start, int end, boolean standardConformingStrings) {
        return analyse(new Utf8Text(frame, start, end), standardConformingStrings);
    }

    /**
     * Whether the text of a Query or Parse may change session state at all: {@link #analyse(ByteBuf, int, int,
     * boolean)} answers that too, at no extra cost; this is kept for callers that make a String after it.
     */
    static boolean mayChangeSession(ByteBuf frame, int textStart, int textEnd) {
        return !analyse(frame, textStart, textEnd, true).isNone();
    }

    /** Analyses a whole query text (possibly several statements), as with standard_conforming_strings on. */
    static Effect analyse(CharSequence sql) {
        return analyse(sql, true);
    }

    static Effect analyse(CharSequence sql, boolean standardConformingStrings) {
        Analysis a = new Analysis();
        a.text(new SqlLexer(sql, standardConformingStrings), 0);
        return a.effect();
    }

    /** The effect of a message's text its session already lexed (see {@link SqlTokens}). */
    static Effect analyse(SqlTokens tokens) {
        Analysis a = new Analysis();
        a.text(tokens.lexer(), 0);
        return a.effect();
    }

    /** What has been found so far; lists are made on the first finding. */
    private static final class Analysis {
        List<String> settings;
        boolean resetAll;
        String pin;
        List<ListenStatement> unlisten;
        boolean unknownSettings;

        Effect effect() {
            if (settings == null && !resetAll && pin == null && unlisten == null && !unknownSettings) {
                return Effect.NONE;
            }
            return new Effect(
                    settings == null ? List.of() : List.copyOf(settings),
                    resetAll,
                    pin,
                    unlisten == null ? List.of() : List.copyOf(unlisten),
                    unknownSettings);
        }

        void setting(String name) {
            if (settings == null) {
                settings = new ArrayList<>(2);
            }
            if (!settings.contains(name)) {
                settings.add(name);
            }
        }

        void pin(String reason) {
            if (pin == null) {
                pin = reason;
            }
        }

        void text(SqlLexer lx, int depth) {
            while (lx.next() != SqlLexer.END) {
                if (lx.isPunct(';')) {
                    continue;
                }
                statement(lx, depth);
            }
        }

        /** The statement starting at the current token, up to its ';' or the end. */
        private void statement(SqlLexer lx, int depth) {
            int from = lx.start();
            if (lx.type() == SqlLexer.WORD) {
                if (lx.kw("set")) {
                    set(lx);
                } else if (lx.kw("reset")) {
                    reset(lx);
                } else if (lx.kw("discard")) {
                    lx.next();
                    if (lx.kw("all")) {
                        resetAll = true;
                    }
                } else if (lx.kw("listen")) {
                    pin("listen");
                } else if (lx.kw("unlisten")) {
                    lx.skipStatement();
                    ListenStatement u = ListenStatement.parse(lx.text(from, lx.start()));
                    if (u != null) {
                        if (unlisten == null) {
                            unlisten = new ArrayList<>(1);
                        }
                        unlisten.add(u);
                    }
                    return;
                } else if (lx.kw("prepare")) {
                    lx.next();
                    if (!lx.atStatementEnd() && !(lx.kw("transaction") && lx.peekType() == SqlLexer.STRING)) {
                        pin("sql_prepare");
                    }
                } else if (lx.kw("declare")) {
                    declare(lx);
                } else if (lx.kw("create")) {
                    lx.next();
                    if (temporary(lx)) {
                        pin("temp_table");
                    }
                } else if (lx.kw("do")) {
                    unknownSettings = true;
                    doBlock(lx, depth);
                    return;
                } else if (lx.kw("call")) {
                    // A procedure may change settings (or anything else) out of sight.
                    unknownSettings = true;
                } else if (lx.kw("select") || lx.kw("with")) {
                    calls(lx, true);
                    return;
                }
            }
            calls(lx, false);
        }

        /** SET [SESSION | LOCAL] ...: the setting it changes; SET LOCAL and SET TRANSACTION last a transaction. */
        private void set(SqlLexer lx) {
            lx.next();
            if (lx.kw("local")) {
                return;
            }
            if (lx.kw("session")) {
                lx.next();
                if (lx.kw("characteristics")) {
                    setting("default_transaction_isolation");
                    setting("default_transaction_read_only");
                    setting("default_transaction_deferrable");
                    return;
                }
                if (lx.kw("authorization")) {
                    pin("session_authorization");
                    return;
                }
            }
            if (lx.kw("transaction") || lx.kw("constraints")) {
                return;
            }
            String name = settingName(lx);
            if (name != null) {
                setting(name);
            }
        }

        private void reset(SqlLexer lx) {
            lx.next();
            if (lx.kw("all")) {
                resetAll = true;
            } else if (lx.kw("session")) {
                pin("session_authorization");
            } else {
                String name = settingName(lx);
                if (name != null) {
                    setting(name);
                }
            }
        }

        /**
         * At a setting's name in SET or RESET: its canonical name (the special forms TIME ZONE, SCHEMA, NAMES, XML
         * OPTION, and dotted custom names), or null when there is none.
         */
        private static String settingName(SqlLexer lx) {
            if (lx.kw("time") && lx.nextKeywordsAre("zone", null, null)) {
                return "timezone";
            }
            if (lx.kw("schema")) {
                return "search_path";
            }
            if (lx.kw("names")) {
                return "client_encoding";
            }
            if (lx.kw("xml") && lx.nextKeywordsAre("option", null, null)) {
                return "xmloption";
            }
            String name = lx.identifier();
            if (name == null) {
                return null;
            }
            while (lx.nextIsPunct('.')) {
                lx.next();
                lx.next();
                String part = lx.identifier();
                if (part == null) {
                    return null;
                }
                name = name + "." + part;
            }
            return name;
        }

        /** DECLARE name ... CURSOR ... FOR query: pins when WITH HOLD comes before FOR. */
        private void declare(SqlLexer lx) {
            while (lx.next() != SqlLexer.END && !lx.atStatementEnd() && !lx.kw("for")) {
                if (lx.kw("with") && lx.nextKeywordsAre("hold", null, null)) {
                    pin("with_hold_cursor");
                }
            }
            if (lx.kw("for")) {
                lx.next();
                calls(lx, false);
            }
        }

        /** At the word after CREATE: [OR REPLACE] [GLOBAL | LOCAL] TEMP | TEMPORARY. */
        private static boolean temporary(SqlLexer lx) {
            if (lx.kw("or") && lx.nextKeywordsAre("replace", null, null)) {
                lx.next();
                lx.next();
            }
            if (lx.kw("global") || lx.kw("local")) {
                lx.next();
            }
            return lx.kw("temp") || lx.kw("temporary");
        }

        /** DO [LANGUAGE l] 'body' [LANGUAGE l]: the body is read for what pins. */
        private void doBlock(SqlLexer lx, int depth) {
            while (lx.next() != SqlLexer.END && !lx.atStatementEnd()) {
                if (lx.type() == SqlLexer.STRING && depth < MAX_DEPTH) {
                    String body = lx.stringValue();
                    if (body != null) {
                        body(new SqlLexer(body), depth + 1);
                    }
                }
            }
        }

        /**
         * A procedural body (PL/pgSQL and the like): not SQL statements separated by ';' alone, so it is searched
         * as a whole for calls and for CREATE TEMP; its settings are read back anyway.
         */
        private void body(SqlLexer lx, int depth) {
            while (lx.next() != SqlLexer.END) {
                if (lx.kw("create")) {
                    lx.next();
                    if (temporary(lx)) {
                        pin("temp_table");
                    }
                }
                if (lx.kw("listen")) {
                    pin("listen");
                }
                call(lx);
            }
        }

        /**
         * The rest of a statement: function calls that change the session anywhere in it, and (in a query)
         * {@code INTO TEMP}, which creates a temporary table.
         */
        private void calls(SqlLexer lx, boolean query) {
            while (!lx.atStatementEnd()) {
                if (query && lx.kw("into")) {
                    lx.next();
                    if (lx.kw("local") || lx.kw("global")) {
                        lx.next();
                    }
                    if (lx.kw("temp") || lx.kw("temporary")) {
                        pin("temp_table");
                    }
                    continue;
                }
                call(lx);
                if (!lx.atStatementEnd()) {
                    lx.next();
                }
            }
        }

        /** At any token: a call of a session lock function or of set_config. Leaves the lexer on the name. */
        private void call(SqlLexer lx) {
            int t = lx.type();
            if ((t != SqlLexer.WORD && t != SqlLexer.QUOTED_IDENT) || !lx.nextIsPunct('(')) {
                return;
            }
            for (String f : SESSION_LOCK_FUNCTIONS) {
                if (lx.nameIs(f)) {
                    pin("advisory_lock");
                    return;
                }
            }
            if (lx.nameIs("set_config")) {
                setConfig(lx);
            }
        }

        /**
         * At {@code set_config}: with a constant name and a constant false (session-wide), it is a SET of that name
         * (whatever the value: it is read back); with a constant true it lasts the transaction only; anything else
         * may change any setting. Stops inside the call, never past the statement's end.
         */
        private void setConfig(SqlLexer lx) {
            lx.next(); // (
            lx.next();
            String name = lx.type() == SqlLexer.STRING ? lx.stringValue() : null;
            lx.next();
            if (name == null || name.isEmpty() || !lx.isPunct(',')) {
                unknownSettings = true;
                return;
            }
            int depth = 0;
            while (true) {
                lx.next();
                if (lx.atStatementEnd()) {
                    unknownSettings = true;
                    return;
                }
                if (lx.isPunct('(')) {
                    depth++;
                } else if (lx.isPunct(')')) {
                    if (depth-- == 0) {
                        unknownSettings = true;
                        return;
                    }
                } else if (depth == 0 && lx.isPunct(',')) {
                    break;
                }
            }
            lx.next();
            int local = -1;
            if (lx.valueIs("false") || lx.valueIs("f") || lx.valueIs("off") || lx.valueIs("no")) {
                local = 0;
            } else if (lx.valueIs("true") || lx.valueIs("t") || lx.valueIs("on") || lx.valueIs("yes")) {
                local = 1;
            }
            if (local >= 0 && (lx.nextIsPunct(')'))) {
                lx.next();
            } else {
                local = -1;
            }
            if (local == 0) {
                setting(name.toLowerCase(Locale.ROOT));
            } else if (local < 0) {
                unknownSettings = true;
            }
        }
    }
}
