package dev.pggat.pooler.frontend;

import dev.pggat.pooler.protocol.ProtocolConstants;

/**
 * What replies the server owes, in order, for the messages sent to it in transaction mode, plus the replies the
 * pooler answers itself (a Parse of a statement the server already has gets its ParseComplete from the pooler)
 * and the replies to messages the pooler added (a Parse before a Bind on a server that lacks the statement, a
 * Close of an evicted statement), which the client must not see. Synthetic replies are released exactly where the
 * server's would have been: when everything before them is answered. After an error in the extended protocol the
 * server skips to Sync, and so does this queue.
 */
final class ResponseTracker {
    // Messages whose replies come from the server and go to the client.
    static final byte PARSE = 1;
    static final byte BIND = 2;
    static final byte DESCRIBE_STATEMENT = 3;
    static final byte DESCRIBE_PORTAL = 4;
    static final byte EXECUTE = 5;
    static final byte CLOSE = 6;
    static final byte SYNC = 7;
    static final byte QUERY = 8;
    static final byte FUNCTION_CALL = 9;
    // Replies the pooler makes up.
    static final byte SYNTHETIC_PARSE_COMPLETE = 10;
    static final byte SYNTHETIC_CLOSE_COMPLETE = 11;
    static final byte SYNTHETIC_ERROR = 12;
    // Messages the pooler added: their replies are dropped.
    static final byte ADDED_PARSE = 13;
    static final byte ADDED_CLOSE = 14;
    /** A reply the session makes up itself from its payload (LISTEN answered inside a transaction block). */
    static final byte SYNTHETIC_REPLY = 15;

    /** Verdicts for a server frame. */
    static final int FORWARD = 0;

    static final int DROP = 1;

    private static final byte[] NO_KINDS = {};
    private static final Object[] NO_PAYLOADS = {};

    /** A ring buffer (its length a power of two), made at the first message: an idle client holds none. */
    private byte[] kinds = NO_KINDS;

    private Object[] payloads = NO_PAYLOADS;
    private int head;
    private int size;
    private boolean describedParameters;

    /** Receives what the tracker releases or learns. */
    interface Sink {
        void synthetic(byte kind, Object payload);

        /** A Parse (the client's or one the pooler added) failed: the server does not have that statement. */
        void parseFailed(Object payload);

        /** A Parse (the client's or one the pooler added) succeeded. */
        void parsed(Object payload);
    }

    boolean isEmpty() {
        return size == 0;
    }

    void clear() {
        head = 0;
        size = 0;
        java.util.Arrays.fill(payloads, null);
        describedParameters = false;
    }

    void add(byte kind, Object payload, Sink sink) {
        if (size == kinds.length) {
            grow();
        }
        int i = (head + size) & (kinds.length - 1);
        kinds[i] = kind;
        payloads[i] = payload;
        size++;
        releaseSynthetic(sink);
    }

    private void grow() {
        int length = kinds.length == 0 ? 16 : kinds.length * 2;
        byte[] k = new byte[length];
        Object[] p = new Object[length];
        for (int i = 0; i < size; i++) {
            int j = (head + i) & (kinds.length - 1);
            k[i] = kinds[j];
            p[i] = payloads[j];
        }
        kinds = k;
        payloads = p;
        head = 0;
    }

    private byte peek() {
        return kinds[head];
    }

    private Object poll() {
        Object p = payloads[head];
        payloads[head] = null;
        head = (head + 1) & (kinds.length - 1);
        size--;
        return p;
    }

    private static boolean isSynthetic(byte kind) {
        return (kind >= SYNTHETIC_PARSE_COMPLETE && kind <= SYNTHETIC_ERROR) || kind == SYNTHETIC_REPLY;
    }

    /** Releases synthetic replies that are now first in line. */
    private void releaseSynthetic(Sink sink) {
        while (size > 0 && isSynthetic(peek())) {
            byte kind = peek();
            sink.synthetic(kind, poll());
        }
    }

    /** Decides what becomes of one frame from the server. */
    int serverFrame(byte type, Sink sink) {
        if (type == ProtocolConstants.NOTICE_RESPONSE
                || type == ProtocolConstants.NOTIFICATION_RESPONSE
                || type == ProtocolConstants.PARAMETER_STATUS) {
            return FORWARD; // asynchronous, or part of whatever runs now
        }
        releaseSynthetic(sink);
        if (size == 0) {
            return FORWARD;
        }
        byte kind = peek();
        if (type == ProtocolConstants.ERROR_RESPONSE) {
            return error(kind, sink);
        }
        int verdict = kind == ADDED_PARSE || kind == ADDED_CLOSE ? DROP : FORWARD;
        if (kind == DESCRIBE_STATEMENT && type == ProtocolConstants.PARAMETER_DESCRIPTION) {
            describedParameters = true;
        }
        boolean done = completes(kind, type);
        if (done) {
            if (kind == PARSE || kind == ADDED_PARSE) {
                sink.parsed(payloads[head]);
            }
            poll();
            describedParameters = false;
            // Synthetic replies now first in line follow this frame: the caller releases them once it is written.
        }
        return verdict;
    }

    /** Whether a server message of {@code type} is the last reply to a message of {@code kind}. */
    private static boolean completes(byte kind, byte type) {
        return switch (kind) {
            case PARSE, ADDED_PARSE -> type == ProtocolConstants.PARSE_COMPLETE;
            case CLOSE, ADDED_CLOSE -> type == ProtocolConstants.CLOSE_COMPLETE;
            case BIND -> type == ProtocolConstants.BIND_COMPLETE;
            case DESCRIBE_STATEMENT, DESCRIBE_PORTAL ->
                type == ProtocolConstants.ROW_DESCRIPTION || type == ProtocolConstants.NO_DATA;
            case EXECUTE ->
                type == ProtocolConstants.COMMAND_COMPLETE
                        || type == ProtocolConstants.PORTAL_SUSPENDED
                        || type == ProtocolConstants.EMPTY_QUERY_RESPONSE;
            default -> type == ProtocolConstants.READY_FOR_QUERY; // SYNC, QUERY, FUNCTION_CALL
        };
    }

    /**
     * Whether a server message of {@code type} goes to the client as it is with nothing made up before or right
     * after it, so that the pass-through path may take it (it still calls {@link #serverFrame} for it). False for
     * an ErrorResponse, a reply to a message the pooler added, and wherever a made-up reply is due.
     */
    boolean passesThrough(byte type) {
        if (type == ProtocolConstants.ERROR_RESPONSE) {
            return false;
        }
        if (size == 0) {
            return true;
        }
        byte kind = peek();
        if (isSynthetic(kind) || kind == ADDED_PARSE || kind == ADDED_CLOSE) {
            return false;
        }
        return size == 1 || !completes(kind, type) || !isSynthetic(kinds[(head + 1) & (kinds.length - 1)]);
    }

    /** After the server frame just decided on went out: releases the synthetic replies that come next. */
    void afterFrame(Sink sink) {
        releaseSynthetic(sink);
    }

    /**
     * An ErrorResponse. In a simple Query (or at Sync) it is just part of the reply. In the extended protocol the
     * server now ignores everything up to Sync: drop those entries too, synthetic ones included, as PostgreSQL
     * would not have answered them.
     */
    private int error(byte kind, Sink sink) {
        if (kind == SYNC || kind == QUERY || kind == FUNCTION_CALL) {
            return FORWARD;
        }
        if (kind == PARSE || kind == ADDED_PARSE) {
            sink.parseFailed(payloads[head]);
        }
        poll();
        while (size > 0 && peek() != SYNC) {
            byte k = peek();
            Object p = poll();
            if (k == PARSE || k == ADDED_PARSE) {
                // Never reached the server's parser: the server does not have it either.
                sink.parseFailed(p);
            }
        }
        describedParameters = false;
        return FORWARD;
    }
}
