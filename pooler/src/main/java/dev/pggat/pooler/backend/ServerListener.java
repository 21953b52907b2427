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

    /**
     * The pass-through fast path ({@link ServerFramer}): called with the server's read buffer before it is cut
     * into frames. The listener may take whole messages from its front that no stage needs to see, as they are
     * (reading only their headers, writing them on as one retained slice, and moving the reader index past
     * them); it stops at the first message that needs the per-frame path, which then gets that one message
     * through {@link #onFrame} before it is asked again. Returns false when it takes nothing in the current
     * state, so that the rest of the read is framed at once. Called on the server's event loop.
     */
    default boolean passThrough(ServerConnection server, ByteBuf in, int maxMessageSize) {
        return false;
    }
}
