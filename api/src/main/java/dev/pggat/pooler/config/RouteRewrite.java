package dev.pggat.pooler.config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What a route changes on the way to the server. The server user and password are applied when the configuration
 * is loaded (the route's backend then logs in as them, with pools of its own); the database name and the
 * parameters are applied per client at login.
 *
 * @param database the database name on the server: fixed text, or a template whose {@code $1}..{@code $9} are the
 *     captures of the route's {@code database} matcher ({@code $0}: the whole name); null keeps the backend's
 * @param parameters by parameter name, in file order
 */
public record RouteRewrite(String database, Map<String, Parameter> parameters) {
    public static final RouteRewrite NONE = new RouteRewrite(null, Map.of());

    public RouteRewrite {
        parameters = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
    }

    /** How a route treats one startup parameter. */
    public enum Mode {
        /** The route's value, whatever the client sent. */
        FORCE,
        /** The route's value when the client sent none. */
        DEFAULT,
        /** Removed from what the client sent, before anything else looks at it. */
        DROP
    }

    /** @param value null with {@link Mode#DROP} */
    public record Parameter(String value, Mode mode) {
        public Parameter {
            Objects.requireNonNull(mode, "mode");
            if ((value == null) != (mode == Mode.DROP)) {
                throw new IllegalArgumentException("a value with force or default, none with drop");
            }
        }
    }

    /** Whether {@link #database} uses captures. */
    public boolean databaseFromCaptures() {
        return database != null && maxCapture(database) >= 0;
    }

    /** The highest {@code $n} the template names, or -1. */
    public static int maxCapture(String template) {
        int max = -1;
        for (int i = 0; i + 1 < template.length(); i++) {
            if (template.charAt(i) == '$' && Character.isDigit(template.charAt(i + 1))) {
                max = Math.max(max, template.charAt(i + 1) - '0');
                i++;
            }
        }
        return max;
    }

    /** {@link #database} with its {@code $n} replaced by {@code captures} (missing ones by ""); {@code $$} is $. */
    public String database(List<String> captures) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < database.length(); i++) {
            char c = database.charAt(i);
            if (c == '$' && i + 1 < database.length()) {
                char n = database.charAt(i + 1);
                if (Character.isDigit(n)) {
                    int g = n - '0';
                    sb.append(captures != null && g < captures.size() ? captures.get(g) : "");
                    i++;
                    continue;
                }
                if (n == '$') {
                    sb.append('$');
                    i++;
                    continue;
                }
            }
            sb.append(c);
        }
        return sb.toString();
    }

    /**
     * The client's startup parameters after this route: dropped ones removed. Forced and default values apply to
     * the session parameters (see {@link #applyTo}).
     */
    public Map<String, String> dropFrom(Map<String, String> startup) {
        if (parameters.isEmpty()) {
            return startup;
        }
        Map<String, String> out = new LinkedHashMap<>(startup);
        parameters.forEach((name, p) -> {
            if (p.mode() == Mode.DROP) {
                out.remove(name);
            }
        });
        return out;
    }

    /** Forced values replace the client's, default values fill in what the client did not set. */
    public Map<String, String> applyTo(Map<String, String> session) {
        if (parameters.isEmpty()) {
            return session;
        }
        Map<String, String> out = new LinkedHashMap<>(session);
        parameters.forEach((name, p) -> {
            switch (p.mode()) {
                case FORCE -> out.put(name, p.value());
                case DEFAULT -> out.putIfAbsent(name, p.value());
                case DROP -> out.remove(name);
            }
        });
        return out;
    }
}
