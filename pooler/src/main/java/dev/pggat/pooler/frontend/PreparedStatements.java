package dev.pggat.pooler.frontend;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * The pooler-wide registry of prepared statements in transaction mode: one server-side name per distinct query
 * text and parameter types, so that every client preparing the same query shares one prepared statement per
 * server connection, whatever each client calls it.
 */
public final class PreparedStatements {
    private final ConcurrentHashMap<Key, Statement> byKey = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();

    public final LongAdder hits = new LongAdder();
    public final LongAdder misses = new LongAdder();
    public final LongAdder evictions = new LongAdder();

    /**
     * A statement as servers know it: its server name and the Parse body after the name (query text, NUL,
     * parameter count and types), from which a Parse for any server is built.
     */
    public static final class Statement {
        final String serverName;
        final byte[] serverNameBytes;
        final byte[] parseTail;
        /** A server accepted it once: a client preparing it again can be answered without a server. */
        volatile boolean verified;

        Statement(String serverName, byte[] parseTail) {
            this.serverName = serverName;
            this.serverNameBytes = serverName.getBytes(StandardCharsets.US_ASCII);
            this.parseTail = parseTail;
        }

        public String serverName() {
            return serverName;
        }
    }

    private record Key(byte[] parseTail, int hash) {
        static Key of(byte[] tail) {
            return new Key(tail, Arrays.hashCode(tail));
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.hash == hash && Arrays.equals(k.parseTail, parseTail);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /** The statement for this query text and parameter types (the Parse body after the statement name). */
    Statement statement(byte[] parseTail) {
        Key key = Key.of(parseTail);
        Statement s = byKey.get(key);
        if (s != null) {
            return s;
        }
        return byKey.computeIfAbsent(key, k -> new Statement("pggat_" + ids.incrementAndGet(), parseTail));
    }

    /** The statement for this Parse body if any client prepared it before, else null. */
    Statement known(byte[] parseTail) {
        return byKey.get(Key.of(parseTail));
    }

    public int size() {
        return byKey.size();
    }
}
