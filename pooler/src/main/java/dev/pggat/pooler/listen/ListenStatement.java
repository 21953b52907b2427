package dev.pggat.pooler.listen;

import dev.pggat.pooler.sql.SqlLexer;
import dev.pggat.pooler.sql.Utf8Text;
import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.Set;

/**
 * One {@code LISTEN channel}, {@code UNLISTEN channel} or {@code UNLISTEN *} statement, recognised the way
 * PostgreSQL's parser reads it: an unquoted channel name is folded to lower case (ASCII letters only, as in a
 * UTF-8 database), a quoted one is kept as written. Anything the pooler cannot be sure to read exactly as the
 * server would (Unicode escapes, names PostgreSQL would truncate, reserved words, several statements) is not
 * recognised and goes to a server as before.
 *
 * @param listen true for LISTEN, false for UNLISTEN
 * @param channel the channel name as the server knows it; null for {@code UNLISTEN *}
 */
public record ListenStatement(boolean listen, String channel) {
    /** NAMEDATALEN - 1: longer names are truncated by the server (with a notice): left to the server. */
    private static final int MAX_NAME_BYTES = 63;

    /**
     * Words PostgreSQL's grammar does not accept as a bare channel name (reserved and type/function-name
     * keywords); a LISTEN with one of them is a syntax error the server reports.
     */
    private static final Set<String> NOT_COL_ID = Set.of(
            "all",
            "analyse",
            "analyze",
            "and",
            "any",
            "array",
            "as",
            "asc",
            "asymmetric",
            "both",
            "case",
            "cast",
            "check",
            "collate",
            "column",
            "constraint",
            "create",
            "current_catalog",
            "current_date",
            "current_role",
            "current_time",
            "current_timestamp",
            "current_user",
            "default",
            "deferrable",
            "desc",
            "distinct",
            "do",
            "else",
            "end",
            "except",
            "false",
            "fetch",
            "for",
            "foreign",
            "from",
            "grant",
            "group",
            "having",
            "in",
            "initially",
            "intersect",
            "into",
            "lateral",
            "leading",
            "limit",
            "localtime",
            "localtimestamp",
            "not",
            "null",
            "offset",
            "on",
            "only",
            "or",
            "order",
            "placing",
            "primary",
            "references",
            "returning",
            "select",
            "session_user",
            "some",
            "symmetric",
            "system_user",
            "table",
            "then",
            "to",
            "trailing",
            "true",
            "union",
            "unique",
            "user",
            "using",
            "variadic",
            "when",
            "where",
            "window",
            "with",
            "authorization",
            "binary",
            "collation",
            "concurrently",
            "cross",
            "current_schema",
            "freeze",
            "full",
            "ilike",
            "inner",
            "is",
            "isnull",
            "join",
            "left",
            "like",
            "natural",
            "notnull",
            "outer",
            "overlaps",
            "right",
            "similar",
            "tablesample",
            "verbose");

    /** The statement's text quoted for the relay connection: always a quoted identifier. */
    String sql() {
        String verb = listen ? "LISTEN " : "UNLISTEN ";
        return channel == null ? verb + "*" : verb + quote(channel);
    }

    static String quote(String identifier) {
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }

    /**
     * Cheap test on the raw text of a Query or Parse, without making a String: is its first token LISTEN or
     * UNLISTEN, with something after it?
     */
    static boolean mayBe(ByteBuf text, int start, int end) {
        return mayBe(new SqlLexer(new Utf8Text(text, start, end)));
    }

    /** As {@link #mayBe(ByteBuf, int, int)}, from a lexer at the start of the text (a session's shared one). */
    static boolean mayBe(SqlLexer lx) {
        lx.next();
        return (lx.kw("listen") || lx.kw("unlisten")) && lx.peekType() != SqlLexer.END;
    }

    /** The statement {@code sql} holds, or null when it is not exactly one recognisable LISTEN or UNLISTEN. */
    public static ListenStatement parse(String sql) {
        SqlLexer lx = new SqlLexer(sql);
        lx.next();
        boolean listen;
        if (lx.kw("listen")) {
            listen = true;
        } else if (lx.kw("unlisten")) {
            listen = false;
        } else {
            return null;
        }
        lx.next();
        String channel;
        if (!listen && lx.isPunct('*')) {
            channel = null;
        } else if (lx.type() == SqlLexer.QUOTED_IDENT && lx.kind() == SqlLexer.PLAIN) {
            channel = lx.identifier();
            if (channel.isEmpty()) {
                return null; // zero-length delimited identifier: the server's error
            }
        } else if (lx.type() == SqlLexer.WORD) {
            channel = lx.identifier();
            if (NOT_COL_ID.contains(channel)) {
                return null;
            }
        } else {
            return null; // U&"..." (escapes are the server's to read), a literal, a number, punctuation
        }
        lx.next();
        if (lx.isPunct(';')) {
            lx.next();
        }
        if (lx.type() != SqlLexer.END || lx.unterminated()) {
            return null;
        }
        if (channel != null && channel.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES) {
            return null;
        }
        return new ListenStatement(listen, channel);
    }
}
