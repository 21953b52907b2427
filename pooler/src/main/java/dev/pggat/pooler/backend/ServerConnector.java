package dev.pggat.pooler.backend;

import dev.pggat.pooler.net.Transport;
import dev.pggat.pooler.protocol.MessageFramer;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.tls.BackendTls;
import dev.pggat.pooler.tls.ServerSslMode;
import dev.pggat.pooler.tls.TlsInfo;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.handler.ssl.SslContext;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/** Opens and logs in server connections on a given event loop. */
public final class ServerConnector {
    /** Servers are trusted peers; a DataRow may legitimately approach PostgreSQL's 1 GB field limit. */
    private static final int SERVER_MAX_MESSAGE = Integer.MAX_VALUE - 8;

    private final Transport transport;
    // A reload may change both; connections opened afterwards use the new values.
    private volatile Duration connectTimeout;
    private volatile Duration lifetime;
    private final ServerSecurity security;

    public ServerConnector(Transport transport, Duration connectTimeout, Duration lifetime) {
        this(transport, connectTimeout, lifetime, ServerSecurity.NONE);
    }

    public ServerConnector(Transport transport, Duration connectTimeout, Duration lifetime, ServerSecurity security) {
        this.transport = transport;
        this.connectTimeout = connectTimeout;
        this.lifetime = lifetime;
        this.security = security;
    }

    /** A reload changed timeouts.serverConnect or serverLifetime: connections opened from now on use them. */
    public void timeouts(Duration newConnectTimeout, Duration newLifetime) {
        this.connectTimeout = newConnectTimeout;
        this.lifetime = newLifetime;
    }

    /**
     * Connects to {@code address} on {@code loop} and logs in. The future fails with a {@link ServerError}; a
     * connection that does not finish login within the connect timeout is closed.
     */
    public Future<ServerConnection> connect(EventLoop loop, ServerAddress address) {
        return connect(loop, address, null);
    }

    /** As {@link #connect(EventLoop, ServerAddress)}, measuring the connection into {@code stats} (null: not). */
    public Future<ServerConnection> connect(EventLoop loop, ServerAddress address, ServerStats stats) {
        ServerSecurity.Tls tls = security.tls(address);
        if (tls.mode() != ServerSslMode.ALLOW) {
            return connect(loop, address, tls.mode(), tls.context(), stats);
        }
        // libpq's allow: plain text first, TLS only when the server refuses the plain connection.
        Promise<ServerConnection> promise = loop.newPromise();
        connect(loop, address, ServerSslMode.DISABLE, null, stats).addListener(f -> {
            if (f.isSuccess()) {
                promise.trySuccess((ServerConnection) f.getNow());
            } else if (f.cause() instanceof ServerError e
                    && SqlState.INVALID_AUTHORIZATION_SPECIFICATION.equals(e.sqlState())) {
                connect(loop, address, ServerSslMode.REQUIRE, tls.context(), stats)
                        .addListener(g -> {
                            if (g.isSuccess()) {
                                promise.trySuccess((ServerConnection) g.getNow());
                            } else {
                                promise.tryFailure(g.cause());
                            }
                        });
            } else {
                promise.tryFailure(f.cause());
            }
        });
        return promise;
    }

    private Future<ServerConnection> connect(
            EventLoop loop, ServerAddress address, ServerSslMode sslMode, SslContext sslContext, ServerStats stats) {
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
                                .addLast(MessageFramer.NAME, new ServerFramer(SERVER_MAX_MESSAGE, conn))
                                .addLast(BackendHandler.NAME, new BackendHandler(conn, promise, security));
                        if (stats != null) {
                            // Last, so that it is the first outbound handler every write meets.
                            ServerMeter meter = new ServerMeter(stats);
                            conn.meter(meter);
                            conn.statements().stats(stats);
                            ch.pipeline().addLast(ServerMeter.NAME, meter);
                        }
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
            Channel ch = cf.channel();
            BackendTls.negotiate(ch, sslMode, sslContext, address.host(), address.port())
                    .addListener(n -> {
                        if (!n.isSuccess()) {
                            if (handshakeFailure(n.cause())) {
                                security.tlsHandshake(false, null);
                            }
                            // A refused or failed TLS setup is a configuration matter: retrying will not help.
                            promise.tryFailure(new ServerError(
                                    SqlState.SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                                    n.cause().getMessage(),
                                    false,
                                    n.cause()));
                            ch.close();
                            return;
                        }
                        @SuppressWarnings("unchecked")
                        Optional<TlsInfo> info = (Optional<TlsInfo>) n.getNow();
                        info.ifPresent(t -> security.tlsHandshake(true, t.protocol()));
                        BackendHandler handler = (BackendHandler) ch.pipeline().get(BackendHandler.NAME);
                        if (handler != null) {
                            handler.tlsInfo(info.orElse(null));
                        }
                        Map<String, String> params = new LinkedHashMap<>();
                        params.put("user", address.user());
                        params.put("database", address.database());
                        ch.writeAndFlush(Messages.startupMessage(ch.alloc(), params));
                    });
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

    /** Whether TLS setup failed in the handshake itself, not because the server declined or answered oddly. */
    private static boolean handshakeFailure(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof javax.net.ssl.SSLException) {
                return true;
            }
        }
        return false;
    }

    /** Lifetimes spread over +-10% so that connections opened together are not all recycled together. */
    private static long jittered(long nanos) {
        long spread = nanos / 10;
        return nanos - spread + ThreadLocalRandom.current().nextLong(2 * spread + 1);
    }
}
