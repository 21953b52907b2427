package dev.pggat.pooler.admin;

import dev.pggat.pooler.net.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small HTTP/1.1 server for pggat's side ports: the pooler's admin port, the operator's admission webhook and
 * endpoint stream.
 *
 * <p>Why not the JDK's HttpServer: it reads a request on a worker thread and has no per-server read timeout, so a
 * few clients that send half a request hold every worker and the liveness probe on the same port times out. Here a
 * connection costs no thread while its request arrives; it must deliver its whole request (TLS handshake, head and
 * body) within the request timeout, which is also how long a keep-alive connection may sit idle. Request heads are
 * capped by the decoder (400) and bodies at {@code maxBody} (413). A connection has at most one request in flight:
 * it reads nothing more until that request is answered.
 *
 * <p>Handlers run on the I/O thread and must not block: slow work goes to an executor the caller bounds, which
 * answers through the {@link Exchange} from any thread.
 */
public final class SmallHttpServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SmallHttpServer.class);
    static final int MAX_INITIAL_LINE = 8192;
    static final int MAX_HEADER_BYTES = 16384;

    /** Answers one request; called on the connection's I/O thread. */
    @FunctionalInterface
    public interface Handler {
        void handle(Exchange exchange) throws Exception;
    }

    private final EventLoopGroup group;
    private final Channel listener;
    private final ChannelGroup connections;

    private SmallHttpServer(EventLoopGroup group, Channel listener, ChannelGroup connections) {
        this.group = group;
        this.listener = listener;
        this.connections = connections;
    }

    /**
     * Listens on {@code bind}.
     *
     * @param name thread name prefix, also used in log lines
     * @param tls serves HTTPS with this context when not null
     * @param requestTimeout how long a connection may take to deliver a whole request, or sit idle between two
     * @param maxBody the largest request body accepted; larger ones get 413 and the connection is closed
     * @param ioThreads I/O threads; one is plenty for probes and scrapes
     */
    public static SmallHttpServer start(
            String name,
            InetSocketAddress bind,
            SSLContext tls,
            Duration requestTimeout,
            int maxBody,
            int ioThreads,
            Handler handler)
            throws IOException {
        Transport transport = Transport.best();
        EventLoopGroup group = transport.newGroup(ioThreads, name);
        long timeoutNanos = requestTimeout.toNanos();
        ChannelGroup connections = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
        ServerBootstrap b = new ServerBootstrap()
                .group(group)
                .channel(transport.serverChannel())
                .option(ChannelOption.SO_BACKLOG, 128)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        connections.add(ch);
                        ChannelPipeline p = ch.pipeline();
                        if (tls != null) {
                            SSLEngine engine = tls.createSSLEngine();
                            engine.setUseClientMode(false);
                            p.addLast("tls", new SslHandler(engine));
                        }
                        p.addLast("http", new HttpServerCodec(MAX_INITIAL_LINE, MAX_HEADER_BYTES, 8192));
                        p.addLast("aggregate", new Aggregator(maxBody));
                        p.addLast("handle", new Connection(name, handler, timeoutNanos));
                    }
                });
        try {
            Channel listener = b.bind(bind).sync().channel();
            return new SmallHttpServer(group, listener, connections);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw new IOException("interrupted while binding " + bind, e);
        } catch (Exception e) {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw new IOException("cannot listen on " + bind + ": " + e.getMessage(), e);
        }
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) listener.localAddress();
    }

    /** Stops listening and closes every connection. */
    @Override
    public void close() {
        listener.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        // Peers see the connection end now, not whenever the event loop gets round to it while stopping.
        connections.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(3, TimeUnit.SECONDS);
    }

    /** A body over the limit gets a 413 that says the limit, and the connection is closed. */
    private static final class Aggregator extends HttpObjectAggregator {
        private final int maxBody;

        Aggregator(int maxBody) {
            super(maxBody);
            this.maxBody = maxBody;
        }

        @Override
        protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
            if (oversized instanceof HttpRequest) {
                ctx.writeAndFlush(text(
                                HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE,
                                "the request body exceeds " + maxBody + " bytes\n",
                                false))
                        .addListener(ChannelFutureListener.CLOSE);
            } else {
                ctx.close();
            }
        }
    }

    private static FullHttpResponse text(HttpResponseStatus status, String body, boolean keepAlive) {
        return response(
                status, "text/plain; charset=utf-8", body.getBytes(StandardCharsets.UTF_8), Map.of(), keepAlive);
    }

    private static FullHttpResponse response(
            HttpResponseStatus status,
            String contentType,
            byte[] body,
            Map<String, String> headers,
            boolean keepAlive) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(body));
        HttpHeaders h = r.headers();
        headers.forEach(h::set);
        h.set(HttpHeaderNames.CONTENT_TYPE, contentType);
        h.setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        if (!keepAlive) {
            h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        return r;
    }

    /** One connection: the request deadline, and one request in flight at a time. */
    private static final class Connection extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final String name;
        private final Handler handler;
        private final long timeoutNanos;
        private ScheduledFuture<?> deadline;
        /** Touched on the I/O thread only. */
        private boolean inFlight;

        private boolean closeAfterResponse;

        Connection(String name, Handler handler, long timeoutNanos) {
            this.name = name;
            this.handler = handler;
            this.timeoutNanos = timeoutNanos;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) throws Exception {
            arm(ctx);
            super.channelActive(ctx);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) throws Exception {
            disarm();
            super.channelInactive(ctx);
        }

        private void arm(ChannelHandlerContext ctx) {
            disarm();
            deadline = ctx.executor()
                    .schedule(
                            () -> {
                                LOG.debug(
                                        "{}: closing {}: no whole request in time",
                                        name,
                                        ctx.channel().remoteAddress());
                                ctx.close();
                            },
                            timeoutNanos,
                            TimeUnit.NANOSECONDS);
        }

        private void disarm() {
            if (deadline != null) {
                deadline.cancel(false);
                deadline = null;
            }
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            if (inFlight) {
                // A pipelined request, decoded from the same read: not served; the client retries it on a new
                // connection once this one closes after the answer in progress.
                closeAfterResponse = true;
                return;
            }
            inFlight = true;
            disarm();
            ctx.channel().config().setAutoRead(false);
            if (req.decoderResult().isFailure()) {
                ctx.writeAndFlush(text(
                                HttpResponseStatus.BAD_REQUEST,
                                "malformed request, or its line or headers exceed " + MAX_INITIAL_LINE + " / "
                                        + MAX_HEADER_BYTES + " bytes\n",
                                false))
                        .addListener(ChannelFutureListener.CLOSE);
                return;
            }
            byte[] body = new byte[req.content().readableBytes()];
            req.content().readBytes(body);
            Exchange ex = new Exchange(
                    ctx,
                    this,
                    req.method().name(),
                    new QueryStringDecoder(req.uri()),
                    req.headers().copy(),
                    body,
                    HttpUtil.isKeepAlive(req));
            try {
                handler.handle(ex);
            } catch (Exception e) {
                LOG.warn("{}: {} {} failed", name, ex.method(), ex.path(), e);
                if (!ex.responded.get()) {
                    ex.respond(500, "internal error: " + e.getClass().getSimpleName() + "\n");
                } else {
                    ctx.close();
                }
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.debug("{}: closing {}: {}", name, ctx.channel().remoteAddress(), cause.toString());
            ctx.close();
        }
    }

    /** One request, answered once, from any thread. */
    public static final class Exchange {
        private final ChannelHandlerContext ctx;
        private final Connection connection;
        private final String method;
        private final QueryStringDecoder uri;
        private final HttpHeaders headers;
        private final byte[] body;
        private final boolean keepAlive;
        private final AtomicBoolean responded = new AtomicBoolean();

        private Exchange(
                ChannelHandlerContext ctx,
                Connection connection,
                String method,
                QueryStringDecoder uri,
                HttpHeaders headers,
                byte[] body,
                boolean keepAlive) {
            this.ctx = ctx;
            this.connection = connection;
            this.method = method;
            this.uri = uri;
            this.headers = headers;
            this.body = body;
            this.keepAlive = keepAlive;
        }

        public String method() {
            return method;
        }

        /** The decoded path, without the query. */
        public String path() {
            return uri.path();
        }

        public String rawQuery() {
            return uri.rawQuery();
        }

        /** The first value of a request header, or null. */
        public String header(String name) {
            return headers.get(name);
        }

        public byte[] body() {
            return body;
        }

        public SocketAddress remoteAddress() {
            return ctx.channel().remoteAddress();
        }

        public void respond(int status, String text) {
            respond(status, "text/plain; charset=utf-8", text.getBytes(StandardCharsets.UTF_8), Map.of());
        }

        public void respond(int status, String contentType, byte[] body, Map<String, String> headers) {
            if (!responded.compareAndSet(false, true)) {
                throw new IllegalStateException("already answered");
            }
            ChannelFuture f = ctx.writeAndFlush(
                    response(HttpResponseStatus.valueOf(status), contentType, body, headers, keepAlive));
            if (!keepAlive) {
                f.addListener(ChannelFutureListener.CLOSE);
                return;
            }
            f.addListener((ChannelFutureListener) done -> {
                if (!done.isSuccess()) {
                    done.channel().close();
                    return;
                }
                // On the I/O thread, as the listener runs there: the next request may come, within the deadline.
                connection.inFlight = false;
                if (connection.closeAfterResponse) {
                    done.channel().close();
                    return;
                }
                connection.arm(ctx);
                ctx.channel().config().setAutoRead(true);
            });
        }

        /**
         * Sends the status and headers of a response whose body follows in chunks for as long as the caller
         * wants; the connection closes when the stream ends. Blocks until the head is sent: call it off the I/O
         * thread.
         */
        public Stream stream(int status, String contentType, Map<String, String> headers) throws IOException {
            if (!responded.compareAndSet(false, true)) {
                throw new IllegalStateException("already answered");
            }
            HttpResponse r = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(status));
            headers.forEach(r.headers()::set);
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
            r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            HttpUtil.setTransferEncodingChunked(r, true);
            Stream s = new Stream(ctx.channel());
            s.await(ctx.writeAndFlush(r), Duration.ofSeconds(30));
            return s;
        }
    }

    /** The body of a streamed response; written from one thread, which may block. */
    public static final class Stream implements AutoCloseable {
        private final Channel channel;

        private Stream(Channel channel) {
            this.channel = channel;
        }

        /**
         * Writes one chunk and waits until it is handed to the socket, so a subscriber that stops reading holds
         * at most one chunk in memory.
         *
         * @throws IOException when the connection is gone or the chunk did not go out within {@code timeout}
         */
        public void write(byte[] chunk, Duration timeout) throws IOException {
            await(channel.writeAndFlush(new DefaultHttpContent(Unpooled.wrappedBuffer(chunk))), timeout);
        }

        private void await(ChannelFuture f, Duration timeout) throws IOException {
            boolean done;
            try {
                done = f.await(timeout.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                channel.close();
                throw new IOException("interrupted while writing", e);
            }
            if (!done) {
                channel.close();
                throw new IOException("the peer did not read for " + timeout);
            }
            if (!f.isSuccess()) {
                channel.close();
                throw new IOException("the connection is closed", f.cause());
            }
        }

        public boolean isOpen() {
            return channel.isActive();
        }

        /** Ends the body and closes the connection. */
        @Override
        public void close() {
            if (channel.eventLoop().isShuttingDown()) {
                channel.close();
            } else if (channel.isActive()) {
                channel.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener(ChannelFutureListener.CLOSE);
            }
        }
    }
}
