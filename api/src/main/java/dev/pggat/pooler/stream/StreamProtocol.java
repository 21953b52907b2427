package dev.pggat.pooler.stream;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The wire form of the endpoint stream, shared by the operator (server) and the pooler (client).
 *
 * <p>{@code GET /v1/namespaces/<namespace>/pgpools/<name>/stream} with {@code Authorization: Bearer <token>}
 * answers 200 with {@code application/x-ndjson}: one JSON object per line, never ending. The first line is a
 * snapshot; another snapshot follows every change; a heartbeat line follows every few seconds of silence, so a
 * subscriber that hears nothing for longer knows the connection is dead.
 *
 * <pre>
 * {"type":"snapshot","envelope":{...Envelope...}}
 * {"type":"heartbeat"}
 * </pre>
 *
 * A missing or wrong token, or an unknown PgPool, is answered 401 alike, so the endpoint does not reveal which
 * PgPools exist.
 */
public final class StreamProtocol {
    public static final String CONTENT_TYPE = "application/x-ndjson";
    /** The endpoint-set version the subscriber holds; the first snapshot it gets carries a higher one. */
    public static final String LAST_VERSION_HEADER = "Pggat-Last-Version";
    /** The pod name of the subscriber, for the operator's log. */
    public static final String POD_HEADER = "Pggat-Pod";

    public static final String TYPE_SNAPSHOT = "snapshot";
    public static final String TYPE_HEARTBEAT = "heartbeat";

    private static final ObjectMapper JSON = new ObjectMapper();

    private StreamProtocol() {}

    public static String path(String namespace, String name) {
        return "/v1/namespaces/" + namespace + "/pgpools/" + name + "/stream";
    }

    public static String snapshotLine(Envelope envelope) {
        ObjectNode n = JSON.createObjectNode();
        n.put("type", TYPE_SNAPSHOT);
        n.set("envelope", envelope.toJsonNode());
        return n.toString() + "\n";
    }

    public static String heartbeatLine() {
        return "{\"type\":\"" + TYPE_HEARTBEAT + "\"}\n";
    }

    /**
     * A received line: the envelope of a snapshot, or null for a heartbeat or a line type this version does not
     * know (a newer operator may send more).
     */
    public static Envelope parseLine(String line) {
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("endpoint stream: line is not valid JSON: " + e.getOriginalMessage());
        }
        if (n == null || !n.isObject() || !n.path("type").isTextual()) {
            throw new IllegalArgumentException("endpoint stream: line is not an object with a type");
        }
        String type = n.get("type").textValue();
        if (TYPE_SNAPSHOT.equals(type)) {
            return Envelope.fromJsonNode(n.get("envelope"));
        }
        return null;
    }
}
