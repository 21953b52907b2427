package dev.pggat.pooler.pool;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerError;

/** Told, exactly once and on any thread, how an acquire ended. */
public interface PoolCallback {
    void granted(ServerConnection server);

    void failed(ServerError error);
}
