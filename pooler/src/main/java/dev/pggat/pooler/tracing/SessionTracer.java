package dev.pggat.pooler.tracing;

import io.netty.buffer.ByteBuf;

/**
 * What one client session tells tracing, in the order it happens on the client's event loop. Every method runs on
 * that loop. The frames passed in stay the caller's: a tracer reads them in place and never keeps them.
 *
 * <p>With tracing off the session holds {@link #OFF}, whose methods do nothing: the only implementation loaded in
 * that case, so each call is a monomorphic call the JIT inlines to nothing, with no allocation.
 */
public interface SessionTracer {
    SessionTracer OFF = new SessionTracer() {};

    /**
     * The first message of a transaction arrived while the session held no server: a transaction begins (unless one
     * is open) and so does the wait for a server.
     */
    default void transactionStarted(ByteBuf first) {}

    /** The route chose the pool of {@code endpoint}: the server will come from {@code host:port}. */
    default void routed(String endpoint, boolean replica, String host, int port) {}

    /** A server was checked out: the wait is over. */
    default void waitEnded() {}

    /** A client message is written to the server (begins a round trip when none is open). */
    default void toServer(ByteBuf frame, byte type) {}

    /** A server message on its way to the client. */
    default void fromServer(ByteBuf frame, byte type) {}

    /**
     * The server said ReadyForQuery with {@code status}; {@code batchDone}: nothing the client sent is unanswered,
     * so the round trip is over, and with status idle so is the transaction.
     */
    default void ready(byte status, boolean batchDone) {}

    /** A replica refused a write (25006): the transaction runs again on the primary. */
    default void replayed() {}

    /** The session keeps its server from now on, for {@code reason}. */
    default void pinned(String reason) {}

    /** The client is gone: whatever is open ends, marked as not completed. */
    default void closed() {}
}
