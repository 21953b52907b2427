package dev.pggat.pooler.frontend;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Spots, in the SQL a transaction-mode client sends, the statements that change session state: SET and RESET
 * (whose effect must follow the client to its next server), and what cannot follow a client at all (session
 * advisory locks, temporary tables, WITH HOLD cursors, LISTEN, SQL-level PREPARE, SET SESSION AUTHORIZATION),
 * which pins the client to its server. A byte-level pre-check keeps ordinary queries from being looked at twice.
 */
final class SessionStatements {
    private SessionStatements() {}

    /**
     * What a statement does to the session. {@code unlisten}: channels an UNLISTEN sent to a server names (null for
     * {@code UNLISTEN *}), which the LISTEN relay must stop delivering too.
     */
    record Effect(List<String> settings, boolean resetAll, String pinReason, List<ListenStatement> unlisten) {
        static final Effect NONE = new Effect(List.of(), false, null, List.of());

        boolean isNone() {
            return settings.isEmpty() && !resetAll && pinReason == null && unlisten.isEmpty();
        }
    }

    private static final byte[] ADVISORY = "advisory_lock".getBytes(StandardCharsets.US_ASCII);

    /**
     * Cheap pre-check on the raw text of a Query or Parse: true when the text may change session state. Reads the
     * first keyword and looks for "advisory_lock"; allocates nothing.
     */
    static boolean mayChangeSession(ByteBuf frame, int textStart, int textEnd) {
        int i = skipSpaceAndComments(frame, textStart, textEnd);
        int end = i;
        while (end < textEnd && end - i < 12 && Character.isLetter((char) frame.getByte(end))) {
            end++;
        }
        for (byte[] k : KEYWORDS) {
            if (k.length == end - i && indexOfIgnoreCase(frame, i, end, k) == i) {
                return true;
            }
        }
        return indexOfIgnoreCase(frame, textStart, textEnd, ADVISORY) >= 0;
    }

    private static final byte[][] KEYWORDS = {
        bytes("set"),
        bytes("reset"),
        bytes("listen"),
        bytes("unlisten"),
        bytes("declare"),
        bytes("create"),
        bytes("prepare"),
        bytes("discard")
    };

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private static int skipSpaceAndComments(ByteBuf b, int i, int end) {
        while (i < end) {
            byte c = b.getByte(i);
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(') {
                i++;
            } else if (c == '-' && i + 1 < end && b.getByte(i + 1) == '-') {
                while (i < end && b.getByte(i) != '\n') {
                    i++;
                }
            } else if (c == '/' && i + 1 < end && b.getByte(i + 1) == '*') {
                i += 2;
                while (i + 1 < end && !(b.getByte(i) == '*' && b.getByte(i + 1) == '/')) {
                    i++;
                }
                i += 2;
            } else {
                break;
            }
        }
        return i;
    }

    private static int indexOfIgnoreCase(ByteBuf b, int from, int to, byte[] needle) {
        outer:
        for (int i = from; i + needle.length <= to; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (Character.toLowerCase((char) b.getByte(i + j)) != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    /** Analyses a whole query text (possibly several statements). */
    static Effect analyse(String sql) {
        List<String> settings = new ArrayList<>();
        boolean resetAll = false;
        String pin = null;
        List<ListenStatement> unlisten = List.of();
        for (String stmt : split(sql)) {
            List<String> words = words(stmt, 6);
            if (words.isEmpty()) {
                continue;
            }
            String lower = stmt.toLowerCase(Locale.ROOT);
            String first = words.get(0);
            switch (first) {
                case "set" -> {
                    String setting = setName(words);
                    if ("session authorization".equals(setting)) {
                        pin = "session_authorization";
                    } else if (setting != null) {
                        settings.addAll(expand(setting));
                    }
                }
                case "reset" -> {
                    if (words.size() > 1 && words.get(1).equals("all")) {
                        resetAll = true;
                    } else if (words.size() > 1 && words.get(1).equals("session")) {
                        pin = "session_authorization";
                    } else if (words.size() > 1) {
                        settings.addAll(expand(canonical(words.get(1))));
                    }
                }
                case "discard" -> {
                    if (words.size() > 1 && words.get(1).equals("all")) {
                        resetAll = true;
                    }
                }
                case "listen" -> pin = "listen";
                case "unlisten" -> {
                    ListenStatement u = ListenStatement.parse(stmt);
                    if (u != null) {
                        unlisten = unlisten.isEmpty() ? new ArrayList<>(1) : unlisten;
                        unlisten.add(u);
                    }
                }
                case "prepare" -> {
                    if (words.size() > 1 && !words.get(1).equals("transaction")) {
                        pin = "sql_prepare";
                    }
                }
                case "declare" -> {
                    if (lower.contains("with hold")) {
                        pin = "with_hold_cursor";
                    }
                }
                case "create" -> {
                    if (words.size() > 1
                            && (words.get(1).startsWith("temp")
                                    || (words.size() > 2
                                            && words.get(1).equals("local")
                                            && words.get(2).startsWith("temp")))) {
                        pin = "temp_table";
                    }
                }
                default -> {}
            }
            if (pin == null
                    && (lower.contains("pg_advisory_lock") || lower.contains("pg_try_advisory_lock"))
                    && !lower.contains("_xact_")) {
                pin = "advisory_lock";
            }
        }
        if (settings.isEmpty() && !resetAll && pin == null && unlisten.isEmpty()) {
            return Effect.NONE;
        }
        return new Effect(List.copyOf(settings), resetAll, pin, unlisten);
    }

    /** The setting a SET changes, or null for SET LOCAL, SET TRANSACTION and SET CONSTRAINTS (transaction-scoped). */
    private static String setName(List<String> w) {
        int i = 1;
        if (w.size() > i && w.get(i).equals("session")) {
            i++;
            if (w.size() > i && w.get(i).equals("characteristics")) {
                return "default_transaction_*";
            }
            if (w.size() > i && w.get(i).equals("authorization")) {
                return "session authorization";
            }
        }
        if (w.size() <= i) {
            return null;
        }
        String n = w.get(i);
        return switch (n) {
            case "local", "transaction", "constraints" -> null;
            case "time" -> "timezone";
            case "schema" -> "search_path";
            case "names" -> "client_encoding";
            case "role" -> "role";
            default -> canonical(n);
        };
    }

    private static List<String> expand(String name) {
        if (name.equals("default_transaction_*")) {
            return List.of(
                    "default_transaction_isolation", "default_transaction_read_only", "default_transaction_deferrable");
        }
        return List.of(name);
    }

    /** GUC names are case-insensitive; a quoted name keeps its case. */
    private static String canonical(String word) {
        if (word.startsWith("\"") && word.endsWith("\"") && word.length() > 1) {
            return word.substring(1, word.length() - 1);
        }
        return word;
    }

    /** The first {@code max} words, lower-cased (quoted identifiers kept as written), stopping at '=' or '('. */
    private static List<String> words(String stmt, int max) {
        List<String> out = new ArrayList<>();
        int i = 0;
        int n = stmt.length();
        while (i < n && out.size() < max) {
            char c = stmt.charAt(i);
            if (Character.isWhitespace(c)) {
                i++;
            } else if (c == '-' && i + 1 < n && stmt.charAt(i + 1) == '-') {
                while (i < n && stmt.charAt(i) != '\n') {
                    i++;
                }
            } else if (c == '/' && i + 1 < n && stmt.charAt(i + 1) == '*') {
                int end = stmt.indexOf("*/", i + 2);
                i = end < 0 ? n : end + 2;
            } else if (c == '"') {
                int end = stmt.indexOf('"', i + 1);
                end = end < 0 ? n : end + 1;
                out.add(stmt.substring(i, end));
                i = end;
            } else if (Character.isLetterOrDigit(c) || c == '_' || c == '.') {
                int start = i;
                while (i < n
                        && (Character.isLetterOrDigit(stmt.charAt(i))
                                || stmt.charAt(i) == '_'
                                || stmt.charAt(i) == '.')) {
                    i++;
                }
                out.add(stmt.substring(start, i).toLowerCase(Locale.ROOT));
            } else {
                break; // '=', '(', quotes of values: the words that matter come before
            }
        }
        return out;
    }

    /** Splits at semicolons outside quotes, dollar quotes and comments. */
    static List<String> split(String sql) {
        List<String> out = new ArrayList<>(1);
        int start = 0;
        int n = sql.length();
        int i = 0;
        while (i < n) {
            char c = sql.charAt(i);
            if (c == '\'' || c == '"') {
                int end = sql.indexOf(c, i + 1);
                i = end < 0 ? n : end + 1;
            } else if (c == '$') {
                int tagEnd = sql.indexOf('$', i + 1);
                if (tagEnd > 0
                        && sql.substring(i + 1, tagEnd)
                                .chars()
                                .allMatch(ch -> Character.isLetterOrDigit(ch) || ch == '_')) {
                    String tag = sql.substring(i, tagEnd + 1);
                    int end = sql.indexOf(tag, tagEnd + 1);
                    i = end < 0 ? n : end + tag.length();
                } else {
                    i++;
                }
            } else if (c == '-' && i + 1 < n && sql.charAt(i + 1) == '-') {
                int end = sql.indexOf('\n', i);
                i = end < 0 ? n : end;
            } else if (c == '/' && i + 1 < n && sql.charAt(i + 1) == '*') {
                int end = sql.indexOf("*/", i + 2);
                i = end < 0 ? n : end + 2;
            } else if (c == ';') {
                out.add(sql.substring(start, i));
                start = ++i;
            } else {
                i++;
            }
        }
        if (start < n) {
            out.add(sql.substring(start));
        }
        return out;
    }
}
