package dev.pggat.pooler.frontend;

import dev.pggat.pooler.protocol.ErrorFields;
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

    private final java.util.function.Supplier<ByteBufAllocator> allocs;
    /** The client's transaction failed with its server: statements get 25P02 until it ends it. */
    private boolean aborted;
    /** An extended batch failed: its messages are dropped until its Sync, which gets the ReadyForQuery. */
    private boolean skipToSync;
    /** The extended batch in progress ends the aborted transaction (a Parse of ROLLBACK or COMMIT came). */
    private boolean batchEnds;
    /** That batch's statement is COMMIT or END: told as the loss when the client has not heard of it yet. */
    private boolean batchCommits;
    /**
     * The transaction was lost while the client owed nothing (idle in it): the loss's error, not yet told. Its next
     * statement gets it (then 25P02), and a COMMIT gets it instead of a ROLLBACK tag, so the client cannot take its
     * transaction for committed.
     */
    private String[] untold;
    /** Losses of a server in this session, told as errors (for the session's statistics and tests). */
    long lostTotal;

    /** What follows the statement that ended the failed transaction in a client's Query; see {@link #query}. */
    private ByteBuf rest;

    /** The server's last words (a FATAL) before it closes, told to the client as an ERROR. */
    private ErrorFields lastWords;

    /** {@code allocs}: the client channel's allocator (known only once the session is in the pipeline). */
    ServerLossStage(java.util.function.Supplier<ByteBufAllocator> allocs) {
        this.allocs = allocs;
    }

    /**
     * Transaction mode: a server's FATAL or PANIC ends the server, not the client's session. Takes (releases) such
     * an error and keeps it, to be told as an ERROR when the connection closes; returns false for any other error.
     */
    boolean holdsLastWords(ByteBuf frame) {
        ErrorFields e = ErrorFields.parse(frame);
        if (!"FATAL".equals(e.severity()) && !"PANIC".equals(e.severity())) {
            return false;
        }
        lastWords = e;
        frame.release();
        return true;
    }

    /** The server's kept last words (null: none), forgotten here. */
    ErrorFields takeLastWords() {
        ErrorFields last = lastWords;
        lastWords = null;
        return last;
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
        serverLost(awaitingReady, batchOpen, inTransaction, SqlState.CONNECTION_FAILURE, LOST, write);
    }

    /** As below, with what the server said as it went ({@code last}, may be null) in the first error. */
    void serverLost(
            int awaitingReady, boolean batchOpen, boolean inTransaction, ErrorFields last, Consumer<ByteBuf> write) {
        String code = last != null && last.sqlState() != null ? last.sqlState() : SqlState.CONNECTION_FAILURE;
        String message = last != null && last.message() != null ? last.message() + " (" + LOST + ")" : LOST;
        serverLost(awaitingReady, batchOpen, inTransaction, code, message, write);
    }

    /**
     * As above, with the first error's SQLSTATE and message given: what the server said as it went (a FATAL such
     * as 57P01 from a shutdown), told as an ERROR since only the server, not the client's session, ended.
     */
    void serverLost(
            int awaitingReady,
            boolean batchOpen,
            boolean inTransaction,
            String sqlState,
            String message,
            Consumer<ByteBuf> write) {
        lostTotal++;
        byte status = inTransaction ? ProtocolConstants.TX_FAILED : ProtocolConstants.TX_IDLE;
        for (int i = 0; i < awaitingReady; i++) {
            if (i == 0) {
                write.accept(Messages.errorResponse(allocs.get(), "ERROR", sqlState, message));
            } else if (inTransaction) {
                write.accept(
                        Messages.errorResponse(allocs.get(), "ERROR", SqlState.IN_FAILED_SQL_TRANSACTION, ABORTED));
            } else {
                write.accept(Messages.errorResponse(allocs.get(), "ERROR", SqlState.CONNECTION_FAILURE, LOST));
            }
            write.accept(Messages.readyForQuery(allocs.get(), status));
        }
        aborted = inTransaction;
        untold = inTransaction && awaitingReady == 0 && !batchOpen ? new String[] {sqlState, message} : null;
        if (batchOpen) {
            // The batch's Sync has not come yet: its error now (unless a Sync's reply had it), its ReadyForQuery
            // at its Sync.
            if (awaitingReady == 0) {
                write.accept(Messages.errorResponse(allocs.get(), "ERROR", sqlState, message));
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
                    batchCommits = false;
                    aborted = false;
                    untold = null;
                }
                write.accept(Messages.readyForQuery(
                        allocs.get(), aborted ? ProtocolConstants.TX_FAILED : ProtocolConstants.TX_IDLE));
                return true;
            }
            if (skipToSync && !batchEnds) {
                return true;
            }
            switch (type) {
                case ProtocolConstants.QUERY -> query(frame, write);
                case ProtocolConstants.PARSE -> {
                    int start = Parse.queryStart(frame);
                    CharSequence sql = new Utf8Text(frame, start, textEnd(frame, start));
                    if (aborted && endsTransaction(sql)) {
                        batchEnds = true;
                        batchCommits = commits(sql);
                        write.accept(Messages.empty(allocs.get(), ProtocolConstants.PARSE_COMPLETE));
                    } else {
                        refuse(write);
                    }
                }
                case ProtocolConstants.BIND -> answerOrRefuse(ProtocolConstants.BIND_COMPLETE, write);
                case ProtocolConstants.DESCRIBE -> answerOrRefuse(ProtocolConstants.NO_DATA, write);
                case ProtocolConstants.EXECUTE -> {
                    if (batchEnds && untold != null && batchCommits) {
                        write.accept(Messages.errorResponse(allocs.get(), "ERROR", untold[0], untold[1]));
                        untold = null;
                    } else if (batchEnds) {
                        write.accept(Messages.commandComplete(allocs.get(), "ROLLBACK"));
                    } else {
                        refuse(write);
                    }
                }
                case ProtocolConstants.CLOSE ->
                    write.accept(Messages.empty(allocs.get(), ProtocolConstants.CLOSE_COMPLETE));
                case ProtocolConstants.FLUSH -> {}
                default -> refuse(write);
            }
            return true;
        } finally {
            frame.release();
        }
    }

    /**
     * A simple Query in the failed transaction, as PostgreSQL answers it: when its first statement ends the
     * transaction, that statement is answered here and the rest of the Query (if any) is left in {@link #rest} to
     * go to a server as a Query of its own, whose ReadyForQuery is the client's one; otherwise the first statement
     * is refused and the rest of the Query is skipped.
     */
    private void query(ByteBuf frame, Consumer<ByteBuf> write) {
        int start = Query.textStart(frame);
        int end = textEnd(frame, start);
        SqlLexer lexer = new SqlLexer(new Utf8Text(frame, start, end));
        lexer.next();
        while (lexer.isPunct(';')) {
            lexer.next(); // empty statements before the first one: PostgreSQL skips them
        }
        if (!endsTransaction(lexer)) {
            tellRefusal(write);
            write.accept(Messages.readyForQuery(
                    allocs.get(), aborted ? ProtocolConstants.TX_FAILED : ProtocolConstants.TX_IDLE));
            return;
        }
        boolean commit = lexer.kw("commit") || lexer.kw("end");
        aborted = false;
        if (untold != null && commit) {
            // The client has not heard of the loss: its COMMIT gets it, never a ROLLBACK tag it could miss, and
            // as after any error the rest of the Query is skipped.
            write.accept(Messages.errorResponse(allocs.get(), "ERROR", untold[0], untold[1]));
            untold = null;
            write.accept(Messages.readyForQuery(allocs.get(), ProtocolConstants.TX_IDLE));
            return;
        }
        untold = null;
        write.accept(Messages.commandComplete(allocs.get(), "ROLLBACK"));
        lexer.skipStatement();
        int restFrom = lexer.type() == SqlLexer.END ? end : start + lexer.end();
        int t = lexer.next();
        while (t != SqlLexer.END && lexer.isPunct(';')) {
            t = lexer.next();
        }
        if (t == SqlLexer.END) {
            write.accept(Messages.readyForQuery(allocs.get(), ProtocolConstants.TX_IDLE));
            return;
        }
        // The rest, as it was written (comments and hints included), goes to a server as a new Query.
        int length = end - restFrom;
        ByteBuf q = allocs.get().buffer(6 + length);
        q.writeByte(ProtocolConstants.QUERY).writeInt(5 + length);
        q.writeBytes(frame, restFrom, length).writeByte(0);
        rest = q;
    }

    /** The rest of a Query whose first statement ended the failed transaction, for a server (null: none). */
    ByteBuf takeRest() {
        ByteBuf r = rest;
        rest = null;
        return r;
    }

    private void answerOrRefuse(byte reply, Consumer<ByteBuf> write) {
        if (batchEnds) {
            write.accept(Messages.empty(allocs.get(), reply));
        } else {
            refuse(write);
        }
    }

    /** The first error of a batch; the rest of it is skipped until its Sync. */
    private void refuse(Consumer<ByteBuf> write) {
        if (aborted) {
            tellRefusal(write);
        } else {
            write.accept(Messages.errorResponse(allocs.get(), "ERROR", SqlState.CONNECTION_FAILURE, LOST));
        }
        skipToSync = true;
        batchEnds = false;
        batchCommits = false;
    }

    /** A statement in the failed transaction: the loss itself if the client has not heard of it, else 25P02. */
    private void tellRefusal(Consumer<ByteBuf> write) {
        if (untold != null) {
            write.accept(Messages.errorResponse(allocs.get(), "ERROR", untold[0], untold[1]));
            untold = null;
        } else {
            write.accept(Messages.errorResponse(allocs.get(), "ERROR", SqlState.IN_FAILED_SQL_TRANSACTION, ABORTED));
        }
    }

    private static boolean commits(CharSequence sql) {
        SqlLexer lexer = new SqlLexer(sql);
        lexer.next();
        return lexer.kw("commit") || lexer.kw("end");
    }

    private static int textEnd(ByteBuf frame, int start) {
        int end = frame.indexOf(start, frame.writerIndex(), (byte) 0);
        return end < 0 ? frame.writerIndex() : end;
    }

    /** ROLLBACK, ABORT, COMMIT or END (not ROLLBACK TO a savepoint, which died with the server). */
    static boolean endsTransaction(CharSequence sql) {
        SqlLexer lexer = new SqlLexer(sql);
        lexer.next();
        return endsTransaction(lexer);
    }

    /** As above, at the lexer's current token (the statement's first). */
    private static boolean endsTransaction(SqlLexer lexer) {
        if (lexer.type() != SqlLexer.WORD) {
            return false;
        }
        if (lexer.kw("rollback") || lexer.kw("abort")) {
            return !lexer.nextKeywordsAre("to", null, null)
                    && !lexer.nextKeywordsAre("work", "to", null)
                    && !lexer.nextKeywordsAre("transaction", "to", null);
        }
        return lexer.kw("commit") || lexer.kw("end");
    }
}
