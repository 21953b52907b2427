package dev.pggat.pooler.pool;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerQuery;
import dev.pggat.pooler.protocol.ProtocolConstants;

/**
 * Runs a pool's reset query (DISCARD ALL by default) on a server a session-mode client left, and gives the server
 * back to the pool once it is idle again; closes it if the reset fails.
 */
public final class ServerReset {
    private ServerReset() {}

    public static void resetAndRelease(Pool pool, ServerConnection server) {
        String query = pool.settings().resetQuery();
        if (query == null || query.isBlank()) {
            pool.release(server);
            return;
        }
        ServerQuery.simple(server, query, null).addListener(f -> {
            if (!f.isSuccess()) {
                pool.discard(server);
                return;
            }
            ServerQuery.Result r = (ServerQuery.Result) f.getNow();
            if (r.failed() || r.transactionStatus() != ProtocolConstants.TX_IDLE) {
                pool.discard(server);
            } else {
                // RESET ALL / DISCARD ALL restored the startup values.
                server.appliedParameters().clear();
                server.statements().clear();
                server.lastOwner(null, 0);
                pool.release(server);
            }
        });
    }
}
