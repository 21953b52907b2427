package dev.pggat.pooler.backend;

import io.netty.buffer.ByteBuf;

/**
 * Receives what a ready server connection reads: the client session it is attached to, or its pool while idle.
 * Called on the server channel's event loop. {@link #onFrame} takes ownership of the frame.
 */
public interface ServerListener {
    void onFrame(ServerConnection server, ByteBuf frame);

    void onReadComplete(ServerConnection server);

    void onClosed(ServerConnection server, Throwable cause);

    default void onWritabilityChanged(ServerConnection server) {}
}
