package dev.pggat.pooler.frontend;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.net.Transport;
import dev.pggat.pooler.protocol.Messages;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import java.util.concurrent.TimeUnit;

/** Sends a CancelRequest for a server's running query, on a new connection to that server's real address. */
final class CancelForwarder {
    private CancelForwarder() {}

    static void cancel(Transport transport, EventLoop loop, ServerConnection server) {
        int pid = server.processId();
        int key = server.secretKey();
        server.cancelStarted();
        new Bootstrap()
                .group(loop)
                .channel(transport.socketChannel())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5000)
                .handler(new ChannelInboundHandlerAdapter())
                .connect(server.address().host(), server.address().port())
                .addListener((ChannelFutureListener) f -> {
                    // Finished when the server closes the cancel connection: it has signalled the backend by then.
                    f.channel().closeFuture().addListener(c -> server.cancelFinished());
                    if (f.isSuccess()) {
                        f.channel()
                                .writeAndFlush(
                                        Messages.cancelRequest(f.channel().alloc(), pid, key));
                        // A server that never answers must not hold the connection back forever.
                        f.channel().eventLoop().schedule(() -> f.channel().close(), 5, TimeUnit.SECONDS);
                    } else {
                        f.channel().close();
                    }
                });
    }
}
