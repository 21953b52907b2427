package dev.pggat.pooler.frontend;

import dev.pggat.pooler.net.Transport;
import dev.pggat.pooler.protocol.Messages;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends a client's CancelRequest on to the pooler replica that issued the key: the same 16 bytes a client would
 * send, on a new connection to that pooler's client listener, which handles it as its own.
 */
public final class PeerCancelForwarder {
    private static final Logger log = LoggerFactory.getLogger(PeerCancelForwarder.class);
    private static final int CONNECT_TIMEOUT_MILLIS = 3000;

    private final Transport transport;
    private final EventLoopGroup group;

    public PeerCancelForwarder(Transport transport, EventLoopGroup group) {
        this.transport = transport;
        this.group = group;
    }

    void forward(InetSocketAddress peer, int processId, int secretKey) {
        new Bootstrap()
                .group(group)
                .channel(transport.socketChannel())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, CONNECT_TIMEOUT_MILLIS)
                .handler(new ChannelInboundHandlerAdapter())
                .connect(peer.getHostString(), peer.getPort())
                .addListener((ChannelFutureListener) f -> {
                    if (f.isSuccess()) {
                        f.channel()
                                .writeAndFlush(
                                        Messages.cancelRequest(f.channel().alloc(), processId, secretKey))
                                .addListener(ChannelFutureListener.CLOSE);
                    } else {
                        // The key names the pooler, not the client; nothing identifying is logged.
                        log.warn(
                                "cannot forward a cancel request to peer pooler {}:{}: {}",
                                peer.getHostString(),
                                peer.getPort(),
                                f.cause() == null
                                        ? "connection failed"
                                        : f.cause().getMessage());
                    }
                });
    }
}
