package dev.pggat.pooler.config;

import dev.pggat.pooler.auth.Secret;
import dev.pggat.pooler.config.YamlTree.ListNode;
import dev.pggat.pooler.config.YamlTree.MapNode;
import dev.pggat.pooler.config.YamlTree.Node;
import dev.pggat.pooler.config.YamlTree.Scalar;
import java.math.BigInteger;
import java.net.URI;
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
    static final List<String> ROOT_KEYS = List.of(
            "listen",
            "admin",
            "limits",
            "timeouts",
            "pools",
            "routing",
            "databases",
            "routes",
            "tls",
            "auth",
            "credentials",
            "discovery",
            "tracing");
    static final List<String> LISTEN_KEYS = List.of("host", "port");
    static final List<String> ADMIN_KEYS = List.of("enabled", "host", "port", "token", "users", "statsUsers");
    static final List<String> TRACING_KEYS = List.of("enabled", "samplerRatio", "includeSqlText");
    static final List<String> LIMITS_KEYS = List.of("maxClientConnections", "maxStartupPacketSize", "maxMessageSize");
    static final List<String> TIMEOUTS_KEYS = List.of(
            "clientLogin",
            "queryWait",
            "serverConnect",
            "serverConnectBackoffMax",
            "serverIdle",
            "serverLifetime",
            "shutdown",
            "clientIdle",
            "idleInTransaction",
            "query");
    static final List<String> POOLS_KEYS = List.of(
            "mode",
            "maxServerConnections",
            "minServerConnections",
            "resetQuery",
            "maxDatabaseConnections",
            "maxUserConnections",
            "reservePoolSize",
            "reservePoolTimeout",
            "preparedStatementCacheSize",
            "listenRelay",
            "listenRelayMaxChannels",
            "strictSessionState");
    static final List<String> DATABASE_KEYS = List.of(
            "serverDatabase",
            "endpoints",
            "mode",
            "maxServerConnections",
            "minServerConnections",
            "resetQuery",
            "maxDatabaseConnections",
            "reservePoolSize",
            "reservePoolTimeout",
            "preparedStatementCacheSize",
            "routing",
            "users",
            "tls",
            "serverTls",
            "dynamicUsers",
            "discovery");
    static final List<String> ENDPOINT_KEYS = List.of("host", "port", "role", "name", "zone", "weight", "serverTls");
    static final List<String> USER_KEYS =
            List.of("password", "auth", "serverUser", "serverPassword", "passThrough", "maxUserConnections");
    static final List<String> ROUTING_KEYS = List.of(
            "readWriteSplit",
            "consistency",
            "maxReplicaLag",
            "maxReplicaLagBytes",
            "replicaFallback",
            "probeInterval",
            "primaryWait",
            "primaryFunctions",
            "retryReads");
    static final List<String> TLS_KEYS = List.of(
            "mode", "certFile", "keyFile", "caFile", "clientCert", "reloadInterval", "selfSignedNames", "directTls");
    static final List<String> SERVER_TLS_KEYS = List.of("sslmode", "caFile", "certFile", "keyFile", "reloadInterval");
    static final List<String> AUTH_KEYS = List.of("rules", "certMaps", "maxFailedLogins", "failedLoginWindow");
    static final List<String> RULE_KEYS =
            List.of("databases", "users", "addresses", "tls", "listen", "method", "map", "clientCert");
    static final List<String> CERT_MAP_KEYS = List.of("certName", "user");
    static final List<String> CREDENTIALS_KEYS =
            List.of("directory", "userlist", "reloadInterval", "authQuery", "maxDynamicUsers");
    static final List<String> AUTH_QUERY_KEYS =
            List.of("user", "password", "database", "query", "cacheTtl", "negativeCacheTtl");

    static final List<String> DISCOVERY_SOURCE_KEYS =
            List.of("patroni", "cloudSql", "digitalOcean", "interval", "timeout", "backoffMax");
    static final List<String> PATRONI_KEYS = List.of("members", "maxLagBytes");
    static final List<String> CLOUD_SQL_KEYS =
            List.of("project", "instances", "labels", "ipType", "rootUrl", "credentialsFile", "port");
    static final List<String> DIGITAL_OCEAN_KEYS = List.of("baseUrl", "tokenEnv", "tokenFile", "tag", "network");

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
    private static final String CAP_ACCEPTED = "an integer of at least 0 (0: no cap)";
    private static final String RESERVE_ACCEPTED = "an integer of at least 0 (0: no reserve pool)";
    private static final String CACHE_ACCEPTED = "an integer of at least 1";
    private static final String SIZE_ACCEPTED =
            "bytes as an integer, or an integer with unit B, kB, MB or GB (1024-based), above 0 and below 2GB";

    /** Same bounds as endpoint sets from the admin API and the operator, so both can carry any configured set. */
    static final int MAX_WEIGHT = 10_000;

    /** Long enough that guessing is hopeless, short enough for any generated token. */
    static final int MIN_TOKEN_CHARS = 16;

    /** Names end up in metric labels and log lines, zones in the admin API's answers; the bound keeps those readable. */
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

    final Problems problems;
    private final Map<String, String> env;
    /** Per database, filled while databases are bound. */
    private final Map<String, RouteSecurity> routeSecurity = new LinkedHashMap<>();
    /** The discovery sources, bound before the databases that name them. */
    private Map<String, DiscoveryConfig.Source> discoverySources = Map.of();
    /** Per database that names a discovery source. */
    private final Map<String, DiscoveryConfig.Target> discoveryTargets = new LinkedHashMap<>();
    /** Whether a credential source besides inline passwords exists, which makes {@code password} optional. */
    private CredentialSettings credentialSettings = CredentialSettings.DEFAULT;

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
        keys.put("tracing", TRACING_KEYS);
        keys.put("timeouts", TIMEOUTS_KEYS);
        keys.put("pools", POOLS_KEYS);
        keys.put("routing", ROUTING_KEYS);
        keys.put("databases.<name>", DATABASE_KEYS);
        keys.put("databases.<name>.routing", ROUTING_KEYS);
        keys.put("databases.<name>.endpoints[]", ENDPOINT_KEYS);
        keys.put("databases.<name>.users.<name>", USER_KEYS);
        keys.put("tls", TLS_KEYS);
        keys.put("auth", AUTH_KEYS);
        keys.put("auth.rules[]", RULE_KEYS);
        keys.put("auth.certMaps.<name>[]", CERT_MAP_KEYS);
        keys.put("credentials", CREDENTIALS_KEYS);
        keys.put("credentials.authQuery", AUTH_QUERY_KEYS);
        keys.put("serverTls", SERVER_TLS_KEYS);
        keys.put("discovery.<name>", DISCOVERY_SOURCE_KEYS);
        keys.put("discovery.<name>.patroni", PATRONI_KEYS);
        keys.put("discovery.<name>.cloudSql", CLOUD_SQL_KEYS);
        keys.put("discovery.<name>.digitalOcean", DIGITAL_OCEAN_KEYS);
        keys.put("routes[]", RouteBinder.ROUTE_KEYS);
        keys.put("routes[].match", RouteBinder.MATCH_KEYS);
        keys.put("routes[].error", RouteBinder.ERROR_KEYS);
        keys.put("routes[].rewrite", RouteBinder.REWRITE_KEYS);
        keys.put("routes[].rewrite.parameters.<name>", RouteBinder.PARAMETER_KEYS);
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
        ClientTlsSettings tls = clientTls(m.get("tls"), root0.key("tls"));
        CredentialSettings credentials = credentials(m.get("credentials"), root0.key("credentials"));
        credentialSettings = credentials;
        Map<String, DiscoveryConfig.Source> sources = discoverySources(m.get("discovery"), root0.key("discovery"));
        discoverySources = sources;
        boolean routesGiven = m.get("routes") != null && !(m.get("routes") instanceof Scalar rs && rs.isEmpty());
        Map<String, DatabaseConfig> databases =
                databases(m.get("databases"), root0.key("databases"), pools, routing, !routesGiven);
        List<RouteConfig> routes =
                new RouteBinder(this).routes(m.get("routes"), root0.key("routes"), databases, pools, routing);
        if (routesGiven && databases.isEmpty() && problems.isEmpty()) {
            problems.add(
                    root0.key("routes"),
                    "sends no client to a backend, and databases is empty",
                    null,
                    "at least one database under databases, or a route with a backend");
        }
        AuthSettings auth = auth(m.get("auth"), root0.key("auth"), databases);
        SecurityConfig security = new SecurityConfig(tls, auth, credentials, routeSecurity);
        DiscoveryConfig discovery = new DiscoveryConfig(sources, discoveryTargets);
        TracingConfig tracing = tracing(m.get("tracing"), root0.key("tracing"));
        return new PoolerConfig(
                listen, admin, limits, timeouts, pools.value(), databases, security, discovery, tracing, routes);
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
        Admin admin = new Admin(
                enabled,
                host,
                port.or(Admin.DEFAULT.port()),
                adminToken(m, path),
                consoleUsers(m, path, "users"),
                consoleUsers(m, path, "statsUsers"));
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

    /** admin.users / admin.statsUsers: user names (as clients give them at login) allowed on the admin console. */
    /** A route's own pools for a database get the database's TLS settings. */
    void copyRouteSecurity(String from, String to) {
        RouteSecurity r = routeSecurity.get(from);
        if (r != null) {
            routeSecurity.put(to, r);
        }
    }

    private List<String> consoleUsers(MapNode m, KeyPath path, String key) {
        String accepted = "a user name or a list of user names (no whitespace), like [ops, monitoring]";
        List<String> out = new ArrayList<>();
        List<String> names = strings(m, path, key, accepted);
        for (int i = 0; i < names.size(); i++) {
            String n = names.get(i);
            if (n.isBlank() || n.chars().anyMatch(Character::isWhitespace) || n.length() > 63) {
                problems.add(path.key(key).index(i), "is not a user name", n, accepted + ", at most 63 characters");
            } else {
                out.add(n);
            }
        }
        return out;
    }

    private static boolean overlaps(String a, String b) {
        return a.equalsIgnoreCase(b) || isWildcard(a) || isWildcard(b);
    }

    private static boolean isWildcard(String host) {
        return host.equals("0.0.0.0") || host.equals("::") || host.equals("*");
    }

    private TracingConfig tracing(Node node, KeyPath path) {
        MapNode m = section(node, path, TRACING_KEYS);
        if (m == null) {
            return TracingConfig.DEFAULT;
        }
        TracingConfig d = TracingConfig.DEFAULT;
        return new TracingConfig(
                bool(m, path, "enabled").or(d.enabled()),
                ratio(m, path, "samplerRatio").or(d.samplerRatio()),
                bool(m, path, "includeSqlText").or(d.includeSqlText()));
    }

    /** A share from 0 to 1, written as a decimal number (0, 0.25, 1). */
    private Field<Double> ratio(MapNode m, KeyPath parent, String key) {
        String accepted = "a decimal number from 0 to 1, like 0, 0.1 or 1";
        Field<String> f = text(m, parent, key, accepted);
        if (f.value == null) {
            return f.invalid ? Field.bad() : Field.none();
        }
        if (!RATIO.matcher(f.value).matches()) {
            problems.add(parent.key(key), "is not a decimal number", f.value, accepted);
            return Field.bad();
        }
        double v = Double.parseDouble(f.value);
        if (v > 1) {
            problems.add(parent.key(key), "is out of range", f.value, accepted);
            return Field.bad();
        }
        return Field.of(v);
    }

    private static final Pattern RATIO = Pattern.compile("[0-9]{1,3}(\\.[0-9]{1,9})?");

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
                duration(m, path, "shutdown", false).or(d.shutdown()),
                duration(m, path, "clientIdle", true).or(d.clientIdle()),
                duration(m, path, "idleInTransaction", true).or(d.idleInTransaction()),
                duration(m, path, "query", true).or(d.query()));
    }

    /** The pool defaults plus whether each connection count was valid, for the per-database min/max check. */
    record Pools(PoolDefaults value, boolean maxValid, boolean minValid) {}

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
        PoolLimits limits = poolLimits(m, path, d.limits());
        int maxUser = integer(m, path, "maxUserConnections", 0, Integer.MAX_VALUE, CAP_ACCEPTED)
                .or(d.maxUserConnections());
        boolean relay = bool(m, path, "listenRelay").or(d.listenRelay());
        int relayChannels =
                integer(m, path, "listenRelayMaxChannels", 1, Integer.MAX_VALUE).or(d.listenRelayMaxChannels());
        boolean strict = bool(m, path, "strictSessionState").or(d.strictSessionState());
        PoolDefaults pools = new PoolDefaults(
                mode,
                max.or(d.maxServerConnections()),
                min.or(d.minServerConnections()),
                reset,
                limits,
                maxUser,
                relay,
                relayChannels,
                strict);
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

    private Map<String, DatabaseConfig> databases(
            Node node, KeyPath path, Pools pools, RoutingConfig routing, boolean required) {
        Map<String, DatabaseConfig> result = new LinkedHashMap<>();
        String accepted = "a mapping from the database name clients use to its settings";
        MapNode m = mapping(node, path, null, accepted);
        if (m == null) {
            return result;
        }
        if (m.entries().isEmpty()) {
            if (required) {
                problems.add(path, "at least one database is required", null, accepted);
            }
            return result;
        }
        Map<String, String[]> userCaps = new HashMap<>();
        for (Map.Entry<String, Node> e : m.entries().entrySet()) {
            KeyPath dbPath = path.key(e.getKey());
            name(dbPath, e.getKey(), "database name");
            DatabaseConfig db = database(e.getKey(), e.getValue(), dbPath, pools, routing);
            if (db != null) {
                result.put(e.getKey(), db);
                sameUserCap(db, dbPath, userCaps);
            }
        }
        return result;
    }

    /**
     * A user's cap counts its server connections in every database, so it is one number: a user that sets it in
     * several databases must set the same value in each.
     */
    private void sameUserCap(DatabaseConfig db, KeyPath dbPath, Map<String, String[]> seen) {
        for (UserConfig u : db.users().values()) {
            if (u.maxUserConnections() == 0) {
                continue;
            }
            String value = String.valueOf(u.maxUserConnections());
            String[] first = seen.putIfAbsent(u.name(), new String[] {db.name(), value});
            if (first != null && !first[1].equals(value)) {
                problems.add(
                        dbPath.key("users").key(u.name()).key("maxUserConnections"),
                        "differs from databases." + first[0] + ".users." + u.name() + ".maxUserConnections (" + first[1]
                                + "); the cap counts the user's connections across all databases",
                        value,
                        "the same value in every database that sets it (" + first[1] + "), or leave it out here");
            }
        }
    }

    DatabaseConfig database(String name, Node node, KeyPath path, Pools pools, RoutingConfig routing) {
        MapNode m = section(node, path, DATABASE_KEYS);
        if (m == null) {
            return null;
        }
        PoolDefaults d = pools.value();
        Field<String> serverDatabase = text(m, path, "serverDatabase", NAME_ACCEPTED);
        if (serverDatabase.value != null) {
            name(path.key("serverDatabase"), serverDatabase.value, "");
        }
        Map<String, dev.pggat.pooler.tls.BackendTlsConfig> endpointTls = new LinkedHashMap<>();
        DiscoveryConfig.Target discovered = discoveryTarget(m, path);
        // A discovery key that names no source is reported once, not again as missing endpoints.
        List<Endpoint> endpoints = discovered != null || m.get("discovery") != null
                ? List.of()
                : endpoints(m.get("endpoints"), path.key("endpoints"), endpointTls);
        if (discovered != null) {
            discoveryTargets.put(name, discovered);
        }
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
        java.util.Set<String> passThrough = new java.util.LinkedHashSet<>();
        // A source that lists users (DigitalOcean, Cloud SQL) may be the only place they are named.
        Map<String, UserConfig> users = discovered != null && m.get("users") == null
                ? new LinkedHashMap<>()
                : users(m.get("users"), path.key("users"), passThrough);
        boolean dynamicUsers = dynamicUsers(m, path, users.isEmpty() && m.get("users") == null);
        RoutingConfig dbRouting = routing(m.get("routing"), path.key("routing"), routing);
        TlsPolicy clientTls = tlsPolicy(m, path, "tls").value;
        dev.pggat.pooler.tls.BackendTlsConfig serverTls = serverTls(m.get("serverTls"), path.key("serverTls"));
        RouteSecurity route = new RouteSecurity(
                clientTls,
                serverTls == null ? RouteSecurity.DEFAULT.serverTls() : serverTls,
                endpointTls,
                passThrough,
                dynamicUsers);
        if (!route.isDefault()) {
            routeSecurity.put(name, route);
        }
        PoolLimits limits = poolLimits(m, path, d.limits());
        if (limits.maxDatabaseConnections() > 0
                && effectiveMin > limits.maxDatabaseConnections()
                && !min.invalid
                && (min.present() || pools.minValid())) {
            problems.add(
                    path.key("maxDatabaseConnections"),
                    "is below minServerConnections (" + effectiveMin + "), which one pool alone could never reach",
                    String.valueOf(limits.maxDatabaseConnections()),
                    "0 (no cap) or at least minServerConnections");
        }
        return new DatabaseConfig(
                name,
                serverDatabase.or(name),
                endpoints,
                mode,
                effectiveMax,
                effectiveMin,
                reset,
                users,
                dbRouting,
                limits);
    }

    /** The caps, reserve pool and cache keys of {@code pools} or of a database, over {@code inherited}. */
    private PoolLimits poolLimits(MapNode m, KeyPath path, PoolLimits inherited) {
        return new PoolLimits(
                integer(m, path, "maxDatabaseConnections", 0, Integer.MAX_VALUE, CAP_ACCEPTED)
                        .or(inherited.maxDatabaseConnections()),
                integer(m, path, "reservePoolSize", 0, Integer.MAX_VALUE, RESERVE_ACCEPTED)
                        .or(inherited.reservePoolSize()),
                duration(m, path, "reservePoolTimeout", "to open the reserve as soon as a client waits")
                        .or(inherited.reservePoolTimeout()),
                integer(m, path, "preparedStatementCacheSize", 1, Integer.MAX_VALUE, CACHE_ACCEPTED)
                        .or(inherited.preparedStatementCacheSize()));
    }

    private List<Endpoint> endpoints(
            Node node, KeyPath path, Map<String, dev.pggat.pooler.tls.BackendTlsConfig> endpointTls) {
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
            dev.pggat.pooler.tls.BackendTlsConfig own = serverTls(m.get("serverTls"), p.key("serverTls"));
            if (own != null) {
                endpointTls.put(RouteSecurity.key(endpoint.host(), endpoint.port()), own);
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

    /**
     * {@code dynamicUsers}: users a credential source knows may log in without being listed. On by default for a
     * database that lists no users, which is only valid with a credential source.
     */
    private boolean dynamicUsers(MapNode m, KeyPath path, boolean noUsersListed) {
        String accepted =
                "true or false; true needs credentials.directory, credentials.userlist or" + " credentials.authQuery";
        Field<Boolean> f = bool(m, path, "dynamicUsers");
        if (f.invalid) {
            return false;
        }
        boolean on = f.or(noUsersListed);
        if (on && !credentialSettings.any()) {
            if (f.present()) {
                problems.add(
                        path.key("dynamicUsers"),
                        "needs a credential source to look users up in, and none is configured",
                        "true",
                        accepted);
            }
            return false;
        }
        return on;
    }

    private Map<String, UserConfig> users(Node node, KeyPath path, java.util.Set<String> passThrough) {
        String accepted = "a mapping from the user name clients log in as to its settings";
        Map<String, UserConfig> result = new LinkedHashMap<>();
        if (node == null && credentialSettings.any()) {
            // Users come from the credential sources on demand (dynamic users).
            return result;
        }
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
                if (e.getValue() instanceof MapNode um
                        && bool(um, userPath, "passThrough").or(false)) {
                    passThrough.add(e.getKey());
                }
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
        } else if (passwordText.absent()
                && auth != AuthMethod.TRUST
                && !authField.invalid
                && !credentialSettings.any()) {
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
            } else if (password != null
                    && passwordKnown
                    && !passThroughSet(m, path)
                    && credentialSettings.directory() == null
                    && credentialSettings.userlist() == null) {
                String kind = password instanceof Secret.Md5 ? "an md5 hash" : "a SCRAM-SHA-256 verifier";
                problems.add(
                        serverPasswordPath,
                        "is required because password is " + kind
                                + " and the pooler cannot log in to the server with it",
                        null,
                        "the server password in plain text");
            }
        }

        if (!passwordKnown
                || authField.invalid
                || (password == null && auth != AuthMethod.TRUST && !credentialSettings.any())) {
            return null;
        }
        int maxUser = integer(m, path, "maxUserConnections", 0, Integer.MAX_VALUE, CAP_ACCEPTED)
                .or(0);
        return new UserConfig(name, password, auth, serverUser.or(name), serverPassword, maxUser);
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
        boolean retryReads = bool(m, path, "retryReads").or(d.retryReads());
        return new RoutingConfig(
                split, consistency, maxLag, maxLagBytes, fallback, probe, primaryWait, functions, retryReads);
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

    // ---- authentication and TLS (tls, auth, credentials; per database tls, serverTls, passThrough)

    private static final String TLS_POLICY_ACCEPTED = "disable, allow, prefer or require";
    private static final String PATH_ACCEPTED = "a file or directory path";

    private ClientTlsSettings clientTls(Node node, KeyPath path) {
        MapNode m = section(node, path, TLS_KEYS);
        ClientTlsSettings d = ClientTlsSettings.DEFAULT;
        if (m == null || m.entries().isEmpty()) {
            return d;
        }
        TlsPolicy policy = tlsPolicy(m, path, "mode").or(TlsPolicy.PREFER);
        Field<java.nio.file.Path> cert = filePath(m, path, "certFile");
        Field<java.nio.file.Path> key = filePath(m, path, "keyFile");
        Field<java.nio.file.Path> ca = filePath(m, path, "caFile");
        Field<dev.pggat.pooler.tls.ClientCertMode> clientCert = choice(
                m,
                path,
                "clientCert",
                dev.pggat.pooler.tls.ClientCertMode.values(),
                dev.pggat.pooler.tls.ClientCertMode::configName,
                "none, verify-ca or verify-full");
        Duration reload = duration(m, path, "reloadInterval", true).or(d.reloadInterval());
        List<String> names = strings(m, path, "selfSignedNames", "a list of DNS names or IP addresses");
        boolean direct = bool(m, path, "directTls").or(d.directTls());
        if (cert.present() != key.present() && !cert.invalid && !key.invalid) {
            problems.add(
                    path.key(cert.present() ? "keyFile" : "certFile"),
                    "is required with " + (cert.present() ? "certFile" : "keyFile"),
                    null,
                    "certFile and keyFile together, or neither (a self-signed certificate is generated)");
        }
        if (clientCert.present() && clientCert.value.requiresCertificate() && ca.absent()) {
            problems.add(
                    path.key("caFile"),
                    "is required with clientCert " + clientCert.value.configName(),
                    null,
                    "the PEM file of the CA that signs client certificates");
        }
        if (policy == TlsPolicy.DISABLE && (cert.present() || clientCert.present())) {
            problems.add(
                    path.key("mode"),
                    "is disable, which ignores the certificate settings",
                    "disable",
                    "allow, prefer or require to use them, or remove them");
        }
        for (String n : names) {
            if (n.isBlank() || n.chars().anyMatch(Character::isWhitespace)) {
                problems.add(
                        path.key("selfSignedNames"),
                        "must not be empty or contain spaces",
                        n,
                        "DNS names or IP addresses");
            }
        }
        return new ClientTlsSettings(
                policy,
                cert.value,
                key.value,
                ca.value,
                clientCert.or(dev.pggat.pooler.tls.ClientCertMode.NONE),
                reload,
                names,
                direct);
    }

    private Field<TlsPolicy> tlsPolicy(MapNode m, KeyPath parent, String key) {
        return choice(m, parent, key, TlsPolicy.values(), TlsPolicy::yamlName, TLS_POLICY_ACCEPTED);
    }

    /** A {@code serverTls} mapping; null when absent or invalid (reported). */
    private dev.pggat.pooler.tls.BackendTlsConfig serverTls(Node node, KeyPath path) {
        if (node == null) {
            return null;
        }
        MapNode m = section(node, path, SERVER_TLS_KEYS);
        if (m == null || m.entries().isEmpty()) {
            return null;
        }
        String accepted = "disable, allow, prefer, require, verify-ca or verify-full";
        Field<dev.pggat.pooler.tls.ServerSslMode> mode = choice(
                m,
                path,
                "sslmode",
                dev.pggat.pooler.tls.ServerSslMode.values(),
                dev.pggat.pooler.tls.ServerSslMode::configName,
                accepted);
        Field<java.nio.file.Path> ca = filePath(m, path, "caFile");
        Field<java.nio.file.Path> cert = filePath(m, path, "certFile");
        Field<java.nio.file.Path> key = filePath(m, path, "keyFile");
        Duration reload = duration(m, path, "reloadInterval", true)
                .or(dev.pggat.pooler.tls.ServerTlsConfig.DEFAULT_RELOAD_INTERVAL);
        if (mode.invalid || ca.invalid || cert.invalid || key.invalid) {
            return null;
        }
        try {
            return new dev.pggat.pooler.tls.BackendTlsConfig(
                    mode.or(dev.pggat.pooler.tls.ServerSslMode.PREFER), ca.value, cert.value, key.value, reload);
        } catch (IllegalArgumentException e) {
            problems.add(
                    path,
                    e.getMessage(),
                    null,
                    "sslmode with caFile for verify-ca and verify-full;" + " certFile and keyFile together");
            return null;
        }
    }

    private CredentialSettings credentials(Node node, KeyPath path) {
        MapNode m = section(node, path, CREDENTIALS_KEYS);
        CredentialSettings d = CredentialSettings.DEFAULT;
        if (m == null || m.entries().isEmpty()) {
            return d;
        }
        Field<java.nio.file.Path> dir = filePath(m, path, "directory");
        Field<java.nio.file.Path> userlist = filePath(m, path, "userlist");
        Duration reload = duration(m, path, "reloadInterval", true).or(d.reloadInterval());
        AuthQuerySettings query = null;
        Node q = m.get("authQuery");
        if (q != null) {
            KeyPath qp = path.key("authQuery");
            MapNode qm = section(q, qp, AUTH_QUERY_KEYS);
            if (qm != null && !qm.entries().isEmpty()) {
                Field<String> user = text(qm, qp, "user", NAME_ACCEPTED);
                if (user.absent()) {
                    problems.add(qp.key("user"), "is required", null, "the server role that runs the query");
                }
                Field<String> password = text(qm, qp, "password", "the auth user's password in plain text");
                if (password.value != null && !isPlain(password.value)) {
                    problems.add(
                            qp.key("password"),
                            "must be plain text: the pooler logs in with it",
                            password.value,
                            "the auth user's password in plain text");
                }
                Field<String> database = text(qm, qp, "database", NAME_ACCEPTED);
                Field<String> sql = text(qm, qp, "query", "an SQL query with parameter $1 (the user name)");
                if (sql.value != null && !sql.value.contains("$1")) {
                    problems.add(
                            qp.key("query"),
                            "does not use $1, the user name",
                            sql.value,
                            "an SQL query with parameter $1 returning the secret in its last column");
                }
                Duration ttl = duration(qm, qp, "cacheTtl", true).or(Duration.ofMinutes(1));
                Duration negative = duration(qm, qp, "negativeCacheTtl", true).or(Duration.ofSeconds(10));
                if (user.value != null) {
                    query = new AuthQuerySettings(
                            user.value,
                            password.value,
                            database.value,
                            sql.or(AuthQuerySettings.DEFAULT_QUERY),
                            ttl,
                            negative);
                }
            }
        }
        int maxDynamic =
                integer(m, path, "maxDynamicUsers", 0, 1_000_000).or(CredentialSettings.DEFAULT_MAX_DYNAMIC_USERS);
        return new CredentialSettings(dir.value, userlist.value, reload, query, maxDynamic);
    }

    private AuthSettings auth(Node node, KeyPath path, Map<String, DatabaseConfig> databases) {
        MapNode m = section(node, path, AUTH_KEYS);
        AuthSettings d = AuthSettings.DEFAULT;
        if (m == null || m.entries().isEmpty()) {
            return d;
        }
        int maxFailed =
                integer(m, path, "maxFailedLogins", 0, Integer.MAX_VALUE).or(d.maxFailedLogins());
        Duration window = duration(m, path, "failedLoginWindow", false).or(d.failedLoginWindow());

        Map<String, List<CertMapEntry>> maps = new LinkedHashMap<>();
        Node mapsNode = m.get("certMaps");
        KeyPath mapsPath = path.key("certMaps");
        MapNode mm = mapping(mapsNode, mapsPath, null, "a mapping from map name to a list of {certName, user}");
        if (mm != null) {
            for (Map.Entry<String, Node> e : mm.entries().entrySet()) {
                KeyPath mp = mapsPath.key(e.getKey());
                List<CertMapEntry> entries = new ArrayList<>();
                if (!(e.getValue() instanceof ListNode list)) {
                    wrongShape(mp, e.getValue(), "must be a list", "a list of {certName, user}");
                    continue;
                }
                for (int i = 0; i < list.items().size(); i++) {
                    KeyPath ep = mp.index(i);
                    MapNode em = mapping(list.items().get(i), ep, CERT_MAP_KEYS, "a mapping with certName and user");
                    if (em == null) {
                        continue;
                    }
                    Field<String> certName = text(em, ep, "certName", "a certificate name, or /regex");
                    Field<String> user = text(em, ep, "user", "a user name; \\1 takes the regex's first group");
                    if (certName.absent()) {
                        problems.add(ep.key("certName"), "is required", null, "a certificate name, or /regex");
                    }
                    if (user.absent()) {
                        problems.add(ep.key("user"), "is required", null, "a user name");
                    }
                    if (certName.value != null && certName.value.startsWith("/")) {
                        try {
                            Pattern.compile(certName.value.substring(1));
                        } catch (java.util.regex.PatternSyntaxException ex) {
                            problems.add(
                                    ep.key("certName"),
                                    "is not a valid regular expression: " + ex.getDescription(),
                                    certName.value,
                                    "a certificate name, or '/' followed by a Java regular expression");
                        }
                    }
                    if (certName.value != null && user.value != null) {
                        entries.add(new CertMapEntry(certName.value, user.value));
                    }
                }
                maps.put(e.getKey(), entries);
            }
        }

        List<AuthRule> rules = new ArrayList<>();
        Node rulesNode = m.get("rules");
        KeyPath rulesPath = path.key("rules");
        if (rulesNode != null && !(rulesNode instanceof Scalar rs && rs.isEmpty())) {
            if (!(rulesNode instanceof ListNode list)) {
                wrongShape(rulesPath, rulesNode, "must be a list", "a list of rules, first match wins");
            } else {
                for (int i = 0; i < list.items().size(); i++) {
                    AuthRule rule = rule(list.items().get(i), rulesPath.index(i), maps, databases);
                    if (rule != null) {
                        rules.add(rule);
                    }
                }
            }
        }
        return new AuthSettings(rules, maps, maxFailed, window);
    }

    private AuthRule rule(
            Node node, KeyPath p, Map<String, List<CertMapEntry>> maps, Map<String, DatabaseConfig> databases) {
        MapNode m = mapping(node, p, RULE_KEYS, "a mapping with the keys " + String.join(", ", RULE_KEYS));
        if (m == null) {
            return null;
        }
        String methods = "trust, password, md5, scram-sha-256, cert or reject";
        Field<AuthRule.Method> method =
                choice(m, p, "method", AuthRule.Method.values(), AuthRule.Method::yamlName, methods);
        if (method.absent()) {
            problems.add(p.key("method"), "is required", null, methods);
        }
        List<String> dbs = strings(m, p, "databases", "database names, or all");
        for (String db : dbs) {
            if (!db.equals("all") && !databases.containsKey(db)) {
                problems.add(p.key("databases"), "names no configured database", db, "names under databases, or all");
            }
        }
        List<String> users = strings(m, p, "users", "user names, or all");
        List<dev.pggat.pooler.auth.Cidr> addresses = cidrs(m, p, "addresses");
        List<dev.pggat.pooler.auth.Cidr> listen = cidrs(m, p, "listen");
        Field<Boolean> tls = bool(m, p, "tls");
        Field<String> map = text(m, p, "map", "a name under auth.certMaps");
        if (map.value != null && !maps.containsKey(map.value)) {
            problems.add(p.key("map"), "names no certificate map", map.value, "a name under auth.certMaps");
        }
        if (map.value != null && method.value != null && method.value != AuthRule.Method.CERT) {
            problems.add(p.key("map"), "is only used by method cert", map.value, "remove it, or use method cert");
        }
        Field<dev.pggat.pooler.tls.ClientCertMode> clientCert = choice(
                m,
                p,
                "clientCert",
                dev.pggat.pooler.tls.ClientCertMode.values(),
                dev.pggat.pooler.tls.ClientCertMode::configName,
                "none, verify-ca or verify-full");
        if (method.value == AuthRule.Method.CERT && Boolean.FALSE.equals(tls.value)) {
            problems.add(p.key("tls"), "is false, but method cert needs TLS", "false", "true, or leave it out");
        }
        if (method.value == null) {
            return null;
        }
        java.util.Set<String> dbSet = dbs.contains("all") ? java.util.Set.of() : java.util.Set.copyOf(dbs);
        java.util.Set<String> userSet = users.contains("all") ? java.util.Set.of() : java.util.Set.copyOf(users);
        return new AuthRule(
                dbSet,
                userSet,
                addresses,
                method.value == AuthRule.Method.CERT && tls.value == null ? Boolean.TRUE : tls.value,
                listen,
                method.value,
                map.value,
                clientCert.value);
    }

    List<dev.pggat.pooler.auth.Cidr> cidrs(MapNode m, KeyPath p, String key) {
        List<dev.pggat.pooler.auth.Cidr> out = new ArrayList<>();
        for (String v : strings(m, p, key, "IP addresses or CIDR ranges like 10.0.0.0/8, or all")) {
            try {
                dev.pggat.pooler.auth.Cidr c = dev.pggat.pooler.auth.Cidr.parse(v);
                if (c == dev.pggat.pooler.auth.Cidr.ALL) {
                    return List.of();
                }
                out.add(c);
            } catch (IllegalArgumentException e) {
                problems.add(p.key(key), e.getMessage(), v, "IP addresses or CIDR ranges like 10.0.0.0/8, or all");
            }
        }
        return out;
    }

    /** A single value or a list of values; absent = empty. */
    List<String> strings(MapNode m, KeyPath parent, String key, String accepted) {
        Node node = m.get(key);
        if (node == null) {
            return List.of();
        }
        if (node instanceof Scalar) {
            Field<String> f = text(m, parent, key, accepted);
            return f.value == null ? List.of() : List.of(f.value);
        }
        if (!(node instanceof ListNode list)) {
            wrongShape(parent.key(key), node, "must be a value or a list", accepted);
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < list.items().size(); i++) {
            Node item = list.items().get(i);
            KeyPath ip = parent.key(key).index(i);
            if (!(item instanceof Scalar sc) || sc.isEmpty()) {
                wrongShape(ip, item, "must be a single value", accepted);
                continue;
            }
            EnvSubstitution.Result r = EnvSubstitution.apply(sc.text(), env);
            if (!r.ok()) {
                for (EnvSubstitution.Failure f : r.failures()) {
                    problems.add(ip, f.what(), sc.text(), f.accepted());
                }
                continue;
            }
            out.add(r.value());
        }
        return out;
    }

    private Field<java.nio.file.Path> filePath(MapNode m, KeyPath parent, String key) {
        Field<String> f = text(m, parent, key, PATH_ACCEPTED);
        if (f.value == null) {
            return f.invalid ? Field.bad() : Field.none();
        }
        try {
            return Field.of(java.nio.file.Path.of(f.value));
        } catch (java.nio.file.InvalidPathException e) {
            problems.add(parent.key(key), "is not a valid path", f.value, PATH_ACCEPTED);
            return Field.bad();
        }
    }

    /** Whether {@code passThrough} is true, without reporting (users() reports a bad value once). */
    private boolean passThroughSet(MapNode m, KeyPath path) {
        Node n = m.get("passThrough");
        if (!(n instanceof Scalar s) || s.isEmpty()) {
            return false;
        }
        EnvSubstitution.Result r = EnvSubstitution.apply(s.text(), env);
        return r.ok() && TRUE_WORDS.contains(r.value().toLowerCase(Locale.ROOT));
    }

    // ---- typed values

    /** A value that is absent (default applies), invalid (already reported) or present. */
    static final class Field<T> {
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
    Field<String> text(MapNode m, KeyPath parent, String key, String accepted) {
        Node node = m.get(key);
        if (node == null) {
            return Field.none();
        }
        return text(node, parent.key(key), accepted);
    }

    /** Like {@link #text(MapNode, KeyPath, String, String)} for a node that is present, such as a list item. */
    Field<String> text(Node node, KeyPath path, String accepted) {
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
        return integer(m, parent, key, min, max, accepted);
    }

    private Field<Integer> integer(MapNode m, KeyPath parent, String key, int min, int max, String accepted) {
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

    Field<Boolean> bool(MapNode m, KeyPath parent, String key) {
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
    void name(KeyPath path, String name, String label) {
        String prefix = label.isEmpty() ? "" : label + " ";
        if (name.isEmpty()) {
            problems.add(path, prefix + "is empty", name, NAME_ACCEPTED);
        } else if (name.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES) {
            problems.add(path, prefix + "is longer than " + MAX_NAME_BYTES + " bytes", name, NAME_ACCEPTED);
        } else if (name.indexOf('\0') >= 0) {
            problems.add(path, prefix + "contains a NUL character", name, NAME_ACCEPTED);
        }
    }

    // ---- discovery (sources, and the databases' discovery key)

    private Map<String, DiscoveryConfig.Source> discoverySources(Node node, KeyPath path) {
        Map<String, DiscoveryConfig.Source> result = new LinkedHashMap<>();
        MapNode m = mapping(node, path, null, "a mapping from a source name to its settings");
        if (m == null) {
            return result;
        }
        for (Map.Entry<String, Node> e : m.entries().entrySet()) {
            KeyPath p = path.key(e.getKey());
            if (!e.getKey().matches("[A-Za-z0-9_.-]{1,63}")) {
                problems.add(p, "is not a valid source name", e.getKey(), "1 to 63 letters, digits, _, . or -");
                continue;
            }
            DiscoveryConfig.Source source = discoverySource(e.getValue(), p);
            if (source != null) {
                result.put(e.getKey(), source);
            }
        }
        return result;
    }

    private DiscoveryConfig.Source discoverySource(Node node, KeyPath path) {
        MapNode m = section(node, path, DISCOVERY_SOURCE_KEYS);
        if (m == null) {
            return null;
        }
        List<String> kinds = new ArrayList<>();
        for (String k : List.of("patroni", "cloudSql", "digitalOcean")) {
            if (m.get(k) != null) {
                kinds.add(k);
            }
        }
        String accepted = "exactly one of patroni, cloudSql or digitalOcean";
        if (kinds.size() != 1) {
            problems.add(
                    path,
                    kinds.isEmpty() ? "names no kind of source" : "names " + kinds.size() + " kinds of source",
                    kinds.isEmpty() ? null : String.join(", ", kinds),
                    accepted);
            return null;
        }
        String kind = kinds.get(0);
        DiscoveryConfig.Schedule d =
                switch (kind) {
                    case "patroni" -> DiscoveryConfig.Patroni.DEFAULT_SCHEDULE;
                    case "cloudSql" -> DiscoveryConfig.CloudSql.DEFAULT_SCHEDULE;
                    default -> DiscoveryConfig.DigitalOcean.DEFAULT_SCHEDULE;
                };
        Field<Duration> interval = duration(m, path, "interval", false);
        Field<Duration> timeout = duration(m, path, "timeout", false);
        Field<Duration> backoffMax = duration(m, path, "backoffMax", false);
        DiscoveryConfig.Schedule schedule = new DiscoveryConfig.Schedule(
                interval.or(d.interval()), timeout.or(d.timeout()), backoffMax.or(d.backoffMax()));
        if (!interval.invalid && !backoffMax.invalid && schedule.backoffMax().compareTo(schedule.interval()) < 0) {
            problems.add(
                    path.key("backoffMax"),
                    "is shorter than the interval (" + schedule.interval().toMillis() + " ms)",
                    String.valueOf(schedule.backoffMax().toMillis()) + "ms",
                    "a duration of at least the interval");
        }
        KeyPath kp = path.key(kind);
        return switch (kind) {
            case "patroni" -> patroni(m.get(kind), kp, schedule);
            case "cloudSql" -> cloudSql(m.get(kind), kp, schedule);
            default -> digitalOcean(m.get(kind), kp, schedule);
        };
    }

    private DiscoveryConfig.Patroni patroni(Node node, KeyPath path, DiscoveryConfig.Schedule schedule) {
        MapNode m = section(node, path, PATRONI_KEYS);
        if (m == null) {
            return null;
        }
        String accepted = "a list of the members' REST API URLs, like http://10.0.0.5:8008";
        List<URI> members = new ArrayList<>();
        List<String> texts = strings(m, path, "members", accepted);
        if (texts.isEmpty() && m.get("members") == null) {
            problems.add(path.key("members"), "is required", null, accepted);
        }
        for (int i = 0; i < texts.size(); i++) {
            URI u = httpUrl(path.key("members").index(i), texts.get(i), accepted);
            if (u != null) {
                members.add(u);
            }
        }
        long maxLag = lagBytes(m, path, "maxLagBytes").or(0L);
        return new DiscoveryConfig.Patroni(members, maxLag, schedule);
    }

    private DiscoveryConfig.CloudSql cloudSql(Node node, KeyPath path, DiscoveryConfig.Schedule schedule) {
        MapNode m = section(node, path, CLOUD_SQL_KEYS);
        if (m == null) {
            return null;
        }
        String projectAccepted = "a Google Cloud project id, like my-project-123";
        Field<String> project = text(m, path, "project", projectAccepted);
        if (project.absent()) {
            problems.add(path.key("project"), "is required", null, projectAccepted);
        } else if (project.value != null && !project.value.matches("[a-z][a-z0-9-:.]{2,100}")) {
            problems.add(path.key("project"), "is not a project id", project.value, projectAccepted);
        }
        String patternAccepted = "a Java regular expression that whole instance names must match, like orders-.*";
        Field<String> instances = text(m, path, "instances", patternAccepted);
        java.util.regex.Pattern pattern = null;
        if (instances.value != null) {
            try {
                pattern = java.util.regex.Pattern.compile(instances.value);
            } catch (java.util.regex.PatternSyntaxException e) {
                problems.add(path.key("instances"), "is not a regular expression", instances.value, patternAccepted);
            }
        }
        Map<String, String> labels = new LinkedHashMap<>();
        MapNode lm = mapping(m.get("labels"), path.key("labels"), null, "a mapping from label key to value");
        if (lm != null) {
            for (Map.Entry<String, Node> e : lm.entries().entrySet()) {
                Field<String> v = text(e.getValue(), path.key("labels").key(e.getKey()), "a label value");
                if (v.value != null) {
                    labels.put(e.getKey(), v.value);
                }
            }
        }
        Field<DiscoveryConfig.IpType> ipType = choice(
                m, path, "ipType", DiscoveryConfig.IpType.values(), t -> t.name(), "PRIMARY (public), PRIVATE or PSC");
        Field<String> rootUrl = text(m, path, "rootUrl", "an http or https URL");
        if (rootUrl.value != null) {
            httpUrl(path.key("rootUrl"), rootUrl.value, "an http or https URL ending in /");
        }
        Field<java.nio.file.Path> credentials = filePath(m, path, "credentialsFile");
        Field<Integer> port = port(m, path, "port");
        if (project.value == null) {
            return null;
        }
        return new DiscoveryConfig.CloudSql(
                project.value,
                pattern,
                labels,
                ipType.or(DiscoveryConfig.IpType.PRIVATE),
                rootUrl.value,
                credentials.value,
                port.or(Endpoint.DEFAULT_PORT),
                schedule);
    }

    private DiscoveryConfig.DigitalOcean digitalOcean(Node node, KeyPath path, DiscoveryConfig.Schedule schedule) {
        MapNode m = section(node, path, DIGITAL_OCEAN_KEYS);
        if (m == null) {
            return null;
        }
        Field<String> baseUrl = text(m, path, "baseUrl", "an http or https URL");
        if (baseUrl.value != null) {
            httpUrl(path.key("baseUrl"), baseUrl.value, "an http or https URL");
        }
        Field<String> tokenEnv = text(m, path, "tokenEnv", "the name of an environment variable");
        Field<java.nio.file.Path> tokenFile = filePath(m, path, "tokenFile");
        if (tokenEnv.present() && tokenFile.present()) {
            problems.add(
                    path.key("tokenFile"),
                    "is set together with tokenEnv",
                    tokenFile.value.toString(),
                    "either tokenEnv or tokenFile");
        }
        Field<String> tag = label(m, path, "tag", "a DigitalOcean tag");
        Field<String> network = text(m, path, "network", "public or private");
        boolean privateNetwork = false;
        if (network.value != null) {
            if (network.value.equals("private")) {
                privateNetwork = true;
            } else if (!network.value.equals("public")) {
                problems.add(path.key("network"), "is not a network", network.value, "public or private");
            }
        }
        String env = tokenEnv.value == null && tokenFile.value == null
                ? DiscoveryConfig.DigitalOcean.DEFAULT_TOKEN_ENV
                : tokenEnv.value;
        return new DiscoveryConfig.DigitalOcean(
                baseUrl.or(DiscoveryConfig.DigitalOcean.DEFAULT_BASE_URL),
                env,
                tokenFile.value,
                tag.value,
                privateNetwork,
                schedule);
    }

    private URI httpUrl(KeyPath path, String text, String accepted) {
        try {
            URI u = new URI(text);
            if (("http".equals(u.getScheme()) || "https".equals(u.getScheme())) && u.getHost() != null) {
                return u;
            }
        } catch (java.net.URISyntaxException e) {
            // reported below
        }
        problems.add(path, "is not an http or https URL", text, accepted);
        return null;
    }

    /**
     * A database's {@code discovery}: {@code <source>} or {@code <source>/<cluster>}. Such a database lists no
     * endpoints: the source gives them.
     */
    private DiscoveryConfig.Target discoveryTarget(MapNode m, KeyPath path) {
        String accepted = "the name of a source under discovery, optionally followed by /<cluster name>"
                + (discoverySources.isEmpty()
                        ? " (none is configured)"
                        : " (" + String.join(", ", discoverySources.keySet()) + ")");
        Field<String> f = text(m, path, "discovery", accepted);
        if (f.value == null) {
            return null;
        }
        int slash = f.value.indexOf('/');
        String source = slash < 0 ? f.value : f.value.substring(0, slash);
        String cluster = slash < 0 ? null : f.value.substring(slash + 1);
        if (!discoverySources.containsKey(source) || (cluster != null && cluster.isEmpty())) {
            problems.add(path.key("discovery"), "names no configured discovery source", f.value, accepted);
            return null;
        }
        if (m.get("endpoints") != null) {
            problems.add(
                    path.key("endpoints"),
                    "is set together with discovery",
                    null,
                    "either endpoints or discovery: the source gives the endpoints");
        }
        if (cluster != null && discoverySources.get(source) instanceof DiscoveryConfig.Patroni) {
            problems.add(
                    path.key("discovery"),
                    "names a cluster of a Patroni source, which has only one",
                    f.value,
                    "just the source name");
            return null;
        }
        return new DiscoveryConfig.Target(source, cluster);
    }

    // ---- structure

    /** A section mapping; null or empty means all defaults. Unknown keys are reported. */
    MapNode section(Node node, KeyPath path, List<String> keys) {
        return mapping(node, path, keys, "a mapping with the keys " + String.join(", ", keys));
    }

    /**
     * {@code node} as a mapping, or null after reporting that it is not one. With {@code keys}, keys outside it are
     * reported (their values are never shown: a misspelt password key still holds a password).
     */
    MapNode mapping(Node node, KeyPath path, List<String> keys, String accepted) {
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

    void wrongShape(KeyPath path, Node node, String what, String accepted) {
        if (node instanceof Scalar s) {
            problems.add(path, what, s.text(), accepted);
        } else {
            problems.add(path, what + ", not " + (node instanceof ListNode ? "a list" : "a mapping"), null, accepted);
        }
    }
}
