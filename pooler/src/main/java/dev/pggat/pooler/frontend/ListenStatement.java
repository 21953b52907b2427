package dev.pggat.pooler.frontend;

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
record ListenStatement(boolean listen, String channel) {
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
     * Cheap test on the raw text of a Query or Parse, without making a String: does it start with LISTEN or
     * UNLISTEN (after white space), or with a comment that needs the full parse?
     */
    static boolean mayBe(ByteBuf text, int start, int end) {
        int i = start;
        while (i < end && isSpace(text.getByte(i))) {
            i++;
        }
        if (i < end && (text.getByte(i) == '-' || text.getByte(i) == '/')) {
            return true;
        }
        return startsWithWord(text, i, end, LISTEN) || startsWithWord(text, i, end, UNLISTEN);
    }

    private static final byte[] LISTEN = "listen".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] UNLISTEN = "unlisten".getBytes(StandardCharsets.US_ASCII);

    private static boolean startsWithWord(ByteBuf text, int i, int end, byte[] word) {
        if (end - i <= word.length) {
            return false;
        }
        for (int j = 0; j < word.length; j++) {
            if ((text.getByte(i + j) | 0x20) != word[j]) {
                return false;
            }
        }
        byte next = text.getByte(i + word.length);
        return isSpace(next) || next == '"' || next == '*' || next == '-' || next == '/';
    }

    private static boolean isSpace(byte c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x0B;
    }

    /** The statement {@code sql} holds, or null when it is not exactly one recognisable LISTEN or UNLISTEN. */
    static ListenStatement parse(String sql) {
        Scanner s = new Scanner(sql);
        if (!s.trivia()) {
            return null;
        }
        String verb = s.word();
        boolean listen;
        if ("listen".equals(verb)) {
            listen = true;
        } else if ("unlisten".equals(verb)) {
            listen = false;
        } else {
            return null;
        }
        if (!s.trivia()) {
            return null;
        }
        String channel;
        if (!listen && s.peek() == '*') {
            s.pos++;
            channel = null;
        } else {
            channel = s.identifier();
            if (channel == null) {
                return null;
            }
        }
        if (!s.trivia()) {
            return null;
        }
        if (s.peek() == ';') {
            s.pos++;
            if (!s.trivia()) {
                return null;
            }
        }
        return s.pos == sql.length() ? new ListenStatement(listen, channel) : null;
    }

    private static final class Scanner {
        final String sql;
        int pos;

        Scanner(String sql) {
            this.sql = sql;
        }

        char peek() {
            return pos < sql.length() ? sql.charAt(pos) : 0;
        }

        /** Skips white space and comments (block comments nest, as in PostgreSQL); false on an unclosed one. */
        boolean trivia() {
            int n = sql.length();
            while (pos < n) {
                char c = sql.charAt(pos);
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x0B) {
                    pos++;
                } else if (c == '-' && pos + 1 < n && sql.charAt(pos + 1) == '-') {
                    while (pos < n && sql.charAt(pos) != '\n' && sql.charAt(pos) != '\r') {
                        pos++;
                    }
                } else if (c == '/' && pos + 1 < n && sql.charAt(pos + 1) == '*') {
                    int depth = 1;
                    pos += 2;
                    while (depth > 0) {
                        if (pos + 1 >= n) {
                            return false;
                        }
                        if (sql.charAt(pos) == '*' && sql.charAt(pos + 1) == '/') {
                            depth--;
                            pos += 2;
                        } else if (sql.charAt(pos) == '/' && sql.charAt(pos + 1) == '*') {
                            depth++;
                            pos += 2;
                        } else {
                            pos++;
                        }
                    }
                } else {
                    break;
                }
            }
            return true;
        }

        /** A bare word (identifier characters), folded to lower case; "" when none starts here. */
        String word() {
            int start = pos;
            if (pos < sql.length() && identStart(sql.charAt(pos))) {
                pos++;
                while (pos < sql.length() && identPart(sql.charAt(pos))) {
                    pos++;
                }
            }
            return fold(sql.substring(start, pos));
        }

        /** A channel name as the server would read it, or null when the pooler leaves it to the server. */
        String identifier() {
            String name;
            if (peek() == '"') {
                StringBuilder b = new StringBuilder();
                pos++;
                while (true) {
                    if (pos >= sql.length()) {
                        return null;
                    }
                    char c = sql.charAt(pos++);
                    if (c == '"') {
                        if (peek() == '"') {
                            b.append('"');
                            pos++;
                        } else {
                            break;
                        }
                    } else {
                        b.append(c);
                    }
                }
                name = b.toString();
                if (name.isEmpty()) {
                    return null; // zero-length delimited identifier: the server's error
                }
            } else {
                name = word();
                if (name.isEmpty() || NOT_COL_ID.contains(name)) {
                    return null;
                }
            }
            return name.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES ? null : name;
        }

        private static boolean identStart(char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
        }

        private static boolean identPart(char c) {
            return identStart(c) || (c >= '0' && c <= '9') || c == '$';
        }

        /** PostgreSQL folds only ASCII letters of unquoted names in multi-byte encodings. */
        private static String fold(String word) {
            StringBuilder b = null;
            for (int i = 0; i < word.length(); i++) {
                char c = word.charAt(i);
                if (c >= 'A' && c <= 'Z') {
                    if (b == null) {
                        b = new StringBuilder(word);
                    }
                    b.setCharAt(i, (char) (c + ('a' - 'A')));
                }
            }
            return b == null ? word : b.toString();
        }
    }
}
