package dev.pggat.pooler.config;

import dev.pggat.pooler.auth.Secret;
import dev.pggat.pooler.config.YamlTree.ListNode;
import dev.pggat.pooler.config.YamlTree.MapNode;
import dev.pggat.pooler.config.YamlTree.Node;
import dev.pggat.pooler.config.YamlTree.Scalar;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns the YAML tree into {@link PoolerConfig}, reporting every problem rather than stopping at the first. After a
 * value is found wrong its default stands in, so later checks still run; checks that compare two values skip when
 * either was wrong, to avoid reporting one mistake twice.
 */
final class ConfigBinder {
    static final List<String> ROOT_KEYS =
            List.of("listen", "admin", "limits", "timeouts", "pools", "routing", "databases");
    static final List<String> LISTEN_KEYS = List.of("host", "port");
    static final List<String> ADMIN_KEYS = List.of("enabled", "host", "port", "token");
    static final List<String> LIMITS_KEYS = List.of("maxClientConnections", "maxStartupPacketSize", "maxMessageSize");
    static final List<String> TIMEOUTS_KEYS = List.of(
            "clientLogin",
            "queryWait",
            "serverConnect",
            "serverConnectBackoffMax",
            "serverIdle",
            "serverLifetime",
            "shutdown");
    static final List<String> POOLS_KEYS =
            List.of("mode", "maxServerConnections", "minServerConnections", "resetQuery");
    static final List<String> DATABASE_KEYS = List.of(
            "serverDatabase",
            "endpoints",
            "mode",
            "maxServerConnections",
            "minServerConnections",
            "resetQuery",
            "routing",
            "users");
    static final List<String> ENDPOINT_KEYS = List.of("host", "port", "role", "name", "zone", "weight");
    static final List<String> USER_KEYS = List.of("password", "auth", "serverUser", "serverPassword");
    static final List<String> ROUTING_KEYS = List.of(
            "readWriteSplit",
            "consistency",
            "maxReplicaLag",
            "maxReplicaLagBytes",
            "replicaFallback",
            "probeInterval",
            "primaryWait",
            "primaryFunctions");

    /** PostgreSQL's NAMEDATALEN - 1: longer identifiers are truncated by the server. */
    static final int MAX_NAME_BYTES = 63;

    /** Keeps every duration safe to convert to nanoseconds and to hand to any scheduler. */
    static final Duration MAX_DURATION = Duration.ofDays(365);

    private static final Pattern INTEGER = Pattern.compile("[+-]?[0-9]+");
    private static final Pattern DURATION = Pattern.compile("([0-9]+)\\s*([a-zA-Z]*)");
    private static final Pattern SIZE = Pattern.compile("([0-9]+)\\s*([a-zA-Z]*)");
    private static final Map<String, ChronoUnit> DURATION_UNITS = Map.of(
            "ms", ChronoUnit.MILLIS,
            "s", ChronoUnit.SECONDS,
            "m", ChronoUnit.MINUTES,
            "h", ChronoUnit.HOURS,
            "d", ChronoUnit.DAYS);
    private static final Map<String, Long> SIZE_UNITS =
            Map.of("", 1L, "b", 1L, "kb", 1L << 10, "mb", 1L << 20, "gb", 1L << 30);
    private static final Set<String> TRUE_WORDS = Set.of("true", "yes", "on");
    private static final Set<String> FALSE_WORDS = Set.of("false", "no", "off");

    private static final String PORT_ACCEPTED = "an integer from 1 to 65535";
    private static final String HOST_ACCEPTED = "a host name or IP address";
    private static final String NAME_ACCEPTED = "1 to " + MAX_NAME_BYTES + " bytes (UTF-8), without NUL characters";
    private static final String SIZE_ACCEPTED =
            "bytes as an integer, or an integer with unit B, kB, MB or GB (1024-based), above 0 and below 2GB";

    /** Same bounds as endpoint sets from the admin API and the operator, so both can carry any configured set. */
    static final int MAX_WEIGHT = 10_000;

    /** Long enough that guessing is hopeless, short enough for any generated token. */
    static final int MIN_TOKEN_CHARS = 16;

    /** Names and zones end up in metric labels and log lines; the bound keeps those readable. */
    static final int MAX_LABEL_CHARS = 255;

    /** What the query classifier accepts: an SQL identifier without schema, with an optional trailing *. */
    private static final Pattern FUNCTION_NAME =
            Pattern.compile("[A-Za-z_\\x{80}-\\x{10FFFF}][A-Za-z0-9_$\\x{80}-\\x{10FFFF}]*\\*?");

    private static final String ENDPOINT_NAME_ACCEPTED = "1 to " + MAX_LABEL_CHARS
            + " characters without whitespace, unique within the database (default: host:port)";
    private static final String ZONE_ACCEPTED =
            "a locality label of 1 to " + MAX_LABEL_CHARS + " characters without whitespace, like eu-west-1a";
    private static final String TOKEN_ACCEPTED = "at least " + MIN_TOKEN_CHARS
            + " visible ASCII characters (no spaces), like the output of 'openssl rand -hex 32'; or leave it out to"
            + " disable changes through the admin endpoint";
    private static final String LAG_BYTES_ACCEPTED =
            "bytes as an integer, or an integer with unit B, kB, MB or GB (1024-based); or 0 for no limit";
    private static final String FUNCTIONS_ACCEPTED = "a list of SQL function names without schema (letters, digits,"
            + " _ and $), each optionally ending in * to match a prefix";
    private static final String PASSWORD_ACCEPTED = "plain text, an md5 hash 'md5<32 hex digits>', or a verifier"
            + " 'SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>'";

    private final Problems problems;
    private final Map<String, String> env;

    ConfigBinder(Problems problems, Map<String, String> env) {
        this.problems = problems;
        this.env = env;
    }

    /** Schema keys per section, for tests that check the reference file and the docs mention every key. */
    static Map<String, List<String>> schemaKeys() {
        Map<String, List<String>> keys = new LinkedHashMap<>();
        keys.put("", ROOT_KEYS);
        keys.put("listen", LISTEN_KEYS);
        keys.put("admin", ADMIN_KEYS);
        keys.put("limits", LIMITS_KEYS);
        keys.put("timeouts", TIMEOUTS_KEYS);
        keys.put("pools", POOLS_KEYS);
        keys.put("routing", ROUTING_KEYS);
        keys.put("databases.<name>", DATABASE_KEYS);
        keys.put("databases.<name>.routing", ROUTING_KEYS);
        keys.put("databases.<name>.endpoints[]", ENDPOINT_KEYS);
        keys.put("databases.<name>.users.<name>", USER_KEYS);
        return keys;
    }

    PoolerConfig bind(Node root) {
        MapNode m = mapping(root, KeyPath.ROOT, ROOT_KEYS, "a mapping with the keys " + String.join(", ", ROOT_KEYS));
        if (m == null) {
            return null;
        }
        KeyPath root0 = KeyPath.ROOT;
        Listen listen = listen(m.get("listen"), root0.key("listen"));
        Admin admin = admin(m.get("admin"), root0.key("admin"), listen);
        Limits limits = limits(m.get("limits"), root0.key("limits"));
        Timeouts timeouts = timeouts(m.get("timeouts"), root0.key("timeouts"));
        Pools pools = pools(m.get("pools"), root0.key("pools"));
        RoutingConfig routing = routing(m.get("routing"), root0.key("routing"), RoutingConfig.DEFAULT);
        Map<String, DatabaseConfig> databases = databases(m.get("databases"), root0.key("databases"), pools, routing);
        return new PoolerConfig(listen, admin, limits, timeouts, pools.value(), databases);
    }

    // ---- sections

    private Listen listen(Node node, KeyPath path) {
        MapNode m = section(node, path, LISTEN_KEYS);
        if (m == null) {
            return Listen.DEFAULT;
        }
        String host = host(m, path, "host").or(Listen.DEFAULT.host());
        Field<Integer> port = listenPort(m, path, "port");
        return new Listen(host, port.or(Listen.DEFAULT.port()));
    }

    private Admin admin(Node node, KeyPath path, Listen listen) {
        MapNode m = section(node, path, ADMIN_KEYS);
        if (m == null) {
            return Admin.DEFAULT;
        }
        boolean enabled = bool(m, path, "enabled").or(Admin.DEFAULT.enabled());
        String host = host(m, path, "host").or(Admin.DEFAULT.host());
        Field<Integer> port = listenPort(m, path, "port");
        Admin admin = new Admin(enabled, host, port.or(Admin.DEFAULT.port()), adminToken(m, path));
        if (enabled
                && !port.invalid
                && admin.port() != 0
                && admin.port() == listen.port()
                && overlaps(admin.host(), listen.host())) {
            problems.add(
                    path.key("port"),
                    "is the same port as listen.port on an overlapping address",
                    String.valueOf(admin.port()),
                    "a port other than " + listen.port() + ", or admin.enabled: false");
        }
        return admin;
    }

    private static boolean overlaps(String a, String b) {
        return a.equalsIgnoreCase(b) || isWildcard(a) || isWildcard(b);
    }

    private static boolean isWildcard(String host) {
        return host.equals("0.0.0.0") || host.equals("::") || host.equals("*");
    }

    private Limits limits(Node node, KeyPath path) {
        MapNode m = section(node, path, LIMITS_KEYS);
        if (m == null) {
            return Limits.DEFAULT;
        }
        Limits d = Limits.DEFAULT;
        int clients =
                integer(m, path, "maxClientConnections", 1, Integer.MAX_VALUE).or(d.maxClientConnections());
        int startup = size(m, path, "maxStartupPacketSize").or(d.maxStartupPacketSize());
        int message = size(m, path, "maxMessageSize").or(d.maxMessageSize());
        return new Limits(clients, startup, message);
    }

    private Timeouts timeouts(Node node, KeyPath path) {
        MapNode m = section(node, path, TIMEOUTS_KEYS);
        if (m == null) {
            return Timeouts.DEFAULT;
        }
        Timeouts d = Timeouts.DEFAULT;
        return new Timeouts(
                duration(m, path, "clientLogin", false).or(d.clientLogin()),
                duration(m, path, "queryWait", true).or(d.queryWait()),
                duration(m, path, "serverConnect", false).or(d.serverConnect()),
                duration(m, path, "serverConnectBackoffMax", false).or(d.serverConnectBackoffMax()),
                duration(m, path, "serverIdle", true).or(d.serverIdle()),
                duration(m, path, "serverLifetime", true).or(d.serverLifetime()),
                duration(m, path, "shutdown", false).or(d.shutdown()));
    }

    /** The pool defaults plus whether each connection count was valid, for the per-database min/max check. */
    private record Pools(PoolDefaults value, boolean maxValid, boolean minValid) {}

    private Pools pools(Node node, KeyPath path) {
        MapNode m = section(node, path, POOLS_KEYS);
        PoolDefaults d = PoolDefaults.DEFAULT;
        if (m == null) {
            return new Pools(d, false, false);
        }
        PoolMode mode = poolMode(m, path).or(d.mode());
        Field<Integer> max = integer(m, path, "maxServerConnections", 1, Integer.MAX_VALUE);
        Field<Integer> min = integer(m, path, "minServerConnections", 0, Integer.MAX_VALUE);
        String reset = resetQuery(m, path).or(d.resetQuery());
        PoolDefaults pools =
                new PoolDefaults(mode, max.or(d.maxServerConnections()), min.or(d.minServerConnections()), reset);
        boolean ok = !max.invalid && !min.invalid;
        if (ok && pools.minServerConnections() > pools.maxServerConnections()) {
            problems.add(
                    path.key("minServerConnections"),
                    "is greater than pools.maxServerConnections (" + pools.maxServerConnections() + ")",
                    String.valueOf(pools.minServerConnections()),
                    "an integer from 0 to maxServerConnections");
            // Reported here once; databases inheriting both values are not blamed again.
            return new Pools(pools, false, false);
        }
        return new Pools(pools, !max.invalid, !min.invalid);
    }

    private Map<String, DatabaseConfig> databases(Node node, KeyPath path, Pools pools, RoutingConfig routing) {
        Map<String, DatabaseConfig> result = new LinkedHashMap<>();
        String accepted = "a mapping from the database name clients use to its settings";
        MapNode m = mapping(node, path, null, accepted);
        if (m == null) {
            return result;
        }
        if (m.entries().isEmpty()) {
            problems.add(path, "at least one database is required", null, accepted);
            return result;
        }
        for (Map.Entry<String, Node> e : m.entries().entrySet()) {
            KeyPath dbPath = path.key(e.getKey());
            name(dbPath, e.getKey(), "database name");
            DatabaseConfig db = database(e.getKey(), e.getValue(), dbPath, pools, routing);
            if (db != null) {
                result.put(e.getKey(), db);
            }
        }
        return result;
    }

    private DatabaseConfig database(String name, Node node, KeyPath path, Pools pools, RoutingConfig routing) {
        MapNode m = section(node, path, DATABASE_KEYS);
        if (m == null) {
            return null;
        }
        PoolDefaults d = pools.value();
        Field<String> serverDatabase = text(m, path, "serverDatabase", NAME_ACCEPTED);
        if (serverDatabase.value != null) {
            name(path.key("serverDatabase"), serverDatabase.value, "");
        }
        List<Endpoint> endpoints = endpoints(m.get("endpoints"), path.key("endpoints"));
        PoolMode mode = poolMode(m, path).or(d.mode());
        Field<Integer> max = integer(m, path, "maxServerConnections", 1, Integer.MAX_VALUE);
        Field<Integer> min = integer(m, path, "minServerConnections", 0, Integer.MAX_VALUE);
        String reset = resetQuery(m, path).or(d.resetQuery());
        int effectiveMax = max.or(d.maxServerConnections());
        int effectiveMin = min.or(d.minServerConnections());
        boolean comparable = !max.invalid
                && !min.invalid
                && (max.present() || pools.maxValid())
                && (min.present() || pools.minValid());
        if (comparable && (max.present() || min.present()) && effectiveMin > effectiveMax) {
            String maxSource = max.present() ? "" : ", from pools.maxServerConnections";
            String minSource = min.present() ? "" : ", from pools.minServerConnections";
            KeyPath blamed = min.present() ? path.key("minServerConnections") : path.key("maxServerConnections");
            problems.add(
                    blamed,
                    "minServerConnections (" + effectiveMin + minSource + ") is greater than maxServerConnections ("
                            + effectiveMax + maxSource + ")",
                    String.valueOf(min.present() ? effectiveMin : effectiveMax),
                    "minServerConnections <= maxServerConnections");
        }
        Map<String, UserConfig> users = users(m.get("users"), path.key("users"));
        RoutingConfig dbRouting = routing(m.get("routing"), path.key("routing"), routing);
        return new DatabaseConfig(
                name, serverDatabase.or(name), endpoints, mode, effectiveMax, effectiveMin, reset, users, dbRouting);
    }

    private List<Endpoint> endpoints(Node node, KeyPath path) {
        String accepted = "a list of endpoints, each with host, port and role; exactly one with role primary";
        List<Endpoint> result = new ArrayList<>();
        if (node instanceof Scalar s && s.broken()) {
            return result;
        }
        if (node == null || node instanceof Scalar s && s.isEmpty()) {
            problems.add(path, "at least one endpoint is required", null, accepted);
            return result;
        }
        if (!(node instanceof ListNode list)) {
            wrongShape(path, node, "must be a list", accepted);
            return result;
        }
        if (list.items().isEmpty()) {
            problems.add(path, "at least one endpoint is required", null, accepted);
            return result;
        }
        List<String> primaries = new ArrayList<>();
        Map<String, Integer> seen = new HashMap<>();
        Map<String, Integer> names = new HashMap<>();
        boolean allRolesValid = true;
        for (int i = 0; i < list.items().size(); i++) {
            KeyPath p = path.index(i);
            MapNode m = mapping(
                    list.items().get(i),
                    p,
                    ENDPOINT_KEYS,
                    "a mapping with the keys " + String.join(", ", ENDPOINT_KEYS));
            if (m == null) {
                allRolesValid = false;
                continue;
            }
            Field<String> host = host(m, p, "host");
            if (host.absent()) {
                problems.add(p.key("host"), "is required", null, HOST_ACCEPTED);
            }
            Field<Integer> port = port(m, p, "port");
            Field<Endpoint.Role> role =
                    choice(m, p, "role", Endpoint.Role.values(), Endpoint.Role::yamlName, "primary or replica");
            allRolesValid &= !role.invalid;
            Field<String> name = label(m, p, "name", ENDPOINT_NAME_ACCEPTED);
            Field<String> zone = label(m, p, "zone", ZONE_ACCEPTED);
            Field<Integer> weight = integer(m, p, "weight", 0, MAX_WEIGHT);
            if (host.value == null || port.invalid || role.invalid || name.invalid || zone.invalid || weight.invalid) {
                continue;
            }
            Endpoint endpoint = new Endpoint(
                    host.value,
                    port.or(Endpoint.DEFAULT_PORT),
                    role.or(Endpoint.Role.PRIMARY),
                    name.value,
                    zone.value,
                    weight.or(Endpoint.DEFAULT_WEIGHT));
            Integer earlier = seen.putIfAbsent(endpoint.host().toLowerCase(Locale.ROOT) + ":" + endpoint.port(), i);
            if (earlier != null) {
                problems.add(
                        p,
                        "is the same server as " + path.index(earlier),
                        endpoint.host() + ":" + endpoint.port(),
                        "each host and port at most once per database");
            } else {
                uniqueEndpointName(endpoint, names, i, path);
            }
            if (endpoint.role() == Endpoint.Role.PRIMARY) {
                primaries.add("[" + i + "]");
            }
            result.add(endpoint);
        }
        if (allRolesValid && primaries.isEmpty() && !result.isEmpty()) {
            problems.add(
                    path,
                    "no endpoint has role primary",
                    null,
                    "exactly one endpoint with role primary, which is the default role");
        } else if (primaries.size() > 1) {
            problems.add(
                    path,
                    primaries.size() + " endpoints have role primary (" + String.join(", ", primaries)
                            + "; role defaults to primary)",
                    null,
                    "exactly one endpoint with role primary, the others role replica");
        }
        return result;
    }

    private Map<String, UserConfig> users(Node node, KeyPath path) {
        String accepted = "a mapping from the user name clients log in as to its settings";
        Map<String, UserConfig> result = new LinkedHashMap<>();
        MapNode m = mapping(node, path, null, accepted);
        if (m == null) {
            return result;
        }
        if (m.entries().isEmpty()) {
            problems.add(path, "at least one user is required", null, accepted);
            return result;
        }
        for (Map.Entry<String, Node> e : m.entries().entrySet()) {
            KeyPath userPath = path.key(e.getKey());
            name(userPath, e.getKey(), "user name");
            UserConfig user = user(e.getKey(), e.getValue(), userPath);
            if (user != null) {
                result.put(e.getKey(), user);
            }
        }
        return result;
    }

    private UserConfig user(String name, Node node, KeyPath path) {
        MapNode m = section(node, path, USER_KEYS);
        if (m == null) {
            return null;
        }
        Field<AuthMethod> authField = choice(
                m, path, "auth", AuthMethod.values(), AuthMethod::yamlName, "scram-sha-256, md5, password or trust");
        AuthMethod auth = authField.or(AuthMethod.SCRAM_SHA_256);

        KeyPath passwordPath = path.key("password");
        Field<String> passwordText = text(m, path, "password", PASSWORD_ACCEPTED);
        Secret password = null;
        boolean passwordKnown = !passwordText.invalid;
        if (passwordText.value != null) {
            try {
                password = Secret.parse(passwordText.value);
            } catch (IllegalArgumentException e) {
                problems.add(passwordPath, "is not valid: " + e.getMessage(), passwordText.value, PASSWORD_ACCEPTED);
                passwordKnown = false;
            }
        } else if (passwordText.absent() && auth != AuthMethod.TRUST && !authField.invalid) {
            problems.add(
                    passwordPath, "is required unless auth is trust (it is missing or empty)", null, PASSWORD_ACCEPTED);
            passwordKnown = false;
        }

        if (password != null && !authField.invalid) {
            if (auth == AuthMethod.MD5 && password instanceof Secret.Scram) {
                problems.add(
                        path.key("auth"),
                        "cannot check md5 logins against the SCRAM-SHA-256 verifier in password",
                        auth.yamlName(),
                        "scram-sha-256 or password with a SCRAM-SHA-256 verifier; md5 needs a plain-text password"
                                + " or md5 hash");
            } else if (auth == AuthMethod.SCRAM_SHA_256 && password instanceof Secret.Md5) {
                problems.add(
                        path.key("auth"),
                        "cannot check scram-sha-256 logins against the md5 hash in password",
                        auth.yamlName(),
                        "md5 or password with an md5 hash; scram-sha-256 needs a plain-text password or SCRAM-SHA-256"
                                + " verifier");
            }
        }

        Field<String> serverUser = text(m, path, "serverUser", NAME_ACCEPTED);
        if (serverUser.value != null) {
            name(path.key("serverUser"), serverUser.value, "");
        }

        KeyPath serverPasswordPath = path.key("serverPassword");
        Field<String> serverPasswordText = text(m, path, "serverPassword", "the server password in plain text");
        String serverPassword = null;
        if (serverPasswordText.value != null) {
            if (isPlain(serverPasswordText.value)) {
                serverPassword = serverPasswordText.value;
            } else {
                problems.add(
                        serverPasswordPath,
                        "must be plain text: the pooler cannot log in to the server with a hash or verifier",
                        serverPasswordText.value,
                        "the server password in plain text");
            }
        } else if (serverPasswordText.absent()) {
            if (password instanceof Secret.Plain plain) {
                serverPassword = plain.password();
            } else if (password != null && passwordKnown) {
                String kind = password instanceof Secret.Md5 ? "an md5 hash" : "a SCRAM-SHA-256 verifier";
                problems.add(
                        serverPasswordPath,
                        "is required because password is " + kind
                                + " and the pooler cannot log in to the server with it",
                        null,
                        "the server password in plain text");
            }
        }

        if (!passwordKnown || authField.invalid || (password == null && auth != AuthMethod.TRUST)) {
            return null;
        }
        return new UserConfig(name, password, auth, serverUser.or(name), serverPassword);
    }

    private static boolean isPlain(String value) {
        try {
            return Secret.parse(value) instanceof Secret.Plain;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    // ---- routing, endpoint labels, admin token

    /**
     * A routing section over {@code inherited}: the top-level section over the built-in defaults, a database's
     * section over the top-level one. Each key left out keeps the inherited value.
     */
    private RoutingConfig routing(Node node, KeyPath path, RoutingConfig inherited) {
        MapNode m = section(node, path, ROUTING_KEYS);
        if (m == null) {
            return inherited;
        }
        RoutingConfig d = inherited;
        boolean split = bool(m, path, "readWriteSplit").or(d.readWriteSplit());
        RoutingConfig.Consistency consistency = choice(
                        m,
                        path,
                        "consistency",
                        RoutingConfig.Consistency.values(),
                        RoutingConfig.Consistency::yamlName,
                        "eventual or read-your-writes")
                .or(d.consistency());
        Duration maxLag = duration(m, path, "maxReplicaLag", "for no limit").or(d.maxReplicaLag());
        long maxLagBytes = lagBytes(m, path, "maxReplicaLagBytes").or(d.maxReplicaLagBytes());
        RoutingConfig.ReplicaFallback fallback = choice(
                        m,
                        path,
                        "replicaFallback",
                        RoutingConfig.ReplicaFallback.values(),
                        RoutingConfig.ReplicaFallback::yamlName,
                        "primary or fail")
                .or(d.replicaFallback());
        Duration probe = duration(m, path, "probeInterval", null).or(d.probeInterval());
        Duration primaryWait =
                duration(m, path, "primaryWait", "to fail at once").or(d.primaryWait());
        List<String> functions = primaryFunctions(m, path).or(d.primaryFunctions());
        return new RoutingConfig(split, consistency, maxLag, maxLagBytes, fallback, probe, primaryWait, functions);
    }

    /** A WAL distance; unlike {@link #size} it allows 0 (no limit) and more than 2GB. */
    private Field<Long> lagBytes(MapNode m, KeyPath parent, String key) {
        Field<String> f = text(m, parent, key, LAG_BYTES_ACCEPTED);
        if (f.value == null) {
            return f.invalid ? Field.bad() : Field.none();
        }
        KeyPath path = parent.key(key);
        Matcher matcher = SIZE.matcher(f.value);
        if (!matcher.matches()) {
            problems.add(path, "is not a size", f.value, LAG_BYTES_ACCEPTED);
            return Field.bad();
        }
        Long multiplier = SIZE_UNITS.get(matcher.group(2).toLowerCase(Locale.ROOT));
        if (multiplier == null) {
            problems.add(path, "has an unknown unit '" + matcher.group(2) + "'", f.value, LAG_BYTES_ACCEPTED);
            return Field.bad();
        }
        BigInteger bytes = new BigInteger(matcher.group(1)).multiply(BigInteger.valueOf(multiplier));
        if (bytes.compareTo(BigInteger.valueOf(Long.MAX_VALUE)) > 0) {
            problems.add(path, "is too large", f.value, LAG_BYTES_ACCEPTED);
            return Field.bad();
        }
        return Field.of(bytes.longValueExact());
    }

    /**
     * An explicit list replaces the inherited one ({@code []} clears it); an empty value inherits, as for every
     * other key.
     */
    private Field<List<String>> primaryFunctions(MapNode m, KeyPath parent) {
        String key = "primaryFunctions";
        Node node = m.get(key);
        KeyPath path = parent.key(key);
        if (node == null) {
            return Field.none();
        }
        if (node instanceof Scalar s) {
            if (s.broken()) {
                return Field.bad();
            }
            if (s.isEmpty()) {
                return Field.none();
            }
        }
        if (!(node instanceof ListNode list)) {
            wrongShape(path, node, "must be a list", FUNCTIONS_ACCEPTED);
            return Field.bad();
        }
        List<String> names = new ArrayList<>();
        boolean ok = true;
        for (int i = 0; i < list.items().size(); i++) {
            KeyPath p = path.index(i);
            Field<String> f = text(list.items().get(i), p, "an SQL function name without schema");
            if (f.invalid) {
                ok = false;
            } else if (f.value == null) {
                problems.add(p, "is empty", null, "an SQL function name without schema");
                ok = false;
            } else if (!FUNCTION_NAME.matcher(f.value).matches()) {
                problems.add(
                        p,
                        "is not a function name",
                        f.value,
                        "an SQL function name without schema (letters, digits, _ and $, not starting with a digit),"
                                + " optionally ending in * to match a prefix");
                ok = false;
            } else {
                names.add(f.value);
            }
        }
        return ok ? Field.of(List.copyOf(names)) : Field.bad();
    }

    /** An endpoint name or zone: free text, but one token, since it becomes a metric label and a log word. */
    private Field<String> label(MapNode m, KeyPath parent, String key, String accepted) {
        Field<String> f = text(m, parent, key, accepted);
        if (f.value == null) {
            return f;
        }
        if (f.value.codePoints().anyMatch(c -> Character.isWhitespace(c) || Character.isISOControl(c))) {
            problems.add(parent.key(key), "must not contain whitespace", f.value, accepted);
            return Field.bad();
        }
        if (f.value.length() > MAX_LABEL_CHARS) {
            problems.add(parent.key(key), "is longer than " + MAX_LABEL_CHARS + " characters", f.value, accepted);
            return Field.bad();
        }
        return f;
    }

    /**
     * Names identify endpoints in metrics and in endpoint updates, so two endpoints of a database may not share
     * one, whether written or defaulted to host:port.
     */
    private void uniqueEndpointName(Endpoint endpoint, Map<String, Integer> names, int index, KeyPath path) {
        String effective = endpoint.name() != null ? endpoint.name() : endpoint.host() + ":" + endpoint.port();
        Integer earlier = names.putIfAbsent(effective, index);
        if (earlier == null) {
            return;
        }
        if (endpoint.name() != null) {
            problems.add(
                    path.index(index).key("name"),
                    "is already the name of " + path.index(earlier),
                    effective,
                    ENDPOINT_NAME_ACCEPTED);
        } else {
            problems.add(
                    path.index(index),
                    "has the default name host:port, which is already the name of " + path.index(earlier),
                    effective,
                    "names unique within the database; set name on one of them");
        }
    }

    /** The bearer token for changes through the admin endpoint; null (changes disabled) when absent or invalid. */
    private String adminToken(MapNode m, KeyPath path) {
        Field<String> f = text(m, path, "token", TOKEN_ACCEPTED);
        if (f.value == null) {
            return null;
        }
        // The value is a secret: the key is in Problems.SECRET_KEYS, so these messages show it redacted.
        if (!f.value.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            problems.add(path.key("token"), "must be visible ASCII without spaces", f.value, TOKEN_ACCEPTED);
            return null;
        }
        if (f.value.length() < MIN_TOKEN_CHARS) {
            problems.add(
                    path.key("token"), "is shorter than " + MIN_TOKEN_CHARS + " characters", f.value, TOKEN_ACCEPTED);
            return null;
        }
        return f.value;
    }

    // ---- typed values

    /** A value that is absent (default applies), invalid (already reported) or present. */
    private static final class Field<T> {
        private static final Field<?> ABSENT = new Field<>(null, false);
        private static final Field<?> INVALID = new Field<>(null, true);

        final T value;
        final boolean invalid;

        private Field(T value, boolean invalid) {
            this.value = value;
            this.invalid = invalid;
        }

        static <T> Field<T> of(T value) {
            return new Field<>(value, false);
        }

        @SuppressWarnings("unchecked")
        static <T> Field<T> none() {
            return (Field<T>) ABSENT;
        }

        @SuppressWarnings("unchecked")
        static <T> Field<T> bad() {
            return (Field<T>) INVALID;
        }

        boolean present() {
            return value != null;
        }

        boolean absent() {
            return value == null && !invalid;
        }

        T or(T fallback) {
            return value != null ? value : fallback;
        }
    }

    /**
     * A scalar's text after environment substitution. An empty result counts as absent, so {@code port:} and
     * {@code port: ${PORT:-}} both mean "use the default".
     */
    private Field<String> text(MapNode m, KeyPath parent, String key, String accepted) {
        Node node = m.get(key);
        if (node == null) {
            return Field.none();
        }
        return text(node, parent.key(key), accepted);
    }

    /** Like {@link #text(MapNode, KeyPath, String, String)} for a node that is present, such as a list item. */
    private Field<String> text(Node node, KeyPath path, String accepted) {
        if (!(node instanceof Scalar s)) {
            wrongShape(path, node, "must be a single value", accepted);
            return Field.bad();
        }
        if (s.broken()) {
            return Field.bad();
        }
        if (s.isEmpty()) {
            return Field.none();
        }
        EnvSubstitution.Result r = EnvSubstitution.apply(s.text(), env);
        if (!r.ok()) {
            for (EnvSubstitution.Failure f : r.failures()) {
                problems.add(path, f.what(), s.text(), f.accepted());
            }
            return Field.bad();
        }
        return r.value().isEmpty() ? Field.none() : Field.of(r.value());
    }

    private Field<String> host(MapNode m, KeyPath parent, String key) {
        Field<String> f = text(m, parent, key, HOST_ACCEPTED);
        if (f.value != null && f.value.chars().anyMatch(c -> Character.isWhitespace(c) || Character.isISOControl(c))) {
            problems.add(parent.key(key), "must not contain whitespace", f.value, HOST_ACCEPTED);
            return Field.bad();
        }
        return f;
    }

    /** A port to listen on: 0 asks the system for any free port (tests use it). */
    private Field<Integer> listenPort(MapNode m, KeyPath parent, String key) {
        return integer(m, parent, key, 0, 65535);
    }

    private Field<Integer> port(MapNode m, KeyPath parent, String key) {
        return integer(m, parent, key, 1, 65535);
    }

    private Field<Integer> integer(MapNode m, KeyPath parent, String key, int min, int max) {
        String accepted = max == 65535
                ? (min == 0 ? "an integer from 0 to 65535 (0: any free port)" : PORT_ACCEPTED)
                : max == Integer.MAX_VALUE ? "an integer of at least " + min : "an integer from " + min + " to " + max;
        Field<String> f = text(m, parent, key, accepted);
        if (f.value == null) {
            return f.invalid ? Field.bad() : Field.none();
        }
        KeyPath path = parent.key(key);
        if (!INTEGER.matcher(f.value).matches()) {
            problems.add(path, "is not a decimal integer", f.value, accepted);
            return Field.bad();
        }
        BigInteger n = new BigInteger(f.value);
        if (n.compareTo(BigInteger.valueOf(min)) < 0 || n.compareTo(BigInteger.valueOf(max)) > 0) {
            problems.add(path, "is out of range", f.value, accepted);
            return Field.bad();
        }
        return Field.of(n.intValueExact());
    }

    private Field<Boolean> bool(MapNode m, KeyPath parent, String key) {
        Field<String> f = text(m, parent, key, "true or false");
        if (f.value == null) {
            return f.invalid ? Field.bad() : Field.none();
        }
        String lower = f.value.toLowerCase(Locale.ROOT);
        if (TRUE_WORDS.contains(lower)) {
            return Field.of(true);
        }
        if (FALSE_WORDS.contains(lower)) {
            return Field.of(false);
        }
        problems.add(parent.key(key), "is not a boolean", f.value, "true or false");
        return Field.bad();
    }

    private Field<Duration> duration(MapNode m, KeyPath parent, String key, boolean zeroDisables) {
        return duration(m, parent, key, zeroDisables ? "to disable" : null);
    }

    /** @param zeroMeans what 0 does, completing "or 0 ..."; null when 0 is not allowed */
    private Field<Duration> duration(MapNode m, KeyPath parent, String key, String zeroMeans) {
        boolean zeroDisables = zeroMeans != null;
        String accepted = "an integer with unit ms, s, m, h or d, like 500ms, 30s, 5m, 1h, 2d, at most 365d"
                + (zeroDisables ? "; or 0 " + zeroMeans : "; above 0");
        Field<String> f = text(m, parent, key, accepted);
        if (f.value == null) {
            return f.invalid ? Field.bad() : Field.none();
        }
        KeyPath path = parent.key(key);
        Matcher matcher = DURATION.matcher(f.value);
        if (!matcher.matches()) {
            problems.add(path, "is not a duration", f.value, accepted);
            return Field.bad();
        }
        BigInteger amount = new BigInteger(matcher.group(1));
        String unitText = matcher.group(2);
        if (unitText.isEmpty()) {
            if (amount.signum() == 0 && zeroDisables) {
                return Field.of(Duration.ZERO);
            }
            if (amount.signum() != 0) {
                // 30 could mean seconds or milliseconds; guessing wrong silently is worse than asking.
                problems.add(path, "has no unit, which is ambiguous", f.value, accepted);
                return Field.bad();
            }
        }
        ChronoUnit unit = unitText.isEmpty() ? ChronoUnit.SECONDS : DURATION_UNITS.get(unitText);
        if (unit == null) {
            problems.add(path, "has an unknown unit '" + unitText + "'", f.value, accepted);
            return Field.bad();
        }
        BigInteger maxAmount =
                BigInteger.valueOf(MAX_DURATION.toMillis() / unit.getDuration().toMillis());
        if (amount.compareTo(maxAmount) > 0) {
            problems.add(path, "is longer than 365d", f.value, accepted);
            return Field.bad();
        }
        Duration d = Duration.of(amount.longValueExact(), unit);
        if (d.isZero() && !zeroDisables) {
            problems.add(path, "must be above 0", f.value, accepted);
            return Field.bad();
        }
        return Field.of(d);
    }

    private Field<Integer> size(MapNode m, KeyPath parent, String key) {
        Field<String> f = text(m, parent, key, SIZE_ACCEPTED);
        if (f.value == null) {
            return f.invalid ? Field.bad() : Field.none();
        }
        KeyPath path = parent.key(key);
        Matcher matcher = SIZE.matcher(f.value);
        if (!matcher.matches()) {
            problems.add(path, "is not a size", f.value, SIZE_ACCEPTED);
            return Field.bad();
        }
        Long multiplier = SIZE_UNITS.get(matcher.group(2).toLowerCase(Locale.ROOT));
        if (multiplier == null) {
            problems.add(path, "has an unknown unit '" + matcher.group(2) + "'", f.value, SIZE_ACCEPTED);
            return Field.bad();
        }
        BigInteger bytes = new BigInteger(matcher.group(1)).multiply(BigInteger.valueOf(multiplier));
        if (bytes.signum() == 0) {
            problems.add(path, "must be above 0", f.value, SIZE_ACCEPTED);
            return Field.bad();
        }
        if (bytes.compareTo(BigInteger.valueOf(Integer.MAX_VALUE)) > 0) {
            problems.add(path, "is too large", f.value, SIZE_ACCEPTED);
            return Field.bad();
        }
        return Field.of(bytes.intValueExact());
    }

    private Field<PoolMode> poolMode(MapNode m, KeyPath parent) {
        return choice(m, parent, "mode", PoolMode.values(), PoolMode::yamlName, "transaction or session");
    }

    /** An empty or null resetQuery is kept as "": run nothing when a session-mode client leaves. */
    private Field<String> resetQuery(MapNode m, KeyPath parent) {
        Node node = m.get("resetQuery");
        if (node instanceof Scalar s && s.isEmpty() && !s.broken()) {
            return Field.of("");
        }
        Field<String> f = text(m, parent, "resetQuery", "an SQL statement, or empty for none");
        return f.absent() && node != null ? Field.of("") : f;
    }

    private <E> Field<E> choice(
            MapNode m, KeyPath parent, String key, E[] values, Function<E, String> yamlName, String accepted) {
        Field<String> f = text(m, parent, key, accepted);
        if (f.value == null) {
            return f.invalid ? Field.bad() : Field.none();
        }
        List<String> names = new ArrayList<>();
        for (E value : values) {
            String name = yamlName.apply(value);
            if (name.equalsIgnoreCase(f.value)) {
                return Field.of(value);
            }
            names.add(name);
        }
        String suggestion = Problems.closest(f.value, names);
        problems.add(
                parent.key(key),
                "is not a known value" + (suggestion == null ? "" : "; did you mean '" + suggestion + "'?"),
                f.value,
                accepted);
        return Field.bad();
    }

    /** Checks a name PostgreSQL will see; {@code label} says what it is when the path alone does not. */
    private void name(KeyPath path, String name, String label) {
        String prefix = label.isEmpty() ? "" : label + " ";
        if (name.isEmpty()) {
            problems.add(path, prefix + "is empty", name, NAME_ACCEPTED);
        } else if (name.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES) {
            problems.add(path, prefix + "is longer than " + MAX_NAME_BYTES + " bytes", name, NAME_ACCEPTED);
        } else if (name.indexOf('\0') >= 0) {
            problems.add(path, prefix + "contains a NUL character", name, NAME_ACCEPTED);
        }
    }

    // ---- structure

    /** A section mapping; null or empty means all defaults. Unknown keys are reported. */
    private MapNode section(Node node, KeyPath path, List<String> keys) {
        return mapping(node, path, keys, "a mapping with the keys " + String.join(", ", keys));
    }

    /**
     * {@code node} as a mapping, or null after reporting that it is not one. With {@code keys}, keys outside it are
     * reported (their values are never shown: a misspelt password key still holds a password).
     */
    private MapNode mapping(Node node, KeyPath path, List<String> keys, String accepted) {
        if (node == null) {
            return MapNode.EMPTY;
        }
        if (node instanceof Scalar s) {
            if (s.broken()) {
                return null;
            }
            if (s.isEmpty()) {
                return MapNode.EMPTY;
            }
        }
        if (!(node instanceof MapNode m)) {
            wrongShape(path, node, "must be a mapping", accepted);
            return null;
        }
        if (keys != null) {
            for (String key : m.entries().keySet()) {
                if (!keys.contains(key)) {
                    String suggestion = Problems.closest(key, keys);
                    problems.add(
                            path.key(key),
                            "unknown key" + (suggestion == null ? "" : "; did you mean '" + suggestion + "'?"),
                            null,
                            String.join(", ", keys));
                }
            }
        }
        return m;
    }

    private void wrongShape(KeyPath path, Node node, String what, String accepted) {
        if (node instanceof Scalar s) {
            problems.add(path, what, s.text(), accepted);
        } else {
            problems.add(path, what + ", not " + (node instanceof ListNode ? "a list" : "a mapping"), null, accepted);
        }
    }
}
