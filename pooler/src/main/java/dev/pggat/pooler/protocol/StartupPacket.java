package dev.pggat.pooler.protocol;

import java.util.List;
import java.util.Map;

/** The untyped packets a client may send before the session starts. */
public sealed interface StartupPacket {

    /** StartupMessage: protocol version and parameters, in the order the client sent them. */
    record StartupMessage(int protocolVersion, Map<String, String> parameters) implements StartupPacket {
        public int majorVersion() {
            return protocolVersion >>> 16;
        }

        public int minorVersion() {
            return protocolVersion & 0xFFFF;
        }

        /** Protocol options (names starting with {@code _pq_.}) the client asked for. */
        public List<String> protocolOptions() {
            return parameters.keySet().stream()
                    .filter(k -> k.startsWith("_pq_."))
                    .toList();
        }
    }

    record SslRequest() implements StartupPacket {}

    record GssEncRequest() implements StartupPacket {}

    /** CancelRequest: the BackendKeyData the client was given. */
    record CancelRequest(int processId, int secretKey) implements StartupPacket {}
}
