package dev.pggat.pooler.routing;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.pggat.pooler.config.Endpoint;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * The servers behind one database at one moment: an immutable, versioned list. Newer versions replace older ones
 * (from the admin PUT or the operator's stream), so a late, stale update never wins.
 *
 * <p>JSON form (what the admin API and the operator carry):
 *
 * <pre>
 * {"version": 7,
 *  "endpoints": [
 *    {"name": "pg-0", "host": "10.0.0.5", "port": 5432, "role": "primary", "zone": "eu-1a", "weight": 100},
 *    {"name": "pg-1", "host": "10.0.0.6", "role": "replica"}]}
 * </pre>
 *
 * name defaults to host:port, port to 5432, weight to 100 (0 takes a replica out of read routing), zone is
 * optional. At most one primary: none is allowed while a failover is under way. The JSON form needs at least one
 * endpoint; an empty set only comes from discovery, while a source knows no usable server of the database yet.
 */
public record EndpointSet(long version, List<Member> endpoints) {
    public static final int DEFAULT_WEIGHT = 100;
    public static final int MAX_WEIGHT = 10_000;

    /** Loaded on first use: only the JSON form needs Jackson's databind, and its set-up is a noticeable part of a start. */
    private static final class Json {
        static final ObjectMapper MAPPER = new ObjectMapper();
    }

    private static final Set<String> ROOT_KEYS = Set.of("version", "endpoints");
    private static final Set<String> MEMBER_KEYS = Set.of("name", "host", "port", "role", "zone", "weight");

    /** One server. */
    public record Member(String name, String host, int port, Endpoint.Role role, String zone, int weight) {
        public Member {
            if (host == null || host.isBlank()) {
                throw new IllegalArgumentException("host is missing; a host name or IP address is required");
            }
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("port " + port + " is out of range; accepted are 1 to 65535");
            }
            Objects.requireNonNull(role, "role");
            if (name == null) {
                name = host + ":" + port;
            } else if (name.isBlank()) {
                throw new IllegalArgumentException("name is empty; leave it out to use host:port");
            }
            if (weight < 0 || weight > MAX_WEIGHT) {
                throw new IllegalArgumentException(
                        "weight " + weight + " is out of range; accepted are 0 to " + MAX_WEIGHT);
            }
        }

        public static Member primary(String host, int port) {
            return new Member(null, host, port, Endpoint.Role.PRIMARY, null, DEFAULT_WEIGHT);
        }

        public static Member replica(String host, int port) {
            return new Member(null, host, port, Endpoint.Role.REPLICA, null, DEFAULT_WEIGHT);
        }

        public Member withWeight(int newWeight) {
            return new Member(name, host, port, role, zone, newWeight);
        }

        public Member withZone(String newZone) {
            return new Member(name, host, port, role, newZone, weight);
        }

        /** Same server at the same address; role, zone and weight may differ. */
        public boolean sameServer(Member other) {
            return name.equals(other.name) && host.equals(other.host) && port == other.port;
        }
    }

    public EndpointSet {
        if (version < 0) {
            throw new IllegalArgumentException("version " + version + " is negative; accepted are 0 and up");
        }
        endpoints = List.copyOf(endpoints);
        Set<String> names = new HashSet<>();
        Set<String> addresses = new HashSet<>();
        String primary = null;
        for (Member m : endpoints) {
            if (!names.add(m.name())) {
                throw new IllegalArgumentException("endpoint name '" + m.name() + "' appears twice; names are unique");
            }
            if (!addresses.add(m.host() + ":" + m.port())) {
                throw new IllegalArgumentException(
                        "endpoint address " + m.host() + ":" + m.port() + " appears twice; addresses are unique");
            }
            if (m.role() == Endpoint.Role.PRIMARY) {
                if (primary != null) {
                    throw new IllegalArgumentException("endpoints '" + primary + "' and '" + m.name()
                            + "' are both primary; at most one endpoint has role primary");
                }
                primary = m.name();
            }
        }
    }

    /** The endpoints of a database as the YAML configuration lists them. */
    public static EndpointSet fromConfig(long version, List<Endpoint> configured) {
        List<Member> members = new ArrayList<>();
        for (Endpoint e : configured) {
            members.add(new Member(e.name(), e.host(), e.port(), e.role(), e.zone(), e.weight()));
        }
        return new EndpointSet(version, members);
    }

    /** The configured primary, or null when the set has none. */
    public Member primary() {
        for (Member m : endpoints) {
            if (m.role() == Endpoint.Role.PRIMARY) {
                return m;
            }
        }
        return null;
    }

    public List<Member> replicas() {
        return endpoints.stream().filter(m -> m.role() == Endpoint.Role.REPLICA).toList();
    }

    /** The endpoint of that name, or null. */
    public Member member(String name) {
        for (Member m : endpoints) {
            if (m.name().equals(name)) {
                return m;
            }
        }
        return null;
    }

    public boolean newerThan(EndpointSet other) {
        return other == null || version > other.version;
    }

    public String toJson() {
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("version", version);
        ArrayNode list = root.putArray("endpoints");
        for (Member m : endpoints) {
            ObjectNode n = list.addObject();
            n.put("name", m.name());
            n.put("host", m.host());
            n.put("port", m.port());
            n.put("role", m.role().yamlName());
            if (m.zone() != null) {
                n.put("zone", m.zone());
            }
            n.put("weight", m.weight());
        }
        return root.toString();
    }

    public static EndpointSet fromJson(byte[] json) {
        return fromJson(new String(json, StandardCharsets.UTF_8));
    }

    /**
     * Parses and checks the JSON form.
     *
     * @throws IllegalArgumentException naming the key, the value found and what is accepted
     */
    public static EndpointSet fromJson(String json) {
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(
                    "endpoint set: not valid JSON: " + e.getOriginalMessage() + " at " + location(e));
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("endpoint set: expected a JSON object with version and endpoints");
        }
        checkKeys(root, ROOT_KEYS, "");
        JsonNode v = root.get("version");
        if (v == null || !v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new IllegalArgumentException(
                    "endpoint set: version " + describe(v) + " is not accepted; an integer from 0 up is required");
        }
        JsonNode list = root.get("endpoints");
        if (list == null || !list.isArray()) {
            throw new IllegalArgumentException(
                    "endpoint set: endpoints " + describe(list) + " is not accepted; a JSON array is required");
        }
        if (list.isEmpty()) {
            throw new IllegalArgumentException("endpoint set: endpoints is empty; at least one endpoint is required");
        }
        List<Member> members = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String path = "endpoints[" + i + "]";
            JsonNode n = list.get(i);
            if (!n.isObject()) {
                throw new IllegalArgumentException("endpoint set: " + path + " is not a JSON object");
            }
            checkKeys(n, MEMBER_KEYS, path + ".");
            String roleText = text(n, "role", path, true);
            Endpoint.Role role;
            if ("primary".equals(roleText)) {
                role = Endpoint.Role.PRIMARY;
            } else if ("replica".equals(roleText)) {
                role = Endpoint.Role.REPLICA;
            } else {
                throw new IllegalArgumentException("endpoint set: " + path + ".role " + describe(n.get("role"))
                        + " is not accepted; accepted are primary and replica");
            }
            try {
                members.add(new Member(
                        text(n, "name", path, false),
                        text(n, "host", path, true),
                        integer(n, "port", path, Endpoint.DEFAULT_PORT),
                        role,
                        text(n, "zone", path, false),
                        integer(n, "weight", path, DEFAULT_WEIGHT)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("endpoint set: " + path + ": " + e.getMessage(), e);
            }
        }
        try {
            return new EndpointSet(v.asLong(), members);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("endpoint set: " + e.getMessage(), e);
        }
    }

    private static void checkKeys(JsonNode node, Set<String> accepted, String prefix) {
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!accepted.contains(key)) {
                throw new IllegalArgumentException("endpoint set: unknown key " + prefix + key + "; accepted are "
                        + String.join(", ", accepted.stream().sorted().toList()));
            }
        }
    }

    private static String text(JsonNode n, String key, String path, boolean required) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            if (required) {
                throw new IllegalArgumentException("endpoint set: " + path + "." + key + " is missing");
            }
            return null;
        }
        if (!v.isTextual()) {
            throw new IllegalArgumentException(
                    "endpoint set: " + path + "." + key + " " + describe(v) + " is not accepted; a string is required");
        }
        return v.textValue();
    }

    private static int integer(JsonNode n, String key, String path, int defaultValue) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            return defaultValue;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw new IllegalArgumentException("endpoint set: " + path + "." + key + " " + describe(v)
                    + " is not accepted; an integer is required");
        }
        return v.intValue();
    }

    private static String describe(JsonNode v) {
        if (v == null) {
            return "(missing)";
        }
        String s = v.toString();
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }

    private static String location(JsonProcessingException e) {
        return e.getLocation() == null
                ? "unknown position"
                : "line " + e.getLocation().getLineNr() + ", column "
                        + e.getLocation().getColumnNr();
    }
}
