package dev.pggat.pooler.sql;

/**
 * The pooler's one SQL lexer: just enough of PostgreSQL's lexical rules to find keywords, names and literals
 * reliably. It skips whitespace and comments (block comments nest), and treats string literals ('..', E'..',
 * U&amp;'..', $$..$$, $tag$..$tag$), quoted identifiers and numbers as single tokens, so keywords inside them are
 * never seen. Tokens are positions in the text, never substrings, so scanning allocates nothing; {@link
 * #identifier()} and {@link #stringValue()} make a String only when a caller asks.
 *
 * <p>The text is any {@link CharSequence}: a String, or {@link Utf8Text} over the bytes of a message, which is
 * lexed without decoding (every byte of a multi-byte UTF-8 character is above 0x7F, which PostgreSQL's lexer too
 * takes for an identifier character).
 *
 * <p>While skipping comments it notes {@code pggat:primary} / {@code pggat:replica} hints. A subclass may keep its
 * own state next to the lexer's (the classifier does, to make one object per classification).
 */
public class SqlLexer {
    public static final int END = 0;
    public static final int WORD = 1;
    public static final int QUOTED_IDENT = 2;
    public static final int STRING = 3;
    public static final int NUMBER = 4;
    public static final int PUNCT = 5;
    public static final int PARAM = 6;

    /** Kinds of {@link #STRING} and {@link #QUOTED_IDENT} tokens: how their text is to be read. */
    public static final int PLAIN = 0;
    /** E'..', or '..' with standard_conforming_strings off: backslash escapes. */
    public static final int ESCAPED = 1;
    /** U&amp;'..' or U&amp;"..": Unicode escapes (and possibly a UESCAPE clause after it). */
    public static final int UNICODE = 2;
    /** $$..$$ or $tag$..$tag$: the text between the tags, as written. */
    public static final int DOLLAR = 3;

    private static final String PRIMARY_HINT = "pggat:primary";
    private static final String REPLICA_HINT = "pggat:replica";

    private CharSequence sql;
    private int len;
    private boolean standardConformingStrings;
    /** Non-null: the tokens were lexed once already, and {@link #next()} replays them (see {@link SqlTokens}). */
    private final SqlTokens recorded;

    /** Where the next token starts its search. */
    private int pos;

    private int type = -1;
    private int start;
    private int end;
    private char punct;
    private int kind;
    private boolean unterminated;

    private boolean primaryHint;
    private boolean replicaHint;

    public SqlLexer(CharSequence sql) {
        this(sql, true);
    }

    /**
     * @param standardConformingStrings the session's standard_conforming_strings (the server reports it); when
     *     off, a backslash escapes a quote in '...' literals
     */
    public SqlLexer(CharSequence sql, boolean standardConformingStrings) {
        this.sql = sql;
        this.len = sql.length();
        this.standardConformingStrings = standardConformingStrings;
        this.recorded = null;
    }

    /** A lexer that replays the tokens {@code tokens} recorded, with the same answers as lexing their text again. */
    protected SqlLexer(SqlTokens tokens) {
        this.recorded = tokens;
        this.sql = tokens.text();
        this.len = sql.length();
        this.standardConformingStrings = tokens.standardConformingStrings();
    }

    /** Back to the start of a (new) text: for the lexers {@link SqlTokens} keeps. */
    final void reset(CharSequence text, boolean conforming) {
        this.sql = text;
        this.len = text.length();
        this.standardConformingStrings = conforming;
        pos = 0;
        type = -1;
        start = end = 0;
        punct = 0;
        kind = PLAIN;
        unterminated = false;
        primaryHint = false;
        replicaHint = false;
    }

    /** The text being lexed. */
    public final CharSequence sql() {
        return sql;
    }

    /** The current token's type ({@link #END}, {@link #WORD}, ...). */
    public final int type() {
        return type;
    }

    /**
     * Where the current token's text starts: for a string its opening quote (or tag), for a quoted identifier the
     * character after its quote.
     */
    public final int start() {
        return start;
    }

    /** Where the current token's text ends (exclusive): after a string's closing quote, before an identifier's. */
    public final int end() {
        return end;
    }

    /** The character of a {@link #PUNCT} token. */
    public final char punct() {
        return punct;
    }

    /** How to read a {@link #STRING} or {@link #QUOTED_IDENT}: {@link #PLAIN}, {@link #ESCAPED}, {@link #UNICODE}... */
    public final int kind() {
        return kind;
    }

    /** Whether a comment, literal or quoted identifier so far ran to the end of the text without being closed. */
    public final boolean unterminated() {
        return unterminated;
    }

    public final boolean primaryHint() {
        return recorded != null ? recorded.primaryHint() : primaryHint;
    }

    public final boolean replicaHint() {
        return recorded != null ? recorded.replicaHint() : replicaHint;
    }

    /** Moves to the next token and returns its type. */
    public final int next() {
        if (recorded != null) {
            // pos counts tokens here: save() and restore() work unchanged.
            int t = recorded.load(this, pos);
            if (t != END) {
                pos++;
            }
            return t;
        }
        skipSpaceAndComments();
        if (pos >= len) {
            type = END;
            start = end = len;
            return END;
        }
        start = pos;
        kind = PLAIN;
        char c = sql.charAt(pos);
        if (identStart(c)) {
            if (pos + 1 < len && sql.charAt(pos + 1) == '\'' && (c == 'e' || c == 'E')) {
                pos++;
                kind = ESCAPED;
                return string(true);
            }
            if (pos + 2 < len && sql.charAt(pos + 1) == '&' && (c == 'u' || c == 'U')) {
                char q = sql.charAt(pos + 2);
                if (q == '\'') {
                    // Unicode escapes use the backslash, but a quote still ends the literal unless doubled.
                    pos += 2;
                    kind = UNICODE;
                    return string(false);
                }
                if (q == '"') {
                    pos += 2;
                    kind = UNICODE;
                    return quotedIdent();
                }
            }
            pos++;
            while (pos < len && identPart(sql.charAt(pos))) {
                pos++;
            }
            end = pos;
            return type = WORD;
        }
        if (c == '"') {
            return quotedIdent();
        }
        if (c == '\'') {
            kind = standardConformingStrings ? PLAIN : ESCAPED;
            return string(!standardConformingStrings);
        }
        if (c == '$') {
            return dollar();
        }
        if (isDigit(c) || (c == '.' && pos + 1 < len && isDigit(sql.charAt(pos + 1)))) {
            pos++;
            while (pos < len && (identPart(sql.charAt(pos)) || sql.charAt(pos) == '.')) {
                pos++;
            }
            end = pos;
            return type = NUMBER;
        }
        punct = c;
        pos++;
        end = pos;
        return type = PUNCT;
    }

    private void skipSpaceAndComments() {
        while (pos < len) {
            char c = sql.charAt(pos);
            if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\u000b') {
                pos++;
            } else if (c == '-' && pos + 1 < len && sql.charAt(pos + 1) == '-') {
                noteHint(pos + 2);
                int nl = pos + 2;
                while (nl < len && sql.charAt(nl) != '\n' && sql.charAt(nl) != '\r') {
                    nl++;
                }
                pos = nl;
            } else if (c == '/' && pos + 1 < len && sql.charAt(pos + 1) == '*') {
                noteHint(pos + 2);
                int depth = 1;
                int i = pos + 2;
                while (i < len && depth > 0) {
                    char d = sql.charAt(i);
                    if (d == '*' && i + 1 < len && sql.charAt(i + 1) == '/') {
                        depth--;
                        i += 2;
                    } else if (d == '/' && i + 1 < len && sql.charAt(i + 1) == '*') {
                        depth++;
                        i += 2;
                    } else {
                        i++;
                    }
                }
                if (depth > 0) {
                    unterminated = true;
                }
                pos = i;
            } else {
                return;
            }
        }
    }

    /** A hint is the first word of a comment: {@code /* pggat:primary * /} or {@code -- pggat:replica}. */
    private void noteHint(int from) {
        int i = from;
        while (i < len && (sql.charAt(i) == ' ' || sql.charAt(i) == '\t')) {
            i++;
        }
        if (hintAt(i, PRIMARY_HINT)) {
            primaryHint = true;
        } else if (hintAt(i, REPLICA_HINT)) {
            replicaHint = true;
        }
    }

    private boolean hintAt(int i, String hint) {
        int n = hint.length();
        if (i + n > len) {
            return false;
        }
        for (int j = 0; j < n; j++) {
            char c = sql.charAt(i + j);
            if (c >= 'A' && c <= 'Z') {
                c += 'a' - 'A';
            }
            if (c != hint.charAt(j)) {
                return false;
            }
        }
        return i + n == len || !identPart(sql.charAt(i + n));
    }

    private int quotedIdent() {
        int i = pos + 1;
        while (i < len) {
            if (sql.charAt(i) == '"') {
                if (i + 1 < len && sql.charAt(i + 1) == '"') {
                    i += 2;
                    continue;
                }
                break;
            }
            i++;
        }
        if (i >= len) {
            unterminated = true;
        }
        start = pos + 1;
        end = Math.min(i, len);
        pos = Math.min(i + 1, len);
        return type = QUOTED_IDENT;
    }

    /** A quoted literal starting at {@link #pos} (the quote); token text includes the quotes. */
    private int string(boolean backslashEscapes) {
        int i = pos + 1;
        while (i < len) {
            char c = sql.charAt(i);
            if (c == '\\' && backslashEscapes) {
                i += 2;
            } else if (c == '\'') {
                if (i + 1 < len && sql.charAt(i + 1) == '\'') {
                    i += 2;
                } else {
                    break;
                }
            } else {
                i++;
            }
        }
        if (i >= len) {
            unterminated = true;
        }
        pos = Math.min(i + 1, len);
        end = pos;
        return type = STRING;
    }

    private int dollar() {
        int i = pos + 1;
        if (i < len && isDigit(sql.charAt(i))) {
            while (i < len && isDigit(sql.charAt(i))) {
                i++;
            }
            pos = end = i;
            return type = PARAM;
        }
        if (i < len && identStart(sql.charAt(i))) {
            i++;
            while (i < len && identPart(sql.charAt(i)) && sql.charAt(i) != '$') {
                i++;
            }
        }
        if (i >= len || sql.charAt(i) != '$') {
            punct = '$';
            pos = end = start + 1;
            return type = PUNCT;
        }
        int tagLength = i + 1 - start;
        int close = -1;
        for (int d = i + 1; d + tagLength <= len; d++) {
            if (sql.charAt(d) == '$' && regionEquals(d, start, tagLength)) {
                close = d;
                break;
            }
        }
        if (close < 0) {
            unterminated = true;
        }
        kind = DOLLAR;
        pos = end = close < 0 ? len : close + tagLength;
        return type = STRING;
    }

    private boolean regionEquals(int a, int b, int n) {
        for (int k = 0; k < n; k++) {
            if (sql.charAt(a + k) != sql.charAt(b + k)) {
                return false;
            }
        }
        return true;
    }

    /** At a ';' or the end of the text. */
    public final boolean atStatementEnd() {
        return type == END || (type == PUNCT && punct == ';');
    }

    /** Moves to the end of the current statement: its ';' or the end of the text. */
    public final void skipStatement() {
        while (!atStatementEnd()) {
            next();
        }
    }

    public final boolean isPunct(char c) {
        return type == PUNCT && punct == c;
    }

    /** True when the current token is the unquoted keyword {@code lower} (given in lower case), in any case. */
    public final boolean kw(String lower) {
        return type == WORD && foldedEquals(start, end, lower);
    }

    /** True when the current token names {@code lower}: an unquoted word in any case, or a quoted one exactly. */
    public final boolean nameIs(String lower) {
        if (type == WORD) {
            return foldedEquals(start, end, lower);
        }
        return type == QUOTED_IDENT && kind == PLAIN && end - start == lower.length() && regionIs(start, lower);
    }

    /** True when the current token is a setting value meaning {@code lower}: a word, number or quoted string. */
    public final boolean valueIs(String lower) {
        if (type == WORD || type == NUMBER) {
            return foldedEquals(start, end, lower);
        }
        if (type == STRING && end - start >= 2 && sql.charAt(start) == '\'') {
            return foldedEquals(start + 1, end - 1, lower);
        }
        return false;
    }

    private boolean regionIs(int from, String s) {
        for (int i = 0; i < s.length(); i++) {
            if (sql.charAt(from + i) != s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** ASCII-only case folding, as PostgreSQL folds unquoted identifiers. */
    public final boolean foldedEquals(int from, int to, String lower) {
        int n = lower.length();
        if (to - from != n) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            char c = sql.charAt(from + i);
            if (c >= 'A' && c <= 'Z') {
                c += 'a' - 'A';
            }
            if (c != lower.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The name the current token stands for, as PostgreSQL reads it: a word folded to lower case (ASCII letters
     * only), a quoted identifier without its quotes and with doubled quotes undone. Null for other tokens and for
     * U&amp;"..." (whose escapes are not decoded).
     */
    public final String identifier() {
        if (type == WORD) {
            String s = text(start, end);
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c >= 'A' && c <= 'Z') {
                    return fold(s);
                }
            }
            return s;
        }
        if (type == QUOTED_IDENT && kind == PLAIN) {
            return undouble(text(start, end), '"');
        }
        return null;
    }

    /**
     * The value of the current {@link #STRING} token when it is a plain '..' literal without backslash escapes,
     * or a dollar-quoted one; null otherwise (E'..' with escapes, U&amp;'..', an unterminated literal), which
     * callers treat as "not a constant they can read".
     */
    public final String stringValue() {
        if (type != STRING || end - start < 2) {
            return null;
        }
        if (kind == DOLLAR) {
            int tag = 1;
            while (sql.charAt(start + tag) != '$') {
                tag++;
            }
            int tagLength = tag + 1;
            if (end - start < 2 * tagLength || !regionEquals(end - tagLength, start, tagLength)) {
                return null;
            }
            return text(start + tagLength, end - tagLength);
        }
        int open = kind == ESCAPED && sql.charAt(start) != '\'' ? start + 1 : start;
        if (kind == UNICODE || sql.charAt(open) != '\'' || sql.charAt(end - 1) != '\'' || end - open < 2) {
            return null;
        }
        String inner = text(open + 1, end - 1);
        if (kind == ESCAPED && inner.indexOf('\\') >= 0) {
            return null;
        }
        return undouble(inner, '\'');
    }

    /** Sets the current token, replayed by {@link SqlTokens}; returns its type. */
    final int token(int t, int from, int to, char p, int k, boolean unclosed) {
        type = t;
        start = from;
        end = to;
        punct = p;
        kind = k;
        unterminated |= unclosed;
        return t;
    }

    /** The text between two positions: decoded from UTF-8 when the lexer reads bytes. */
    public final String text(int from, int to) {
        if (sql instanceof Utf8Text u) {
            return u.decode(from, to);
        }
        return sql.subSequence(from, to).toString();
    }

    private static String undouble(String s, char quote) {
        int i = s.indexOf(quote);
        if (i < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length());
        int from = 0;
        while (i >= 0) {
            b.append(s, from, i + 1);
            from = i + 2; // skip the second quote of the pair
            i = from < s.length() ? s.indexOf(quote, from) : -1;
        }
        if (from < s.length()) {
            b.append(s, from, s.length());
        }
        return b.toString();
    }

    private static String fold(String s) {
        char[] cs = s.toCharArray();
        for (int i = 0; i < cs.length; i++) {
            if (cs[i] >= 'A' && cs[i] <= 'Z') {
                cs[i] += 'a' - 'A';
            }
        }
        return new String(cs);
    }

    /** Saved position and token, to look ahead and come back. */
    private int savedPos;

    private int savedType;
    private int savedStart;
    private int savedEnd;
    private char savedPunct;
    private int savedKind;

    private void save() {
        savedPos = pos;
        savedType = type;
        savedStart = start;
        savedEnd = end;
        savedPunct = punct;
        savedKind = kind;
    }

    private void restore() {
        pos = savedPos;
        type = savedType;
        start = savedStart;
        end = savedEnd;
        punct = savedPunct;
        kind = savedKind;
    }

    /** Whether the next one to three tokens are these keywords ({@code null} = not checked); does not advance. */
    public final boolean nextKeywordsAre(String a, String b, String c) {
        save();
        boolean r = next() == WORD
                && kw(a)
                && (b == null || (next() == WORD && kw(b)))
                && (c == null || (next() == WORD && kw(c)));
        restore();
        return r;
    }

    /** The type of the next token; does not advance. */
    public final int peekType() {
        save();
        int t = next();
        restore();
        return t;
    }

    /** Whether the next token is the punctuation {@code p}; does not advance. */
    public final boolean nextIsPunct(char p) {
        save();
        boolean r = next() == PUNCT && punct == p;
        restore();
        return r;
    }

    public static boolean identStart(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
    }

    public static boolean identPart(char c) {
        return identStart(c) || isDigit(c) || c == '$';
    }

    public static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }
}
