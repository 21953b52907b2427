package dev.pggat.pooler.frontend;

import dev.pggat.pooler.listen.ListenRelays;
import dev.pggat.pooler.net.Transport;
import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.tracing.PacketTrace;
import dev.pggat.pooler.tracing.PacketTraces;
import dev.pggat.pooler.tracing.Tracing;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/** What every client session shares: routing, cancel keys, limits and counters. */
public final class FrontendContext {
    final Router router;
    final CancelRegistry cancels;
    final Transport transport;
    // A reload may change these; clients that connect afterwards get the new values.
    volatile int maxStartupPacket;
    volatile int maxMessageSize;
    volatile int maxClientConnections;
    volatile Duration clientLogin;
    final SecureRandom random = new SecureRandom();
    /** Transaction mode's pooler-wide prepared statement names. */
    final PreparedStatements statements = new PreparedStatements();

    final AtomicInteger clients = new AtomicInteger();
    final Set<ClientSession> sessions = ConcurrentHashMap.newKeySet();
    final Set<LoginHandler> logins = ConcurrentHashMap.newKeySet();
    volatile boolean draining;

    public final LongAdder loginFailuresTotal = new LongAdder();
    public final LongAdder loginsTotal = new LongAdder();
    public final LongAdder rejectedTotal = new LongAdder();
    public final LongAdder protocolErrorsTotal = new LongAdder();
    /**
     * Server messages handed from the server's event loop to its client's as a task of their own: each is a queue
     * offer and often a thread wake-up. Stays near 0 while servers move to their clients' loops.
     */
    public final LongAdder serverFramesHandedOverTotal = new LongAdder();
    /** Checkouts that moved the server's channel onto the client's event loop (docs/architecture.md, threads). */
    public final LongAdder serverMovesTotal = new LongAdder();
    /**
     * Whether a server granted to a client on another event loop moves to the client's loop (the default); off
     * ({@code -Dpggat.moveServers=false}) only to measure what moving saves: every server message then crosses.
     */
    volatile boolean moveServers = !"false".equals(System.getProperty("pggat.moveServers"));
    /** Runs of server messages that went to a client on the pass-through path, unframed (ServerPassThrough). */
    public final LongAdder passThroughRuns = new LongAdder();
    /**
     * The pass-through path is on; {@code -Dpggat.passThrough=false} turns it off (every server message then takes
     * the per-frame path), for comparisons. Tests switch it between runs.
     */
    public volatile boolean passThrough = !"false".equals(System.getProperty("pggat.passThrough"));
    /** Expiries of timeouts.clientIdle, idleInTransaction and query. */
    public final TimeoutCounters timeouts = new TimeoutCounters();

    public FrontendContext(
            Router router,
            CancelRegistry cancels,
            Transport transport,
            int maxStartupPacket,
            int maxMessageSize,
            int maxClientConnections,
            Duration clientLogin) {
        this.router = router;
        this.cancels = cancels;
        this.transport = transport;
        this.maxStartupPacket = maxStartupPacket;
        this.maxMessageSize = maxMessageSize;
        this.maxClientConnections = maxClientConnections;
        this.clientLogin = clientLogin;
    }

    /** A reload changed the limits or timeouts.clientLogin: they apply to clients that connect from now on. */
    public void limits(int newMaxStartupPacket, int newMaxMessageSize, int newMaxClientConnections, Duration login) {
        this.maxStartupPacket = newMaxStartupPacket;
        this.maxMessageSize = newMaxMessageSize;
        this.maxClientConnections = newMaxClientConnections;
        this.clientLogin = login;
    }

    public int clientCount() {
        return clients.get();
    }

    public Set<ClientSession> sessions() {
        return sessions;
    }

    /** Drain: clients still logging in are told to go; logged-in ones are closed once idle. */
    public void drainAll() {
        draining = true;
        logins.forEach(LoginHandler::drain);
        sessions.forEach(ClientSession::drainIfIdle);
    }

    public boolean drained() {
        return sessions.isEmpty() && logins.isEmpty();
    }

    private final java.util.concurrent.ConcurrentHashMap<String, LongAdder> pins =
            new java.util.concurrent.ConcurrentHashMap<>();

    void pinned(String reason) {
        pins.computeIfAbsent(reason, r -> new LongAdder()).increment();
    }

    /** Clients pinned to their server in transaction mode, by reason. */
    public java.util.Map<String, Long> pins() {
        java.util.Map<String, Long> m = new java.util.TreeMap<>();
        pins.forEach((k, v) -> m.put(k, v.sum()));
        return m;
    }

    public PreparedStatements statements() {
        return statements;
    }

    /** Transaction mode's LISTEN relays; null when LISTEN pins the client instead (pools.listenRelay: false). */
    volatile ListenRelays listenRelays;

    public void listenRelays(ListenRelays relays) {
        this.listenRelays = relays;
    }

    public ListenRelays listenRelays() {
        return listenRelays;
    }

    /** pools.strictSessionState: read each transaction-mode session's state back after every transaction. */
    volatile boolean strictSessionState;

    public void strictSessionState(boolean strict) {
        this.strictSessionState = strict;
    }

    public Router router() {
        return router;
    }

    // ---------------------------------------------------------------- admin console

    private final AtomicInteger nextClientId = new AtomicInteger();
    private final java.util.concurrent.ConcurrentHashMap<Integer, ClientInfo> clientInfos =
            new java.util.concurrent.ConcurrentHashMap<>();
    /** Databases DISABLE'd on the console: new clients are refused until ENABLE. */
    private final Set<String> disabledDatabases = ConcurrentHashMap.newKeySet();

    private volatile ConsoleGate console;

    public void console(ConsoleGate console) {
        this.console = console;
    }

    public ConsoleGate console() {
        return console;
    }

    int nextClientId() {
        return nextClientId.incrementAndGet();
    }

    /** Lists a logged-in client for the console until its channel closes. */
    void register(ClientInfo info) {
        clientInfos.put(info.id(), info);
        info.channel().closeFuture().addListener(f -> clientInfos.remove(info.id()));
    }

    /** The logged-in clients, console clients among them, by id. */
    public java.util.Collection<ClientInfo> clientInfos() {
        return new java.util.TreeMap<>(clientInfos).values();
    }

    public ClientInfo clientInfo(int id) {
        return clientInfos.get(id);
    }

    public Set<String> disabledDatabases() {
        return disabledDatabases;
    }

    // ---------------------------------------------------------------- tracing

    /** OpenTelemetry spans per transaction; read once per client at its login. */
    volatile Tracing tracing = Tracing.OFF;

    /** Packet traces switched on at run time. */
    final PacketTraces packetTraces = new PacketTraces();

    public void tracing(Tracing tracing) {
        this.tracing = tracing;
    }

    public Tracing tracing() {
        return tracing;
    }

    public PacketTraces packetTraces() {
        return packetTraces;
    }

    /**
     * Starts a packet trace and follows the logged-in clients it matches from their next message on (their server
     * from their next transaction); clients that log in later are matched at their login.
     */
    public PacketTrace startPacketTrace(PacketTrace.Spec spec) {
        PacketTrace t = packetTraces.start(spec);
        for (ClientInfo c : clientInfos.values()) {
            String address = TraceLabels.address(c.channel());
            if (c.handler() instanceof ClientSession && t.matches(c.id(), address, c.user(), c.database())) {
                String label = TraceLabels.label(c.id(), c.user(), c.database(), address);
                c.channel()
                        .eventLoop()
                        .execute(() -> PacketTraces.followClient(c.channel(), ClientSession.NAME, t, label));
            }
        }
        return t;
    }

    /** A client logging in as {@code user} to {@code database}: followed from now on when a trace matches it. */
    void followAtLogin(io.netty.channel.ChannelHandlerContext login, String user, String database) {
        String at = TraceLabels.address(login.channel());
        PacketTrace t = packetTraces.match(-1, at, user, database);
        if (t != null) {
            PacketTraces.followClient(login.channel(), login.name(), t, TraceLabels.label(-1, user, database, at));
        }
    }

    /** Whether new clients are still accepted (false once a drain began). */
    public boolean draining() {
        return draining;
    }
}
