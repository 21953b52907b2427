package dev.pggat.pooler.frontend;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.tracing.PacketTraces;
import dev.pggat.pooler.tracing.SessionTracer;
import io.netty.buffer.ByteBuf;

/**
 * The pass-through fast path from the server to the client (docs/architecture.md). While no stage needs to see
 * the server's messages (transaction mode, the client and its server on one event loop, no pooler query, LISTEN
 * commit, replica reply keeping or replay in progress, no tracing), the messages at the front of what the server
 * sent go to the client as one retained slice of the read buffer, reading only each header (type and length):
 * one write per run, no frame objects, no stage calls but the prepared-statement stage's reply count.
 *
 * <p>A run stops in front of every message a stage may act on, which then takes the per-frame path
 * ({@link ClientSession#onFrame}) exactly as without this class: ReadyForQuery (transaction status, the server's
 * release), ErrorResponse, ParameterStatus, NotificationResponse, a CommandComplete whose tag a stage watches
 * (COMMIT, ROLLBACK, SAVEPOINT, DISCARD ALL, DEALLOCATE ALL: every tag starting with C, R, D or SA), and any reply
 * around which the prepared-statement stage drops or makes up replies.
 */
final class ServerPassThrough {
    private final ClientSession session;

    ServerPassThrough(ClientSession session) {
        this.session = session;
    }

    /**
     * Writes to the client the whole messages at the front of {@code in} that need no stage, advancing its reader
     * index past them. Returns false when the session takes none in its current state.
     */
    boolean take(ServerConnection s, ByteBuf in, int maxMessageSize) {
        if (!session.context.passThrough || !eligible(s)) {
            return false;
        }
        int start = in.readerIndex();
        int pos = start;
        while (true) {
            int next = Frames.messageEnd(in, pos);
            if (next < 0 || next - pos - 1 > maxMessageSize || !passes(Frames.typeAt(in, pos), in, pos, next)) {
                break; // partial, invalid (the framer reports it) or a message for the per-frame path
            }
            pos = next;
        }
        if (pos > start) {
            session.ctx.write(in.readRetainedSlice(pos - start), session.ctx.voidPromise());
            session.context.passThroughRuns.increment();
        }
        return true;
    }

    private boolean eligible(ServerConnection s) {
        ClientSession cs = session;
        return cs.state == ClientSession.State.ATTACHED
                && s == cs.server
                && cs.prepared != null
                && cs.loop.inEventLoop()
                && cs.tracer == SessionTracer.OFF
                && !cs.queries.active()
                && !cs.listen.applying()
                && !cs.routing.keepsReplies()
                && !cs.serverLoss.active()
                && !PacketTraces.traced(cs.ctx.pipeline());
    }

    /** Whether the message at {@code pos} may pass unread; the prepared-statement stage counts it if so. */
    private boolean passes(byte type, ByteBuf in, int pos, int next) {
        switch (type) {
            case ProtocolConstants.READY_FOR_QUERY,
                    ProtocolConstants.ERROR_RESPONSE,
                    ProtocolConstants.PARAMETER_STATUS,
                    ProtocolConstants.NOTIFICATION_RESPONSE -> {
                return false;
            }
            case ProtocolConstants.COMMAND_COMPLETE -> {
                if (watchedTag(Frames.bodyByteAt(in, pos, next, 0), Frames.bodyByteAt(in, pos, next, 1))) {
                    return false;
                }
            }
            default -> {}
        }
        return session.prepared.passThrough(type);
    }

    /** A CommandComplete tag that starts like one a stage watches (COMMIT, ROLLBACK, SAVEPOINT, DISCARD, DEALLOCATE). */
    private static boolean watchedTag(byte first, byte second) {
        return first == 0 || first == 'C' || first == 'R' || first == 'D' || (first == 'S' && second == 'A');
    }
}
