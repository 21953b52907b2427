package dev.pggat.pooler.config;

import dev.pggat.pooler.util.Printable;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** Collects problems in the documented format so the loader can report all of them at once. */
final class Problems {
    /** Keys whose values are secrets: their values never appear in a message, even when wrong. */
    static final Set<String> SECRET_KEYS = Set.of("password", "serverPassword", "token");

    static final String REDACTED = "<redacted>";
    private static final int MAX_VALUE_CHARS = 80;

    private final String source;
    private final List<String> messages = new ArrayList<>();

    Problems(String source) {
        this.source = source;
    }

    /**
     * Adds {@code <source>: <path>: <what> (value '<value>'; accepted: <accepted>)}; {@code value} and
     * {@code accepted} may be null to leave their part out.
     */
    void add(KeyPath path, String what, String value, String accepted) {
        StringBuilder sb = new StringBuilder(source).append(": ");
        if (!path.isRoot()) {
            sb.append(path).append(": ");
        }
        sb.append(what);
        boolean secret = path.lastKey() != null && SECRET_KEYS.contains(path.lastKey());
        String shown = value == null ? null : secret ? REDACTED : printable(value);
        if (shown != null || accepted != null) {
            sb.append(" (");
            if (shown != null) {
                sb.append("value '").append(shown).append('\'');
            }
            if (accepted != null) {
                sb.append(shown != null ? "; " : "").append("accepted: ").append(accepted);
            }
            sb.append(')');
        }
        messages.add(sb.toString());
    }

    /** For problems that have a position in the text but no key path, such as YAML syntax errors. */
    void addAtLine(int line, int column, String what) {
        messages.add(source + ": line " + line + ", column " + column + ": " + what);
    }

    void addRaw(String what) {
        messages.add(source + ": " + what);
    }

    int count() {
        return messages.size();
    }

    boolean isEmpty() {
        return messages.isEmpty();
    }

    void throwIfAny() throws ConfigException {
        if (!messages.isEmpty()) {
            throw new ConfigException(messages);
        }
    }

    /** Keeps one message on one line and bounded, whatever the value holds. */
    static String printable(String value) {
        return Printable.escape(value, MAX_VALUE_CHARS);
    }

    /**
     * The candidate closest to {@code input} when it is close enough to be a likely typo, else null. Compares
     * case-insensitively and counts a swap of neighbouring letters as one edit.
     */
    static String closest(String input, Collection<String> candidates) {
        String in = input.toLowerCase(Locale.ROOT);
        int limit = in.length() <= 3 ? 1 : in.length() <= 8 ? 2 : 3;
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String candidate : candidates) {
            int d = distance(in, candidate.toLowerCase(Locale.ROOT));
            if (d <= limit && d < bestDistance) {
                best = candidate;
                bestDistance = d;
            }
        }
        return best;
    }

    private static int distance(String a, String b) {
        int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++) {
            d[i][0] = i;
        }
        for (int j = 0; j <= b.length(); j++) {
            d[0][j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
                }
            }
        }
        return d[a.length()][b.length()];
    }
}
