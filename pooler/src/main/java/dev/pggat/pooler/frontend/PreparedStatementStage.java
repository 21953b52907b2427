package dev.pggat.pooler.frontend;

import dev.pggat.pooler.backend.StatementCache;
import dev.pggat.pooler.protocol.Bind;
import dev.pggat.pooler.protocol.Close;
import dev.pggat.pooler.protocol.CommandComplete;
import dev.pggat.pooler.protocol.Describe;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.Parse;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.SqlState;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * The prepared-statement stage (transaction mode): a client's named statements become the pooler-wide server
 * names of their queries, prepared on a server only when it does not have them yet, and the replies the server
 * owes are tracked ({@link ResponseTracker}) so that the ones the pooler made up go out in their place and the
 * ones to messages the pooler added are dropped.
 *
 * <p>From the client it takes Parse, Bind, Describe and Close of named statements (rewritten or answered); it
 * records every other message's reply and passes it on. From the server it drops replies the client must not see.
 */
final class PreparedStatementStage implements ResponseTracker.Sink {
    /** Where this stage's made-up replies go. */
    interface Output {
        ByteBufAllocator alloc();

        /** A reply for the client, in order with the server's. */
        void toClient(ByteBuf frame);

        /** A reply another stage made up (a LISTEN answered in a transaction), released in its turn. */
        void reply(Object payload);
    }

    private static final byte[] DISCARD_ALL = CommandComplete.ascii("DISCARD ALL");
    private static final byte[] DEALLOCATE_ALL = CommandComplete.ascii("DEALLOCATE ALL");

    private final PreparedStatements registry;
    private final Output out;
    /** The client's named prepared statements, by the client's names. */
    private Map<String, PreparedStatements.Statement> statements;
    /** The replies the server owes and the ones the pooler makes up, in order. */
    final ResponseTracker tracker = new ResponseTracker();
    /** The pooler answered a message with an error itself: like PostgreSQL, ignore the rest up to Sync. */
    private boolean skipUntilSync;

    private StatementCache serverStatements;
    private Channel server;

    /** The client's statements, made at its first named one: an idle client that never prepares holds none. */
    private Map<String, PreparedStatements.Statement> statementsToChange() {
        if (statements == null) {
            statements = new HashMap<>();
        }
        return statements;
    }

    private PreparedStatements.Statement statement(String name) {
        return statements == null ? null : statements.get(name);
    }

    PreparedStatementStage(PreparedStatements registry, Output out) {
        this.registry = registry;
        this.out = out;
    }

    /** A server was checked out: nothing is owed yet. */
    void attached(StatementCache serverStatements, Channel server) {
        this.serverStatements = serverStatements;
        this.server = server;
        tracker.clear();
        skipUntilSync = false;
    }

    /** Drops what follows a message the pooler refused, up to its Sync. Returns true when it took the frame. */
    boolean skipping(ByteBuf frame, byte type) {
        if (!skipUntilSync) {
            return false;
        }
        if (type != ProtocolConstants.SYNC) {
            frame.release();
            return true;
        }
        skipUntilSync = false;
        return false;
    }

    /**
     * Records what the server will answer for {@code frame}, and maps named prepared statements: the client's
     * name becomes the pooler-wide server name of that query, prepared on this server only if it does not have
     * it yet. Returns the frame to send, or null when nothing goes to the server.
     */
    ByteBuf fromClient(ByteBuf frame, byte type) {
        switch (type) {
            case ProtocolConstants.PARSE -> {
                if (Parse.isUnnamed(frame)) {
                    tracker.add(ResponseTracker.PARSE, null, this);
                    return frame;
                }
                return parse(frame);
            }
            case ProtocolConstants.BIND -> {
                if (Bind.statementIsUnnamed(frame)) {
                    tracker.add(ResponseTracker.BIND, null, this);
                    return frame;
                }
                return bind(frame);
            }
            case ProtocolConstants.DESCRIBE -> {
                boolean statement = Describe.isStatement(frame);
                if (statement && !Describe.isUnnamed(frame)) {
                    return describeStatement(frame);
                }
                tracker.add(
                        statement ? ResponseTracker.DESCRIBE_STATEMENT : ResponseTracker.DESCRIBE_PORTAL, null, this);
                return frame;
            }
            case ProtocolConstants.CLOSE -> {
                if (Close.isStatement(frame) && !Close.isUnnamed(frame)) {
                    // The server keeps it for other clients; to this client it is gone.
                    if (statements != null) {
                        statements.remove(Close.name(frame));
                    }
                    frame.release();
                    tracker.add(ResponseTracker.SYNTHETIC_CLOSE_COMPLETE, null, this);
                    return null;
                }
                tracker.add(ResponseTracker.CLOSE, null, this);
                return frame;
            }
            case ProtocolConstants.EXECUTE -> tracker.add(ResponseTracker.EXECUTE, null, this);
            case ProtocolConstants.SYNC -> tracker.add(ResponseTracker.SYNC, null, this);
            case ProtocolConstants.QUERY -> tracker.add(ResponseTracker.QUERY, null, this);
            case ProtocolConstants.FUNCTION_CALL -> tracker.add(ResponseTracker.FUNCTION_CALL, null, this);
            default -> {} // Flush and COPY data: no reply of their own
        }
        return frame;
    }

    private ByteBuf parse(ByteBuf frame) {
        String name = Parse.statementName(frame);
        byte[] tail = Parse.copyStatement(frame);
        frame.release();
        PreparedStatements.Statement stmt = registry.statement(tail);
        PreparedStatements.Statement existing = statement(name);
        if (existing != null && existing != stmt) {
            refuse("42P05", "prepared statement \"" + name + "\" already exists");
            return null;
        }
        statementsToChange().put(name, stmt);
        if (serverStatements.touch(stmt.serverName)) {
            registry.hits.increment();
            tracker.add(ResponseTracker.SYNTHETIC_PARSE_COMPLETE, null, this);
            return null;
        }
        registry.misses.increment();
        evictFor(stmt);
        tracker.add(ResponseTracker.PARSE, stmt, this);
        return Messages.parse(out.alloc(), stmt.serverNameBytes, stmt.parseTail);
    }

    private ByteBuf bind(ByteBuf frame) {
        String name = Bind.statementName(frame);
        PreparedStatements.Statement stmt = statement(name);
        if (stmt == null) {
            frame.release();
            refuse("26000", "prepared statement \"" + name + "\" does not exist");
            return null;
        }
        ensurePrepared(stmt);
        // Parameter values can be large: they are passed on as a slice of what the client sent, not copied.
        ByteBuf renamed = Bind.withStatement(out.alloc(), frame, stmt.serverNameBytes);
        frame.release();
        tracker.add(ResponseTracker.BIND, null, this);
        return renamed;
    }

    private ByteBuf describeStatement(ByteBuf frame) {
        String name = Describe.name(frame);
        frame.release();
        PreparedStatements.Statement stmt = statement(name);
        if (stmt == null) {
            refuse("26000", "prepared statement \"" + name + "\" does not exist");
            return null;
        }
        ensurePrepared(stmt);
        tracker.add(ResponseTracker.DESCRIBE_STATEMENT, null, this);
        return Messages.statementMessage(out.alloc(), ProtocolConstants.DESCRIBE, stmt.serverNameBytes);
    }

    /** A Bind or Describe on a server that lacks the statement (prepared on another one): prepare it first. */
    private void ensurePrepared(PreparedStatements.Statement stmt) {
        if (serverStatements.touch(stmt.serverName)) {
            registry.hits.increment();
            return;
        }
        registry.misses.increment();
        evictFor(stmt);
        tracker.add(ResponseTracker.ADDED_PARSE, stmt, this);
        server.write(Messages.parse(out.alloc(), stmt.serverNameBytes, stmt.parseTail), server.voidPromise());
    }

    private void evictFor(PreparedStatements.Statement stmt) {
        String evicted = serverStatements.add(stmt.serverName);
        if (evicted != null) {
            registry.evictions.increment();
            tracker.add(ResponseTracker.ADDED_CLOSE, null, this);
            server.write(
                    Messages.statementMessage(
                            out.alloc(), ProtocolConstants.CLOSE, evicted.getBytes(StandardCharsets.US_ASCII)),
                    server.voidPromise());
        }
    }

    /** Answers a message with an error the way the server would have, then ignores the batch up to its Sync. */
    private void refuse(String sqlState, String message) {
        tracker.add(ResponseTracker.SYNTHETIC_ERROR, new String[] {sqlState, message}, this);
        skipUntilSync = true;
    }

    /**
     * A server frame: returns it to pass on, or null when it answers a message the pooler added (then released).
     */
    ByteBuf fromServer(ByteBuf frame, byte type) {
        if (tracker.serverFrame(type, this) == ResponseTracker.DROP) {
            frame.release();
            return null;
        }
        if (type == ProtocolConstants.ERROR_RESPONSE
                && SqlState.FEATURE_NOT_SUPPORTED.equals(
                        ErrorFields.parse(frame).sqlState())) {
            // "cached plan must not change result type" (DDL changed a table under a prepared statement): the
            // driver re-prepares and retries, so the server must really prepare again, not reuse old plans: its
            // statements are deallocated as soon as it is idle.
            serverStatements.invalidate();
        }
        return frame;
    }

    /**
     * The pass-through path asks about a server message it would pass on unread: true (and the reply is counted)
     * when this stage has nothing to do to it or around it; false sends it down the per-frame path.
     */
    boolean passThrough(byte type) {
        if (!tracker.passesThrough(type)) {
            return false;
        }
        tracker.serverFrame(type, this);
        return true;
    }

    /** Made-up replies that follow a server frame go out after it, in the order the server would have used. */
    void afterServerFrame() {
        tracker.afterFrame(this);
    }

    /**
     * DISCARD ALL and DEALLOCATE ALL drop every prepared statement of the session, including the pooler's.
     * Returns true for DISCARD ALL.
     */
    boolean commandComplete(ByteBuf frame) {
        boolean discard = CommandComplete.tagIs(frame, DISCARD_ALL);
        if (discard || CommandComplete.tagIs(frame, DEALLOCATE_ALL)) {
            statements = null;
            serverStatements.clear();
        }
        return discard;
    }

    @Override
    public void synthetic(byte kind, Object payload) {
        ByteBuf reply;
        if (kind == ResponseTracker.SYNTHETIC_PARSE_COMPLETE) {
            reply = Messages.empty(out.alloc(), ProtocolConstants.PARSE_COMPLETE);
        } else if (kind == ResponseTracker.SYNTHETIC_CLOSE_COMPLETE) {
            reply = Messages.empty(out.alloc(), ProtocolConstants.CLOSE_COMPLETE);
        } else if (kind == ResponseTracker.SYNTHETIC_REPLY) {
            out.reply(payload);
            return;
        } else {
            String[] e = (String[]) payload;
            reply = Messages.errorResponse(out.alloc(), "ERROR", e[0], e[1]);
        }
        out.toClient(reply);
    }

    @Override
    public void parseFailed(Object payload) {
        if (payload != null && serverStatements != null) {
            serverStatements.remove(((PreparedStatements.Statement) payload).serverName);
        }
    }

    @Override
    public void parsed(Object payload) {
        if (payload != null) {
            ((PreparedStatements.Statement) payload).verified = true;
        }
    }

    /**
     * No transaction open, no server: a Parse (or Close) of a named statement followed by Sync is answered
     * without a server when some server already accepted that statement. Drivers that prepare synchronously
     * (libpq's PQprepare, as pgbench -M prepared uses) would otherwise need a server just to hear ParseComplete,
     * and with more clients than servers on one thread they can wait on each other forever.
     *
     * @return the replies written to {@code client} (then flushed with ReadyForQuery), or false when {@code frame}
     *     is left to the caller
     */
    boolean answerWithoutServer(ArrayDeque<ByteBuf> pending, ByteBuf frame, byte type, ChannelHandlerContext client) {
        if (pending.isEmpty()) {
            if (isLocallyAnswerable(frame, type)) {
                pending.add(frame);
                return true;
            }
            return false;
        }
        if (pending.size() != 1 || type != ProtocolConstants.SYNC) {
            return false;
        }
        ByteBuf first = pending.poll();
        if (Frames.type(first) == ProtocolConstants.PARSE) {
            String name = Parse.statementName(first);
            PreparedStatements.Statement stmt = registry.statement(Parse.copyStatement(first));
            PreparedStatements.Statement existing = statement(name);
            if (existing != null && existing != stmt) {
                client.write(Messages.errorResponse(
                        client.alloc(), "ERROR", "42P05", "prepared statement \"" + name + "\" already exists"));
            } else {
                statementsToChange().put(name, stmt);
                registry.hits.increment();
                client.write(Messages.empty(client.alloc(), ProtocolConstants.PARSE_COMPLETE));
            }
        } else {
            if (statements != null) {
                statements.remove(Close.name(first));
            }
            client.write(Messages.empty(client.alloc(), ProtocolConstants.CLOSE_COMPLETE));
        }
        first.release();
        frame.release();
        client.writeAndFlush(Messages.readyForQueryIdle());
        return true;
    }

    private boolean isLocallyAnswerable(ByteBuf frame, byte type) {
        if (type == ProtocolConstants.CLOSE) {
            return Close.isStatement(frame) && !Close.isUnnamed(frame);
        }
        if (type != ProtocolConstants.PARSE || Parse.isUnnamed(frame)) {
            return false;
        }
        PreparedStatements.Statement stmt = registry.known(Parse.copyStatement(frame));
        return stmt != null && stmt.verified;
    }
}
