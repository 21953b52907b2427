package dev.pggat.pooler.routing;

import dev.pggat.pooler.protocol.CommandComplete;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.ProtocolConstants;
import io.netty.buffer.ByteBuf;
import java.util.ArrayDeque;
import java.util.function.Consumer;

/**
 * A read's transaction, kept until a reply shows the client something decisive: the client's frames (copies), and
 * the server's replies held back meanwhile, so that it can be sent again if its server dies first. On a replica,
 * if the replica refuses a write (25006, read-only transaction) first, the held replies are dropped and the kept
 * frames are sent again to the primary; the client never sees the refusal. On the primary a 25006 is the client's.
 */
final class ReplicaReplay {
    static final String READ_ONLY_SQLSTATE = "25006";
    /** Past this much buffered, a transaction on a replica is no longer replayed on the primary. */
    static final int MAX_REPLAY_BYTES = 1 << 20;

    /** Client frames sent to the replica in this transaction; null when nothing is kept. */
    private ArrayDeque<ByteBuf> frames;

    private int bytes;
    /** Server frames held back while the transaction may still turn out to need the primary. */
    private ArrayDeque<ByteBuf> held;
    /** A 25006 came back: everything until the server is idle again is dropped, then replayed. */
    private boolean replaying;
    /** Kept on a replica: a 25006 starts a replay on the primary. */
    private boolean onReplica;

    /** {@code onReplica}: on a replica (a 25006 replays it on the primary), else on the primary (kept for a retry). */
    void begin(boolean onReplica) {
        release();
        frames = new ArrayDeque<>(4);
        bytes = 0;
        this.onReplica = onReplica;
    }

    boolean active() {
        return frames != null;
    }

    boolean replaying() {
        return replaying;
    }

    void fromClient(ByteBuf frame) {
        if (frames != null) {
            bytes += frame.readableBytes();
            if (bytes > MAX_REPLAY_BYTES) {
                release();
            } else {
                frames.add(frame.retainedDuplicate());
            }
        }
    }

    void keep(ByteBuf frame) {
        if (frames != null) {
            frames.add(frame.retainedDuplicate());
        }
    }

    boolean hold(ByteBuf frame) {
        if (frames == null) {
            return false;
        }
        if (held == null) {
            held = new ArrayDeque<>(4);
        }
        held.add(frame);
        return true;
    }

    /** Returns the frame to pass on, or null when it was held or was the 25006 that starts a replay. */
    ByteBuf fromServer(ByteBuf frame, byte type, Consumer<ByteBuf> write) {
        if (frames == null) {
            return frame;
        }
        switch (type) {
            case ProtocolConstants.PARSE_COMPLETE,
                    ProtocolConstants.BIND_COMPLETE,
                    ProtocolConstants.PARAMETER_DESCRIPTION,
                    ProtocolConstants.ROW_DESCRIPTION,
                    ProtocolConstants.NO_DATA,
                    ProtocolConstants.CLOSE_COMPLETE,
                    ProtocolConstants.PARAMETER_STATUS,
                    ProtocolConstants.NOTICE_RESPONSE -> {
                hold(frame);
                return null;
            }
            case ProtocolConstants.COMMAND_COMPLETE -> {
                if (begins(frame)) {
                    // BEGIN changed nothing: a batch that opened a transaction is still the transaction's start.
                    hold(frame);
                    return null;
                }
                flushHeld(write);
                return frame;
            }
            case ProtocolConstants.ERROR_RESPONSE -> {
                if (onReplica
                        && READ_ONLY_SQLSTATE.equals(ErrorFields.parse(frame).sqlState())) {
                    // The replica refused a write before the client saw anything: redo it all on the primary.
                    frame.release();
                    releaseHeld();
                    replaying = true;
                    return null;
                }
                flushHeld(write);
                return frame;
            }
            default -> {
                flushHeld(write);
                return frame;
            }
        }
    }

    private static final byte[] BEGIN_TAG = CommandComplete.ascii("BEGIN");
    private static final byte[] START_TAG = CommandComplete.ascii("START TRANSACTION");

    /** A CommandComplete of BEGIN or START TRANSACTION. */
    static boolean begins(ByteBuf frame) {
        return CommandComplete.tagIs(frame, BEGIN_TAG) || CommandComplete.tagIs(frame, START_TAG);
    }

    private void flushHeld(Consumer<ByteBuf> write) {
        if (held != null) {
            ByteBuf f;
            while ((f = held.poll()) != null) {
                write.accept(f);
            }
        }
        release();
    }

    /** The replica is idle after the 25006: the kept frames, in order. */
    ArrayDeque<ByteBuf> end() {
        replaying = false;
        ArrayDeque<ByteBuf> again = frames;
        frames = null;
        return again;
    }

    /** The server died before anything decisive reached the client: the kept frames, to send elsewhere. */
    ArrayDeque<ByteBuf> takeFrames() {
        releaseHeld();
        replaying = false;
        ArrayDeque<ByteBuf> again = frames;
        frames = null;
        return again;
    }

    void release() {
        if (frames != null) {
            ByteBuf f;
            while ((f = frames.poll()) != null) {
                f.release();
            }
            frames = null;
        }
        releaseHeld();
    }

    private void releaseHeld() {
        if (held != null) {
            ByteBuf f;
            while ((f = held.poll()) != null) {
                f.release();
            }
        }
    }
}
