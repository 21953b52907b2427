package dev.pggat.pooler.tls;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;

/**
 * First in a new client connection's pipeline: when the first byte is 0x16 (a TLS handshake record), the client
 * speaks PostgreSQL 17's direct TLS ({@code sslnegotiation=direct}) and an SslHandler takes this handler's place;
 * anything else is a packet length and goes on to the startup decoder unchanged. Either way it leaves the
 * pipeline after the first bytes.
 */
public final class DirectTlsDetector extends ChannelInboundHandlerAdapter {
    public static final String NAME = "pg-direct-tls";
    /** Set on channels that started with direct TLS: their handshake must have agreed on ALPN "postgresql". */
    public static final AttributeKey<Boolean> DIRECT = AttributeKey.valueOf("pggat.directTls");

    private static final int TLS_HANDSHAKE_RECORD = 0x16;

    private final ReloadingSslContext context;

    public DirectTlsDetector(ReloadingSslContext context) {
        this.context = context;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf in) || !in.isReadable()) {
            if (msg instanceof ByteBuf) {
                ReferenceCountUtil.release(msg);
            } else {
                ctx.fireChannelRead(msg);
            }
            return;
        }
        ChannelPipeline p = ctx.pipeline();
        if (in.getUnsignedByte(in.readerIndex()) == TLS_HANDSHAKE_RECORD) {
            ctx.channel().attr(DIRECT).set(Boolean.TRUE);
            p.replace(this, ClientTlsContexts.HANDLER_NAME, context.newHandler(ctx.alloc()));
            // The SslHandler is first now; the ClientHello must start there.
            p.fireChannelRead(in);
        } else {
            p.remove(this);
            ctx.fireChannelRead(in);
        }
    }
}
