package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;

/** Reads a ReadyForQuery ('Z') frame in place. */
public final class ReadyForQuery {
    private ReadyForQuery() {}

    /** The transaction status: {@link ProtocolConstants#TX_IDLE}, {@code TX_IN_BLOCK} or {@code TX_FAILED}. */
    public static byte status(ByteBuf frame) {
        return Views.byteAt(frame, Views.body(frame));
    }
}
