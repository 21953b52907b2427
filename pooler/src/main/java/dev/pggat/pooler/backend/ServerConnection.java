package dev.pggat.pooler.backend;

import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ParameterStatus;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import java.util.HashMap;
import java.util.Map;

/**
 * One logged-in connection to a PostgreSQL server. Owned by its pool while idle and by exactly one client
 * session while checked out; the owner sets itself as {@link #listener(ServerListener)}.
 */
public final class ServerConnection {
    private final Channel channel;
    private final ServerAddress address;
    private final long createdNanos;
    private final long lifetimeNanos;
    /** ParameterStatus values as the server last reported them. */
    private final Map<String, String> reported = new HashMap<>();
    /**
     * Session parameters the pooler set on this connection on behalf of clients (name to raw value); cleared when
     * the session is reset, because RESET/DISCARD ALL restores the startup values.
     */
    private final Map<String, String> applied = new HashMap<>();

    private final StatementCache statements = new StatementCache(StatementCache.DEFAULT_CAPACITY);
    private volatile ServerListener listener;
    /** Past the login's ReadyForQuery; read and written on the connection's event loop only. */
    private boolean loggedIn;

    private int processId;
    private int secretKey;
    private byte transactionStatus = 'I';
    private long lastReleasedNanos;
    private volatile boolean closing;
    /** CancelRequests sent for this server's query and not yet acknowledged by the server closing them. */
    private volatile int cancelsInFlight;

    private Runnable afterCancels;
    /** The client session that last released this server, while its session state is still what it left. */
    private Object lastOwner;

    private int lastOwnerVersion;
    /** Measures this connection for its pool's statistics; null for connections no pool owns (probes). */
    private ServerMeter meter;
    /** Why the pooler closed it; null while open, or when the server or the network ended it. */
    private volatile ServerStats.CloseReason closeReason;
    /** The pool's reconnect generation when this connection was opened. */
    private int generation;
    /** When a client last got this connection, for the console's request times. */
    private volatile long checkedOutNanos;

    private static final java.util.concurrent.atomic.AtomicInteger IDS =
            new java.util.concurrent.atomic.AtomicInteger();
    /** Small number unique within this pooler's run, shown by the admin console. */
    private final int id = IDS.incrementAndGet();

    public int id() {
        return id;
    }

    ServerConnection(Channel channel, ServerAddress address, long lifetimeNanos) {
        this.channel = channel;
        this.address = address;
        this.createdNanos = System.nanoTime();
        this.lifetimeNanos = lifetimeNanos;
        this.lastReleasedNanos = createdNanos;
    }

    boolean loggedIn() {
        return loggedIn;
    }

    void loggedIn(boolean loggedIn) {
        this.loggedIn = loggedIn;
    }

    void meter(ServerMeter meter) {
        this.meter = meter;
    }

    ServerMeter meter() {
        return meter;
    }

    /**
     * The pooler itself sent a query (a session reset, parameters for the next client): its ReadyForQuery is not
     * counted as a client's query or transaction. Call before the query's write, on the thread that writes it.
     */
    public void poolerQuerySent() {
        ServerMeter m = meter;
        if (m == null) {
            return;
        }
        if (channel.eventLoop().inEventLoop()) {
            m.poolerQuery();
        } else {
            // Queued before the caller's write is, so it still runs first.
            channel.eventLoop().execute(m::poolerQuery);
        }
    }

    /** Records why the pooler is about to close this connection; the first reason given stays. */
    public void closeReason(ServerStats.CloseReason reason) {
        if (closeReason == null) {
            closeReason = reason;
        }
    }

    /** Why it closed: the reason the pooler gave, else whether the pooler or the server ended it. */
    public ServerStats.CloseReason closeReason() {
        ServerStats.CloseReason r = closeReason;
        if (r != null) {
            return r;
        }
        return closing ? ServerStats.CloseReason.OTHER : ServerStats.CloseReason.SERVER_CLOSED;
    }

    public int generation() {
        return generation;
    }

    public void generation(int generation) {
        this.generation = generation;
    }

    public long checkedOutNanos() {
        return checkedOutNanos;
    }

    public void checkedOut(long now) {
        this.checkedOutNanos = now;
    }

    public Channel channel() {
        return channel;
    }

    public EventLoop eventLoop() {
        return channel.eventLoop();
    }

    public ServerAddress address() {
        return address;
    }

    /**
     * Moves this connection's channel onto {@code target}, another event loop of the same group, then runs
     * {@code then} on {@code target}; returns false (and does nothing) when the channel cannot move there (not
     * registered, or a loop of another kind, as in tests with embedded channels). For a connection between
     * transactions only: nothing may be in flight on it. Deregistering runs on the channel's current loop (one
     * {@code epoll_ctl DEL}), registering on {@code target} (one {@code ADD}); bytes the server sends meanwhile wait
     * in the socket and are read once the channel is registered again. A channel that fails to move is closed, and
     * {@code then} still runs (on {@code target}): it finds the connection unusable.
     */
    public boolean moveTo(EventLoop target, Runnable then) {
        EventLoop from = channel.eventLoop();
        if (from == target || !channel.isRegistered() || target.parent() == null || target.parent() != from.parent()) {
            return false;
        }
        channel.deregister().addListener(d -> {
            if (!d.isSuccess() || !channel.isOpen()) {
                channel.close();
                target.execute(then);
                return;
            }
            // A registration that fails closes the channel (Netty does so itself).
            target.register(channel).addListener(r -> {
                if (target.inEventLoop()) {
                    then.run();
                } else {
                    target.execute(then);
                }
            });
        });
        return true;
    }

    public int processId() {
        return processId;
    }

    public int secretKey() {
        return secretKey;
    }

    void backendKey(int processId, int secretKey) {
        this.processId = processId;
        this.secretKey = secretKey;
    }

    public Map<String, String> reportedParameters() {
        return reported;
    }

    /** Prepared statements this server holds for transaction-mode clients. */
    public StatementCache statements() {
        return statements;
    }

    public Map<String, String> appliedParameters() {
        return applied;
    }

    public byte transactionStatus() {
        return transactionStatus;
    }

    public void transactionStatus(byte status) {
        this.transactionStatus = status;
    }

    public ServerListener listener() {
        return listener;
    }

    public void listener(ServerListener listener) {
        this.listener = listener;
    }

    /** True when {@code owner} released this server last, with its session state at {@code version}. */
    public boolean lastOwnedBy(Object owner, int version) {
        return lastOwner == owner && lastOwnerVersion == version;
    }

    public void lastOwner(Object owner, int version) {
        this.lastOwner = owner;
        this.lastOwnerVersion = version;
    }

    public long createdNanos() {
        return createdNanos;
    }

    public long lastReleasedNanos() {
        return lastReleasedNanos;
    }

    public void markReleased(long now) {
        this.lastReleasedNanos = now;
    }

    /** Past its configured lifetime (0 = unlimited), so it is closed instead of reused. */
    public boolean expired(long now) {
        return lifetimeNanos > 0 && now - createdNanos >= lifetimeNanos;
    }

    public boolean isUsable() {
        return !closing && channel.isActive();
    }

    /** Records a ParameterStatus message the server sent. */
    public void recordParameterStatus(ByteBuf frame) {
        reported.put(ParameterStatus.name(frame), ParameterStatus.value(frame));
    }

    public boolean hasCancelsInFlight() {
        return cancelsInFlight > 0;
    }

    public synchronized void cancelStarted() {
        cancelsInFlight++;
    }

    public void cancelFinished() {
        Runnable r = null;
        synchronized (this) {
            if (--cancelsInFlight == 0) {
                r = afterCancels;
                afterCancels = null;
            }
        }
        if (r != null) {
            r.run();
        }
    }

    /**
     * Runs {@code r} once no cancel sent for this server is still on its way, so that a cancel meant for one
     * client's query can never reach the next client's: the server closes the cancel connection only after it
     * has signalled the backend, and a backend that is idle by then ignores the signal.
     */
    public void whenNoCancelsInFlight(Runnable r) {
        synchronized (this) {
            if (cancelsInFlight > 0) {
                afterCancels = r;
                return;
            }
        }
        r.run();
    }

    /** Closes the connection politely (Terminate, then close). Idempotent. */
    public void close() {
        if (closing) {
            return;
        }
        closing = true;
        if (channel.isActive()) {
            channel.writeAndFlush(Messages.terminate()).addListener(f -> channel.close());
        } else {
            channel.close();
        }
    }

    /** Closes at once: used when the connection's state is unknown (client left mid-query, protocol error). */
    public void abort() {
        closing = true;
        channel.close();
    }

    @Override
    public String toString() {
        return address + " pid=" + processId;
    }
}
