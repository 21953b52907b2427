package dev.pggat.pooler.pool;

import dev.pggat.pooler.backend.ServerAddress;
import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.backend.ServerError;
import dev.pggat.pooler.backend.ServerListener;
import dev.pggat.pooler.backend.ServerStats;
import dev.pggat.pooler.backend.ServerStats.CloseReason;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.util.Printable;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Server connections for one (database, user) target: a LIFO stack of idle servers, a FIFO queue of waiting
 * clients, and the counts that keep the pool within its size. Shared by all event loops; state changes happen
 * under the pool's lock, callbacks run outside it.
 */
public final class Pool {
    private static final Logger log = LoggerFactory.getLogger(Pool.class);
    private static final long INITIAL_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /**
     * Off only to measure what the statistics cost ({@code -Dpggat.serverStats=false}): the servers are then not
     * measured, and queries, transactions, bytes and errors stay 0.
     */
    private static final boolean MEASURE_SERVERS = !"false".equals(System.getProperty("pggat.serverStats"));
    /** How far into the idle stack to look for a server on the caller's event loop. */
    private static final int AFFINITY_SCAN = 8;
    /** Set on a server connection while it holds a slot of its pool's caps; cleared when the slot is given back. */
    private static final AttributeKey<Pool> CAP_SLOT = AttributeKey.valueOf("pggat.capSlot");
    /** How long a closed server may take to exit before the pooler stops waiting and frees its cap slot. */
    private static final long EXIT_WAIT_SECONDS = 5;

    private final String database;
    private final String user;
    private final String endpoint;
    /** Replaced whole by a reload (see {@link #settings(PoolSettings)}). */
    private volatile PoolSettings settings;

    private final ServerAddress address;
    private final ServerConnector connector;
    private final EventLoopGroup loops;
    private final ServerListener idleListener = new IdleListener();
    /** The caps this pool's connections count against (its database's, its user's); usually none. */
    private final ConnectionCap[] caps;

    private final ArrayDeque<ServerConnection> idle = new ArrayDeque<>();
    private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
    private int active;
    private int connecting;
    private int consecutiveFailures;
    private long nextAttemptNanos;
    private boolean retryScheduled;
    private ServerError lastError;
    private boolean closed;
    private ScheduledFuture<?> maintenance;
    private ScheduledFuture<?> sweep;
    /** PAUSE from the admin console: clients queue for a server until RESUME (or queryWait). */
    private boolean paused;
    /** Bumped by RECONNECT: servers opened before are closed as soon as they are idle. */
    private int generation;
    /** Every logged-in server connection of this pool, idle or checked out, for the admin console. */
    private final Set<ServerConnection> servers = ConcurrentHashMap.newKeySet();
    /** Told when a server could not be reached or closed on its own: its endpoint's role or health may have changed. */
    private volatile Runnable troubleListener = () -> {};
    /** What the server reports at login (server_version, encodings...), shown to clients as they log in. */
    private volatile Map<String, String> serverParameters;

    public final LongAdder connectsTotal = new LongAdder();
    public final LongAdder connectFailuresTotal = new LongAdder();
    public final LongAdder waitTimeoutsTotal = new LongAdder();
    public final LongAdder acquiresTotal = new LongAdder();
    public final LongAdder waitedTotal = new LongAdder();
    /** Connections opened beyond maxServerConnections from the reserve pool. */
    public final LongAdder reserveOpenedTotal = new LongAdder();
    /** Queries, transactions, bytes, waits, closes and errors of this pool's servers. */
    public final ServerStats serverStats = new ServerStats();

    public Pool(
            String database,
            String user,
            String endpoint,
            PoolSettings settings,
            ServerAddress address,
            ServerConnector connector,
            EventLoopGroup loops) {
        this(database, user, endpoint, settings, address, connector, loops, List.of());
    }

    public Pool(
            String database,
            String user,
            String endpoint,
            PoolSettings settings,
            ServerAddress address,
            ServerConnector connector,
            EventLoopGroup loops,
            List<ConnectionCap> caps) {
        this.caps = caps.toArray(new ConnectionCap[0]);
        for (ConnectionCap c : this.caps) {
            c.join(this);
        }
        this.database = database;
        this.user = user;
        this.endpoint = endpoint;
        this.settings = settings;
        this.address = address;
        this.connector = connector;
        this.loops = loops;
    }

    public String database() {
        return database;
    }

    public String user() {
        return user;
    }

    /**
     * Called (on any thread, must not block) when a connect attempt fails for a reason that may pass, or a server
     * connection of this pool closes without the pooler closing it.
     */
    public void troubleListener(Runnable listener) {
        this.troubleListener = listener;
    }

    public Map<String, String> serverParameters() {
        return serverParameters;
    }

    public void serverParameters(Map<String, String> params) {
        this.serverParameters = params;
    }

    /** The name of the endpoint (server) this pool connects to. */
    public String endpoint() {
        return endpoint;
    }

    public synchronized boolean isClosed() {
        return closed;
    }

    public PoolSettings settings() {
        return settings;
    }

    /**
     * A reload changed the pool's settings. A larger pool opens servers for its waiting clients now; a smaller one
     * closes servers beyond its size as they come back (checked-out ones finish their transactions first). Waits
     * and the reserve follow the new timeouts from the next sweep.
     */
    public void settings(PoolSettings next) {
        if (next.equals(settings)) {
            return;
        }
        synchronized (this) {
            settings = next;
            if (closed) {
                return;
            }
            if (maintenance != null && sweep == null && (!next.queryWait().isZero() || next.reservePoolSize() > 0)) {
                sweep = loops.next().scheduleWithFixedDelay(this::expireWaiters, 100, 100, TimeUnit.MILLISECONDS);
            }
            Waiter first = waiters.peekFirst();
            if (first != null && !paused) {
                connectIfNeeded(first.loop);
            }
        }
        // Idle servers beyond the new size close at the next upkeep run (every second).
    }

    public ServerAddress address() {
        return address;
    }

    /** Starts the periodic upkeep (idle and lifetime closing, minimum kept warm). */
    public void start() {
        maintenance = loops.next().scheduleWithFixedDelay(this::maintain, 0, 1, TimeUnit.SECONDS);
        if (!settings.queryWait().isZero() || settings.reservePoolSize() > 0) {
            // One sweep for all waiters instead of a timer per wait: waits are the common case under load.
            sweep = loops.next().scheduleWithFixedDelay(this::expireWaiters, 100, 100, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * Ends the waits older than queryWait (the queue is FIFO: only its head can be the oldest), and opens the
     * reserve once the oldest wait passed reservePoolTimeout.
     */
    private void expireWaiters() {
        long limit = settings.queryWait().isZero()
                ? Long.MAX_VALUE
                : settings.queryWait().toNanos();
        long now = System.nanoTime();
        List<Waiter> expired = null;
        synchronized (this) {
            if (!closed && reserveOpen(now) && total() < settings.maxServerConnections() + settings.reservePoolSize()) {
                connectIfNeeded(waiters.peekFirst().loop);
            }
            Waiter w;
            while ((w = waiters.peekFirst()) != null && (w.done || now - w.enqueuedNanos() >= limit)) {
                waiters.pollFirst();
                if (!w.done) {
                    w.done = true;
                    if (expired == null) {
                        expired = new ArrayList<>();
                    }
                    expired.add(w);
                }
            }
        }
        if (expired != null) {
            expired.forEach(Waiter::expired);
        }
    }

    /**
     * Asks for a server. Grants at once when one is idle (preferring one on {@code loop}), else queues the caller
     * FIFO and opens a connection if the pool has room. Returns the handle that cancels the wait, or null when the
     * callback already ran.
     */
    public Waiter acquire(EventLoop loop, PoolCallback callback) {
        ServerConnection granted = null;
        ServerError failure = null;
        Waiter waiter = null;
        acquiresTotal.increment();
        synchronized (this) {
            if (closed) {
                failure = new ServerError(SqlState.ADMIN_SHUTDOWN, "the pooler is shutting down", false, null);
            } else {
                granted = paused ? null : pollIdle(loop);
                if (granted != null) {
                    active++;
                } else {
                    // Only a client that has to wait costs an allocation.
                    waiter = new Waiter(this, loop, callback);
                    waiters.addLast(waiter);
                    waitedTotal.increment();
                    connectIfNeeded(loop);
                }
            }
        }
        if (failure != null) {
            callback.failed(failure);
        } else if (granted != null) {
            granted.listener(null);
            granted.checkedOut(System.nanoTime());
            serverStats.assigned(0);
            callback.granted(granted);
        }
        return waiter;
    }

    /** Returns a clean server (ReadyForQuery idle, nothing in flight) for reuse. */
    public void release(ServerConnection server) {
        long now = System.nanoTime();
        if (!server.isUsable() || server.expired(now)) {
            server.closeReason(server.isUsable() ? CloseReason.LIFETIME : CloseReason.SERVER_CLOSED);
            discard(server);
            return;
        }
        Waiter next = null;
        boolean closeIt = false;
        synchronized (this) {
            if (closed) {
                active--;
                closeIt = true;
                server.closeReason(CloseReason.POOL_CLOSED);
            } else if (server.generation() != generation) {
                active--;
                closeIt = true;
                server.closeReason(CloseReason.RECONNECT);
                if (!waiters.isEmpty()) {
                    connectIfNeeded(waiters.peekFirst().loop);
                }
            } else {
                next = paused ? null : pollWaiterFor(server);
                if (next == null) {
                    active--;
                    if (surplus()) {
                        closeIt = true;
                        server.closeReason(CloseReason.SURPLUS);
                    } else {
                        server.markReleased(now);
                        server.listener(idleListener);
                        idle.addFirst(server);
                    }
                }
            }
        }
        if (closeIt) {
            retire(server, true);
        } else if (next != null) {
            next.grant(server);
        }
    }

    /**
     * Called with the lock held, for a server no client here wants: true when it should close rather than sit
     * idle, because it is a reserve connection (beyond maxServerConnections) or another pool under a shared cap
     * waits for room.
     */
    private boolean surplus() {
        if (total() >= settings.maxServerConnections()) {
            return true;
        }
        for (ConnectionCap c : caps) {
            if (c.othersWaiting(this)) {
                return true;
            }
        }
        return false;
    }

    /** Called with the lock held: the oldest client still waiting has waited at least reservePoolTimeout. */
    private boolean reserveOpen(long now) {
        if (settings.reservePoolSize() == 0) {
            return false;
        }
        for (Waiter w : waiters) {
            if (!w.done) {
                return now - w.enqueuedNanos() >= settings.reservePoolTimeout().toNanos();
            }
        }
        return false;
    }

    /** Closes a checked-out server whose state is unknown or broken, and makes room for a replacement. */
    public void discard(ServerConnection server) {
        server.closeReason(CloseReason.DISCARDED);
        retire(server, false);
        synchronized (this) {
            active--;
            if (!waiters.isEmpty()) {
                connectIfNeeded(waiters.peekFirst().loop);
            }
        }
    }

    private ServerConnection pollIdle(EventLoop loop) {
        Iterator<ServerConnection> it = idle.iterator();
        ServerConnection first = null;
        int scanned = 0;
        while (it.hasNext() && scanned++ < AFFINITY_SCAN) {
            ServerConnection s = it.next();
            if (!s.isUsable()) {
                continue;
            }
            if (s.eventLoop() == loop) {
                it.remove();
                return s;
            }
            if (first == null) {
                first = s;
            }
        }
        if (first != null) {
            idle.remove(first);
            return first;
        }
        // Only dead servers near the top: drop them and take any live one.
        while (!idle.isEmpty()) {
            ServerConnection s = idle.pollFirst();
            if (s.isUsable()) {
                return s;
            }
            s.closeReason(CloseReason.SERVER_CLOSED);
            retire(s, false);
        }
        return null;
    }

    private Waiter pollWaiter() {
        Waiter w;
        while ((w = waiters.pollFirst()) != null) {
            if (!w.done) {
                return w;
            }
        }
        return null;
    }

    /**
     * The waiter a released server goes to: the first one on the server's event loop among the oldest few, else
     * the oldest. A client and its server on one loop exchange frames without crossing threads; looking only a
     * few places deep keeps the queue fair.
     */
    private Waiter pollWaiterFor(ServerConnection server) {
        Iterator<Waiter> it = waiters.iterator();
        int scanned = 0;
        while (it.hasNext() && scanned++ < AFFINITY_SCAN) {
            Waiter w = it.next();
            if (w.done) {
                it.remove();
                continue;
            }
            if (w.loop == server.eventLoop()) {
                it.remove();
                return w;
            }
        }
        return pollWaiter();
    }

    private int total() {
        return idle.size() + active + connecting;
    }

    /** Called with the lock held. */
    private void connectIfNeeded(EventLoop loop) {
        if (closed) {
            return;
        }
        long now = System.nanoTime();
        if (consecutiveFailures > 0 && now < nextAttemptNanos) {
            scheduleRetry(now);
            return;
        }
        // Paused: waiting clients stay queued, so no server is opened for them (the one they need may be elsewhere
        // after a switchover).
        int wanted = paused
                ? settings.minServerConnections() - total()
                : Math.max(waiters.size() - connecting, settings.minServerConnections() - total());
        int max = settings.maxServerConnections();
        int limit = reserveOpen(now) ? max + settings.reservePoolSize() : max;
        while (wanted-- > 0 && total() < limit) {
            ConnectionCap full = takeSlots();
            if (full != null) {
                if (!waiters.isEmpty() && full.block(this)) {
                    // Outside this lock: closing another pool's idle server takes that pool's lock.
                    loops.next().execute(() -> full.makeRoom(this));
                }
                break;
            }
            if (total() >= max) {
                reserveOpenedTotal.increment();
            }
            startConnect(loop);
            // After a failure, probe with one connection until one succeeds.
            if (consecutiveFailures > 0) {
                break;
            }
        }
    }

    /** Takes one slot of every cap; returns the cap that had none (taking nothing then), or null. */
    private ConnectionCap takeSlots() {
        for (int i = 0; i < caps.length; i++) {
            if (!caps[i].tryTake()) {
                for (int j = 0; j < i; j++) {
                    caps[j].give(1);
                }
                return caps[i];
            }
        }
        return null;
    }

    private void giveSlots() {
        for (ConnectionCap c : caps) {
            c.give(1);
        }
    }

    /** A cap this pool waits on has room again (called on any thread, maybe under another pool's lock). */
    void capFreed() {
        loops.next().execute(() -> {
            synchronized (this) {
                if (!closed && !waiters.isEmpty()) {
                    connectIfNeeded(waiters.peekFirst().loop);
                }
            }
        });
    }

    /** Another pool under a shared cap is blocked: close this pool's least recently used idle server, if any. */
    boolean closeIdleForCap() {
        ServerConnection s;
        synchronized (this) {
            s = idle.pollLast();
            if (s == null) {
                return false;
            }
        }
        s.closeReason(CloseReason.SURPLUS);
        retire(s, true);
        return true;
    }

    /**
     * Closes a server this pool no longer counts: politely ({@code clean}, Terminate) or at once. Under a cap the
     * slot is held until the server has closed the connection, i.e. its backend has exited: the pooler writes
     * Terminate or half-closes, and lets the server close first.
     */
    private void retire(ServerConnection server, boolean clean) {
        server.listener(null);
        Channel ch = server.channel();
        if (caps.length == 0 || ch.attr(CAP_SLOT).get() == null || !ch.isActive()) {
            if (clean) {
                server.close();
            } else {
                server.abort();
            }
            return;
        }
        ch.config().setAutoRead(true);
        if (clean) {
            ch.writeAndFlush(Messages.terminate());
        } else if (ch instanceof DuplexChannel duplex) {
            duplex.shutdownOutput();
        } else {
            server.abort();
            return;
        }
        ch.eventLoop().schedule(server::abort, EXIT_WAIT_SECONDS, TimeUnit.SECONDS);
    }

    private void scheduleRetry(long now) {
        if (retryScheduled) {
            return;
        }
        retryScheduled = true;
        long delay = Math.max(0, nextAttemptNanos - now);
        loops.next()
                .schedule(
                        () -> {
                            synchronized (this) {
                                retryScheduled = false;
                                if (!waiters.isEmpty() || total() < settings.minServerConnections()) {
                                    connectIfNeeded(waiters.isEmpty() ? loops.next() : waiters.peekFirst().loop);
                                }
                            }
                        },
                        delay,
                        TimeUnit.NANOSECONDS);
    }

    private void startConnect(EventLoop loop) {
        connecting++;
        connectsTotal.increment();
        connector
                .connect(loop, address, MEASURE_SERVERS ? serverStats : null)
                .addListener((Future<ServerConnection> f) -> onConnected(f));
    }

    private void onConnected(Future<ServerConnection> f) {
        if (f.isSuccess()) {
            ServerConnection server = f.getNow();
            server.statements().capacity(settings.preparedStatementCacheSize());
            serverStats.opened.increment();
            servers.add(server);
            server.channel().closeFuture().addListener(c -> {
                servers.remove(server);
                CloseReason reason = server.closeReason();
                serverStats.closed(reason);
                if (reason == CloseReason.SERVER_CLOSED) {
                    troubleListener.run();
                }
            });
            if (caps.length > 0) {
                // The slot taken for this connection stays with it until the connection is closed.
                Channel ch = server.channel();
                ch.attr(CAP_SLOT).set(this);
                ch.closeFuture().addListener(c -> {
                    if (ch.attr(CAP_SLOT).getAndSet(null) != null) {
                        giveSlots();
                    }
                });
            }
            Waiter next = null;
            boolean closeIt = false;
            synchronized (this) {
                connecting--;
                consecutiveFailures = 0;
                lastError = null;
                if (serverParameters == null) {
                    serverParameters = Map.copyOf(server.reportedParameters());
                }
                server.generation(generation);
                if (closed) {
                    closeIt = true;
                    server.closeReason(CloseReason.POOL_CLOSED);
                } else {
                    next = paused ? null : pollWaiter();
                    if (next != null) {
                        active++;
                    } else if (surplus()) {
                        // A reserve connection whose client no longer waits, or one another pool needs room for.
                        closeIt = true;
                        server.closeReason(CloseReason.SURPLUS);
                    } else {
                        server.listener(idleListener);
                        server.markReleased(System.nanoTime());
                        idle.addFirst(server);
                    }
                }
            }
            if (closeIt) {
                retire(server, true);
            } else if (next != null) {
                next.grant(server);
            }
            return;
        }
        connectFailuresTotal.increment();
        ServerError error = f.cause() instanceof ServerError se
                ? se
                : new ServerError(SqlState.CONNECTION_FAILURE, String.valueOf(f.cause()), true, f.cause());
        List<Waiter> failed = new ArrayList<>();
        giveSlots();
        synchronized (this) {
            connecting--;
            consecutiveFailures++;
            lastError = error;
            long backoff = Math.min(
                    settings.serverConnectBackoffMax().toNanos(),
                    INITIAL_BACKOFF_NANOS << Math.min(20, consecutiveFailures - 1));
            nextAttemptNanos = System.nanoTime() + backoff;
            if (!error.isTransient()) {
                // Wrong password, unknown database on the server...: retrying cannot help the clients waiting now.
                Waiter w;
                while ((w = pollWaiter()) != null) {
                    failed.add(w);
                }
            } else if (!waiters.isEmpty()) {
                scheduleRetry(System.nanoTime());
            }
        }
        if (consecutiveFailures == 1 || consecutiveFailures % 10 == 0) {
            log.warn(
                    "pool {}/{}: cannot connect to {} ({} failures in a row): {}",
                    database,
                    Printable.log(user),
                    address.host() + ":" + address.port(),
                    consecutiveFailures,
                    Printable.log(error.getMessage()));
        }
        if (error.isTransient()) {
            troubleListener.run();
        }
        for (Waiter w : failed) {
            w.fail(error);
        }
    }

    synchronized void removeWaiter(Waiter w) {
        waiters.remove(w);
    }

    synchronized ServerError lastError() {
        return lastError;
    }

    /** Periodic upkeep: closes idle servers past the idle timeout or lifetime, keeps the minimum open. */
    void maintain() {
        long now = System.nanoTime();
        long idleNanos = settings.serverIdle().toNanos();
        List<ServerConnection> toClose = new ArrayList<>();
        synchronized (this) {
            if (closed) {
                return;
            }
            Iterator<ServerConnection> it = idle.descendingIterator(); // oldest-released first
            while (it.hasNext()) {
                ServerConnection s = it.next();
                boolean idleTooLong = idleNanos > 0
                        && now - s.lastReleasedNanos() >= idleNanos
                        && total() - toClose.size() > settings.minServerConnections();
                if (!s.isUsable() || s.expired(now) || idleTooLong) {
                    s.closeReason(
                            !s.isUsable()
                                    ? CloseReason.SERVER_CLOSED
                                    : s.expired(now) ? CloseReason.LIFETIME : CloseReason.IDLE_TIMEOUT);
                    it.remove();
                    toClose.add(s);
                }
            }
            if (total() < settings.minServerConnections()) {
                connectIfNeeded(loops.next());
            } else if (!waiters.isEmpty() && connecting == 0 && caps.length > 0) {
                // A wake-up from a cap may have been lost to a race with another pool: try again now and then.
                connectIfNeeded(waiters.peekFirst().loop);
            }
        }
        for (ServerConnection s : toClose) {
            retire(s, true);
        }
    }

    /** Closes idle servers and fails waiters; checked-out servers close when their clients release them. */
    public void close() {
        close(new ServerError(SqlState.ADMIN_SHUTDOWN, "the pooler is shutting down", false, null));
    }

    /**
     * The endpoint left the set: like {@link #close()}, but waiting clients are told to go elsewhere (they are
     * routed again), not that the pooler is shutting down.
     */
    public void drain() {
        close(new ServerError(
                SqlState.CONNECTION_FAILURE, "endpoint " + endpoint + " left the endpoint set", true, null, true));
    }

    private void close(ServerError e) {
        List<ServerConnection> toClose;
        List<Waiter> failed = new ArrayList<>();
        synchronized (this) {
            closed = true;
            toClose = new ArrayList<>(idle);
            idle.clear();
            toClose.forEach(s -> s.closeReason(CloseReason.POOL_CLOSED));
            Waiter w;
            while ((w = pollWaiter()) != null) {
                failed.add(w);
            }
        }
        if (maintenance != null) {
            maintenance.cancel(false);
        }
        if (sweep != null) {
            sweep.cancel(false);
        }
        for (ConnectionCap c : caps) {
            c.leave(this);
        }
        toClose.forEach(s -> retire(s, true));
        failed.forEach(w -> w.fail(e));
    }

    // ---------------------------------------------------------------- admin console

    /**
     * PAUSE: from now on clients queue for a server instead of getting one, until {@link #resume()} or queryWait;
     * servers already checked out finish their transactions and come back.
     */
    public void pause() {
        synchronized (this) {
            paused = true;
        }
    }

    public synchronized int generation() {
        return generation;
    }

    public synchronized boolean paused() {
        return paused;
    }

    /** RESUME: the clients queued while paused get servers, idle ones first, in order. */
    public void resume() {
        List<ServerConnection> grants = new ArrayList<>();
        List<Waiter> to = new ArrayList<>();
        synchronized (this) {
            if (!paused) {
                return;
            }
            paused = false;
            if (closed) {
                return;
            }
            while (!idle.isEmpty()) {
                Waiter w = pollWaiter();
                if (w == null) {
                    break;
                }
                ServerConnection s = pollIdle(w.loop);
                if (s == null) {
                    // Only dead servers were left; the waiter keeps its place.
                    waiters.addFirst(w);
                    break;
                }
                active++;
                grants.add(s);
                to.add(w);
            }
            if (!waiters.isEmpty()) {
                connectIfNeeded(waiters.peekFirst().loop);
            }
        }
        for (int i = 0; i < grants.size(); i++) {
            to.get(i).grant(grants.get(i));
        }
    }

    /**
     * RECONNECT: every server open now is closed as soon as it is idle (idle ones at once); new ones are opened as
     * clients need them. With {@code now}, checked-out servers are closed at once too (KILL).
     */
    public void reconnect(boolean now) {
        List<ServerConnection> toClose;
        synchronized (this) {
            generation++;
            toClose = new ArrayList<>(idle);
            idle.clear();
        }
        for (ServerConnection s : toClose) {
            s.closeReason(CloseReason.RECONNECT);
            retire(s, true);
        }
        if (now) {
            for (ServerConnection s : servers) {
                s.closeReason(CloseReason.RECONNECT);
                s.abort();
            }
        }
    }

    /** Servers opened before the last RECONNECT that are still open (WAIT_CLOSE waits for none). */
    public synchronized int serversFromOlderGenerations() {
        int n = 0;
        for (ServerConnection s : servers) {
            if (s.generation() != generation && s.channel().isActive()) {
                n++;
            }
        }
        return n;
    }

    /** The logged-in server connections of this pool now, idle or checked out. */
    public List<ServerConnection> servers() {
        return List.copyOf(servers);
    }

    /** Whether {@code s} sits idle in this pool now. */
    public synchronized boolean isIdle(ServerConnection s) {
        return idle.contains(s);
    }

    /** The callbacks of the clients waiting now, with when each began to wait. */
    public synchronized List<Map.Entry<PoolCallback, Long>> waiting() {
        List<Map.Entry<PoolCallback, Long>> out = new ArrayList<>();
        for (Waiter w : waiters) {
            if (!w.done) {
                out.add(Map.entry(w.callback, w.enqueuedNanos));
            }
        }
        return out;
    }

    /** Connections open now beyond maxServerConnections (from the reserve pool). */
    public synchronized int reserveInUse() {
        return Math.max(0, total() - settings.maxServerConnections());
    }

    public synchronized PoolStats stats() {
        return new PoolStats(idle.size(), active, connecting, (int)
                waiters.stream().filter(w -> !w.done).count());
    }

    /** Counts at one instant, for metrics and the admin endpoint. */
    public record PoolStats(int idle, int active, int connecting, int waiting) {}

    /** While a server sits idle, anything it says is unexpected: a FATAL before it closes, or noise. */
    private final class IdleListener implements ServerListener {
        @Override
        public void onFrame(ServerConnection server, ByteBuf frame) {
            frame.release();
        }

        @Override
        public void onReadComplete(ServerConnection server) {}

        @Override
        public void onClosed(ServerConnection server, Throwable cause) {
            synchronized (Pool.this) {
                idle.remove(server);
            }
        }
    }

    /** A queued acquire. */
    public static final class Waiter {
        private final Pool pool;
        final EventLoop loop;
        private final PoolCallback callback;
        private final long enqueuedNanos = System.nanoTime();
        volatile boolean done;

        Waiter(Pool pool, EventLoop loop, PoolCallback callback) {
            this.pool = pool;
            this.loop = loop;
            this.callback = callback;
        }

        public long enqueuedNanos() {
            return enqueuedNanos;
        }

        /** Stops waiting; a server granted concurrently still reaches the callback, which must release it. */
        public void cancel() {
            // Left in the queue, marked: whoever next looks at it there drops it.
            done = true;
        }

        void grant(ServerConnection server) {
            done = true;
            server.listener(null);
            long now = System.nanoTime();
            server.checkedOut(now);
            pool.serverStats.assigned(now - enqueuedNanos);
            callback.granted(server);
        }

        void fail(ServerError e) {
            done = true;
            callback.failed(e);
        }

        /** Called by the sweep once it has taken this waiter off the queue. */
        void expired() {
            pool.waitTimeoutsTotal.increment();
            ServerError last = pool.lastError();
            long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - enqueuedNanos);
            String message = "no server connection available for database \"" + pool.database + "\" user \""
                    + pool.user + "\" within " + waited + " ms (queryWait; pool size "
                    + pool.settings.maxServerConnections() + ")";
            callback.failed(
                    last != null
                            ? new ServerError(
                                    SqlState.SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                                    message + "; last server error: " + last.getMessage(),
                                    false,
                                    null)
                            : new ServerError(SqlState.TOO_MANY_CONNECTIONS, message, false, null));
        }
    }
}
