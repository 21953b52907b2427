package dev.pggat.pooler.routing;

/**
 * A tokenizer for just enough of PostgreSQL's lexical rules to find keywords reliably: it skips whitespace and
 * comments (block comments nest), and treats string literals ('..', E'..', U&'..', $$..$$, $tag$..$tag$),
 * quoted identifiers and numbers as single tokens, so keywords inside them are never seen. Tokens are positions
 * in the text, never substrings, so scanning allocates nothing.
 *
 * <p>While skipping comments it notes {@code pggat:primary} / {@code pggat:replica} hints.
 */
class SqlScanner {
    static final int END = 0;
    static final int WORD = 1;
    static final int QUOTED_IDENT = 2;
    static final int STRING = 3;
    static final int NUMBER = 4;
    static final int PUNCT = 5;
    static final int PARAM = 6;

    private static final String PRIMARY_HINT = "pggat:primary";
    private static final String REPLICA_HINT = "pggat:replica";

    final String sql;
    private final int len;
    private final boolean standardConformingStrings;

    /** Where the next token starts its search. */
    int pos;
    /** The current token: its type and its text as [start, end) of {@link #sql}; for a quoted identifier, without quotes. */
    int type = -1;

    int start;
    int end;
    char punct;

    boolean primaryHint;
    boolean replicaHint;

    SqlScanner(String sql, boolean standardConformingStrings) {
        this.sql = sql;
        this.len = sql.length();
        this.standardConformingStrings = standardConformingStrings;
    }

    final int next() {
        skipSpaceAndComments();
        if (pos >= len) {
            type = END;
            start = end = len;
            return END;
        }
        start = pos;
        char c = sql.charAt(pos);
        if (identStart(c)) {
            if (pos + 1 < len && sql.charAt(pos + 1) == '\'' && (c == 'e' || c == 'E')) {
                pos++;
                return string(true);
            }
            if (pos + 2 < len && sql.charAt(pos + 1) == '&' && (c == 'u' || c == 'U')) {
                char q = sql.charAt(pos + 2);
                if (q == '\'') {
                    // Unicode escapes use the backslash, but a quote still ends the literal unless doubled.
                    pos += 2;
                    return string(false);
                }
                if (q == '"') {
                    pos += 2;
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
        return sql.regionMatches(true, i, hint, 0, n) && (i + n == len || !identPart(sql.charAt(i + n)));
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
        int search = i + 1;
        int close = -1;
        while (search < len) {
            int d = sql.indexOf('$', search);
            if (d < 0) {
                break;
            }
            if (sql.regionMatches(d, sql, start, tagLength)) {
                close = d;
                break;
            }
            search = d + 1;
        }
        pos = end = close < 0 ? len : close + tagLength;
        return type = STRING;
    }

    final boolean atStatementEnd() {
        return type == END || (type == PUNCT && punct == ';');
    }

    final boolean isPunct(char c) {
        return type == PUNCT && punct == c;
    }

    /** True when the current token is the unquoted keyword {@code lower} (given in lower case), in any case. */
    final boolean kw(String lower) {
        return type == WORD && foldedEquals(start, end, lower);
    }

    /** True when the current token names {@code lower}: an unquoted word in any case, or a quoted one exactly. */
    final boolean nameIs(String lower) {
        if (type == WORD) {
            return foldedEquals(start, end, lower);
        }
        return type == QUOTED_IDENT
                && end - start == lower.length()
                && sql.regionMatches(start, lower, 0, lower.length());
    }

    /** True when the current token is a setting value meaning {@code lower}: a word, number or quoted string. */
    final boolean valueIs(String lower) {
        if (type == WORD || type == NUMBER) {
            return foldedEquals(start, end, lower);
        }
        if (type == STRING && end - start >= 2 && sql.charAt(start) == '\'') {
            return foldedEquals(start + 1, end - 1, lower);
        }
        return false;
    }

    /** ASCII-only case folding, as PostgreSQL folds unquoted identifiers. */
    final boolean foldedEquals(int from, int to, String lower) {
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

    /** Whether the next one to three tokens are these keywords ({@code null} = not checked); does not advance. */
    final boolean nextKeywordsAre(String a, String b, String c) {
        int sp = pos;
        int st = type;
        int ss = start;
        int se = end;
        char sc = punct;
        boolean r = next() == WORD
                && kw(a)
                && (b == null || (next() == WORD && kw(b)))
                && (c == null || (next() == WORD && kw(c)));
        pos = sp;
        type = st;
        start = ss;
        end = se;
        punct = sc;
        return r;
    }

    /** The type of the next token, and whether it is {@code p} when punctuation; does not advance. */
    final int peekType() {
        int sp = pos;
        int st = type;
        int ss = start;
        int se = end;
        char sc = punct;
        int t = next();
        pos = sp;
        type = st;
        start = ss;
        end = se;
        punct = sc;
        return t;
    }

    final boolean nextIsPunct(char p) {
        int sp = pos;
        int st = type;
        int ss = start;
        int se = end;
        char sc = punct;
        boolean r = next() == PUNCT && punct == p;
        pos = sp;
        type = st;
        start = ss;
        end = se;
        punct = sc;
        return r;
    }

    static boolean identStart(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
    }

    static boolean identPart(char c) {
        return identStart(c) || isDigit(c) || c == '$';
    }

    static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }
}
