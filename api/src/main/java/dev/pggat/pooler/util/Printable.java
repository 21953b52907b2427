package dev.pggat.pooler.util;

import java.util.Locale;

/**
 * Text from outside (a client's user or database name, a configuration value) made safe to put in one log line or
 * one message: control characters and line separators are escaped, so a value cannot start a forged line.
 */
public final class Printable {
    /** Enough for any name PostgreSQL accepts and a server's message; bounds what a client can make us log. */
    public static final int LOG_MAX_CHARS = 1024;

    private Printable() {}

    /** For a log argument: escaped and bounded; null stays "null" as the logger would print it. */
    public static String log(Object value) {
        return value == null ? "null" : escape(value.toString(), LOG_MAX_CHARS);
    }

    /** {@code value} on one line, cut after {@code maxChars} characters (then ending with "..."). */
    public static String escape(String value, int maxChars) {
        StringBuilder sb = null;
        int n = Math.min(value.length(), maxChars);
        for (int i = 0; i < n; i++) {
            char c = value.charAt(i);
            String replacement =
                    switch (c) {
                        case '\n' -> "\\n";
                        case '\r' -> "\\r";
                        case '\t' -> "\\t";
                        default ->
                            Character.isISOControl(c) || c == '\u2028' || c == '\u2029'
                                    ? String.format(Locale.ROOT, "\\u%04x", (int) c)
                                    : null;
                    };
            if (replacement != null && sb == null) {
                sb = new StringBuilder(n + 16).append(value, 0, i);
            }
            if (sb != null) {
                if (replacement != null) {
                    sb.append(replacement);
                } else {
                    sb.append(c);
                }
            }
        }
        String out = sb != null ? sb.toString() : value.substring(0, n);
        return value.length() > maxChars ? out + "..." : out;
    }
}
