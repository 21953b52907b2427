package dev.pggat.pooler.metrics;

import dev.pggat.pooler.frontend.FrontendContext;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.routing.Router;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.function.ToLongFunction;

/**
 * Prometheus metrics, read from the pools' own counters at scrape time: nothing on the hot path beyond the
 * counters the pools keep anyway. Labels carry database and user names only, never secrets.
 */
public final class PoolerMetrics {
    private final PrometheusRegistry registry = new PrometheusRegistry();

    public PoolerMetrics(Router router, FrontendContext frontend) {
        GaugeWithCallback.builder()
                .name("pggat_client_connections")
                .help("Client connections per pool and state (idle: logged in, no server; waiting: queued for a"
                        + " server; active: running on a server)")
                .labelNames("database", "user", "state")
                .callback(cb -> {
                    for (Pool p : router.pools()) {
                        for (Pool.ClientState s : Pool.ClientState.values()) {
                            cb.call(
                                    p.clients(s),
                                    p.database(),
                                    p.user(),
                                    s.name().toLowerCase());
                        }
                    }
                })
                .register(registry);
        GaugeWithCallback.builder()
                .name("pggat_server_connections")
                .help("Server connections per pool and state (idle, active: checked out, connecting)")
                .labelNames("database", "user", "state")
                .callback(cb -> {
                    for (Pool p : router.pools()) {
                        Pool.PoolStats st = p.stats();
                        cb.call(st.idle(), p.database(), p.user(), "idle");
                        cb.call(st.active(), p.database(), p.user(), "active");
                        cb.call(st.connecting(), p.database(), p.user(), "connecting");
                    }
                })
                .register(registry);
        GaugeWithCallback.builder()
                .name("pggat_pool_waiting_clients")
                .help("Clients queued for a server connection (wait-queue length)")
                .labelNames("database", "user")
                .callback(cb -> {
                    for (Pool p : router.pools()) {
                        cb.call(p.stats().waiting(), p.database(), p.user());
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
        JvmMetrics.builder().register(registry);
    }

    private void poolCounter(Router router, String name, String help, ToLongFunction<Pool> value) {
        CounterWithCallback.builder()
                .name(name)
                .help(help)
                .labelNames("database", "user")
                .callback(cb -> {
                    for (Pool p : router.pools()) {
                        cb.call(value.applyAsLong(p), p.database(), p.user());
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
}
