package dev.pggat.pooler.routing;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.config.RoutingConfig;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.pool.PoolSettings;
import dev.pggat.pooler.protocol.DataRow;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Parse;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.Query;
import dev.pggat.pooler.protocol.ReadyForQuery;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.sql.SqlTokens;
import io.netty.buffer.ByteBuf;
import java.util.ArrayDeque;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * The routing stage of one client session: which endpoint the next transaction (or the session) runs on. It reads
 * the client's target_session_attrs (or pggat.route), classifies the first message of a transaction (read or
 * write), keeps reads on replicas that replayed this client's last write (read-your-writes), waits for a writable
 * primary during a failover, tells when a waiting client's endpoint went stale, and replays on the primary a
 * transaction a replica refused with 25006 (read-only transaction) before the client saw anything of it.
 *
 * <p>It claims no client message (it keeps copies while a replay may be needed); from the server it holds back
 * the replies of a replica transaction until one is decisive, and takes the 25006 that starts a replay. The
 * session does the mechanics (checking servers out and in); this class decides. It touches nothing of the
 * frontend, and runs on the session's event loop.
 */
public final class RouteStage {
    /** What {@link #route}, {@link #waitedForPrimary} and {@link #replayOnPrimary} decided. */
    public enum Outcome {
        /** {@link #pool()} and {@link #endpoint()} say where to check a server out. */
        ROUTED,
        /** Nothing can take the work: the client fails with {@link #failure()}. */
        FAILED,
        /** No writable primary yet: ask {@link #waitedForPrimary} again a moment later. */
        WAIT
    }

    /** What the client asked for with target_session_attrs (or pggat.route). */
    enum Target {
        AUTO,
        PRIMARY,
        REPLICA_ONLY,
        PREFER_REPLICA
    }

    /** Metric labels per classification reason, made once (routing runs per transaction). */
    private static final String[] REPLICA_REASONS = reasons("replica:");

    private static final String[] PRIMARY_REASONS = reasons("primary:");

    private static String[] reasons(String prefix) {
        RouteHint.Reason[] all = RouteHint.Reason.values();
        String[] out = new String[all.length];
        for (RouteHint.Reason r : all) {
            out[r.ordinal()] = prefix + r.name().toLowerCase(Locale.ROOT);
        }
        return out;
    }

    private final Router.User user;
    private final Router.Database db;
    private final String databaseName;
    private final boolean sessionMode;
    private final boolean readYourWrites;
    /** routing.retryReads: the classifier runs where reads are not split too, for retries on the primary. */
    private final boolean retryReads;

    private final Target target;

    private Pool pool;
    private EndpointState endpoint;
    private String failure;
    private String failureSqlState;
    private long primaryDeadline;
    private String primaryReason;

    /** Default access of the session's transactions as the client set it (SET SESSION CHARACTERISTICS ...). */
    private boolean sessionReadOnly;
    /** The current transaction runs on the primary because it may write. */
    private boolean onPrimaryForWrite;
    /** WAL position of this client's last write; its reads go to replicas that replayed at least this far. */
    private long lastWriteLsn;
    /** The pooler's query in flight reads the primary's WAL position after a write. */
    private boolean capturingLsn;
    /** A transaction on a replica, kept until it is decided, in case the replica refuses a write. */
    private final ReplicaReplay replay = new ReplicaReplay();
    /** The current transaction was already sent again after losing its server: never a second time. */
    private boolean retried;

    /** {@code targetSessionAttrs}, {@code route}: the client's startup parameters of those names, or null. */
    /** The session's lexed view of the message being routed (shared with its other stages). */
    private final SqlTokens sql;

    public RouteStage(Router.User user, String databaseName, String targetSessionAttrs, String route) {
        this(user, databaseName, targetSessionAttrs, route, new SqlTokens());
    }

    /** {@code sql}: the session's view of each message's SQL, lexed once for every stage that reads it. */
    public RouteStage(Router.User user, String databaseName, String targetSessionAttrs, String route, SqlTokens sql) {
        this.sql = sql;
        this.user = user;
        this.db = user.database();
        this.databaseName = databaseName;
        this.sessionMode = db.settings().mode() == PoolSettings.PoolMode.SESSION;
        this.readYourWrites = db.routing().consistency() == RoutingConfig.Consistency.READ_YOUR_WRITES;
        this.retryReads = db.routing().retryReads();
        this.target = target(targetSessionAttrs, route);
    }

    static Target target(String attrs, String route) {
        String v = route != null ? route : attrs;
        if (v == null) {
            return Target.AUTO;
        }
        return switch (v.toLowerCase(Locale.ROOT)) {
            case "read-write", "primary" -> Target.PRIMARY;
            case "read-only", "standby", "replica" -> Target.REPLICA_ONLY;
            case "prefer-standby", "prefer-replica" -> Target.PREFER_REPLICA;
            default -> Target.AUTO;
        };
    }

    public Pool pool() {
        return pool;
    }

    public EndpointState endpoint() {
        return endpoint;
    }

    public String failure() {
        return failure;
    }

    /** The SQLSTATE of {@link #failure()}: 08006 when no server could serve, 3D000 or 28000 after a reload. */
    public String failureSqlState() {
        return failureSqlState;
    }

    /**
     * Picks the endpoint for the transaction (or session) that {@code first} begins (the first message the
     * client queued; null when none).
     */
    public Outcome route(ByteBuf first) {
        if (db.removed()) {
            // Between transactions, so nothing is lost: the client learns why rather than seeing its socket close.
            failure = "database \"" + databaseName + "\" was removed from the pooler's configuration";
            failureSqlState = SqlState.INVALID_CATALOG_NAME;
            return Outcome.FAILED;
        }
        if (user.removed()) {
            failure = "user \"" + user.name() + "\" was removed from the pooler's configuration";
            failureSqlState = SqlState.INVALID_AUTHORIZATION_SPECIFICATION;
            return Outcome.FAILED;
        }
        onPrimaryForWrite = false;
        retried = false;
        releaseReplay();
        boolean read;
        String reason;
        // A read that goes to the primary all the same: kept there, to be retried if its server dies.
        boolean keepOnPrimary = false;
        if (!db.splitsReads() || target == Target.PRIMARY) {
            read = false;
            reason = target == Target.PRIMARY ? "primary:requested" : "primary:only";
            if (retryReads && !sessionMode) {
                // Opted in: the classifier runs only so that a read here can be retried.
                RouteHint hint = classify(first);
                if (hint != null) {
                    sessionReadOnly = hint.sessionReadOnlyAfter(sessionReadOnly);
                    keepOnPrimary = hint.replicaEligible();
                }
            }
        } else if (target == Target.REPLICA_ONLY || target == Target.PREFER_REPLICA) {
            read = true;
            reason = "replica:requested";
        } else if (sessionMode) {
            read = false;
            reason = "primary:session";
        } else {
            RouteHint hint = classify(first);
            if (hint == null) {
                read = false;
                reason = "primary:unclassified";
            } else {
                sessionReadOnly = hint.sessionReadOnlyAfter(sessionReadOnly);
                read = hint.replicaEligible();
                reason =
                        (read ? REPLICA_REASONS : PRIMARY_REASONS)[hint.reason().ordinal()];
            }
        }
        if (read) {
            EndpointState replica = db.replica(readYourWrites ? lastWriteLsn : 0);
            if (replica == null || (target == Target.REPLICA_ONLY && !db.eligibleReplica(replica, 0))) {
                db.decided("replica:unavailable");
                return fail("no replica of database \"" + databaseName + "\" can serve this read now");
            }
            if (!db.eligibleReplica(replica, readYourWrites ? lastWriteLsn : 0)) {
                // The chooser fell back to the primary (replicas behind this client's write, lagging or down).
                reason = "primary:fallback";
                onPrimaryForWrite = false;
                if (!sessionMode) {
                    replay.begin(false);
                }
            } else if (!sessionMode) {
                // Kept until the first decisive reply, in case the replica refuses a write (25006).
                replay.begin(true);
            }
            return use(replica, reason);
        }
        if (keepOnPrimary) {
            replay.begin(false);
        }
        return primary(reason);
    }

    /**
     * {@link #route} again for the same transaction (its endpoint went away while it waited): a transaction already
     * sent again after a server loss is never kept for a second retry.
     */
    public Outcome reroute(ByteBuf first) {
        boolean again = retried;
        Outcome o = route(first);
        if (again) {
            retried = true;
            replay.release();
        }
        return o;
    }

    private Outcome primary(String reason) {
        EndpointState primary = db.primary();
        if (primary == null || !writable(primary)) {
            primaryDeadline = System.nanoTime() + db.routing().primaryWait().toNanos();
            primaryReason = reason;
            return waitedForPrimary();
        }
        onPrimaryForWrite = true;
        return use(primary, reason);
    }

    /** While no writable primary is known (failover), writes wait for one up to routing.primaryWait. */
    public Outcome waitedForPrimary() {
        EndpointState primary = db.primary();
        if (primary != null && writable(primary)) {
            onPrimaryForWrite = true;
            return use(primary, primaryReason);
        }
        // Every writer waiting asks; the prober makes one round per short gap of all the asking.
        db.serverTrouble();
        if (System.nanoTime() >= primaryDeadline) {
            db.decided("primary:unavailable");
            return fail("no writable primary for database \"" + databaseName + "\" (waited "
                    + db.routing().primaryWait().toMillis() + " ms)");
        }
        return Outcome.WAIT;
    }

    /** Unknown health (not probed yet) counts as usable: only a primary seen down or read-only makes writes wait. */
    private static boolean writable(EndpointState s) {
        EndpointState.Observation o = s.observation();
        return o.health() != EndpointState.Health.DOWN && (o.role() == null || o.role() == Endpoint.Role.PRIMARY);
    }

    private Outcome use(EndpointState e, String reason) {
        Pool p = user.pool(e);
        if (p == null) {
            return fail("endpoint " + e.name() + " left the set; retry");
        }
        db.decided(reason);
        pool = p;
        endpoint = e;
        return Outcome.ROUTED;
    }

    private Outcome fail(String message) {
        failure = message;
        failureSqlState = SqlState.CONNECTION_FAILURE;
        return Outcome.FAILED;
    }

    private RouteHint classify(ByteBuf first) {
        if (first == null) {
            return null;
        }
        byte type = Frames.type(first);
        int start;
        int end;
        if (type == ProtocolConstants.QUERY) {
            start = Query.textStart(first);
            end = Query.textEndOrMinusOne(first);
        } else if (type == ProtocolConstants.PARSE) {
            start = Parse.queryStart(first);
            end = Parse.queryEndOrMinusOne(first);
        } else {
            return null;
        }
        if (end < 0) {
            // No end to the text: as before, reading it as a string fails the message.
            String text = type == ProtocolConstants.QUERY ? Query.text(first) : Parse.query(first);
            return db.classifier().classify(text, sessionReadOnly);
        }
        // Lexed once: the stages that read this message after it replay the same tokens.
        return db.classifier().classify(sql.of(first, start, end, true), sessionReadOnly);
    }

    /** A client waiting for a server is routed again only where the database has more than one endpoint. */
    public boolean rechecks() {
        return db.endpoints().endpoints().size() > 1;
    }

    /**
     * While a client waits for a server, its endpoint may go down or stop being the primary (a failover the probes
     * just saw): nothing has run yet, so it is routed again instead of waiting out queryWait on a dead server.
     */
    public boolean stale() {
        return endpoint != null
                && (endpoint.observation().health() == EndpointState.Health.DOWN
                        || (onPrimaryForWrite && db.primary() != endpoint)
                        || pool.isClosed());
    }

    /** Counts why a waiting client was routed again (the decision itself follows with {@link #route}). */
    public void rerouted(String why) {
        db.decided(why);
    }

    // ---------------------------------------------------------------- read-your-writes

    /**
     * At the end of a transaction that wrote on the primary (read-your-writes): the query that reads the primary's
     * WAL position, or null.
     */
    public String walPositionQuery() {
        if (readYourWrites && onPrimaryForWrite && db.splitsReads()) {
            onPrimaryForWrite = false;
            capturingLsn = true;
            return "SELECT pg_catalog.pg_current_wal_lsn()";
        }
        return null;
    }

    public boolean capturingWalPosition() {
        return capturingLsn;
    }

    /** The one-column row of {@link #walPositionQuery()}: this client's reads wait for replicas past it. */
    public void walPosition(ByteBuf dataRow) {
        try {
            lastWriteLsn = Math.max(lastWriteLsn, HealthProber.parseLsn(DataRow.column(dataRow, 0)));
        } catch (IllegalArgumentException e) {
            // not an LSN: nothing learned
        }
    }

    /** A ReadyForQuery ended one of the pooler's queries. */
    public void poolerQueryDone() {
        capturingLsn = false;
    }

    long lastWriteLsn() {
        return lastWriteLsn;
    }

    // ---------------------------------------------------------------- replay of reads that turned out to write

    /** A client message on its way to a replica: a copy is kept while the transaction may be replayed. */
    public void fromClient(ByteBuf frame) {
        replay.fromClient(frame);
    }

    /** A client message another stage answered itself: still part of what a replay sends again. */
    public void keep(ByteBuf frame) {
        replay.keep(frame);
    }

    /** A reply another stage made up: held back like the server's while a replay may still happen. */
    public boolean hold(ByteBuf frame) {
        return replay.hold(frame);
    }

    /**
     * A server frame: returns it to pass on, or null when it was held or taken (a 25006 that starts a replay).
     * {@code write}: where held frames go once a reply is decisive.
     */
    public ByteBuf fromServer(ByteBuf frame, byte type, Consumer<ByteBuf> write) {
        if (type == ProtocolConstants.ERROR_RESPONSE
                && onPrimaryForWrite
                && ReplicaReplay.READ_ONLY_SQLSTATE.equals(
                        ErrorFields.parse(frame).sqlState())) {
            // The primary is read-only: demoted, or a replica promoted elsewhere that the probes have not seen.
            db.serverTrouble();
        }
        if (!replay.active()) {
            return frame;
        }
        ByteBuf out = replay.fromServer(frame, type, write);
        if (out == null && replay.replaying()) {
            db.decided("replayed:25006");
        }
        return out;
    }

    /** Replies are followed one by one: kept back while a replica transaction may be replayed, or dropped in one. */
    public boolean keepsReplies() {
        return replay.active() || replay.replaying();
    }

    /** A 25006 started a replay: the replica's replies are dropped until it is idle. */
    public boolean replaying() {
        return replay.replaying();
    }

    /**
     * During a replay every reply of the replica's is dropped (and released); returns true at each of its
     * ReadyForQuery, whose transaction status is recorded on {@code s}.
     */
    public boolean replayReply(ServerConnection s, ByteBuf frame, byte type) {
        try {
            if (type != ProtocolConstants.READY_FOR_QUERY) {
                return false;
            }
            s.transactionStatus(ReadyForQuery.status(frame));
            return true;
        } finally {
            frame.release();
        }
    }

    /** The replica is idle after the 25006: the kept client frames, to go to the primary first. */
    public ArrayDeque<ByteBuf> endReplay() {
        return replay.end();
    }

    /** Where the replayed transaction goes: the primary, or a wait for one. */
    public Outcome replayOnPrimary() {
        return primary("primary:replay");
    }

    // ---------------------------------------------------------------- retry of reads whose server died

    /**
     * The server died under the current transaction. True when it can be sent again elsewhere with no effect
     * seen or done: transaction mode, a read as the classifier judged it (writes are never kept), on a replica or
     * on the primary (read-your-writes, replicas lagging or down, a client that asked for the primary, or
     * routing.retryReads where reads are not split), every client frame of it kept (so it is the transaction's
     * start: an autocommit statement or batch, or a transaction's first statement), nothing decisive of its reply
     * passed to the client, and not retried before.
     */
    public boolean retryable() {
        return !sessionMode && replay.active() && !replay.replaying() && !retried;
    }

    /** The kept frames of a {@link #retryable()} transaction, to go first to the next server; counts the retry. */
    public ArrayDeque<ByteBuf> takeForRetry() {
        retried = true;
        db.retriedQueriesTotal.increment();
        return replay.takeFrames();
    }

    /**
     * Where a retried read goes: another eligible replica than {@code lost} (where the client may read from
     * replicas), else the primary: another of its connections when {@code lost} is the primary itself (one backend
     * ended, or the server restarts: the new connection then waits or fails as any new transaction's would). Every
     * endpoint is probed again at once.
     */
    public Outcome retryElsewhere(EndpointState lost) {
        db.serverTrouble();
        long minLsn = readYourWrites ? lastWriteLsn : 0;
        if (target != Target.PRIMARY && db.splitsReads()) {
            // The chooser samples at random: a few draws find another replica when there is one.
            for (int i = 0; i < 8; i++) {
                EndpointState r = db.replica(minLsn);
                if (r != null && r != lost && r != db.primary() && db.eligibleReplica(r, minLsn)) {
                    return use(r, "retried:replica");
                }
            }
        }
        EndpointState p = db.primary();
        if (p != null && writable(p) && target != Target.REPLICA_ONLY) {
            return use(p, "retried:primary");
        }
        db.decided("retried:unavailable");
        return fail("server connection lost, and no other server of database \"" + databaseName
                + "\" can take the read now");
    }

    /** Releases whatever is kept (the client left, or the transaction is decided). */
    public void releaseReplay() {
        replay.release();
    }
}
