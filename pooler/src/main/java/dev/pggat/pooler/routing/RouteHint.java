package dev.pggat.pooler.routing;

/**
 * What {@link QueryClassifier} found in a transaction's first Query: where it may run, why, and whether it changed
 * the session's default transaction access mode. Instances are shared constants, so classifying allocates none.
 */
public final class RouteHint {

    /** Why a Query goes where it goes; {@link #replicaEligible()} is the routing decision. */
    public enum Reason {
        /** Every statement only reads (SELECT, VALUES, TABLE, SHOW, EXPLAIN of a read, SET, ...). */
        READS(true),
        /** The transaction is declared READ ONLY (or the session default is), and nothing in it needs the primary. */
        READ_ONLY_TRANSACTION(true),
        /** A {@code pggat:replica} comment asked for a replica. */
        REPLICA_COMMENT(true),
        /** Nothing but whitespace, comments and semicolons. */
        EMPTY(true),
        /** A statement that writes, or that the classifier does not know to be a read. */
        WRITE_STATEMENT(false),
        /** SELECT ... FOR UPDATE / FOR NO KEY UPDATE / FOR SHARE / FOR KEY SHARE. */
        LOCKING_READ(false),
        /** SELECT ... INTO creates a table. */
        SELECT_INTO(false),
        /** WITH x AS (INSERT / UPDATE / DELETE / MERGE ...). */
        DATA_MODIFYING_WITH(false),
        /** A call of a function that writes or only works on the primary (nextval, advisory locks, ...). */
        PRIMARY_FUNCTION(false),
        /**
         * A transaction is left open without READ ONLY: what follows in later Queries is unknown, so the whole
         * transaction stays on the primary.
         */
        READ_WRITE_TRANSACTION(false),
        /** SERIALIZABLE isolation, which a hot standby refuses. */
        SERIALIZABLE(false),
        /** A {@code pggat:primary} comment asked for the primary. */
        PRIMARY_COMMENT(false);

        private final boolean replicaEligible;

        Reason(boolean replicaEligible) {
            this.replicaEligible = replicaEligible;
        }

        public boolean replicaEligible() {
            return replicaEligible;
        }
    }

    /**
     * A change of the session's default transaction access mode (SET SESSION CHARACTERISTICS AS TRANSACTION ...,
     * SET default_transaction_read_only, RESET/DISCARD ALL). The session keeps it and passes it to the next
     * {@link QueryClassifier#classify(String, boolean)}.
     */
    public enum SessionAccess {
        UNCHANGED,
        READ_ONLY,
        /** Read-write, or back to the server default, which the pooler takes to be read-write. */
        READ_WRITE
    }

    private static final RouteHint[][] ALL = new RouteHint[Reason.values().length][SessionAccess.values().length];

    static {
        for (Reason r : Reason.values()) {
            for (SessionAccess s : SessionAccess.values()) {
                ALL[r.ordinal()][s.ordinal()] = new RouteHint(r, s);
            }
        }
    }

    private final Reason reason;
    private final SessionAccess sessionAccess;

    private RouteHint(Reason reason, SessionAccess sessionAccess) {
        this.reason = reason;
        this.sessionAccess = sessionAccess;
    }

    public static RouteHint of(Reason reason, SessionAccess sessionAccess) {
        return ALL[reason.ordinal()][sessionAccess.ordinal()];
    }

    public Reason reason() {
        return reason;
    }

    public SessionAccess sessionAccess() {
        return sessionAccess;
    }

    /** True when the Query may run on a replica; false when it must run on the primary. */
    public boolean replicaEligible() {
        return reason.replicaEligible;
    }

    /** True when a comment in the Query decided, not its statements. */
    public boolean fromComment() {
        return reason == Reason.PRIMARY_COMMENT || reason == Reason.REPLICA_COMMENT;
    }

    /**
     * The session's default access mode after this Query: {@code current} unless the Query changed it.
     *
     * @param current whether the session default was read-only before the Query
     */
    public boolean sessionReadOnlyAfter(boolean current) {
        return switch (sessionAccess) {
            case UNCHANGED -> current;
            case READ_ONLY -> true;
            case READ_WRITE -> false;
        };
    }

    @Override
    public String toString() {
        return sessionAccess == SessionAccess.UNCHANGED ? reason.name() : reason + "+session " + sessionAccess;
    }
}
