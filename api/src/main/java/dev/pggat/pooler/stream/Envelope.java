package dev.pggat.pooler.stream;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.pggat.pooler.routing.EndpointSet;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;

/**
 * What the operator tells the poolers of one PgPool: the servers behind every database of the pooler, and the
 * pooler pods themselves (peers) with the cancel-key instance id the operator gave each.
 *
 * <p>JSON form:
 *
 * <pre>
 * {"pool": "shop/orders",
 *  "endpoints": {"version": 1732600000123, "endpoints": [{"name": "pg-1", "host": "10.0.0.5", "role": "primary"}]},
 *  "peers": [{"name": "orders-pggat-7d9f-abcde", "host": "10.0.1.7", "port": 6432, "instanceId": 0}]}
 * </pre>
 *
 * {@code endpoints} is absent while the operator knows no server at all (the cluster is missing or has no running
 * instance): the pooler then keeps what it has. An endpoint set with no primary means no writable primary is
 * known, as during a switchover. Unknown keys of the envelope and its peers are ignored, so that a newer operator
 * may add some without cutting off older poolers.
 *
 * @param pool namespace/name of the PgPool
 * @param endpoints the servers, or null when none is known
 * @param peers every pooler pod of the PgPool that has an address and an instance id, this one included
 */
public record Envelope(String pool, EndpointSet endpoints, List<Peer> peers) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A pooler pod: its client listener's address and the instance id its cancel keys carry (0-126). */
    public record Peer(String name, String host, int port, int instanceId) {
        public Peer {
            if (name == null || name.isBlank()) {
                throw new IllegalArgumentException("peer name is missing; the pod name is required");
            }
            if (host == null || host.isBlank()) {
                throw new IllegalArgumentException("peer " + name + ": host is missing; the pod IP is required");
            }
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException(
                        "peer " + name + ": port " + port + " is out of range; accepted are 1 to 65535");
            }
            if (instanceId < 0 || instanceId >= InstanceIds.UNASSIGNED) {
                throw new IllegalArgumentException("peer " + name + ": instanceId " + instanceId
                        + " is out of range; accepted are 0 to " + InstanceIds.MAX_ASSIGNED);
            }
        }
    }

    public Envelope {
        if (pool == null || pool.isBlank()) {
            throw new IllegalArgumentException("pool is missing; namespace/name of the PgPool is required");
        }
        peers = List.copyOf(peers);
        Set<String> names = new HashSet<>();
        Set<Integer> ids = new HashSet<>();
        for (Peer p : peers) {
            if (!names.add(p.name())) {
                throw new IllegalArgumentException("peer name " + p.name() + " appears twice; names are unique");
            }
            if (!ids.add(p.instanceId())) {
                throw new IllegalArgumentException(
                        "peer instanceId " + p.instanceId() + " appears twice; instance ids are unique");
            }
        }
    }

    /** Instance id to the address of that pooler's client listener, for the pooler's cancel registry. */
    public Map<Integer, InetSocketAddress> peerAddresses() {
        Map<Integer, InetSocketAddress> out = new LinkedHashMap<>();
        for (Peer p : peers) {
            out.put(p.instanceId(), InetSocketAddress.createUnresolved(p.host(), p.port()));
        }
        return out;
    }

    /** The instance id the operator gave the pod of that name, if it is listed. */
    public OptionalInt instanceIdOf(String podName) {
        for (Peer p : peers) {
            if (p.name().equals(podName)) {
                return OptionalInt.of(p.instanceId());
            }
        }
        return OptionalInt.empty();
    }

    /** The same servers and peers under another endpoint-set version. */
    public Envelope withVersion(long version) {
        return endpoints == null ? this : new Envelope(pool, new EndpointSet(version, endpoints.endpoints()), peers);
    }

    public ObjectNode toJsonNode() {
        ObjectNode root = JSON.createObjectNode();
        root.put("pool", pool);
        if (endpoints != null) {
            try {
                root.set("endpoints", JSON.readTree(endpoints.toJson()));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("EndpointSet.toJson always writes valid JSON", e);
            }
        }
        ArrayNode list = root.putArray("peers");
        for (Peer p : peers) {
            ObjectNode n = list.addObject();
            n.put("name", p.name());
            n.put("host", p.host());
            n.put("port", p.port());
            n.put("instanceId", p.instanceId());
        }
        return root;
    }

    public String toJson() {
        return toJsonNode().toString();
    }

    public static Envelope fromJson(String json) {
        try {
            return fromJsonNode(JSON.readTree(json));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("endpoint stream envelope: not valid JSON: " + e.getOriginalMessage());
        }
    }

    /**
     * @throws IllegalArgumentException naming the key, the value found and what is accepted
     */
    public static Envelope fromJsonNode(JsonNode root) {
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("endpoint stream envelope: expected a JSON object with pool, peers");
        }
        JsonNode pool = root.get("pool");
        if (pool == null || !pool.isTextual()) {
            throw new IllegalArgumentException(
                    "endpoint stream envelope: pool " + describe(pool) + " is not accepted; a string is required");
        }
        EndpointSet endpoints = null;
        JsonNode e = root.get("endpoints");
        if (e != null && !e.isNull()) {
            endpoints = EndpointSet.fromJson(e.toString());
        }
        List<Peer> peers = new ArrayList<>();
        JsonNode list = root.get("peers");
        if (list != null && !list.isNull()) {
            if (!list.isArray()) {
                throw new IllegalArgumentException("endpoint stream envelope: peers " + describe(list)
                        + " is not accepted; a JSON array is required");
            }
            for (int i = 0; i < list.size(); i++) {
                JsonNode n = list.get(i);
                String path = "peers[" + i + "]";
                if (!n.isObject()) {
                    throw new IllegalArgumentException("endpoint stream envelope: " + path + " is not a JSON object");
                }
                try {
                    peers.add(new Peer(
                            text(n, "name", path),
                            text(n, "host", path),
                            integer(n, "port", path),
                            integer(n, "instanceId", path)));
                } catch (IllegalArgumentException ex) {
                    throw new IllegalArgumentException(
                            "endpoint stream envelope: " + path + ": " + ex.getMessage(), ex);
                }
            }
        }
        try {
            return new Envelope(pool.textValue(), endpoints, peers);
        } catch (IllegalArgumentException ex) {
            throw new IllegalArgumentException("endpoint stream envelope: " + ex.getMessage(), ex);
        }
    }

    private static String text(JsonNode n, String key, String path) {
        JsonNode v = n.get(key);
        if (v == null || !v.isTextual()) {
            throw new IllegalArgumentException(
                    "endpoint stream envelope: " + path + "." + key + " " + describe(v) + " is not a string");
        }
        return v.textValue();
    }

    private static int integer(JsonNode n, String key, String path) {
        JsonNode v = n.get(key);
        if (v == null || !v.isIntegralNumber() || !v.canConvertToInt()) {
            throw new IllegalArgumentException(
                    "endpoint stream envelope: " + path + "." + key + " " + describe(v) + " is not an integer");
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
}
