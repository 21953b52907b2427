package dev.pggat.pooler.pool;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerListener;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ProtocolConstants;
import io.netty.buffer.ByteBuf;

/**
 * Runs a pool's reset query (DISCARD ALL by default) on a server a session-mode client left, and gives the server
 * back to the pool once it is idle again; closes it if the reset fails.
 */
public final class ServerReset implements ServerListener {
    private final Pool pool;
    private boolean failed;

    private ServerReset(Pool pool) {
        this.pool = pool;
    }

    public static void resetAndRelease(Pool pool, ServerConnection server) {
        String query = pool.settings().resetQuery();
        if (query == null || query.isBlank()) {
            pool.release(server);
            return;
        }
        server.listener(new ServerReset(pool));
        server.poolerQuerySent();
        server.channel().writeAndFlush(Messages.query(server.channel().alloc(), query));
    }

    @Override
    public void onFrame(ServerConnection server, ByteBuf frame) {
        try {
            byte type = Frames.type(frame);
            if (type == ProtocolConstants.PARAMETER_STATUS) {
                server.recordParameterStatus(frame);
            } else if (type == ProtocolConstants.ERROR_RESPONSE) {
                failed = true;
            } else if (type == ProtocolConstants.READY_FOR_QUERY) {
                server.transactionStatus(Frames.readyStatus(frame));
                server.listener(null);
                if (failed || Frames.readyStatus(frame) != ProtocolConstants.TX_IDLE) {
                    pool.discard(server);
                } else {
                    // RESET ALL / DISCARD ALL restored the startup values.
                    server.appliedParameters().clear();
                    server.statements().clear();
                    server.lastOwner(null, 0);
                    pool.release(server);
                }
            }
        } finally {
            frame.release();
        }
    }

    @Override
    public void onReadComplete(ServerConnection server) {}

    @Override
    public void onClosed(ServerConnection server, Throwable cause) {
        pool.discard(server);
    }
}
