package dev.pggat.pooler.frontend;

import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.Parse;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.Query;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.sql.SqlLexer;
import dev.pggat.pooler.sql.Utf8Text;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.util.function.Consumer;

/**
 * A transaction-mode session whose server was lost under it goes on as a PostgreSQL session whose transaction
 * failed: the work in flight gets an {@code 08006} ERROR (not a FATAL: the client's connection, prepared statements
 * and settings are the pooler's and stay), and while the client's transaction is open its statements get
 * {@code 25P02} until it ends it. What PostgreSQL answers in an aborted transaction is answered here, without a
 * server: ROLLBACK (and COMMIT, END, ABORT, which PostgreSQL turns into a rollback there) completes as
 * {@code ROLLBACK}; anything else is refused, and an extended batch is skipped to its Sync after its first error.
 *
 * <p>It claims client messages only while {@link #active()}; the session's next transaction then goes to a server
 * as usual. Runs on the session's event loop.
 */
final class ServerLossStage {
    static final String LOST = "server connection lost; the transaction was rolled back";
    static final String ABORTED = "current transaction is aborted, commands ignored until end of transaction block";

    private final ByteBufAllocator alloc;
    /** The client's transaction failed with its server: statements get 25P02 until it ends it. */
    private boolean aborted;
    /** An extended batch failed: its messages are dropped until its Sync, which gets the ReadyForQuery. */
    private boolean skipToSync;
    /** The extended batch in progress ends the aborted transaction (a Parse of ROLLBACK or COMMIT came). */
    private boolean batchEnds;
    /** Losses of a server in this session, told as errors (for the session's statistics and tests). */
    long lostTotal;

    ServerLossStage(ByteBufAllocator alloc) {
        this.alloc = alloc;
    }

    /** Client messages are answered here, not by a server. */
    boolean active() {
        return aborted || skipToSync;
    }

    /**
     * The server was lost with work of the client's in flight. {@code awaitingReady}: the ReadyForQuery messages it
     * owed (one per Query or Sync sent); {@code batchOpen}: extended messages were sent after the last of those;
     * {@code inTransaction}: the client had a transaction open there (its last ReadyForQuery said so, or the work in
     * flight opened one). Writes the client's answers: the first owed reply gets the 08006 ERROR, later ones (sent
     * behind it) 25P02 in a transaction, or 08006 too outside one.
     */
    void serverLost(int awaitingReady, boolean batchOpen, boolean inTransaction, Consumer<ByteBuf> write) {
        lostTotal++;
        byte status = inTransaction ? ProtocolConstants.TX_FAILED : ProtocolConstants.TX_IDLE;
        for (int i = 0; i < awaitingReady; i++) {
            String code = i == 0 || !inTransaction ? SqlState.CONNECTION_FAILURE : SqlState.IN_FAILED_SQL_TRANSACTION;
            write.accept(Messages.errorResponse(alloc, "ERROR", code, i == 0 || !inTransaction ? LOST : ABORTED));
            write.accept(Messages.readyForQuery(alloc, status));
        }
        aborted = inTransaction;
        if (batchOpen) {
            // The batch's Sync has not come yet: its error now, the ReadyForQuery at its Sync.
            if (awaitingReady == 0) {
                write.accept(Messages.errorResponse(alloc, "ERROR", SqlState.CONNECTION_FAILURE, LOST));
            }
            skipToSync = true;
        }
    }

    /**
     * A client message while {@link #active()}: answered (into {@code write}) and released. Returns false when
     * the stage is no longer active and the message must go the usual way (the caller still owns it).
     */
    boolean fromClient(ByteBuf frame, Consumer<ByteBuf> write) {
        if (!active()) {
            return false;
        }
        byte type = Frames.type(frame);
        try {
            if (type == ProtocolConstants.SYNC) {
                skipToSync = false;
                if (batchEnds) {
                    batchEnds = false;
                    aborted = false;
                }
                write.accept(Messages.readyForQuery(alloc, aborted ? ProtocolConstants.TX_FAILED : ProtocolConstants.TX_IDLE));
                return true;
            }
            if (skipToSync && !batchEnds) {
                return true;
            }
            switch (type) {
                case ProtocolConstants.QUERY -> {
                    if (endsTransaction(new Utf8Text(frame, Query.textStart(frame), textEnd(frame, Query.textStart(frame))))) {
                        aborted = false;
                        write.accept(Messages.commandComplete(alloc, "ROLLBACK"));
                    } else {
                        write.accept(Messages.errorResponse(alloc, "ERROR", SqlState.IN_FAILED_SQL_TRANSACTION, ABORTED));
                    }
                    write.accept(Messages.readyForQuery(
                            alloc, aborted ? ProtocolConstants.TX_FAILED : ProtocolConstants.TX_IDLE));
                }
                case ProtocolConstants.PARSE -> {
                    int start = Parse.queryStart(frame);
                    if (aborted && endsTransaction(new Utf8Text(frame, start, textEnd(frame, start)))) {
                        batchEnds = true;
                        write.accept(Messages.empty(alloc, ProtocolConstants.PARSE_COMPLETE));
                    } else {
                        refuse(write);
                    }
                }
                case ProtocolConstants.BIND -> answerOrRefuse(ProtocolConstants.BIND_COMPLETE, write);
                case ProtocolConstants.DESCRIBE -> answerOrRefuse(ProtocolConstants.NO_DATA, write);
                case ProtocolConstants.EXECUTE -> {
                    if (batchEnds) {
                        write.accept(Messages.commandComplete(alloc, "ROLLBACK"));
                    } else {
                        refuse(write);
                    }
                }
                case ProtocolConstants.CLOSE -> write.accept(Messages.empty(alloc, ProtocolConstants.CLOSE_COMPLETE));
                case ProtocolConstants.FLUSH -> {}
                default -> refuse(write);
            }
            return true;
        } finally {
            frame.release();
        }
    }

    private void answerOrRefuse(byte reply, Consumer<ByteBuf> write) {
        if (batchEnds) {
            write.accept(Messages.empty(alloc, reply));
        } else {
            refuse(write);
        }
    }

    /** The first error of a batch; the rest of it is skipped until its Sync. */
    private void refuse(Consumer<ByteBuf> write) {
        write.accept(Messages.errorResponse(
                alloc,
                "ERROR",
                aborted ? SqlState.IN_FAILED_SQL_TRANSACTION : SqlState.CONNECTION_FAILURE,
                aborted ? ABORTED : LOST));
        skipToSync = true;
        batchEnds = false;
    }

    private static int textEnd(ByteBuf frame, int start) {
        int end = frame.indexOf(start, frame.writerIndex(), (byte) 0);
        return end < 0 ? frame.writerIndex() : end;
    }

    /** ROLLBACK, ABORT, COMMIT or END (not ROLLBACK TO a savepoint, which died with the server). */
    static boolean endsTransaction(CharSequence sql) {
        SqlLexer lexer = new SqlLexer(sql);
        if (lexer.next() != SqlLexer.WORD) {
            return false;
        }
        if (lexer.kw("rollback") || lexer.kw("abort")) {
            return !lexer.nextKeywordsAre("to", null, null);
        }
        return lexer.kw("commit") || lexer.kw("end");
    }
}
