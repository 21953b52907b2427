package dev.pggat.pooler.metrics;

import dev.pggat.pooler.auth.AuthMetrics;
import dev.pggat.pooler.backend.ServerStats;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.discovery.DiscoveryRunner;
import dev.pggat.pooler.frontend.FrontendContext;
import dev.pggat.pooler.listen.ListenRelay;
import dev.pggat.pooler.pool.ConnectionCap;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.routing.EndpointState;
import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.security.Security;
import dev.pggat.pooler.util.LatencyHistogram;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.instrumentation.jvm.JvmBufferPoolMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmClassLoadingMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmCompilationMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmGarbageCollectorMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmMemoryMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmMemoryPoolAllocationMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmNativeMemoryMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmRuntimeInfoMetric;
import io.prometheus.metrics.instrumentation.jvm.JvmThreadsMetrics;
import io.prometheus.metrics.instrumentation.jvm.ProcessMetrics;
import io.prometheus.metrics.model.registry.Collector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.function.ToDoubleFunction;
import java.util.function.ToLongFunction;

/**
 * Prometheus metrics, read from the pools' own counters at scrape time: nothing on the hot path beyond the
 * counters the pools keep anyway. Labels carry database and user names only, never secrets.
 */
public final class PoolerMetrics {
    private final PrometheusRegistry registry = new PrometheusRegistry();

    public PoolerMetrics(Router router, FrontendContext frontend) {
        this(router, frontend, Security.none());
    }

    public PoolerMetrics(Router router, FrontendContext frontend, Security security) {
        GaugeWithCallback.builder()
                .name("pggat_client_connections")
                .help("Client connections per database, user and state (idle: logged in, no server; waiting: queued"
                        + " for a server; active: running on a server)")
                .labelNames("database", "user", "state")
                .callback(cb -> {
                    for (Router.Database d : router.databases()) {
                        for (Router.User u : d.users().values()) {
                            for (Router.User.ClientState st : Router.User.ClientState.values()) {
                                cb.call(
                                        u.clients(st),
                                        d.name(),
                                        u.name(),
                                        st.name().toLowerCase(Locale.ROOT));
                            }
                        }
                    }
                })
                .register(registry);
        GaugeWithCallback.builder()
                .name("pggat_server_connections")
                .help("Server connections per pool (database, user, endpoint) and state (idle, active: checked out,"
                        + " connecting)")
                .labelNames("database", "user", "endpoint", "state")
                .callback(cb -> {
                    for (Pool p : router.pools()) {
                        Pool.PoolStats st = p.stats();
                        cb.call(st.idle(), p.database(), p.user(), p.endpoint(), "idle");
                        cb.call(st.active(), p.database(), p.user(), p.endpoint(), "active");
                        cb.call(st.connecting(), p.database(), p.user(), p.endpoint(), "connecting");
                    }
                })
                .register(registry);
        GaugeWithCallback.builder()
                .name("pggat_pool_max_server_connections")
                .help("The pool's maxServerConnections: active server connections divided by this is its saturation"
                        + " (the reserve pool comes on top, see pggat_pool_reserve_connections)")
                .labelNames("database", "user", "endpoint")
                .callback(cb -> {
                    for (Pool p : router.pools()) {
                        cb.call(p.settings().maxServerConnections(), p.database(), p.user(), p.endpoint());
                    }
                })
                .register(registry);
        GaugeWithCallback.builder()
                .name("pggat_pool_waiting_clients")
                .help("Clients queued for a server connection (wait-queue length)")
                .labelNames("database", "user", "endpoint")
                .callback(cb -> {
                    for (Pool p : router.pools()) {
                        cb.call(p.stats().waiting(), p.database(), p.user(), p.endpoint());
                    }
                })
                .register(registry);
        endpointGauge(
                router,
                "pggat_endpoint_up",
                "1 when the endpoint answered its last probe",
                s -> s.health() == EndpointState.Health.UP ? 1 : 0);
        endpointGauge(
                router,
                "pggat_endpoint_primary",
                "1 when the endpoint was writable (not in recovery) at its last probe",
                s -> s.observedRole() == Endpoint.Role.PRIMARY ? 1 : 0);
        endpointGauge(
                router,
                "pggat_endpoint_replication_lag_bytes",
                "How far the replica's replay is behind the primary's WAL position",
                s -> Math.max(0, s.lagBytes()));
        endpointGauge(
                router,
                "pggat_endpoint_replication_lag_seconds",
                "How far the replica's replay is behind in time",
                s -> Math.max(0, s.lagMillis()) / 1000.0);
        endpointGauge(
                router,
                "pggat_endpoint_outstanding_queries",
                "Clients running on the endpoint now",
                s -> s.outstanding());
        endpointGauge(
                router,
                "pggat_endpoint_probe_latency_seconds",
                "Moving average of the endpoint's probe round trip",
                s -> s.ewmaLatencyNanos() / 1e9);
        endpointGauge(
                router,
                "pggat_endpoint_round_trip_average_seconds",
                "Decaying average (2 s half-life) of the server round trips measured on the endpoint, as the replica"
                        + " choice weighs it; 0 before any",
                s -> s.roundTripNanos() / 1e9);
        roundTripHistogram(router);
        GaugeWithCallback.builder()
                .name("pggat_endpoint_set_version")
                .help("Version of the endpoint set each database uses")
                .labelNames("database")
                .callback(cb -> {
                    for (Router.Database d : router.databases()) {
                        cb.call(d.endpoints().version(), d.name());
                    }
                })
                .register(registry);
        CounterWithCallback.builder()
                .name("pggat_routing_decisions")
                .help("Where transactions were sent and why (replica:<reason>, primary:<reason>, replayed:25006, ...)")
                .labelNames("database", "decision")
                .callback(cb -> {
                    for (Router.Database d : router.databases()) {
                        d.decisions().forEach((k, v) -> cb.call(v, d.name(), k));
                    }
                })
                .register(registry);
        CounterWithCallback.builder()
                .name("pggat_retried_queries")
                .help("Reads sent again to another server after theirs died before any of its reply reached the client")
                .labelNames("database")
                .callback(cb -> {
                    for (Router.Database d : router.databases()) {
                        cb.call(d.retriedQueriesTotal.sum(), d.name());
                    }
                })
                .register(registry);
        CounterWithCallback.builder()
                .name("pggat_server_loss_errors")
                .help("Transaction-mode clients told with an ERROR (08006), not a FATAL, that their server was lost")
                .labelNames("database")
                .callback(cb -> {
                    for (Router.Database d : router.databases()) {
                        cb.call(d.serverLossErrorsTotal.sum(), d.name());
                    }
                })
                .register(registry);
        GaugeWithCallback.builder()
                .name("pggat_clients")
                .help("All client connections, including those still logging in")
                .callback(cb -> cb.call(frontend.clientCount()))
                .register(registry);
        poolCounter(router, "pggat_server_connects", "Server connection attempts", p -> p.connectsTotal.sum());
        poolCounter(
                router,
                "pggat_server_connect_failures",
                "Server connection attempts that failed",
                p -> p.connectFailuresTotal.sum());
        poolCounter(router, "pggat_pool_acquires", "Server checkouts requested", p -> p.acquiresTotal.sum());
        poolCounter(router, "pggat_pool_waits", "Server checkouts that had to wait", p -> p.waitedTotal.sum());
        poolCounter(
                router,
                "pggat_pool_wait_timeouts",
                "Clients whose wait for a server hit queryWait",
                p -> p.waitTimeoutsTotal.sum());
        frontendCounter("pggat_client_logins", "Successful client logins", () -> frontend.loginsTotal.sum());
        frontendCounter(
                "pggat_client_login_failures",
                "Failed client logins (bad password, unknown database, timeout)",
                () -> frontend.loginFailuresTotal.sum());
        frontendCounter(
                "pggat_client_rejections",
                "Clients refused at connect (maxClientConnections, shutting down)",
                () -> frontend.rejectedTotal.sum());
        frontendCounter(
                "pggat_client_protocol_errors",
                "Clients disconnected for breaking the protocol",
                () -> frontend.protocolErrorsTotal.sum());
        frontendCounter(
                "pggat_server_frames_handed_over",
                "Server messages handed to their client's event loop as a task (server and client on different loops)",
                () -> frontend.serverFramesHandedOverTotal.sum());
        frontendCounter(
                "pggat_server_loop_moves",
                "Checkouts that moved the server connection onto its client's event loop",
                () -> frontend.serverMovesTotal.sum());
        frontendCounter(
                "pggat_pass_through_runs",
                "Runs of server messages sent to a client as one slice, without per-message handling",
                () -> frontend.passThroughRuns.sum());
        frontendCounter(
                "pggat_prepared_statement_hits",
                "Named prepared statements a client used on a server that already had them (transaction mode)",
                () -> frontend.statements().hits.sum());
        frontendCounter(
                "pggat_prepared_statement_misses",
                "Named prepared statements the pooler had to prepare on the server first (transaction mode)",
                () -> frontend.statements().misses.sum());
        frontendCounter(
                "pggat_prepared_statement_evictions",
                "Prepared statements closed on a server to stay within its cache size",
                () -> frontend.statements().evictions.sum());
        CounterWithCallback.builder()
                .name("pggat_pinned_clients")
                .help("Transaction-mode clients that kept their server for the rest of their session, by reason"
                        + " (advisory_lock, temp_table, with_hold_cursor, listen, sql_prepare, session_authorization; listen"
                        + " only when the LISTEN relay cannot take it)")
                .labelNames("reason")
                .callback(cb -> frontend.pins().forEach((k, v) -> cb.call(v, k)))
                .register(registry);
        routeMetrics(router);
        serverStatsMetrics(router);
        timeoutAndLimitMetrics(router, frontend);
        listenRelayMetrics(frontend);
        authMetrics(router, security);
    }

    /**
     * The JVM's own metrics. Registering them reads the platform MXBeans (and starts JMX), a fifth of the CPU a
     * start costs on the main thread, so the pooler does it after its client listener is bound and before the admin
     * endpoint that exposes them starts. Native-memory figures exist only with -XX:NativeMemoryTracking; without it
     * asking for them runs a diagnostic command for nothing.
     */
    public void registerJvmMetrics() {
        JvmThreadsMetrics.builder().register(registry);
        JvmBufferPoolMetrics.builder().register(registry);
        JvmClassLoadingMetrics.builder().register(registry);
        JvmCompilationMetrics.builder().register(registry);
        JvmGarbageCollectorMetrics.builder().register(registry);
        JvmMemoryPoolAllocationMetrics.builder().register(registry);
        JvmMemoryMetrics.builder().register(registry);
        JvmRuntimeInfoMetric.builder().register(registry);
        ProcessMetrics.builder().register(registry);
        boolean nmt = ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .anyMatch(a -> a.startsWith("-XX:NativeMemoryTracking=") && !a.endsWith("=off"));
        if (nmt) {
            JvmNativeMemoryMetrics.builder().register(registry);
        }
    }

    /** Per route of the routes section in use: a reload keeps the counts of routes that stay. */
    private void routeMetrics(Router router) {
        CounterWithCallback.builder()
                .name("pggat_route_matches")
                .help("Client logins a route matched, by route")
                .labelNames("route")
                .callback(cb -> router.routes()
                        .entries()
                        .forEach(e -> cb.call(e.matchedTotal().sum(), e.route().name())))
                .register(registry);
        CounterWithCallback.builder()
                .name("pggat_route_errors")
                .help("Client logins an error route refused, by route")
                .labelNames("route")
                .callback(cb -> router.routes().entries().stream()
                        .filter(e -> e.route().error() != null)
                        .forEach(e -> cb.call(e.errorTotal().sum(), e.route().name())))
                .register(registry);
        CounterWithCallback.builder()
                .name("pggat_route_regex_step_limit")
                .help("Values on which a regular expression of a route gave up after its step limit (the route did"
                        + " not match), by route")
                .labelNames("route")
                .callback(cb -> router.routes()
                        .entries()
                        .forEach(
                                e -> cb.call(e.stepLimitTotal().sum(), e.route().name())))
                .register(registry);
    }

    private void timeoutAndLimitMetrics(Router router, FrontendContext frontend) {
        CounterWithCallback.builder()
                .name("pggat_client_timeouts")
                .help("Client timeouts that expired, by reason: client_idle (57P05), idle_in_transaction (25P03),"
                        + " query (statement canceled, 57014), query_cancel_unanswered (the server ignored that"
                        + " cancel and was closed), query_wait (no server in time)")
                .labelNames("reason")
                .callback(cb -> {
                    cb.call(frontend.timeouts.clientIdle.sum(), "client_idle");
                    cb.call(frontend.timeouts.idleInTransaction.sum(), "idle_in_transaction");
                    cb.call(frontend.timeouts.query.sum(), "query");
                    cb.call(frontend.timeouts.queryCancelUnanswered.sum(), "query_cancel_unanswered");
                    long waits = 0;
                    for (Pool p : router.pools()) {
                        waits += p.waitTimeoutsTotal.sum();
                    }
                    cb.call(waits, "query_wait");
                })
                .register(registry);
        GaugeWithCallback.builder()
                .name("pggat_pool_reserve_connections")
                .help("Server connections a pool has open beyond maxServerConnections (reserve pool)")
                .labelNames("database", "user", "endpoint")
                .callback(cb -> {
                    for (Pool p : router.pools()) {
                        cb.call(p.reserveInUse(), p.database(), p.user(), p.endpoint());
                    }
                })
                .register(registry);
        poolCounter(
                router,
                "pggat_pool_reserve_opened",
                "Server connections opened from the reserve pool after a client waited reservePoolTimeout",
                p -> p.reserveOpenedTotal.sum());
        GaugeWithCallback.builder()
                .name("pggat_connection_cap_connections")
                .help("Server connections counted against a cap (maxDatabaseConnections: cap=database,"
                        + " maxUserConnections: cap=user)")
                .labelNames("cap", "name")
                .callback(cb -> {
                    for (ConnectionCap c : router.caps()) {
                        cb.call(c.used(), capLabel(c), c.name());
                    }
                })
                .register(registry);
        GaugeWithCallback.builder()
                .name("pggat_connection_cap_limit")
                .help("The configured limit of each cap")
                .labelNames("cap", "name")
                .callback(cb -> {
                    for (ConnectionCap c : router.caps()) {
                        cb.call(c.limit(), capLabel(c), c.name());
                    }
                })
                .register(registry);
        CounterWithCallback.builder()
                .name("pggat_connection_cap_waits")
                .help("Times a pool with waiting clients could not open a server connection because the cap was full")
                .labelNames("cap", "name")
                .callback(cb -> {
                    for (ConnectionCap c : router.caps()) {
                        cb.call(c.waitsTotal.sum(), capLabel(c), c.name());
                    }
                })
                .register(registry);
    }

    /**
     * What the pools' servers did (counted at the backend, see {@link ServerStats}): queries, transactions and
     * waits as histograms, bytes, checkouts, opened and closed connections, errors by SQLSTATE class.
     */
    private void serverStatsMetrics(Router router) {
        poolCounter(
                router,
                "pggat_queries",
                "Queries run on servers (ReadyForQuery messages answering clients' Query, Sync or FunctionCall)",
                p -> p.serverStats.queries.sum());
        poolCounter(
                router,
                "pggat_transactions",
                "Transactions run on servers (ended by a ReadyForQuery reporting the server idle)",
                p -> p.serverStats.transactions.sum());
        poolCounter(
                router,
                "pggat_server_assignments",
                "Times a client got a server (at once or after waiting)",
                p -> p.serverStats.assignments.sum());
        poolCounter(
                router,
                "pggat_server_received_bytes",
                "Bytes the pooler read from servers (what clients were sent)",
                p -> p.serverStats.bytesFromServer.sum());
        poolCounter(
                router,
                "pggat_server_sent_bytes",
                "Bytes the pooler wrote to servers (what clients sent, plus the pooler's own queries)",
                p -> p.serverStats.bytesToServer.sum());
        poolCounter(
                router,
                "pggat_server_parses",
                "Parse messages written to servers (prepared statements made on a server)",
                p -> p.serverStats.serverParses.sum());
        poolCounter(router, "pggat_server_binds", "Bind messages written to servers", p -> p.serverStats.binds.sum());
        poolCounter(
                router,
                "pggat_server_statement_cache_hits",
                "Named prepared statements a client used on a server that already had them",
                p -> p.serverStats.statementHits.sum());
        poolCounter(
                router,
                "pggat_server_statement_cache_misses",
                "Named prepared statements the pooler prepared on a server before using them (a Parse it sent)",
                p -> p.serverStats.statementMisses.sum());
        poolCounter(
                router,
                "pggat_server_statement_cache_evictions",
                "Prepared statements closed on a server to stay within pools.preparedStatementCacheSize",
                p -> p.serverStats.statementEvictions.sum());
        poolCounter(
                router,
                "pggat_server_connections_opened",
                "Server connections opened and logged in",
                p -> p.serverStats.opened.sum());
        CounterWithCallback.builder()
                .name("pggat_server_connections_closed")
                .help("Server connections closed, by reason: idle_timeout, lifetime, surplus (reserve or cap),"
                        + " discarded (state unknown), pool_closed, reconnect (console), server_closed, other")
                .labelNames("database", "user", "endpoint", "reason")
                .callback(cb -> {
                    for (Pool p : router.pools()) {
                        for (ServerStats.CloseReason r : ServerStats.CloseReason.values()) {
                            cb.call(p.serverStats.closedCount(r), p.database(), p.user(), p.endpoint(), r.label());
                        }
                    }
                })
                .register(registry);
        CounterWithCallback.builder()
                .name("pggat_server_errors")
                .help("ErrorResponse messages servers sent, by SQLSTATE class (the code's first two characters)")
                .labelNames("database", "user", "endpoint", "sqlstate_class")
                .callback(cb -> {
                    for (Pool p : router.pools()) {
                        p.serverStats
                                .errorsByClass()
                                .forEach((k, v) -> cb.call(v, p.database(), p.user(), p.endpoint(), k));
                    }
                })
                .register(registry);
        histogram(
                router,
                "pggat_query_duration_seconds",
                "Query time on the server: first message written to the ReadyForQuery that ends it",
                p -> p.serverStats.queryTime);
        histogram(
                router,
                "pggat_transaction_duration_seconds",
                "Transaction time on the server: first message written while idle to the ReadyForQuery that reports"
                        + " it idle again",
                p -> p.serverStats.transactionTime);
        histogram(
                router,
                "pggat_pool_wait_duration_seconds",
                "Time clients waited for a server (0 when one was idle)",
                p -> p.serverStats.waitTime);
    }

    /** A histogram per pool, read from the pools' own fixed-bucket histograms at scrape time. */
    private void histogram(
            Router router, String name, String help, java.util.function.Function<Pool, LatencyHistogram> of) {
        double[] bounds = bounds();
        registry.register(new Collector() {
            @Override
            public MetricSnapshot collect() {
                HistogramSnapshot.Builder b =
                        HistogramSnapshot.builder().name(name).help(help);
                for (Pool p : router.pools()) {
                    LatencyHistogram h = of.apply(p);
                    b.dataPoint(HistogramSnapshot.HistogramDataPointSnapshot.builder()
                            .classicHistogramBuckets(ClassicHistogramBuckets.of(bounds, h.counts()))
                            .sum(h.sumNanos() / 1e9)
                            .labels(Labels.of("database", p.database(), "user", p.user(), "endpoint", p.endpoint()))
                            .build());
                }
                return b.build();
            }

            @Override
            public String getPrometheusName() {
                return name;
            }
        });
    }

    /** Server round trips per endpoint (shared by the pools of all its users), the samples of the average above. */
    private void roundTripHistogram(Router router) {
        String name = "pggat_endpoint_round_trip_duration_seconds";
        double[] bounds = bounds();
        registry.register(new Collector() {
            @Override
            public MetricSnapshot collect() {
                HistogramSnapshot.Builder b = HistogramSnapshot.builder()
                        .name(name)
                        .help("Server round trips: a query's last message written to the server's first reply");
                for (Router.Database d : router.databases()) {
                    for (EndpointState s : d.states()) {
                        LatencyHistogram h = d.roundTrips(s.name());
                        if (h == null) {
                            continue;
                        }
                        b.dataPoint(HistogramSnapshot.HistogramDataPointSnapshot.builder()
                                .classicHistogramBuckets(ClassicHistogramBuckets.of(bounds, h.counts()))
                                .sum(h.sumNanos() / 1e9)
                                .labels(Labels.of("database", d.name(), "endpoint", s.name()))
                                .build());
                    }
                }
                return b.build();
            }

            @Override
            public String getPrometheusName() {
                return name;
            }
        });
    }

    private static double[] bounds() {
        double[] bounds = new double[LatencyHistogram.BOUNDS_SECONDS.length + 1];
        System.arraycopy(LatencyHistogram.BOUNDS_SECONDS, 0, bounds, 0, LatencyHistogram.BOUNDS_SECONDS.length);
        bounds[bounds.length - 1] = Double.POSITIVE_INFINITY;
        return bounds;
    }

    private static String capLabel(ConnectionCap c) {
        return c.kind().name().toLowerCase(Locale.ROOT);
    }

    private boolean listenRelayRegistered;

    /**
     * Transaction mode's LISTEN relays (one per database and user, made when a client first listens): registered
     * once, when the relays are first on (at start, or from a reload).
     */
    public synchronized void listenRelayMetrics(FrontendContext frontend) {
        if (listenRelayRegistered || frontend.listenRelays() == null) {
            return;
        }
        listenRelayRegistered = true;
        listenRelayGauge(
                frontend,
                "pggat_listen_relay_connections",
                "Open LISTEN relay server connections (0 or 1 per database and user)",
                ListenRelay::connections);
        listenRelayGauge(
                frontend, "pggat_listen_relay_channels", "Channels a LISTEN relay listens to", ListenRelay::channels);
        listenRelayGauge(
                frontend,
                "pggat_listen_relay_clients",
                "Clients listening to at least one channel through the relay",
                ListenRelay::clients);
        CounterWithCallback.builder()
                .name("pggat_listen_relay_notifications")
                .help("Notifications the LISTEN relay delivered to clients (one per client and notification)")
                .labelNames("database", "user")
                .callback(cb -> {
                    for (ListenRelay r : relays(frontend)) {
                        cb.call(r.notificationsRelayed(), r.database(), r.user());
                    }
                })
                .register(registry);
        CounterWithCallback.builder()
                .name("pggat_listen_relay_reconnects")
                .help("Times a LISTEN relay connection was lost while clients listened and was opened again")
                .labelNames("database", "user")
                .callback(cb -> {
                    for (ListenRelay r : relays(frontend)) {
                        cb.call(r.reconnects(), r.database(), r.user());
                    }
                })
                .register(registry);
    }

    /** The relays, none while pools.listenRelay is off (a reload may turn it off after it was on). */
    private static java.util.Collection<ListenRelay> relays(FrontendContext frontend) {
        var r = frontend.listenRelays();
        return r == null ? java.util.List.of() : r.relays();
    }

    private void listenRelayGauge(
            FrontendContext frontend, String name, String help, ToDoubleFunction<ListenRelay> value) {
        GaugeWithCallback.builder()
                .name(name)
                .help(help)
                .labelNames("database", "user")
                .callback(cb -> {
                    for (ListenRelay r : relays(frontend)) {
                        cb.call(value.applyAsDouble(r), r.database(), r.user());
                    }
                })
                .register(registry);
    }

    /** Authentication, TLS and dynamic users; labels are methods, outcomes, versions and database names only. */
    private void authMetrics(Router router, Security security) {
        AuthMetrics auth = security.metrics();
        CounterWithCallback.builder()
                .name("pggat_tls_handshakes")
                .help("Finished TLS handshakes by side (client: clients to the pooler; server: the pooler to"
                        + " PostgreSQL), result (ok, failed) and negotiated protocol version")
                .labelNames("side", "result", "protocol")
                .callback(cb -> auth.handshakes().forEach((k, v) -> cb.call(v, k.get(0), k.get(1), k.get(2))))
                .register(registry);
        CounterWithCallback.builder()
                .name("pggat_client_auth")
                .help("Client authentications by method (as the rules chose it; none when the login failed"
                        + " before) and result (ok, failed)")
                .labelNames("method", "result")
                .callback(cb -> auth.logins().forEach((k, v) -> cb.call(v, k.get(0), k.get(1))))
                .register(registry);
        frontendCounter(
                "pggat_client_login_rate_limited",
                "Logins refused because their address had maxFailedLogins failures within failedLoginWindow",
                auth.rateLimited::sum);
        CounterWithCallback.builder()
                .name("pggat_auth_query_lookups")
                .help("Auth query lookups by result: hit (cached secret), negative_hit (cached unknown user), miss"
                        + " (not cached: a query ran or was joined)")
                .labelNames("result")
                .callback(cb -> security.authQuery().ifPresent(q -> {
                    cb.call(q.cacheHits.sum(), "hit");
                    cb.call(q.negativeHits.sum(), "negative_hit");
                    cb.call(q.cacheMisses.sum(), "miss");
                }))
                .register(registry);
        frontendCounter("pggat_auth_query_queries", "Auth queries sent to a server", () -> security.authQuery()
                .map(q -> q.queries.sum())
                .orElse(0L));
        frontendCounter(
                "pggat_auth_query_errors",
                "Auth queries that failed (login refused, SQL error, several rows)",
                () -> security.authQuery().map(q -> q.errors.sum()).orElse(0L));
        GaugeWithCallback.builder()
                .name("pggat_dynamic_users")
                .help("Users not listed in the configuration that have a pool now (credential sources)")
                .labelNames("database")
                .callback(cb -> {
                    for (Router.Database d : router.databases()) {
                        if (d.allowsDynamicUsers()) {
                            cb.call(d.dynamicUserCount(), d.name());
                        }
                    }
                })
                .register(registry);
        CounterWithCallback.builder()
                .name("pggat_dynamic_user_events")
                .help("Dynamic users created on first login, removed when idle, refused at maxDynamicUsers")
                .labelNames("database", "event")
                .callback(cb -> {
                    for (Router.Database d : router.databases()) {
                        if (d.allowsDynamicUsers()) {
                            cb.call(d.dynamicCreatedTotal.sum(), d.name(), "created");
                            cb.call(d.dynamicRemovedTotal.sum(), d.name(), "removed");
                            cb.call(d.dynamicRefusedTotal.sum(), d.name(), "refused");
                        }
                    }
                })
                .register(registry);
    }

    private void poolCounter(Router router, String name, String help, ToLongFunction<Pool> value) {
        CounterWithCallback.builder()
                .name(name)
                .help(help)
                .labelNames("database", "user", "endpoint")
                .callback(cb -> {
                    for (Pool p : router.pools()) {
                        cb.call(value.applyAsLong(p), p.database(), p.user(), p.endpoint());
                    }
                })
                .register(registry);
    }

    private void endpointGauge(Router router, String name, String help, ToDoubleFunction<EndpointState> value) {
        GaugeWithCallback.builder()
                .name(name)
                .help(help)
                .labelNames("database", "endpoint")
                .callback(cb -> {
                    for (Router.Database d : router.databases()) {
                        for (EndpointState s : d.states()) {
                            cb.call(value.applyAsDouble(s), d.name(), s.name());
                        }
                    }
                })
                .register(registry);
    }

    private void frontendCounter(String name, String help, java.util.function.LongSupplier value) {
        CounterWithCallback.builder()
                .name(name)
                .help(help)
                .callback(cb -> cb.call(value.getAsLong()))
                .register(registry);
    }

    public PrometheusRegistry registry() {
        return registry;
    }

    private boolean discoveryRegistered;

    /**
     * The discovery sources' counters, read at scrape time: source names, kinds and database names only. The
     * runners are asked for at each scrape, since a reload replaces them; registered once, when there first are
     * some.
     */
    public synchronized void discovery(java.util.function.Supplier<java.util.List<DiscoveryRunner>> source) {
        if (discoveryRegistered || source.get().isEmpty()) {
            return;
        }
        discoveryRegistered = true;
        CounterWithCallback.builder()
                .name("pggat_discovery_refreshes")
                .help("Looks at a discovery source (successful or not)")
                .labelNames("source", "kind")
                .callback(cb -> {
                    for (DiscoveryRunner r : source.get()) {
                        cb.call(r.refreshesTotal.sum(), r.name(), r.kind());
                    }
                })
                .register(registry);
        CounterWithCallback.builder()
                .name("pggat_discovery_errors")
                .help("Failed looks at a discovery source by reason (unreachable, http_429, http_5xx, http_4xx,"
                        + " invalid_answer, no_cluster); the last good endpoint sets stay in use")
                .labelNames("source", "kind", "reason")
                .callback(cb -> {
                    for (DiscoveryRunner r : source.get()) {
                        r.errors().forEach((reason, n) -> cb.call(n, r.name(), r.kind(), reason));
                    }
                })
                .register(registry);
        GaugeWithCallback.builder()
                .name("pggat_discovery_last_success_timestamp_seconds")
                .help("Unix time of the last look at a discovery source that fed all its databases (0: none yet)")
                .labelNames("source", "kind")
                .callback(cb -> {
                    for (DiscoveryRunner r : source.get()) {
                        cb.call(r.lastSuccessSeconds(), r.name(), r.kind());
                    }
                })
                .register(registry);
        GaugeWithCallback.builder()
                .name("pggat_discovery_endpoints")
                .help("Usable endpoints the last look at a discovery source found, per database and role")
                .labelNames("source", "database", "role")
                .callback(cb -> {
                    for (DiscoveryRunner r : source.get()) {
                        r.found().forEach((db, roles) -> roles.forEach((role, n) -> cb.call(n, r.name(), db, role)));
                    }
                })
                .register(registry);
    }
}
