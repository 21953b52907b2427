package dev.pggat.pooler.config;

/**
 * Where a value sits in the file, rendered like {@code databases.app.endpoints[0].port}. Keys that would make the
 * rendering ambiguous (dots, brackets, spaces, empty) are double-quoted.
 *
 * @param lastKey the last mapping key, or {@code null} after a list index; decides redaction
 */
record KeyPath(String rendered, String lastKey) {
    static final KeyPath ROOT = new KeyPath("", null);

    KeyPath key(String key) {
        String segment = needsQuotes(key) ? '"' + key.replace("\\", "\\\\").replace("\"", "\\\"") + '"' : key;
        return new KeyPath(rendered.isEmpty() ? segment : rendered + "." + segment, key);
    }

    KeyPath index(int i) {
        return new KeyPath(rendered + "[" + i + "]", null);
    }

    boolean isRoot() {
        return rendered.isEmpty();
    }

    private static boolean needsQuotes(String key) {
        if (key.isEmpty()) {
            return true;
        }
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (c == '.'
                    || c == '['
                    || c == ']'
                    || c == '"'
                    || c == '\\'
                    || c == ':'
                    || Character.isWhitespace(c)
                    || Character.isISOControl(c)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public String toString() {
        return rendered;
    }
}
