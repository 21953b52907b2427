package dev.pggat.pooler.listen;

import dev.pggat.pooler.protocol.CommandComplete;
import dev.pggat.pooler.sql.SqlLexer;
import io.netty.buffer.ByteBuf;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The LISTEN and UNLISTEN statements a transaction-mode client issued inside a transaction block, which the pooler
 * answered itself instead of sending them to the client's server. PostgreSQL applies them when the transaction
 * commits and forgets them when it rolls back; this follows the outcome from what the server says about the
 * client's own statements (command tags and the transaction status of ReadyForQuery) and hands over the
 * statements to apply at the ReadyForQuery that ends a committed transaction.
 *
 * <p>Savepoints: statements taken before the first savepoint of a transaction belong to its top level, which a
 * {@code ROLLBACK TO SAVEPOINT} does not undo; once a savepoint exists, new LISTENs are left to the server (so
 * PostgreSQL itself tracks which subtransaction they belong to).
 */
final class ListenRelayTransaction {
    private static final byte[] COMMIT = CommandComplete.ascii("COMMIT");
    private static final byte[] ROLLBACK = CommandComplete.ascii("ROLLBACK");
    private static final byte[] SAVEPOINT = CommandComplete.ascii("SAVEPOINT");

    /** Statements answered by the pooler whose transaction has not ended yet, in order. */
    private final List<ListenStatement> open = new ArrayList<>();
    /** Statements whose transaction committed: applied at the next ReadyForQuery. */
    private final List<ListenStatement> committed = new ArrayList<>();

    private boolean rollbackSeen;
    /** The transaction has (or may have) a savepoint: new LISTENs go to the server. */
    private boolean savepoint;
    /** The current extended batch executed BEGIN (pgjdbc sends it in front of the first query). */
    private boolean batchBegan;
    /** The current extended batch parsed an unnamed BEGIN that has not been executed yet. */
    private boolean beginParsed;
    /** The only Query in flight is a lone BEGIN. */
    private boolean queryBegan;
    /** The current batch ends or may end its transaction before its Sync: what follows is not taken. */
    private boolean batchEnds;

    /** The pooler's unnamed statement: its Parse (kept to send it after all if the client uses it otherwise). */
    ByteBuf unnamedParse;

    ListenStatement unnamed;
    /** The unnamed portal is bound to {@link #unnamed}. */
    boolean portal;

    /** The current batch ends or may end its transaction before its Sync. */
    boolean batchEnds() {
        return batchEnds;
    }

    /**
     * May a LISTEN alone in a Query be taken now? Yes inside a transaction block with nothing in flight, or right
     * behind a lone BEGIN Query (psql, psycopg and pgjdbc's simple mode send it just before).
     */
    boolean mayTakeQuery(byte lastStatus, int awaitingReady, boolean extendedOpen) {
        if (savepoint || batchEnds || extendedOpen) {
            return false;
        }
        return (awaitingReady == 0 && lastStatus == 'T') || (awaitingReady == 1 && queryBegan && lastStatus != 'E');
    }

    /** May an unnamed Parse of a LISTEN be taken now (inside a block, or right behind a BEGIN)? */
    boolean mayTakeParse(byte lastStatus, int awaitingReady) {
        if (savepoint || batchEnds) {
            return false;
        }
        if (awaitingReady == 1 && queryBegan) {
            return lastStatus != 'E'; // pgjdbc sends BEGIN as a Query just before the batch
        }
        return awaitingReady == 0 && (lastStatus == 'T' || (lastStatus == 'I' && batchBegan));
    }

    /** The client's statement was answered: it takes effect if its transaction commits. */
    void taken(ListenStatement st) {
        open.add(st);
    }

    /**
     * A Query or Parse the client sends to the server: notes what it does to the transaction. {@code onlyQuery}:
     * a Query with nothing else in flight.
     */
    void clientStatement(SqlLexer lx, boolean parse, boolean unnamedParse, boolean onlyQuery) {
        if (!parse) {
            queryBegan = false;
        }
        lx.next();
        while (lx.isPunct('(')) {
            lx.next();
        }
        if (lx.type() != SqlLexer.WORD) {
            return;
        }
        boolean begin = lx.kw("begin") || lx.kw("start");
        if (lx.kw("savepoint")) {
            savepoint = true;
        } else if (parse && unnamedParse && begin) {
            beginParsed = true;
        } else if (lx.kw("commit")
                || lx.kw("end")
                || lx.kw("rollback")
                || lx.kw("abort")
                || lx.kw("prepare")
                || lx.kw("release")) {
            batchEnds = true;
        }
        if (parse && unnamedParse && !begin) {
            beginParsed = false;
        }
        if (!parse && onlyQuery && begin && alone(lx)) {
            queryBegan = true;
        }
    }

    /** An Execute of the unnamed portal went to the server. */
    void executed() {
        if (beginParsed) {
            batchBegan = true;
        }
    }

    /** A Sync went to the server: the batch is over. */
    void synced() {
        queryBegan = false;
        batchBegan = false;
        beginParsed = false;
        batchEnds = false;
    }

    /** A CommandComplete of the client's own statements. */
    void commandTag(ByteBuf frame) {
        if (CommandComplete.tagIs(frame, COMMIT)) {
            committed.addAll(open);
            open.clear();
        } else {
            rollbackSeen |= CommandComplete.tagIs(frame, ROLLBACK);
            savepoint |= CommandComplete.tagIs(frame, SAVEPOINT);
        }
    }

    /**
     * A ReadyForQuery for the client: returns the statements to apply now (those of a committed transaction) and
     * forgets those of a transaction that rolled back.
     */
    List<ListenStatement> ready(byte status) {
        if (status == 'I' || (rollbackSeen && !savepoint)) {
            // Ended without COMMIT (ROLLBACK, a failed transaction's COMMIT, PREPARE TRANSACTION) or ROLLBACK AND
            // CHAIN: PostgreSQL drops the transaction's LISTENs.
            open.clear();
        }
        rollbackSeen = false;
        if (status == 'I') {
            endOfTransaction();
        }
        if (committed.isEmpty()) {
            return List.of();
        }
        List<ListenStatement> out = List.copyOf(committed);
        committed.clear();
        return out;
    }

    private void endOfTransaction() {
        savepoint = false;
        dropUnnamed();
    }

    /** The pooler's unnamed statement (and the portal bound to it) is replaced or closed. */
    void dropUnnamed() {
        portal = false;
        unnamed = null;
        if (unnamedParse != null) {
            unnamedParse.release();
            unnamedParse = null;
        }
    }

    /** Forgets everything (a new server, a replayed transaction, the client leaving). */
    void clear() {
        open.clear();
        committed.clear();
        rollbackSeen = false;
        synced();
        endOfTransaction();
    }

    /** The channels listened to after applying {@code statements} to {@code listening}, in order. */
    static Set<String> after(Set<String> listening, List<ListenStatement> statements) {
        Set<String> out = new java.util.LinkedHashSet<>(listening);
        for (ListenStatement st : statements) {
            if (st.listen()) {
                out.add(st.channel());
            } else if (st.channel() == null) {
                out.clear();
            } else {
                out.remove(st.channel());
            }
        }
        return out;
    }

    /** No statement follows the current one (trailing ';'s aside). Moves the lexer to the end. */
    private static boolean alone(SqlLexer lx) {
        lx.skipStatement();
        while (lx.isPunct(';')) {
            lx.next();
        }
        return lx.type() == SqlLexer.END;
    }
}
