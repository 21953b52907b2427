package dev.pggat.pooler.config;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;

/**
 * Reads YAML into a small tree that keeps every scalar's original text. Jackson's tree model would turn
 * {@code password: 0123} into the number 83 and drop duplicate keys silently; the streaming parser gives the text
 * as written and lets duplicates be reported.
 */
final class YamlTree {
    private static final YAMLFactory FACTORY = YAMLFactory.builder().build();

    sealed interface Node permits MapNode, ListNode, Scalar {}

    /** A mapping in file order. */
    record MapNode(Map<String, Node> entries) implements Node {
        static final MapNode EMPTY = new MapNode(Map.of());

        Node get(String key) {
            return entries.get(key);
        }
    }

    record ListNode(List<Node> items) implements Node {}

    /**
     * A scalar as written. {@code isNull} for {@code ~}/{@code null}; {@code broken} for something already reported
     * (an alias), which callers skip without adding problems.
     */
    record Scalar(String text, boolean isNull, boolean broken) implements Node {
        boolean isEmpty() {
            return isNull || text.isEmpty();
        }
    }

    private YamlTree() {}

    /** The document's root node, or null when nothing usable was read (the reason is in {@code problems}). */
    static Node read(String yaml, Problems problems) {
        try (JsonParser parser = FACTORY.createParser(yaml)) {
            JsonToken first = parser.nextToken();
            if (first == null) {
                problems.add(
                        KeyPath.ROOT,
                        "the configuration is empty",
                        null,
                        "a YAML mapping with at least the key 'databases'");
                return null;
            }
            Node root = readNode((YAMLParser) parser, KeyPath.ROOT, problems);
            if (parser.nextToken() != null) {
                JsonLocation at = parser.currentTokenLocation();
                problems.addAtLine(
                        at.getLineNr(),
                        at.getColumnNr(),
                        "a second YAML document starts here (accepted: a single document; remove the '---' separator)");
                return null;
            }
            return root;
        } catch (JsonProcessingException e) {
            syntaxProblem(e, problems);
            return null;
        } catch (IOException e) {
            // Reading from a String only fails through the parser, but the API declares IOException.
            problems.addRaw("cannot read the YAML: " + e.getClass().getSimpleName());
            return null;
        }
    }

    private static Node readNode(YAMLParser p, KeyPath path, Problems problems) throws IOException {
        JsonToken token = p.currentToken();
        switch (token) {
            case START_OBJECT -> {
                Map<String, Node> entries = new LinkedHashMap<>();
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String key = p.currentName();
                    KeyPath child = path.key(key);
                    p.nextToken();
                    Node value = readNode(p, child, problems);
                    if (entries.containsKey(key)) {
                        problems.add(child, "duplicate key", null, "each key at most once in a mapping");
                    } else {
                        entries.put(key, value);
                    }
                }
                return new MapNode(Collections.unmodifiableMap(entries));
            }
            case START_ARRAY -> {
                List<Node> items = new ArrayList<>();
                int i = 0;
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    items.add(readNode(p, path.index(i++), problems));
                }
                return new ListNode(List.copyOf(items));
            }
            case VALUE_NULL -> {
                return new Scalar("", true, false);
            }
            default -> {
                if (p.isCurrentAlias()) {
                    problems.add(path, "YAML aliases (*name) are not supported", null, "the value written out in full");
                    return new Scalar("", false, true);
                }
                return new Scalar(p.getText(), false, false);
            }
        }
    }

    /**
     * SnakeYAML's own message quotes the offending line, which may hold a password, so only its problem
     * description and position are used.
     */
    private static void syntaxProblem(JsonProcessingException e, Problems problems) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof MarkedYAMLException marked && marked.getProblemMark() != null) {
                Mark mark = marked.getProblemMark();
                StringBuilder what = new StringBuilder("invalid YAML: ").append(marked.getProblem());
                if (marked.getContext() != null && marked.getContextMark() != null) {
                    what.append(" (")
                            .append(marked.getContext())
                            .append(" started at line ")
                            .append(marked.getContextMark().getLine() + 1)
                            .append(')');
                }
                problems.addAtLine(mark.getLine() + 1, mark.getColumn() + 1, what.toString());
                return;
            }
        }
        JsonLocation at = e.getLocation();
        String reason = e.getOriginalMessage() == null
                ? ""
                : e.getOriginalMessage().lines().findFirst().orElse("");
        // Jackson appends parser internals or quotes the offending token; keep only the plain description.
        int internals = reason.indexOf(", got this instead");
        if (internals >= 0) {
            reason = reason.substring(0, internals);
        }
        int quote = reason.indexOf('\'');
        if (quote >= 0) {
            reason = reason.substring(0, quote).trim();
        }
        if (at != null) {
            problems.addAtLine(at.getLineNr(), at.getColumnNr(), "invalid YAML: " + reason);
        } else {
            problems.addRaw("invalid YAML: " + reason);
        }
    }
}
