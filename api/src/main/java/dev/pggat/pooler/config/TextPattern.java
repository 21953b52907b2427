package dev.pggat.pooler.config;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How a route matches a name or a startup parameter's value: a glob (text in which {@code *} stands for any run of
 * characters; without {@code *} it is an exact match), or a Java regular expression that must match the whole value.
 * Each {@code *} of a glob and each group of a regular expression is a capture a rewrite may use as {@code $1},
 * {@code $2}, ...
 *
 * <p>Matching runs on the event loop with a value the client chose, so a regular expression gets a bounded number
 * of steps: one that backtracks beyond {@link #MAX_STEPS} character reads counts as not matching (and is reported
 * by {@link StepLimitExceeded}) instead of holding the loop.
 */
public final class TextPattern {
    /** Longest pattern accepted in the configuration. */
    public static final int MAX_PATTERN_CHARS = 1000;

    /** Character reads one match may make; far beyond any sane pattern on a bounded startup parameter. */
    public static final long MAX_STEPS = 1_000_000;

    private final boolean regex;
    private final String text;
    private final Pattern pattern;

    private TextPattern(boolean regex, String text, Pattern pattern) {
        this.regex = regex;
        this.text = text;
        this.pattern = pattern;
    }

    /** A glob: {@code *} matches any characters; every other character matches itself. */
    public static TextPattern glob(String glob) {
        StringBuilder re = new StringBuilder();
        int start = 0;
        for (int i = 0; i <= glob.length(); i++) {
            if (i == glob.length() || glob.charAt(i) == '*') {
                if (i > start) {
                    re.append(Pattern.quote(glob.substring(start, i)));
                }
                if (i < glob.length()) {
                    re.append("(.*)");
                }
                start = i + 1;
            }
        }
        return new TextPattern(false, glob, Pattern.compile(re.toString(), Pattern.DOTALL));
    }

    /**
     * A regular expression matched against the whole value.
     *
     * @throws java.util.regex.PatternSyntaxException when it does not compile
     * @throws IllegalArgumentException when it is longer than {@link #MAX_PATTERN_CHARS}
     */
    public static TextPattern regex(String regex) {
        if (regex.length() > MAX_PATTERN_CHARS) {
            throw new IllegalArgumentException(
                    "is longer than " + MAX_PATTERN_CHARS + " characters (" + regex.length() + ")");
        }
        return new TextPattern(true, regex, Pattern.compile(regex));
    }

    public boolean isRegex() {
        return regex;
    }

    /** The glob or regular expression as written. */
    public String text() {
        return text;
    }

    /** How many captures a match yields. */
    public int groupCount() {
        return pattern.matcher("").groupCount();
    }

    /**
     * The captures ({@code [0]} the whole value, then each group; a group that took no part is "") when
     * {@code value} matches, else null.
     *
     * @throws StepLimitExceeded when the regular expression needs more than {@link #MAX_STEPS} steps
     */
    public List<String> match(String value) {
        if (value == null) {
            return null;
        }
        Matcher m = pattern.matcher(regex ? new Bounded(value, new long[] {MAX_STEPS}) : value);
        if (!m.matches()) {
            return null;
        }
        List<String> groups = new ArrayList<>(m.groupCount() + 1);
        for (int i = 0; i <= m.groupCount(); i++) {
            String g = m.group(i);
            groups.add(g == null ? "" : g.toString());
        }
        return groups;
    }

    /** A regular expression gave up after {@link #MAX_STEPS} steps on one value. */
    public static final class StepLimitExceeded extends RuntimeException {
        StepLimitExceeded() {
            super("the regular expression needed more than " + MAX_STEPS + " steps", null, false, false);
        }
    }

    /** A value that counts the regex engine's reads and stops it when the budget is spent. */
    private record Bounded(String value, long[] budget) implements CharSequence {
        @Override
        public int length() {
            return value.length();
        }

        @Override
        public char charAt(int index) {
            if (--budget[0] < 0) {
                throw new StepLimitExceeded();
            }
            return value.charAt(index);
        }

        @Override
        public CharSequence subSequence(int start, int end) {
            return new Bounded(value.substring(start, end), budget);
        }

        @Override
        public String toString() {
            return value;
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TextPattern p && p.regex == regex && p.text.equals(text);
    }

    @Override
    public int hashCode() {
        return Objects.hash(regex, text);
    }

    @Override
    public String toString() {
        return regex ? "{regex: " + text + "}" : text;
    }
}
