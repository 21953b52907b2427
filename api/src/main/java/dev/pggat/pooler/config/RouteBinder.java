package dev.pggat.pooler.config;

import dev.pggat.pooler.auth.Cidr;
import dev.pggat.pooler.config.ConfigBinder.Field;
import dev.pggat.pooler.config.YamlTree.ListNode;
import dev.pggat.pooler.config.YamlTree.MapNode;
import dev.pggat.pooler.config.YamlTree.Node;
import dev.pggat.pooler.config.YamlTree.Scalar;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The {@code routes} section: an ordered list of matchers, each with a backend or an error, and rewrites. Kept
 * apart from {@link ConfigBinder}, whose value readers it uses, so that each section's rules stay in one place.
 */
final class RouteBinder {
    static final List<String> ROUTE_KEYS = List.of("name", "match", "backend", "error", "rewrite");
    static final List<String> MATCH_KEYS =
            List.of("database", "user", "tls", "localAddress", "clientAddress", "parameter", "all", "any", "not");
    static final List<String> PATTERN_KEYS = List.of("regex");
    static final List<String> ERROR_KEYS = List.of("sqlstate", "message");
    static final List<String> REWRITE_KEYS = List.of("database", "user", "password", "parameters");
    static final List<String> PARAMETER_KEYS = List.of("value", "override", "drop");

    /** Deep enough for any readable combination; bounds the recursion on a hostile file. */
    static final int MAX_DEPTH = 16;

    /** Longest error message a route may send; PostgreSQL's own messages are far shorter. */
    static final int MAX_MESSAGE_CHARS = 1000;

    private static final Pattern SQLSTATE = Pattern.compile("[0-9A-Z]{5}");
    private static final String PATTERN_ACCEPTED = "a name, a glob with * (like tenant_*), or {regex: <Java regular"
            + " expression matching the whole value>} of at most " + TextPattern.MAX_PATTERN_CHARS + " characters";
    private static final String SQLSTATE_ACCEPTED =
            "five digits or upper-case letters, of an error class (not 00," + " 01 or 02), like 28000 or 08004";
    private static final String CIDR_ACCEPTED = "IP addresses or CIDR ranges like 10.0.0.0/8";
    private static final String PARAMETER_NAME_ACCEPTED = "a setting name: letters, digits, _ and ., at most 63";

    private final ConfigBinder b;
    private final Problems problems;

    RouteBinder(ConfigBinder binder) {
        this.b = binder;
        this.problems = binder.problems;
    }

    /**
     * The routes; inline backends (and backends made for a user or password rewrite) are added to
     * {@code databases} under the route's name.
     */
    List<RouteConfig> routes(
            Node node,
            KeyPath path,
            Map<String, DatabaseConfig> databases,
            ConfigBinder.Pools pools,
            RoutingConfig routing) {
        List<RouteConfig> out = new ArrayList<>();
        if (node == null || (node instanceof Scalar s && s.isEmpty())) {
            return out;
        }
        if (!(node instanceof ListNode list)) {
            b.wrongShape(path, node, "must be a list", "a list of routes, tried in order; the first match wins");
            return out;
        }
        Set<String> configured = new HashSet<>(databases.keySet());
        Set<String> names = new HashSet<>();
        for (int i = 0; i < list.items().size(); i++) {
            RouteConfig r = route(list.items().get(i), path.index(i), databases, configured, names, pools, routing);
            if (r != null) {
                out.add(r);
            }
        }
        return out;
    }

    private RouteConfig route(
            Node node,
            KeyPath p,
            Map<String, DatabaseConfig> databases,
            Set<String> configured,
            Set<String> names,
            ConfigBinder.Pools pools,
            RoutingConfig routing) {
        MapNode m = b.mapping(node, p, ROUTE_KEYS, "a mapping with the keys " + String.join(", ", ROUTE_KEYS));
        if (m == null) {
            return null;
        }
        Field<String> name = b.text(m, p, "name", "a route name");
        if (name.absent()) {
            problems.add(p.key("name"), "is required", null, "a name for logs and metrics, unique among routes");
        }
        if (name.value != null) {
            b.name(p.key("name"), name.value, "");
            if (!names.add(name.value)) {
                problems.add(p.key("name"), "is used by an earlier route", name.value, "a name unique among routes");
            }
        }
        RouteMatcher match = m.get("match") == null ? RouteMatcher.ALWAYS : matcher(m.get("match"), p.key("match"), 0);
        Node backendNode = m.get("backend");
        Node errorNode = m.get("error");
        if ((backendNode == null) == (errorNode == null)) {
            problems.add(
                    p,
                    backendNode == null ? "has neither backend nor error" : "has both backend and error",
                    null,
                    "exactly one of backend (a database name, or a database definition) and error");
            return null;
        }
        Map<String, String> serverLogin = new LinkedHashMap<>();
        RouteRewrite rewrite = rewrite(m.get("rewrite"), p.key("rewrite"), match, serverLogin);
        if (errorNode != null) {
            if (m.get("rewrite") != null) {
                problems.add(p.key("rewrite"), "has no effect on an error route", null, "remove it");
            }
            RouteConfig.Error error = error(errorNode, p.key("error"));
            if (error == null || name.value == null || match == null) {
                return null;
            }
            return new RouteConfig(name.value, match, null, false, error, RouteRewrite.NONE);
        }
        String backend;
        boolean inline;
        KeyPath bp = p.key("backend");
        if (backendNode instanceof MapNode) {
            if (name.value == null) {
                return null;
            }
            if (configured.contains(name.value)) {
                problems.add(
                        p.key("name"),
                        "is also a database under databases, and names this route's inline backend",
                        name.value,
                        "a name that no database has");
                return null;
            }
            DatabaseConfig db = b.database(name.value, backendNode, bp, pools, routing);
            if (db == null) {
                return null;
            }
            databases.put(name.value, withServerLogin(db, serverLogin));
            backend = name.value;
            inline = true;
        } else {
            Field<String> ref = b.text(backendNode, bp, "a database name under databases, or a database definition");
            if (ref.value == null) {
                if (ref.absent()) {
                    problems.add(bp, "is empty", null, "a database name under databases, or a database definition");
                }
                return null;
            }
            DatabaseConfig target = databases.get(ref.value);
            if (target == null || !configured.contains(ref.value)) {
                problems.add(bp, "names no database under databases", ref.value, "one of " + configured);
                return null;
            }
            if (serverLogin.isEmpty()) {
                backend = ref.value;
                inline = false;
            } else if (name.value == null) {
                return null;
            } else if (configured.contains(name.value)) {
                problems.add(
                        p.key("name"),
                        "is also a database under databases, and names the pools this route's user or password"
                                + " rewrite needs",
                        name.value,
                        "a name that no database has");
                return null;
            } else {
                // Other server credentials cannot share server connections: the route gets pools of its own.
                databases.put(name.value, withServerLogin(renamed(target, name.value), serverLogin));
                b.copyRouteSecurity(ref.value, name.value);
                backend = name.value;
                inline = true;
            }
        }
        if (name.value == null || match == null || rewrite == null) {
            return null;
        }
        return new RouteConfig(name.value, match, backend, inline, null, rewrite);
    }

    // ---- matchers

    private RouteMatcher matcher(Node node, KeyPath p, int depth) {
        if (depth > MAX_DEPTH) {
            problems.add(p, "is nested too deeply", null, "at most " + MAX_DEPTH + " levels of all, any and not");
            return null;
        }
        MapNode m = b.mapping(node, p, MATCH_KEYS, "a mapping with the keys " + String.join(", ", MATCH_KEYS));
        if (m == null) {
            return null;
        }
        List<RouteMatcher> all = new ArrayList<>();
        boolean bad = false;
        for (Map.Entry<String, Node> e : m.entries().entrySet()) {
            KeyPath kp = p.key(e.getKey());
            RouteMatcher one =
                    switch (e.getKey()) {
                        case "database" -> {
                            TextPattern t = pattern(e.getValue(), kp);
                            yield t == null ? null : new RouteMatcher.Database(t);
                        }
                        case "user" -> {
                            TextPattern t = pattern(e.getValue(), kp);
                            yield t == null ? null : new RouteMatcher.User(t);
                        }
                        case "tls" -> {
                            Field<Boolean> f = b.bool(m, p, "tls");
                            if (f.absent()) {
                                problems.add(kp, "is empty", null, "true or false");
                            }
                            yield f.value == null ? null : new RouteMatcher.Tls(f.value);
                        }
                        case "localAddress" -> {
                            List<Cidr> c = cidrs(m, p, "localAddress");
                            yield c == null ? null : new RouteMatcher.LocalAddress(c);
                        }
                        case "clientAddress" -> {
                            List<Cidr> c = cidrs(m, p, "clientAddress");
                            yield c == null ? null : new RouteMatcher.ClientAddress(c);
                        }
                        case "parameter" -> parameters(e.getValue(), kp);
                        case "all", "any" -> {
                            List<RouteMatcher> items = list(e.getValue(), kp, depth);
                            yield items == null
                                    ? null
                                    : e.getKey().equals("all")
                                            ? new RouteMatcher.All(items)
                                            : new RouteMatcher.Any(items);
                        }
                        case "not" -> {
                            RouteMatcher inner = matcher(e.getValue(), kp, depth + 1);
                            yield inner == null ? null : new RouteMatcher.Not(inner);
                        }
                        default -> null; // reported by mapping()
                    };
            if (one == null) {
                bad = true;
            } else {
                all.add(one);
            }
        }
        if (bad) {
            return null;
        }
        return all.size() == 1 ? all.get(0) : new RouteMatcher.All(all);
    }

    private List<RouteMatcher> list(Node node, KeyPath p, int depth) {
        if (!(node instanceof ListNode list) || list.items().isEmpty()) {
            b.wrongShape(p, node, "must be a non-empty list", "a list of matchers (mappings like {user: alice})");
            return null;
        }
        List<RouteMatcher> out = new ArrayList<>();
        boolean bad = false;
        for (int i = 0; i < list.items().size(); i++) {
            RouteMatcher m = matcher(list.items().get(i), p.index(i), depth + 1);
            if (m == null) {
                bad = true;
            } else {
                out.add(m);
            }
        }
        return bad ? null : out;
    }

    private RouteMatcher parameters(Node node, KeyPath p) {
        MapNode m = b.mapping(node, p, null, "a mapping from a startup parameter's name to a pattern");
        if (m == null) {
            return null;
        }
        if (m.entries().isEmpty()) {
            problems.add(p, "is empty", null, "a mapping like {application_name: reporting-*}");
            return null;
        }
        List<RouteMatcher> out = new ArrayList<>();
        boolean bad = false;
        for (Map.Entry<String, Node> e : m.entries().entrySet()) {
            KeyPath kp = p.key(e.getKey());
            if (!validParameterName(e.getKey())) {
                problems.add(kp, "is not a parameter name", e.getKey(), PARAMETER_NAME_ACCEPTED);
                bad = true;
                continue;
            }
            TextPattern t = pattern(e.getValue(), kp);
            if (t == null) {
                bad = true;
            } else {
                out.add(new RouteMatcher.Parameter(e.getKey(), t));
            }
        }
        return bad ? null : out.size() == 1 ? out.get(0) : new RouteMatcher.All(out);
    }

    /** A glob (a scalar) or {regex: ...}; reports and returns null when neither. */
    private TextPattern pattern(Node node, KeyPath p) {
        if (node instanceof MapNode) {
            MapNode m = b.mapping(node, p, PATTERN_KEYS, PATTERN_ACCEPTED);
            if (m == null) {
                return null;
            }
            Field<String> re = b.text(m, p, "regex", PATTERN_ACCEPTED);
            if (re.absent()) {
                problems.add(p.key("regex"), "is required", null, PATTERN_ACCEPTED);
            }
            if (re.value == null) {
                return null;
            }
            try {
                return TextPattern.regex(re.value);
            } catch (PatternSyntaxException e) {
                problems.add(
                        p.key("regex"),
                        "is not a valid regular expression: " + e.getDescription() + " near index " + e.getIndex(),
                        re.value,
                        PATTERN_ACCEPTED);
            } catch (IllegalArgumentException e) {
                problems.add(p.key("regex"), e.getMessage(), re.value, PATTERN_ACCEPTED);
            }
            return null;
        }
        Field<String> glob = b.text(node, p, PATTERN_ACCEPTED);
        if (glob.absent()) {
            problems.add(p, "is empty", null, PATTERN_ACCEPTED);
        }
        if (glob.value == null) {
            return null;
        }
        if (glob.value.length() > TextPattern.MAX_PATTERN_CHARS) {
            problems.add(p, "is too long", glob.value, PATTERN_ACCEPTED);
            return null;
        }
        return TextPattern.glob(glob.value);
    }

    /** A value or a list of CIDR ranges; null after reporting a bad one. */
    private List<Cidr> cidrs(MapNode m, KeyPath p, String key) {
        int before = problemCount();
        List<Cidr> c = b.cidrs(m, p, key);
        if (problemCount() != before) {
            return null;
        }
        if (c.isEmpty() && !containsAll(m, p, key)) {
            problems.add(p.key(key), "is empty", null, CIDR_ACCEPTED);
            return null;
        }
        // "all" yields an empty list from the shared reader: a range that contains everything.
        return c.isEmpty() ? List.of(Cidr.ALL) : c;
    }

    private boolean containsAll(MapNode m, KeyPath p, String key) {
        return b.strings(m, p, key, CIDR_ACCEPTED).stream()
                .anyMatch(v -> v.trim().equalsIgnoreCase("all"));
    }

    private int problemCount() {
        return problems.count();
    }

    // ---- actions

    private RouteConfig.Error error(Node node, KeyPath p) {
        MapNode m = b.mapping(node, p, ERROR_KEYS, "a mapping with sqlstate and message");
        if (m == null) {
            return null;
        }
        Field<String> state = b.text(m, p, "sqlstate", SQLSTATE_ACCEPTED);
        Field<String> message = b.text(m, p, "message", "the text the client is shown");
        if (state.absent()) {
            problems.add(p.key("sqlstate"), "is required", null, SQLSTATE_ACCEPTED);
        }
        if (message.absent()) {
            problems.add(p.key("message"), "is required", null, "the text the client is shown");
        }
        boolean ok = state.value != null && message.value != null;
        if (state.value != null
                && (!SQLSTATE.matcher(state.value).matches()
                        || state.value.startsWith("00")
                        || state.value.startsWith("01")
                        || state.value.startsWith("02"))) {
            problems.add(p.key("sqlstate"), "is not an error SQLSTATE", state.value, SQLSTATE_ACCEPTED);
            ok = false;
        }
        if (message.value != null && message.value.length() > MAX_MESSAGE_CHARS) {
            problems.add(
                    p.key("message"), "is too long", message.value, "at most " + MAX_MESSAGE_CHARS + " characters");
            ok = false;
        }
        return ok ? new RouteConfig.Error(state.value, message.value) : null;
    }

    private RouteRewrite rewrite(Node node, KeyPath p, RouteMatcher match, Map<String, String> serverLogin) {
        MapNode m = b.mapping(node, p, REWRITE_KEYS, "a mapping with the keys " + String.join(", ", REWRITE_KEYS));
        if (m == null) {
            return null;
        }
        if (m.entries().isEmpty()) {
            return RouteRewrite.NONE;
        }
        boolean ok = true;
        Field<String> database = b.text(m, p, "database", "a database name, or a template like $1 or tenant_$1");
        if (database.value != null) {
            int needed = RouteRewrite.maxCapture(database.value);
            int available = match == null ? Integer.MAX_VALUE : databaseGroups(match);
            if (needed > available) {
                problems.add(
                        p.key("database"),
                        available < 0
                                ? "uses $" + needed + ", but the route's match has no database matcher to capture from"
                                : "uses $" + needed + ", but the route's database matcher captures only " + available,
                        database.value,
                        "$0 (the whole name) up to $" + Math.max(0, available) + ", each * of a glob or group of a"
                                + " regex is one capture");
                ok = false;
            } else if (needed < 0) {
                b.name(p.key("database"), database.value, "");
            }
        }
        ok &= !database.invalid;
        Field<String> user = b.text(m, p, "user", "the role to log in to the servers as");
        if (user.value != null) {
            b.name(p.key("user"), user.value, "");
            serverLogin.put("user", user.value);
        }
        Field<String> password = b.text(m, p, "password", "the plain-text password of the server role");
        if (password.value != null) {
            serverLogin.put("password", password.value);
        }
        ok &= !user.invalid && !password.invalid;
        Map<String, RouteRewrite.Parameter> params = new LinkedHashMap<>();
        Node pn = m.get("parameters");
        KeyPath pp = p.key("parameters");
        MapNode pm = b.mapping(pn, pp, null, "a mapping from a parameter name to a value, or {value, override, drop}");
        if (pm == null) {
            ok = false;
        } else {
            for (Map.Entry<String, Node> e : pm.entries().entrySet()) {
                KeyPath kp = pp.key(e.getKey());
                if (!validParameterName(e.getKey())) {
                    problems.add(kp, "is not a parameter name", e.getKey(), PARAMETER_NAME_ACCEPTED);
                    ok = false;
                    continue;
                }
                if (List.of("user", "database", "replication").contains(e.getKey())) {
                    problems.add(
                            kp,
                            "cannot be rewritten as a parameter",
                            e.getKey(),
                            "rewrite.database or rewrite.user for these; any other startup parameter");
                    ok = false;
                    continue;
                }
                RouteRewrite.Parameter param = parameter(e.getValue(), kp);
                if (param == null) {
                    ok = false;
                } else {
                    params.put(e.getKey(), param);
                }
            }
        }
        return ok ? new RouteRewrite(database.value, params) : null;
    }

    private RouteRewrite.Parameter parameter(Node node, KeyPath p) {
        String accepted = "a value (forced), or {value: <text>, override: force|default}, or {drop: true}";
        if (!(node instanceof MapNode)) {
            Field<String> v = b.text(node, p, accepted);
            if (v.absent()) {
                problems.add(p, "is empty", null, accepted);
            }
            return v.value == null ? null : new RouteRewrite.Parameter(v.value, RouteRewrite.Mode.FORCE);
        }
        MapNode m = b.mapping(node, p, PARAMETER_KEYS, accepted);
        if (m == null) {
            return null;
        }
        Field<Boolean> drop = b.bool(m, p, "drop");
        Field<String> value = b.text(m, p, "value", accepted);
        Field<String> override = b.text(m, p, "override", "force or default");
        if (Boolean.TRUE.equals(drop.value)) {
            if (m.get("value") != null || m.get("override") != null) {
                problems.add(p, "has drop: true with a value or override", null, accepted);
                return null;
            }
            return new RouteRewrite.Parameter(null, RouteRewrite.Mode.DROP);
        }
        if (value.absent()) {
            problems.add(p.key("value"), "is required", null, accepted);
        }
        RouteRewrite.Mode mode = RouteRewrite.Mode.FORCE;
        if (override.value != null) {
            switch (override.value.toLowerCase(java.util.Locale.ROOT)) {
                case "force" -> mode = RouteRewrite.Mode.FORCE;
                case "default" -> mode = RouteRewrite.Mode.DEFAULT;
                default -> {
                    problems.add(p.key("override"), "is not a mode", override.value, "force or default");
                    return null;
                }
            }
        }
        if (value.value == null || drop.invalid || override.invalid) {
            return null;
        }
        return new RouteRewrite.Parameter(value.value, mode);
    }

    // ---- helpers

    /** Captures of the first database matcher outside a {@code not}, or -1 without one. */
    static int databaseGroups(RouteMatcher m) {
        if (m instanceof RouteMatcher.Database d) {
            return d.pattern().groupCount();
        }
        List<RouteMatcher> children =
                m instanceof RouteMatcher.All a ? a.of() : m instanceof RouteMatcher.Any any ? any.of() : List.of();
        int best = -1;
        for (RouteMatcher c : children) {
            int g = databaseGroups(c);
            if (g >= 0) {
                // Under any, another branch may match without captures: only what every branch has is sure.
                if (m instanceof RouteMatcher.Any) {
                    return Math.min(g, 0);
                }
                return g;
            }
        }
        return best;
    }

    private static boolean validParameterName(String name) {
        if (name.isEmpty() || name.length() > 63) {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (!(Character.isLetterOrDigit(c) && c < 128 || c == '_' || c == '.')) {
                return false;
            }
        }
        return true;
    }

    private static DatabaseConfig renamed(DatabaseConfig d, String name) {
        return new DatabaseConfig(
                name,
                d.serverDatabase(),
                d.endpoints(),
                d.mode(),
                d.maxServerConnections(),
                d.minServerConnections(),
                d.resetQuery(),
                d.users(),
                d.routing(),
                d.limits());
    }

    /** Every user of {@code d} logs in to the servers as the rewrite's user and password. */
    private static DatabaseConfig withServerLogin(DatabaseConfig d, Map<String, String> login) {
        if (login.isEmpty()) {
            return d;
        }
        Map<String, UserConfig> users = new LinkedHashMap<>();
        for (UserConfig u : d.users().values()) {
            users.put(
                    u.name(),
                    new UserConfig(
                            u.name(),
                            u.password(),
                            u.auth(),
                            login.getOrDefault("user", u.serverUser()),
                            login.containsKey("password") ? login.get("password") : u.serverPassword(),
                            u.maxUserConnections()));
        }
        return new DatabaseConfig(
                d.name(),
                d.serverDatabase(),
                d.endpoints(),
                d.mode(),
                d.maxServerConnections(),
                d.minServerConnections(),
                d.resetQuery(),
                users,
                d.routing(),
                d.limits());
    }
}
