package dev.pggat.operator.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import dev.pggat.crds.v1alpha1.CloudSqlCluster;
import dev.pggat.crds.v1alpha1.DigitalOceanCluster;
import dev.pggat.crds.v1alpha1.PatroniCluster;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.PoolSpec;
import dev.pggat.crds.v1alpha1.PoolTimeouts;
import dev.pggat.crds.v1alpha1.RouteSpec;
import dev.pggat.crds.v1alpha1.RoutingSpec;
import dev.pggat.crds.v1alpha1.SecretKeyRef;
import dev.pggat.crds.v1alpha1.TlsMode;
import dev.pggat.crds.v1alpha1.TlsSpec;
import dev.pggat.pooler.config.ConfigException;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.Endpoint;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The pooler's {@code pggat.yaml} for one PgPool. Passwords appear only as {@code ${VAR}} references; {@link
 * #secretEnv()} says which Secret key feeds each variable.
 */
public final class PoolerConfig {
    public static final int LISTEN_PORT = 6432;
    public static final int ADMIN_PORT = 9930;
    public static final String FILE_NAME = "pggat.yaml";
    public static final String LISTEN_HOST_VARIABLE = "PGGAT_LISTEN_HOST";
    /** Where pods mount the {@code spec.tls.secretRef} Secret; the pooler reloads the files when it rotates. */
    public static final String TLS_DIR = "/var/run/pggat/tls";
    /**
     * Overrides {@link #TLS_DIR} in the file's paths, for running a generated configuration outside a pod (the
     * certificate then lives wherever the caller wrote it).
     */
    public static final String TLS_DIR_VARIABLE = "PGGAT_TLS_DIR";

    public static final String TLS_CERT_KEY = "tls.crt";
    public static final String TLS_KEY_KEY = "tls.key";

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
            .enable(YAMLGenerator.Feature.ALWAYS_QUOTE_NUMBERS_AS_STRINGS));

    /** An environment variable of the pooler container, read from a Secret key. */
    public record SecretEnv(String variable, String secretName, String secretKey) {}

    private final String yaml;
    private final List<SecretEnv> secretEnv;
    private final String yamlWithoutEndpoints;

    private PoolerConfig(String yaml, List<SecretEnv> secretEnv, String yamlWithoutEndpoints) {
        this.yaml = yaml;
        this.secretEnv = secretEnv;
        this.yamlWithoutEndpoints = yamlWithoutEndpoints;
    }

    public String yaml() {
        return yaml;
    }

    public List<SecretEnv> secretEnv() {
        return secretEnv;
    }

    /** Changes whenever the file or the variables feeding it change, so pods roll exactly then. */
    public String checksum() {
        return checksumOf(yaml);
    }

    /**
     * Changes with everything but the endpoints. Pods subscribed to the endpoint stream learn endpoint changes
     * live, so a failover must not roll them: that would drop every client it was meant to keep.
     */
    public String checksumWithoutEndpoints() {
        return checksumOf(yamlWithoutEndpoints);
    }

    private String checksumOf(String text) {
        StringBuilder b = new StringBuilder(text);
        for (SecretEnv e : secretEnv) {
            b.append('\n')
                    .append(e.variable())
                    .append('=')
                    .append(e.secretName())
                    .append('/')
                    .append(e.secretKey());
        }
        return Hashing.sha256(b.toString().getBytes(StandardCharsets.UTF_8));
    }

    public static PoolerConfig render(PgPoolSpec spec, Topology topology, List<PoolerDatabase> databases) {
        Map<String, String> variables = variablesFor(databases);
        Map<String, Object> root = new LinkedHashMap<>();
        // An injected sidecar sets PGGAT_LISTEN_HOST=127.0.0.1 so only its own pod reaches it.
        root.put("listen", ordered("host", "${" + LISTEN_HOST_VARIABLE + ":-0.0.0.0}", "port", LISTEN_PORT));
        // Probes come from the kubelet over the pod IP, so the admin endpoint cannot stay on loopback.
        root.put("admin", ordered("enabled", true, "host", "0.0.0.0", "port", ADMIN_PORT));
        PoolSpec pool = spec.pool;
        if (pool != null) {
            PoolTimeouts t = pool.timeouts;
            if (t != null) {
                Map<String, Object> timeouts = new LinkedHashMap<>();
                putIfSet(timeouts, "queryWait", t.queryWait);
                putIfSet(timeouts, "serverIdle", t.serverIdle);
                putIfSet(timeouts, "serverLifetime", t.serverLifetime);
                putIfSet(timeouts, "clientIdle", t.clientIdle);
                putIfSet(timeouts, "idleInTransaction", t.idleInTransaction);
                putIfSet(timeouts, "query", t.query);
                if (!timeouts.isEmpty()) {
                    root.put("timeouts", timeouts);
                }
            }
            Map<String, Object> pools = new LinkedHashMap<>();
            putIfSet(pools, "mode", pool.mode == null ? null : pool.mode.wireName());
            putIfSet(pools, "maxServerConnections", pool.maxServerConnections);
            putIfSet(pools, "minServerConnections", pool.minServerConnections);
            putIfSet(pools, "maxDatabaseConnections", pool.maxDatabaseConnections);
            putIfSet(pools, "reservePoolSize", pool.reservePoolSize);
            putIfSet(pools, "reservePoolTimeout", pool.reservePoolTimeout);
            putIfSet(pools, "preparedStatementCacheSize", pool.preparedStatementCacheSize);
            if (!pools.isEmpty()) {
                root.put("pools", pools);
            }
        }
        root.put("routing", routing(spec.routing));
        if (spec.tls != null) {
            root.put("tls", tls(spec.tls));
        }
        // Patroni, Cloud SQL, DigitalOcean: the pooler finds the servers itself; the operator only renders the source.
        Map<String, Object> source = discoverySource(spec);
        String discoveryTarget = null;
        SecretEnv tokenEnv = null;
        if (source != null) {
            root.put("discovery", ordered(DISCOVERY_SOURCE, source));
            discoveryTarget = DISCOVERY_SOURCE;
            if (spec.cluster.cloudSql != null && spec.cluster.cloudSql.instance != null) {
                discoveryTarget += "/" + spec.cluster.cloudSql.instance;
            }
            if (spec.cluster.digitalOcean != null) {
                if (spec.cluster.digitalOcean.cluster != null) {
                    discoveryTarget += "/" + spec.cluster.digitalOcean.cluster;
                }
                SecretKeyRef t = spec.cluster.digitalOcean.token;
                tokenEnv = new SecretEnv(
                        DIGITALOCEAN_TOKEN_VARIABLE, t.name, t.key == null || t.key.isBlank() ? "password" : t.key);
            }
        }
        List<Map<String, Object>> endpoints = new ArrayList<>();
        for (Endpoint e : source != null ? List.<Endpoint>of() : topology.endpoints()) {
            Map<String, Object> entry = ordered(
                    "name",
                    Topology.name(e),
                    "host",
                    e.host(),
                    "port",
                    e.port(),
                    "role",
                    e.role().yamlName());
            putIfSet(entry, "zone", e.zone());
            if (e.weight() != Endpoint.DEFAULT_WEIGHT) {
                entry.put("weight", e.weight());
            }
            endpoints.add(entry);
        }
        Map<String, Object> dbs = new LinkedHashMap<>();
        for (PoolerDatabase db : databases) {
            Map<String, Object> users = new LinkedHashMap<>();
            for (PoolerDatabase.PoolerUser u : db.users()) {
                users.put(u.name(), ordered("password", "${" + variables.get(secretId(u)) + "}"));
            }
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("serverDatabase", db.serverDatabase());
            if (discoveryTarget != null) {
                entry.put("discovery", discoveryTarget);
            } else {
                entry.put("endpoints", endpoints);
            }
            entry.put("users", users);
            if (dbs.put(db.name(), entry) != null) {
                throw Problem.invalid("InvalidSpec", "database " + db.name() + " is listed twice in spec.databases");
            }
        }
        root.put("databases", dbs);
        if (spec.routes != null && !spec.routes.isEmpty()) {
            root.put("routes", routes(spec.routes));
        }
        List<SecretEnv> env = new ArrayList<>();
        for (Map.Entry<String, String> e : variables.entrySet()) {
            String[] ref = e.getKey().split("\u0000", 2);
            env.add(new SecretEnv(e.getValue(), ref[0], ref[1]));
        }
        if (tokenEnv != null) {
            env.add(tokenEnv);
        }
        env.sort(java.util.Comparator.comparing(SecretEnv::variable));
        String yaml;
        String yamlWithoutEndpoints;
        try {
            yaml = YAML.writeValueAsString(root);
            for (Object db : dbs.values()) {
                @SuppressWarnings("unchecked")
                Map<String, Object> entry = (Map<String, Object>) db;
                if (entry.containsKey("endpoints")) {
                    entry.put("endpoints", List.of());
                }
            }
            yamlWithoutEndpoints = YAML.writeValueAsString(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a map of strings and numbers always serialises", e);
        }
        checkThePoolerAccepts(yaml, env);
        return new PoolerConfig(yaml, List.copyOf(env), yamlWithoutEndpoints);
    }

    /**
     * spec.routes as the pooler's routes: the match conditions as globs (all of them must hold), the database as
     * the route's backend, the parameters as forced, default and dropped rewrites. The pooler checks the rest
     * (names, SQLSTATEs, backends that exist) when the file is rendered, so a mistake lands on the PgPool.
     */
    private static List<Map<String, Object>> routes(List<RouteSpec> specs) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (RouteSpec r : specs) {
            Map<String, Object> route = new LinkedHashMap<>();
            route.put("name", r.name);
            Map<String, Object> match = new LinkedHashMap<>();
            if (r.match != null) {
                putIfSet(match, "database", r.match.database);
                putIfSet(match, "user", r.match.user);
                if (r.match.applicationName != null) {
                    match.put("parameter", ordered("application_name", r.match.applicationName));
                }
            }
            if (!match.isEmpty()) {
                route.put("match", match);
            }
            if (r.error != null) {
                route.put("error", ordered("sqlstate", r.error.sqlstate, "message", r.error.message));
            } else {
                route.put("backend", r.database);
            }
            Map<String, Object> parameters = new LinkedHashMap<>();
            if (r.setParameters != null) {
                r.setParameters.forEach((k, v) -> parameters.put(k, ordered("value", v, "override", "force")));
            }
            if (r.defaultParameters != null) {
                r.defaultParameters.forEach((k, v) -> parameters.put(k, ordered("value", v, "override", "default")));
            }
            if (r.dropParameters != null) {
                r.dropParameters.forEach(k -> parameters.put(k, ordered("drop", true)));
            }
            if (!parameters.isEmpty()) {
                route.put("rewrite", ordered("parameters", parameters));
            }
            out.add(route);
        }
        return out;
    }

    /** The name of the one discovery source a PgPool renders. */
    public static final String DISCOVERY_SOURCE = "cluster";

    /** The variable the DigitalOcean API token reaches the pooler in (from the PgPool's Secret). */
    public static final String DIGITALOCEAN_TOKEN_VARIABLE = "PGGAT_DIGITALOCEAN_TOKEN";

    /** The pooler's discovery source for a PgPool whose cluster the pooler finds itself, else null. */
    private static Map<String, Object> discoverySource(PgPoolSpec spec) {
        if (spec.cluster == null) {
            return null;
        }
        if (spec.cluster.patroni != null) {
            PatroniCluster p = spec.cluster.patroni;
            Map<String, Object> kind = ordered("members", p.members);
            putIfSet(kind, "maxLagBytes", p.maxLagBytes);
            Map<String, Object> src = new LinkedHashMap<>();
            putIfSet(src, "interval", p.interval);
            src.put("patroni", kind);
            return src;
        }
        if (spec.cluster.cloudSql != null) {
            CloudSqlCluster c = spec.cluster.cloudSql;
            Map<String, Object> kind = ordered("project", c.project);
            putIfSet(kind, "instances", c.instances);
            if (c.labels != null && !c.labels.isEmpty()) {
                kind.put("labels", new LinkedHashMap<>(new java.util.TreeMap<>(c.labels)));
            }
            putIfSet(kind, "ipType", c.ipType);
            Map<String, Object> src = new LinkedHashMap<>();
            putIfSet(src, "interval", c.interval);
            src.put("cloudSql", kind);
            return src;
        }
        if (spec.cluster.digitalOcean != null) {
            DigitalOceanCluster d = spec.cluster.digitalOcean;
            Map<String, Object> kind = ordered("tokenEnv", DIGITALOCEAN_TOKEN_VARIABLE);
            putIfSet(kind, "tag", d.tag);
            putIfSet(kind, "network", d.network);
            Map<String, Object> src = new LinkedHashMap<>();
            putIfSet(src, "interval", d.interval);
            src.put("digitalOcean", kind);
            return src;
        }
        return null;
    }

    /**
     * The CRD's defaults are not all the pooler's: an unset {@code readWriteSplit} means false here but true in the
     * pooler, so the section is always written and a PgPool without {@code routing} never splits reads.
     */
    private static Map<String, Object> routing(RoutingSpec r) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("readWriteSplit", r != null && Boolean.TRUE.equals(r.readWriteSplit));
        if (r != null) {
            putIfSet(out, "consistency", r.consistency == null ? null : consistencyName(r.consistency));
            putIfSet(out, "maxReplicaLag", r.maxReplicaLag);
            putIfSet(out, "maxReplicaLagBytes", r.maxReplicaLagBytes);
        }
        return out;
    }

    private static String consistencyName(dev.pggat.crds.v1alpha1.Consistency c) {
        return switch (c) {
            case EVENTUAL -> "eventual";
            case READ_YOUR_WRITES -> "read-your-writes";
        };
    }

    /**
     * With a Secret, the pooler reads the files its pods mount at {@link #TLS_DIR}; with {@code selfSigned}, no
     * files: the pooler makes a certificate at start when the mode is prefer or require ({@link SpecValidation}
     * refuses the combinations where it would not).
     */
    private static Map<String, Object> tls(TlsSpec t) {
        TlsMode mode = t.mode == null ? TlsMode.PREFER : t.mode;
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("mode", mode.name().toLowerCase(Locale.ROOT));
        if (t.secretRef != null) {
            String dir = "${" + TLS_DIR_VARIABLE + ":-" + TLS_DIR + "}/";
            out.put("certFile", dir + TLS_CERT_KEY);
            out.put("keyFile", dir + TLS_KEY_KEY);
        }
        return out;
    }

    /**
     * A file the pooler refuses would leave its pods crash-looping with the reason only in their logs; refusing
     * it here puts the reason on the PgPool instead. Passwords are placeholders: only their references matter.
     */
    private static void checkThePoolerAccepts(String yaml, List<SecretEnv> env) {
        Map<String, String> values = new java.util.HashMap<>();
        for (SecretEnv e : env) {
            values.put(e.variable(), "placeholder");
        }
        try {
            ConfigLoader.parse(yaml, FILE_NAME, values);
        } catch (ConfigException e) {
            throw Problem.invalid(
                    "InvalidSpec",
                    "the pooler would refuse the configuration made from this spec: "
                            + String.join("; ", e.problems()));
        }
    }

    /**
     * One variable per distinct Secret key, named after it so a reader of the pod spec can tell which is which;
     * a numeric suffix separates names that sanitise to the same identifier.
     */
    private static Map<String, String> variablesFor(List<PoolerDatabase> databases) {
        TreeMap<String, String> ids = new TreeMap<>();
        for (PoolerDatabase db : databases) {
            for (PoolerDatabase.PoolerUser u : db.users()) {
                ids.put(secretId(u), null);
            }
        }
        Map<String, String> out = new LinkedHashMap<>();
        java.util.Set<String> taken = new java.util.HashSet<>();
        for (String id : ids.keySet()) {
            String base = "PGGAT_SECRET_"
                    + id.replace('\u0000', '_').toUpperCase(Locale.ROOT).replaceAll("[^A-Z0-9]", "_");
            String name = base;
            for (int n = 2; !taken.add(name); n++) {
                name = base + "_" + n;
            }
            out.put(id, name);
        }
        return out;
    }

    private static String secretId(PoolerDatabase.PoolerUser u) {
        return u.secretName() + "\u0000" + u.secretKey();
    }

    private static void putIfSet(Map<String, Object> m, String key, Object value) {
        if (value != null) {
            m.put(key, value);
        }
    }

    private static Map<String, Object> ordered(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }
}
