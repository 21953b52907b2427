package dev.pggat.pooler.frontend;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Session parameters a client asked for in its StartupMessage: every parameter except the ones that select the
 * session ({@code user}, {@code database}, {@code replication}) or negotiate the protocol ({@code _pq_.*}), plus
 * the {@code -c name=value} / {@code --name=value} switches inside {@code options}, like PostgreSQL reads them.
 */
final class StartupOptions {
    private StartupOptions() {}

    static Map<String, String> sessionParameters(Map<String, String> startup) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : startup.entrySet()) {
            String k = e.getKey();
            switch (k) {
                case "user", "database", "replication" -> {}
                case "options" -> parseOptions(e.getValue(), out);
                default -> {
                    if (!k.startsWith("_pq_.")) {
                        out.put(k, e.getValue());
                    }
                }
            }
        }
        return out;
    }

    /** Splits at unescaped white space ({@code \} escapes the next character), then reads the switches. */
    static void parseOptions(String options, Map<String, String> out) {
        java.util.List<String> words = new java.util.ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean escape = false;
        for (int i = 0; i < options.length(); i++) {
            char c = options.charAt(i);
            if (escape) {
                cur.append(c);
                escape = false;
            } else if (c == '\\') {
                escape = true;
            } else if (Character.isWhitespace(c)) {
                if (cur.length() > 0) {
                    words.add(cur.toString());
                    cur.setLength(0);
                }
            } else {
                cur.append(c);
            }
        }
        if (cur.length() > 0) {
            words.add(cur.toString());
        }
        for (int i = 0; i < words.size(); i++) {
            String w = words.get(i);
            String setting = null;
            if (w.equals("-c") && i + 1 < words.size()) {
                setting = words.get(++i);
            } else if (w.startsWith("-c")) {
                setting = w.substring(2);
            } else if (w.startsWith("--")) {
                setting = w.substring(2);
            }
            if (setting != null) {
                int eq = setting.indexOf('=');
                if (eq > 0) {
                    // PostgreSQL treats '-' and '_' alike in option names given this way.
                    out.put(setting.substring(0, eq).replace('-', '_'), setting.substring(eq + 1));
                }
            }
        }
    }

    /** Reported parameters that describe the server or the role rather than a setting a client can carry over. */
    private static final java.util.Set<String> NOT_SETTABLE = java.util.Set.of(
            "server_version",
            "server_encoding",
            "integer_datetimes",
            "is_superuser",
            "session_authorization",
            "in_hot_standby",
            "default_transaction_read_only");

    static boolean followsClient(String name) {
        return !NOT_SETTABLE.contains(name);
    }

    /** A GUC name safe to put in a query as a literal: letters, digits, '_' and '.'. */
    static boolean validName(String name) {
        if (name.isEmpty() || name.length() > 63) {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (!(Character.isLetterOrDigit(c) || c == '_' || c == '.')) {
                return false;
            }
        }
        return true;
    }

    /** A string literal with standard quoting, independent of standard_conforming_strings thanks to E''. */
    static String literal(String value) {
        StringBuilder sb = new StringBuilder(value.length() + 4).append("E'");
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '\'' || c == '\\') {
                sb.append(c);
            }
            sb.append(c);
        }
        return sb.append('\'').toString();
    }
}
