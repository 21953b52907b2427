package dev.pggat.pooler.auth;

import dev.pggat.pooler.backend.ServerAddress;
import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.backend.ServerListener;
import dev.pggat.pooler.config.AuthQuerySettings;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.util.Printable;
import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Looks up user secrets in PostgreSQL through a configured auth user, with a cache: found secrets for {@code
 * cacheTtl}, unknown users for {@code negativeCacheTtl} (so probing with made-up names costs the server little and
 * answers as fast as a known name). Concurrent lookups of the same user share one query.
 */
public final class AuthQuery {
    private static final Logger log = LoggerFactory.getLogger(AuthQuery.class);

    /** Where to run the query for one route. */
    public record Target(String host, int port, String database) {}

    private record Entry(Secret secret, long expiresNanos) {}

    private final AuthQuerySettings settings;
    private final ServerConnector connector;
    private final ConcurrentHashMap<String, Entry> cache = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, CompletableFuture<Optional<Secret>>> inFlight = new ConcurrentHashMap<>();

    /** Lookups answered from the cache with a secret. */
    public final LongAdder cacheHits = new LongAdder();
    /** Lookups answered from the cache with "no such user". */
    public final LongAdder negativeHits = new LongAdder();
    /** Lookups the cache could not answer (they ran a query or joined one in flight). */
    public final LongAdder cacheMisses = new LongAdder();
    /** Queries sent to a server. */
    public final LongAdder queries = new LongAdder();
    /** Queries that could not run or failed (login refused, SQL error, more than one row). */
    public final LongAdder errors = new LongAdder();

    public AuthQuery(AuthQuerySettings settings, ServerConnector connector) {
        this.settings = settings;
        this.connector = connector;
    }

    /**
     * The secret of {@code user} on {@code target}'s server. Completes with empty for an unknown user (or a NULL
     * secret), exceptionally when the query could not run.
     */
    public CompletableFuture<Optional<Secret>> lookup(EventLoop loop, Target target, String user) {
        String database = settings.database() != null ? settings.database() : target.database();
        String key = target.host() + ":" + target.port() + "/" + database + "\0" + user;
        Entry e = cache.get(key);
        long now = System.nanoTime();
        if (e != null && e.expiresNanos - now > 0) {
            (e.secret == null ? negativeHits : cacheHits).increment();
            return CompletableFuture.completedFuture(Optional.ofNullable(e.secret));
        }
        cacheMisses.increment();
        return inFlight.computeIfAbsent(key, k -> {
            queries.increment();
            CompletableFuture<Optional<Secret>> f = new CompletableFuture<>();
            run(
                    loop,
                    new ServerAddress(target.host(), target.port(), database, settings.user(), settings.password()),
                    user,
                    f);
            f.whenComplete((secret, error) -> {
                inFlight.remove(k);
                if (error != null) {
                    errors.increment();
                } else {
                    long ttl = (secret.isPresent() ? settings.cacheTtl() : settings.negativeCacheTtl()).toNanos();
                    if (ttl > 0) {
                        cache.put(k, new Entry(secret.orElse(null), System.nanoTime() + ttl));
                    }
                }
            });
            return f;
        });
    }

    /** Forgets every cached answer. */
    public void clear() {
        cache.clear();
    }

    private void run(EventLoop loop, ServerAddress address, String user, CompletableFuture<Optional<Secret>> result) {
        connector.connect(loop, address).addListener(f -> {
            if (!f.isSuccess()) {
                result.completeExceptionally(new IllegalStateException("auth query: cannot log in to " + address + ": "
                        + f.cause().getMessage()));
                return;
            }
            ServerConnection conn = (ServerConnection) f.getNow();
            conn.listener(new Reader(conn, user, result));
            ByteBuf out = conn.channel().alloc().buffer();
            writeExtendedQuery(out, settings.query(), user);
            conn.channel().writeAndFlush(out);
        });
    }

    /** Parse, Bind with the user name as $1 (text), Execute, Sync: no quoting of the name is ever needed. */
    static void writeExtendedQuery(ByteBuf out, String sql, String param) {
        byte[] q = sql.getBytes(StandardCharsets.UTF_8);
        byte[] p = param.getBytes(StandardCharsets.UTF_8);
        out.writeByte('P').writeInt(4 + 1 + q.length + 1 + 2);
        out.writeByte(0).writeBytes(q).writeByte(0).writeShort(0);
        out.writeByte('B').writeInt(4 + 1 + 1 + 2 + 2 + 4 + p.length + 2);
        out.writeByte(0)
                .writeByte(0)
                .writeShort(0)
                .writeShort(1)
                .writeInt(p.length)
                .writeBytes(p)
                .writeShort(0);
        out.writeByte('E').writeInt(4 + 1 + 4).writeByte(0).writeInt(2);
        out.writeByte('S').writeInt(4);
    }

    private final class Reader implements ServerListener {
        private final ServerConnection conn;
        private final String user;
        private final CompletableFuture<Optional<Secret>> result;
        private String value;
        private int rows;
        private String error;

        Reader(ServerConnection conn, String user, CompletableFuture<Optional<Secret>> result) {
            this.conn = conn;
            this.user = user;
            this.result = result;
        }

        @Override
        public void onFrame(ServerConnection server, ByteBuf frame) {
            try {
                switch (Frames.type(frame)) {
                    case ProtocolConstants.DATA_ROW -> {
                        rows++;
                        int pos = Frames.bodyStart(frame);
                        int columns = frame.getUnsignedShort(pos);
                        pos += 2;
                        String last = null;
                        for (int i = 0; i < columns; i++) {
                            int len = frame.getInt(pos);
                            pos += 4;
                            last = len < 0 ? null : frame.toString(pos, len, StandardCharsets.UTF_8);
                            pos += Math.max(len, 0);
                        }
                        value = last;
                    }
                    case ProtocolConstants.ERROR_RESPONSE ->
                        error = ErrorFields.parse(frame).message();
                    case ProtocolConstants.READY_FOR_QUERY -> finish();
                    default -> {}
                }
            } finally {
                frame.release();
            }
        }

        private void finish() {
            conn.close();
            if (error != null) {
                result.completeExceptionally(new IllegalStateException("auth query failed: " + error));
            } else if (rows > 1) {
                result.completeExceptionally(
                        new IllegalStateException("auth query returned " + rows + " rows for one user"));
            } else if (value == null || value.isEmpty()) {
                result.complete(Optional.empty());
            } else {
                try {
                    result.complete(Optional.of(Secret.parse(value)));
                } catch (IllegalArgumentException e) {
                    log.warn(
                            "auth query: the secret returned for user \"{}\" is not valid: {}",
                            Printable.log(user),
                            e.getMessage());
                    result.complete(Optional.empty());
                }
            }
        }

        @Override
        public void onReadComplete(ServerConnection server) {}

        @Override
        public void onClosed(ServerConnection server, Throwable cause) {
            result.completeExceptionally(new IllegalStateException("auth query: the server closed the connection"));
        }
    }
}
