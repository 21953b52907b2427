package dev.pggat.pooler.console;

import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.frontend.ClientInfo;
import dev.pggat.pooler.frontend.ConsoleGate;
import dev.pggat.pooler.frontend.FrontendContext;
import dev.pggat.pooler.frontend.LoginHandler;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.routing.Router;
import io.netty.channel.ChannelHandlerContext;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The PgBouncer-compatible admin console: clients that log in to the virtual database {@code pgbouncer} (or {@code
 * pggat}) as one of {@code admin.users} or {@code admin.statsUsers} get it on the normal listener, so that the
 * scripts, exporters and runbooks written for PgBouncer ({@code SHOW POOLS}, {@code PAUSE}, {@code RESUME}) work
 * unchanged. Results keep PgBouncer 1.25's column names, order and types; what only pggat knows is in commands of
 * its own ({@code SHOW ENDPOINTS}, {@code SHOW PINS}, {@code SHOW ERRORS}).
 */
public final class AdminConsole implements ConsoleGate {
    /** The virtual database names; a configured database of the same name takes precedence. */
    public static final List<String> DATABASES = List.of("pgbouncer", "pggat");
    /** Like PgBouncer's stats_period: the window the STATS_AVERAGES are measured over. */
    static final Duration DEFAULT_PERIOD = Duration.ofSeconds(60);

    /** What the console asks of the running pooler beyond pools and clients. */
    public interface Actions {
        /** RELOAD: reads the configuration file again; returns null, or what went wrong. */
        String reload();

        /** SHUTDOWN: stops the pooler (after the answer was sent). */
        void shutdown();
    }

    private final Set<String> admins;
    private final Set<String> statsUsers;
    private final Router router;
    private final Commands commands;
    private final StatsWindow window;
    private final EventExecutor timer;
    private final Duration period;
    private final SecureRandom random = new SecureRandom();
    private ScheduledFuture<?> sampling;

    public AdminConsole(
            PoolerConfig config, Router router, FrontendContext frontend, EventExecutor timer, Actions actions) {
        this(config, router, frontend, timer, actions, DEFAULT_PERIOD);
    }

    AdminConsole(
            PoolerConfig config,
            Router router,
            FrontendContext frontend,
            EventExecutor timer,
            Actions actions,
            Duration period) {
        this.admins = Set.copyOf(config.admin().users());
        this.statsUsers = Set.copyOf(config.admin().statsUsers());
        this.router = router;
        this.timer = timer;
        this.period = period;
        this.window = new StatsWindow(router, period);
        this.commands = new Commands(config, router, frontend, actions, window);
    }

    public AdminConsole start() {
        sampling =
                timer.scheduleAtFixedRate(window::sample, period.toMillis(), period.toMillis(), TimeUnit.MILLISECONDS);
        return this;
    }

    public void close() {
        if (sampling != null) {
            sampling.cancel(false);
        }
    }

    @Override
    public boolean isConsoleDatabase(String database) {
        return DATABASES.contains(database) && router.database(database) == null;
    }

    @Override
    public Access access(String user) {
        if (admins.contains(user)) {
            return Access.ADMIN;
        }
        return statsUsers.contains(user) ? Access.STATS : Access.NONE;
    }

    @Override
    public void open(ChannelHandlerContext ctx, ClientInfo client, Access access) {
        ConsoleSession session = new ConsoleSession(commands, client, access);
        var alloc = ctx.alloc();
        for (Map.Entry<String, String> p : Map.of(
                        "server_version", Commands.SERVER_VERSION,
                        "server_encoding", "UTF8",
                        "client_encoding", "UTF8",
                        "DateStyle", "ISO",
                        "TimeZone", "UTC",
                        "standard_conforming_strings", "on",
                        "integer_datetimes", "on",
                        "application_name", client.applicationName())
                .entrySet()) {
            ctx.write(Messages.parameterStatus(alloc, p.getKey(), p.getValue()));
        }
        // A cancel key like any server's; cancelling a console command does nothing.
        ctx.write(Messages.backendKeyData(alloc, random.nextInt() & Integer.MAX_VALUE, random.nextInt()));
        ctx.writeAndFlush(Messages.readyForQueryIdle());
        ctx.pipeline().replace(LoginHandler.NAME, ConsoleSession.NAME, session);
    }
}
