package dev.pggat.pooler.tls;

import dev.pggat.pooler.net.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import javax.net.ssl.SSLSession;

/**
 * A TLS echo server on 127.0.0.1 and clients for it, all real sockets: each server connection gets the handler
 * {@code serverHandlers} makes at accept time; the outcome of each side's handshake is recorded.
 */
final class TlsLoopback implements AutoCloseable {
    /** A finished handshake: info on success, the cause on failure. */
    record Outcome(TlsInfo info, Throwable failure, SSLSession serverSession) {
        boolean ok() {
            return info != null;
        }
    }

    private final EventLoopGroup group;
    private final Channel server;
    private final BlockingQueue<Outcome> serverOutcomes = new LinkedBlockingQueue<>();

    TlsLoopback(Function<ByteBufAllocator, SslHandler> serverHandlers) throws InterruptedException {
        Transport t = Transport.best();
        group = t.newGroup(2, "tls-test");
        server = new ServerBootstrap()
                .group(group)
                .channel(t.serverChannel())
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        SslHandler ssl = serverHandlers.apply(ch.alloc());
                        ssl.handshakeFuture().addListener(f -> serverOutcomes.add(outcome(ssl, f.cause())));
                        ch.pipeline().addLast(ssl).addLast(new Echo());
                    }
                })
                .bind("127.0.0.1", 0)
                .sync()
                .channel();
    }

    int port() {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    /** The server side's outcome of the next finished handshake. */
    Outcome serverOutcome() throws InterruptedException {
        Outcome o = serverOutcomes.poll(10, TimeUnit.SECONDS);
        if (o == null) {
            throw new AssertionError("the server saw no finished handshake within 10 s");
        }
        return o;
    }

    /** Connects with {@code context}, naming the server {@code host} (SNI, host name checks). */
    Client connect(SslContext context, String host) throws InterruptedException {
        Client c = new Client();
        Transport t = Transport.best();
        c.channel = new Bootstrap()
                .group(group)
                .channel(t.socketChannel())
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        SslHandler ssl = BackendTls.newHandler(context, ch.alloc(), host, port());
                        ssl.handshakeFuture().addListener(f -> c.outcome.add(outcome(ssl, f.cause())));
                        ch.pipeline().addLast(ssl).addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                ByteBuf b = (ByteBuf) msg;
                                c.received.add(b.toString(StandardCharsets.UTF_8));
                                b.release();
                            }

                            @Override
                            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                ctx.close();
                            }
                        });
                    }
                })
                .connect("127.0.0.1", port())
                .sync()
                .channel();
        return c;
    }

    private static Outcome outcome(SslHandler ssl, Throwable cause) {
        return cause == null
                ? new Outcome(TlsInfo.of(ssl), null, ssl.engine().getSession())
                : new Outcome(null, cause, null);
    }

    @Override
    public void close() {
        server.close().awaitUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    static final class Client implements AutoCloseable {
        Channel channel;
        final BlockingQueue<Outcome> outcome = new LinkedBlockingQueue<>();
        final BlockingQueue<String> received = new LinkedBlockingQueue<>();

        Outcome handshake() throws InterruptedException {
            Outcome o = outcome.poll(10, TimeUnit.SECONDS);
            if (o == null) {
                throw new AssertionError("the client's handshake did not finish within 10 s");
            }
            return o;
        }

        /** Sends text over TLS and returns what the server echoes. */
        String echo(String text) throws InterruptedException {
            channel.writeAndFlush(Unpooled.copiedBuffer(text, StandardCharsets.UTF_8));
            StringBuilder sb = new StringBuilder();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (sb.length() < text.length()) {
                String part = received.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
                if (part == null) {
                    throw new AssertionError("no echo within 10 s; got '" + sb + "'");
                }
                sb.append(part);
            }
            return sb.toString();
        }

        @Override
        public void close() {
            channel.close().awaitUninterruptibly();
        }
    }

    private static final class Echo extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.writeAndFlush(msg);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
