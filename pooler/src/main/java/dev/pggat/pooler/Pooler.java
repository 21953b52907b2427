package dev.pggat.pooler;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import dev.pggat.pooler.admin.AdminServer;
import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.config.TracingConfig;
import dev.pggat.pooler.console.AdminConsole;
import dev.pggat.pooler.discovery.Discovery;
import dev.pggat.pooler.frontend.CancelRegistry;
import dev.pggat.pooler.frontend.ClientSession;
import dev.pggat.pooler.frontend.FrontendContext;
import dev.pggat.pooler.frontend.LoginHandler;
import dev.pggat.pooler.frontend.PeerCancelForwarder;
import dev.pggat.pooler.listen.ListenRelays;
import dev.pggat.pooler.metrics.PoolerMetrics;
import dev.pggat.pooler.net.Transport;
import dev.pggat.pooler.protocol.StartupDecoder;
import dev.pggat.pooler.routing.EndpointSet;
import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.security.Security;
import dev.pggat.pooler.tls.DirectTlsDetector;
import dev.pggat.pooler.tls.ReloadingSslContext;
import dev.pggat.pooler.tracing.PacketTrace;
import dev.pggat.pooler.tracing.PacketTraces;
import dev.pggat.pooler.tracing.TraceCommand;
import dev.pggat.pooler.tracing.Tracing;
import dev.pggat.pooler.tracing.TracingSetup;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.opentelemetry.api.OpenTelemetry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A running pooler: the client listener, pools, and the admin endpoint. */
public final class Pooler implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Pooler.class);

    /** What runs now: the configuration at start, then each reload's. */
    private volatile PoolerConfig config;

    private final ServerConnector connector;
    private final Transport transport;
    private final EventLoopGroup bossGroup;
    private final EventLoopGroup workerGroup;
    private final Router router;
    private final FrontendContext frontend;
    // Cancel forwarding across pooler replicas: the registry, kept to set its instance id and peers.
    private final CancelRegistry cancels;
    private final PoolerMetrics metrics;
    private final Security security;
    /** The discovery sources' runners; started with the pooler. */
    private final Discovery discovery;

    private Channel listener;
    private AdminServer admin;
    /** The PgBouncer-compatible console on the client listener; null when admin.users and statsUsers are empty. */
    private final AdminConsole console;

    private volatile java.util.function.Supplier<String> reloadAction =
            () -> "RELOAD needs a configuration file, and this pooler was not started from one";
    private volatile Runnable shutdownAction;
    private volatile boolean ready;
    /** What tracing.enabled set up (closed with the pooler or when a reload replaces it), or null. */
    private volatile OpenTelemetry openTelemetry;
    /** The caller's own SDK ({@link #tracing(OpenTelemetry, TracingConfig)}): a reload keeps it, with new settings. */
    private volatile OpenTelemetry callerTelemetry;
    /** The LISTEN relays, made at start whether or not pools.listenRelay is on, so that a reload can turn it on. */
    private final ListenRelays relays;

    public Pooler(PoolerConfig config) {
        this(config, Integer.getInteger("pggat.ioThreads", Runtime.getRuntime().availableProcessors()));
    }

    public Pooler(PoolerConfig config, int ioThreads) {
        this.config = config;
        try {
            // First: a bad certificate or credential file must fail before threads and pools exist.
            this.security = Security.start(config);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot set up authentication or TLS: " + e.getMessage(), e);
        }
        this.transport = Transport.best();
        this.bossGroup = transport.newGroup(1, "pggat-accept");
        this.workerGroup = transport.newGroup(ioThreads, "pggat-io");
        ServerConnector connector = this.connector = new ServerConnector(
                transport, config.timeouts().serverConnect(), config.timeouts().serverLifetime(), security);
        security.connector(connector);
        this.router = new Router(config, connector, workerGroup);
        // Cancels for keys another replica issued are forwarded to it over the same transport.
        this.cancels = new CancelRegistry(0, new PeerCancelForwarder(transport, workerGroup));
        router.poolListener(new Router.PoolListener() {
            @Override
            public void added(String database, dev.pggat.pooler.pool.Pool pool) {
                security.registerPool(database, pool.address());
            }

            @Override
            public void removed(String database, dev.pggat.pooler.pool.Pool pool) {
                security.unregisterPool(pool.address());
            }
        });
        this.frontend = new FrontendContext(
                router,
                cancels,
                transport,
                config.limits().maxStartupPacketSize(),
                config.limits().maxMessageSize(),
                config.limits().maxClientConnections(),
                config.timeouts().clientLogin());
        frontend.strictSessionState(config.pools().strictSessionState());
        this.relays = new ListenRelays(connector, workerGroup, config.pools().listenRelayMaxChannels());
        if (config.pools().listenRelay()) {
            frontend.listenRelays(relays);
        }
        this.openTelemetry = TracingSetup.openTelemetry(config.tracing());
        if (openTelemetry != null) {
            frontend.tracing(Tracing.of(openTelemetry, config.tracing()));
        }
        this.metrics = new PoolerMetrics(router, frontend, security);
        this.discovery = new Discovery(config.discovery(), router, this::applyEndpointSet);
        metrics.discovery(discovery::runners);
        this.shutdownAction = () -> shutdown(config.timeouts().shutdown());
        if (config.admin().console()) {
            console = new AdminConsole(config, router, frontend, workerGroup.next(), new AdminConsole.Actions() {
                @Override
                public String reload() {
                    return reloadAction.get();
                }

                @Override
                public void shutdown() {
                    shutdownAction.run();
                }
            });
            frontend.console(console);
        } else {
            console = null;
        }
    }

    /**
     * Traces into {@code otel} (an SDK the caller built, such as a test's in-memory exporter) as {@code settings}
     * say, instead of what the tracing section and the OTEL_* settings set up; the caller closes {@code otel}.
     * Clients that log in from now on are traced.
     */
    public Pooler tracing(OpenTelemetry otel, TracingConfig settings) {
        callerTelemetry = otel;
        frontend.tracing(Tracing.of(otel, settings));
        return this;
    }

    /**
     * What the console's RELOAD and SHUTDOWN do when the pooler runs from the command line: read the file again
     * (returning null or what went wrong), and stop as a signal would.
     */
    public void consoleActions(java.util.function.Supplier<String> reload, Runnable shutdown) {
        this.reloadAction = reload;
        this.shutdownAction = shutdown;
    }

    public Pooler start() throws IOException {
        router.start();
        if (console != null) {
            console.start();
        }
        discovery.start();
        ServerBootstrap b = new ServerBootstrap()
                .group(bossGroup, workerGroup)
                .channel(transport.serverChannel())
                .option(ChannelOption.SO_BACKLOG, 4096)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                .childOption(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(64 * 1024, 256 * 1024))
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        // Read per connection: a reload's TLS settings apply to the connections made after it.
                        ReloadingSslContext directTls = security.directTls();
                        if (directTls != null) {
                            ch.pipeline().addLast(DirectTlsDetector.NAME, new DirectTlsDetector(directTls));
                        }
                        ch.pipeline()
                                .addLast(
                                        "pg-startup",
                                        new StartupDecoder(
                                                Pooler.this.config.limits().maxStartupPacketSize(),
                                                Pooler.this.config.limits().maxMessageSize()))
                                .addLast(LoginHandler.NAME, new LoginHandler(frontend, security));
                    }
                });
        try {
            listener = b.bind(config.listen().host(), config.listen().port())
                    .sync()
                    .channel();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while binding", e);
        } catch (Exception e) {
            throw new IOException(
                    "cannot listen on " + config.listen().host() + ":"
                            + config.listen().port() + ": " + e.getMessage(),
                    e);
        }
        // After the bind: clients can connect while the JVM's metrics are registered; the admin endpoint that
        // shows them (and says ready) starts after.
        metrics.registerJvmMetrics();
        if (config.admin().enabled()) {
            admin = new AdminServer(
                    config.admin().host(),
                    config.admin().port(),
                    metrics.registry(),
                    () -> ready,
                    config.admin().token(),
                    control());
            admin.start();
        }
        ready = true;
        log.info(
                "pggat listening on {} ({} transport, {} pools){}",
                listener.localAddress(),
                transport.name(),
                router.pools().size(),
                admin != null ? ", admin on http://" + admin.address().getHostString() + ":" + adminPort() : "");
        return this;
    }

    private static String describe(PacketTrace t) {
        return "trace " + t.id() + ": " + t.kind().label() + " " + t.target() + ", " + t.logged() + " of at most "
                + t.maxMessages() + " messages, until " + t.ends() + (t.withValues() ? ", with bind values" : "")
                + (t.file() == null ? ", to the log " + PacketTrace.LOGGER : ", to " + t.file());
    }

    private AdminServer.Control control() {
        return new AdminServer.Control() {
            @Override
            public String endpointsJson() {
                StringBuilder sb = new StringBuilder("{");
                boolean firstDb = true;
                for (Router.Database d : router.databases()) {
                    sb.append(firstDb ? "" : ",").append(quote(d.name())).append(":{\"set\":");
                    sb.append(d.endpoints().toJson()).append(",\"states\":[");
                    boolean first = true;
                    for (var st : d.states()) {
                        var o = st.observation();
                        sb.append(first ? "" : ",")
                                .append("{\"name\":")
                                .append(quote(st.name()))
                                .append(",\"health\":")
                                .append(quote(String.valueOf(o.health())))
                                .append(",\"role\":")
                                .append(quote(
                                        o.role() == null ? "unknown" : o.role().yamlName()))
                                .append(",\"lagBytes\":")
                                .append(o.lagBytes())
                                .append(",\"lagMillis\":")
                                .append(o.lagMillis())
                                .append("}");
                        first = false;
                    }
                    sb.append("]}");
                    firstDb = false;
                }
                return sb.append("}").toString();
            }

            @Override
            public String trace(String command) {
                PacketTraces traces = frontend.packetTraces();
                if (command == null) {
                    StringBuilder sb = new StringBuilder();
                    for (PacketTrace t : traces.list()) {
                        sb.append(describe(t)).append('\n');
                    }
                    return sb.isEmpty() ? "no packet traces" : sb.toString().strip();
                }
                try {
                    TraceCommand c = TraceCommand.parse(command);
                    if (c.spec() == null) {
                        return "stopped " + traces.stop(c.off()) + " packet trace(s)";
                    }
                    return "started " + describe(frontend.startPacketTrace(c.spec()));
                } catch (IllegalArgumentException e) {
                    return "error: " + e.getMessage();
                }
            }

            @Override
            public String applyEndpointSet(String database, String json) {
                Router.Database db = router.database(database);
                if (db == null) {
                    return "unknown database \"" + database + "\"";
                }
                EndpointSet set;
                try {
                    set = EndpointSet.fromJson(json);
                } catch (IllegalArgumentException e) {
                    return "invalid endpoint set: " + e.getMessage();
                }
                return db.apply(set)
                        ? null
                        : "stale endpoint set: version " + set.version() + " is not newer than "
                                + db.endpoints().version();
            }
        };
    }

    private static String quote(String s) {
        return "\"" + new String(JsonStringEncoder.getInstance().quoteAsString(s)) + "\"";
    }

    /**
     * What one reload did.
     *
     * @param applied one line per change now in use
     * @param needRestart the keys whose new values are not in use, and will not be until a restart
     */
    public record Reloaded(List<String> applied, List<String> needRestart) {}

    /**
     * Takes a new, validated configuration while running. Everything applies at once to new logins and to the next
     * transaction of connected clients (see {@link Router#reconfigure} and {@link Security#reconfigure}): a new
     * client TLS context or credential source is loaded first; changed discovery sources replace the running ones;
     * a changed tracing section makes a new tracer; the LISTEN relay settings apply to clients that log in after
     * the reload (the channel cap to every LISTEN from now on). Only {@code listen} and {@code admin}, whose
     * sockets are bound at start, are returned as needing a restart. Endpoints of existing databases are applied as
     * new endpoint sets.
     *
     * @throws IOException when a TLS or credential file of the new configuration cannot be loaded; nothing changed
     */
    public synchronized Reloaded reload(PoolerConfig next) throws IOException {
        PoolerConfig was = config;
        List<String> changed = dev.pggat.pooler.config.ConfigDiff.changedKeys(was, next);
        // First what may fail (a tracer from the OTEL_* settings, TLS and credential files): then nothing changed.
        boolean retrace = !was.tracing().equals(next.tracing());
        OpenTelemetry made = null;
        if (retrace && callerTelemetry == null) {
            try {
                made = TracingSetup.openTelemetry(next.tracing());
            } catch (RuntimeException e) {
                throw new IOException(e.getMessage(), e);
            }
        }
        try {
            security.reconfigure(next);
        } catch (IOException | RuntimeException e) {
            if (made != null) {
                TracingSetup.close(made);
            }
            throw e;
        }
        List<String> applied = new ArrayList<>();
        connector.timeouts(next.timeouts().serverConnect(), next.timeouts().serverLifetime());
        frontend.limits(
                next.limits().maxStartupPacketSize(),
                next.limits().maxMessageSize(),
                next.limits().maxClientConnections(),
                next.timeouts().clientLogin());
        frontend.strictSessionState(next.pools().strictSessionState());
        relays.maxChannelsPerClient(next.pools().listenRelayMaxChannels());
        if (next.pools().listenRelay() != was.pools().listenRelay()) {
            frontend.listenRelays(next.pools().listenRelay() ? relays : null);
            if (next.pools().listenRelay()) {
                metrics.listenRelayMetrics(frontend);
            }
        }
        if (retrace) {
            applied.add(retrace(next.tracing(), made));
        }
        // Endpoints of databases that stay move through versioned endpoint sets, as the admin API and the
        // operator move them; everything else of a database changes in place.
        Map<String, EndpointSet> moved = new java.util.LinkedHashMap<>();
        for (var db : next.databases().values()) {
            var old = was.databases().get(db.name());
            Router.Database live = router.database(db.name());
            if (old != null
                    && live != null
                    && !old.endpoints().equals(db.endpoints())
                    && !db.endpoints().isEmpty()) {
                moved.put(db.name(), EndpointSet.fromConfig(live.endpoints().version() + 1, db.endpoints()));
            }
        }
        applied.addAll(router.reconfigure(next));
        moved.forEach((name, set) -> {
            if (applyEndpointSet(name, set)) {
                applied.add("database " + name + " now uses " + set.endpoints());
            }
        });
        List<String> needRestart = new ArrayList<>();
        for (String key : changed) {
            String section = key.contains(".") ? key.substring(0, key.indexOf('.')) : key;
            if (section.equals("listen") || section.equals("admin")) {
                needRestart.add(key);
            }
        }
        // What runs now: the new configuration, with the running listen and admin addresses.
        config = next.withListen(was.listen()).withAdmin(was.admin());
        if (!was.discovery().equals(next.discovery())) {
            discovery.reconfigure(next.discovery());
            metrics.discovery(discovery::runners);
            applied.add(
                    "discovery sources replaced (" + next.discovery().sources().size() + " sources)");
        }
        return new Reloaded(List.copyOf(applied), List.copyOf(needRestart));
    }

    /**
     * A changed tracing section: a new tracer for the transactions that start from now on (each connected client
     * takes it at its next transaction). The tracing set up from the file is built again and the old one closed
     * (it flushes what it holds; spans of transactions running across the reload end on a closed tracer and are
     * dropped); a tracer the caller gave ({@link #tracing(OpenTelemetry, TracingConfig)}) stays, with the new
     * settings.
     */
    private String retrace(TracingConfig next, OpenTelemetry made) {
        OpenTelemetry caller = callerTelemetry;
        if (caller != null) {
            frontend.tracing(Tracing.of(caller, next));
            return "tracing settings replaced";
        }
        OpenTelemetry old = openTelemetry;
        openTelemetry = made;
        frontend.tracing(made == null ? Tracing.OFF : Tracing.of(made, next));
        if (old != null) {
            TracingSetup.close(old);
        }
        return made == null ? "tracing off" : "tracing replaced";
    }

    /** The configuration in use now. */
    public PoolerConfig config() {
        return config;
    }

    /** The port clients connect to (useful with port 0 in tests). */
    public int port() {
        return ((InetSocketAddress) listener.localAddress()).getPort();
    }

    public int adminPort() {
        return admin == null ? -1 : admin.address().getPort();
    }

    public Router router() {
        return router;
    }

    /**
     * Replaces a database's endpoint set while running (admin PUT, the operator's stream, a reload). Clients in a
     * transaction finish it where they are; new transactions use the new set.
     *
     * @return false when the database is unknown or {@code set} is not newer than the one in use
     */
    public boolean applyEndpointSet(String database, EndpointSet set) {
        Router.Database db = router.database(database);
        if (db == null || !db.apply(set)) {
            return false;
        }
        if (config.discovery().targets().containsKey(database)) {
            EndpointSet.Member primary = set.primary();
            if (primary != null) {
                security.authQueryTarget(database, primary.host(), primary.port(), db.serverDatabase());
            }
        }
        return true;
    }

    public Discovery discovery() {
        return discovery;
    }

    public Security security() {
        return security;
    }

    public FrontendContext frontend() {
        return frontend;
    }

    // The operator's endpoint stream sets the instance id and peers through this.
    public CancelRegistry cancelRegistry() {
        return cancels;
    }

    /**
     * Graceful stop: readiness goes false, the listener closes, idle clients are told the pooler is shutting down,
     * clients in a transaction get until {@code timeout} to finish it, then everything closes.
     */
    public void shutdown(Duration timeout) {
        ready = false;
        if (listener != null) {
            listener.close().awaitUninterruptibly();
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            frontend.drainAll();
            if (frontend.drained() || System.nanoTime() >= deadline) {
                break;
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        frontend.sessions().forEach(ClientSession::terminate);
        discovery.close();
        router.close();
        close();
    }

    @Override
    public void close() {
        ready = false;
        if (listener != null) {
            listener.close();
        }
        if (admin != null) {
            admin.stop();
        }
        if (console != null) {
            console.close();
        }
        discovery.close();
        relays.close();
        router.close();
        security.close();
        OpenTelemetry otel = openTelemetry;
        if (otel != null) {
            TracingSetup.close(otel);
        }
        bossGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        workerGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }
}
