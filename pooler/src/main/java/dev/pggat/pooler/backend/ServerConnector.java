package dev.pggat.pooler.backend;

import dev.pggat.pooler.net.Transport;
import dev.pggat.pooler.protocol.MessageFramer;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.SqlState;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/** Opens and logs in server connections on a given event loop. */
public final class ServerConnector {
    /** Servers are trusted peers; a DataRow may legitimately approach PostgreSQL's 1 GB field limit. */
    private static final int SERVER_MAX_MESSAGE = Integer.MAX_VALUE - 8;

    private final Transport transport;
    private final Duration connectTimeout;
    private final Duration lifetime;

    public ServerConnector(Transport transport, Duration connectTimeout, Duration lifetime) {
        this.transport = transport;
        this.connectTimeout = connectTimeout;
        this.lifetime = lifetime;
    }

    /**
     * Connects to {@code address} on {@code loop} and logs in. The future fails with a {@link ServerError}; a
     * connection that does not finish login within the connect timeout is closed.
     */
    public Future<ServerConnection> connect(EventLoop loop, ServerAddress address) {
        Promise<ServerConnection> promise = loop.newPromise();
        long lifetimeNanos = lifetime.isZero() ? 0 : jittered(lifetime.toNanos());
        int timeoutMillis = (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis());
        Bootstrap b = new Bootstrap()
                .group(loop)
                .channel(transport.socketChannel())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.SO_KEEPALIVE, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, timeoutMillis)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ServerConnection conn = new ServerConnection(ch, address, lifetimeNanos);
                        ch.pipeline()
                                .addLast(MessageFramer.NAME, new MessageFramer(SERVER_MAX_MESSAGE))
                                .addLast("pg-backend", new BackendHandler(conn, promise));
                    }
                });
        ChannelFuture cf = b.connect(address.host(), address.port());
        cf.addListener(f -> {
            if (!f.isSuccess()) {
                promise.tryFailure(new ServerError(
                        SqlState.SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                        "could not connect to server " + address.host() + ":" + address.port() + ": "
                                + f.cause().getMessage(),
                        true,
                        f.cause()));
                return;
            }
            Map<String, String> params = new LinkedHashMap<>();
            params.put("user", address.user());
            params.put("database", address.database());
            cf.channel().writeAndFlush(Messages.startupMessage(cf.channel().alloc(), params));
        });
        // The TCP connect has its own timeout; this one bounds the whole login.
        var timeout = loop.schedule(
                () -> {
                    if (promise.tryFailure(new ServerError(
                            SqlState.SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                            "login to server " + address.host() + ":" + address.port() + " timed out after "
                                    + connectTimeout.toMillis() + " ms",
                            true,
                            null))) {
                        cf.channel().close();
                    }
                },
                connectTimeout.toMillis(),
                TimeUnit.MILLISECONDS);
        promise.addListener(f -> timeout.cancel(false));
        return promise;
    }

    /** Lifetimes spread over +-10% so that connections opened together are not all recycled together. */
    private static long jittered(long nanos) {
        long spread = nanos / 10;
        return nanos - spread + ThreadLocalRandom.current().nextLong(2 * spread + 1);
    }
}
