package dev.pggat.pooler.security;

import dev.pggat.pooler.auth.Secret;
import dev.pggat.pooler.backend.ServerAddress;
import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.backend.ServerQuery;
import dev.pggat.pooler.config.AuthQuerySettings;
import dev.pggat.pooler.util.Printable;
import io.netty.channel.EventLoop;
import java.util.List;
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
            // Two rows are enough to tell "more than one" from "one".
            ServerQuery.withParameter(conn, settings.query(), user, 2, null).addListener(q -> {
                conn.close();
                if (!q.isSuccess()) {
                    result.completeExceptionally(
                            new IllegalStateException("auth query: the server closed the connection"));
                } else {
                    finish((ServerQuery.Result) q.getNow(), user, result);
                }
            });
        });
    }

    /** One row whose last column is the secret; no row or an empty secret: no such user. */
    private static void finish(ServerQuery.Result r, String user, CompletableFuture<Optional<Secret>> result) {
        if (r.failed()) {
            result.completeExceptionally(
                    new IllegalStateException("auth query failed: " + r.error().getMessage()));
            return;
        }
        if (r.rowCount() > 1) {
            result.completeExceptionally(
                    new IllegalStateException("auth query returned " + r.rowCount() + " rows for one user"));
            return;
        }
        List<String> row = r.firstRow();
        String value = row.isEmpty() ? null : row.get(row.size() - 1);
        if (value == null || value.isEmpty()) {
            result.complete(Optional.empty());
            return;
        }
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
