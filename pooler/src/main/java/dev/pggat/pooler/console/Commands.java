package dev.pggat.pooler.console;

import static dev.pggat.pooler.console.Column.int4;
import static dev.pggat.pooler.console.Column.int8;
import static dev.pggat.pooler.console.Column.numeric;
import static dev.pggat.pooler.console.Column.text;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerStats;
import dev.pggat.pooler.config.DatabaseConfig;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.frontend.ClientInfo;
import dev.pggat.pooler.frontend.FrontendContext;
import dev.pggat.pooler.pool.ConnectionCap;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.pool.PoolCallback;
import dev.pggat.pooler.pool.PoolSettings;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.routing.EndpointSet;
import dev.pggat.pooler.routing.EndpointState;
import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.tls.TlsInfo;
import dev.pggat.pooler.tracing.PacketTrace;
import dev.pggat.pooler.tracing.TraceCommand;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.lang.reflect.RecordComponent;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The console's commands. Each SHOW answers with PgBouncer 1.25's columns (names, order, types; see
 * docs/observability.md for what each means here and the values that have no meaning in pggat); the commands
 * that change things are for {@code admin.users} only.
 */
final class Commands {
    static final String VERSION = version();
    /** What the console reports as server_version at login: numeric, as drivers parse it, like PgBouncer's. */
    static final String SERVER_VERSION = serverVersion() + "/pggat";
    /** Where PgBouncer lists its own console as a database, user and pool. */
    private static final String CONSOLE_DB = "pgbouncer";

    private static final Pattern COMMAND = Pattern.compile("(?s)([A-Za-z_]+)(?:\\s+(.*))?");
    private static final Pattern SET = Pattern.compile("(?is)([A-Za-z_][A-Za-z0-9_.]*)\\s*(?:=|\\s+TO\\s+)\\s*(.+)");
    private static final DateTimeFormatter TIME =
            DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss 'UTC'").withZone(ZoneOffset.UTC);
    /** Session settings a driver may SET right after login (pgjdbc does); accepted and ignored. */
    private static final List<String> SESSION_SETTINGS =
            List.of("application_name", "extra_float_digits", "client_encoding", "datestyle", "timezone");

    private final PoolerConfig config;
    private final Router router;
    private final FrontendContext frontend;
    private final AdminConsole.Actions actions;
    private final StatsWindow window;

    Commands(
            PoolerConfig config,
            Router router,
            FrontendContext frontend,
            AdminConsole.Actions actions,
            StatsWindow window) {
        this.config = config;
        this.router = router;
        this.frontend = frontend;
        this.actions = actions;
        this.window = window;
    }

    private static String serverVersion() {
        String v = Commands.class.getPackage().getImplementationVersion();
        return v == null || !v.matches("\\d+(\\.\\d+)*.*") ? "0.0.0" : v;
    }

    private static String version() {
        String v = Commands.class.getPackage().getImplementationVersion();
        return "pggat " + (v == null ? "dev" : v);
    }

    /** Runs one Query message's text; answers through {@code s} exactly once. */
    void run(ConsoleSession s, String sql) {
        String q = sql.strip();
        while (q.endsWith(";")) {
            q = q.substring(0, q.length() - 1).strip();
        }
        Matcher m = COMMAND.matcher(q);
        if (!m.matches()) {
            invalid(s, sql);
            return;
        }
        String word = m.group(1).toUpperCase(Locale.ROOT);
        String arg = m.group(2) == null ? null : m.group(2).strip();
        try {
            switch (word) {
                case "SHOW" -> show(s, arg, sql);
                case "SET" -> set(s, arg, sql);
                case "PAUSE",
                        "RESUME",
                        "RECONNECT",
                        "KILL",
                        "KILL_CLIENT",
                        "KILLCLIENT",
                        "RELOAD",
                        "SHUTDOWN",
                        "WAIT_CLOSE",
                        "ENABLE",
                        "DISABLE",
                        "SUSPEND" -> {
                    if (!s.isAdmin()) {
                        s.error(SqlState.INSUFFICIENT_PRIVILEGE, "admin access needed");
                        return;
                    }
                    control(s, word, arg, sql);
                }
                case "TRACE" -> {
                    if (!s.isAdmin()) {
                        s.error(SqlState.INSUFFICIENT_PRIVILEGE, "admin access needed");
                        return;
                    }
                    trace(s, arg);
                }
                default -> invalid(s, sql);
            }
        } catch (NoSuchDatabase e) {
            s.error(SqlState.INVALID_CATALOG_NAME, "no such database: " + e.getMessage());
        }
    }

    private static void invalid(ConsoleSession s, String sql) {
        s.error(SqlState.SYNTAX_ERROR, "invalid command '" + sql.strip() + "', use SHOW HELP;");
    }

    private void done(ConsoleSession s, Result r) {
        s.done(r.encode(s.ctx().alloc(), "SHOW"));
    }

    private static void tag(ConsoleSession s, String tag) {
        ByteBuf buf = s.ctx().alloc().buffer(16);
        Result.commandComplete(buf, tag);
        s.done(buf);
    }

    // ---------------------------------------------------------------- SET

    private void set(ConsoleSession s, String arg, String sql) {
        Matcher m = arg == null ? null : SET.matcher(arg);
        if (m == null || !m.matches()) {
            invalid(s, sql);
            return;
        }
        if (SESSION_SETTINGS.contains(m.group(1).toLowerCase(Locale.ROOT))) {
            tag(s, "SET");
            return;
        }
        s.error(
                SqlState.FEATURE_NOT_SUPPORTED,
                "SET " + m.group(1) + " is not supported on the pggat console: change the configuration file and"
                        + " RELOAD");
    }

    // ---------------------------------------------------------------- SHOW

    private void show(ConsoleSession s, String what, String sql) {
        if (what == null || !what.matches("[A-Za-z_]+")) {
            invalid(s, sql);
            return;
        }
        switch (what.toUpperCase(Locale.ROOT)) {
            case "HELP" -> help(s);
            case "POOLS" -> done(s, pools());
            case "STATS" -> done(s, stats());
            case "STATS_TOTALS" -> done(s, statsTotals());
            case "STATS_AVERAGES" -> done(s, statsAverages());
            case "TOTALS" -> done(s, totals());
            case "CLIENTS" -> done(s, clients());
            case "SERVERS" -> done(s, servers());
            case "DATABASES" -> done(s, databases());
            case "USERS" -> done(s, users());
            case "LISTS" -> done(s, lists());
            case "CONFIG" -> done(s, config());
            case "VERSION" -> done(s, new Result(List.of(text("version"))).row(VERSION));
            case "MEM" -> done(s, mem());
            case "STATE" -> done(s, state());
            case "ENDPOINTS" -> done(s, endpoints());
            case "PINS" -> done(s, pins());
            case "ERRORS" -> done(s, errors());
            case "SERVER_CLOSES" -> done(s, serverCloses());
            case "TRACES" -> done(s, traces(frontend.packetTraces().list()));
            case "STATEMENT_CACHE" -> done(s, statementCache());
            case "ROUTING" -> done(s, routing());
            default -> invalid(s, sql);
        }
    }

    // ---------------------------------------------------------------- packet traces

    /** TRACE ...: starts a packet trace (answered with its row, as SHOW TRACES shows it) or stops traces. */
    private void trace(ConsoleSession s, String arg) {
        TraceCommand c;
        try {
            c = TraceCommand.parse(arg);
        } catch (IllegalArgumentException e) {
            s.error(SqlState.SYNTAX_ERROR, e.getMessage());
            return;
        }
        if (c.spec() == null) {
            int n = frontend.packetTraces().stop(c.off());
            tag(s, "TRACE OFF " + n);
            return;
        }
        PacketTrace t;
        try {
            t = frontend.startPacketTrace(c.spec());
        } catch (IllegalArgumentException e) {
            s.error(SqlState.INVALID_PARAMETER_VALUE, e.getMessage());
            return;
        }
        s.done(traces(List.of(t)).encode(s.ctx().alloc(), "TRACE"));
    }

    private static Result traces(List<PacketTrace> traces) {
        Result r = new Result(List.of(
                int4("id"),
                text("kind"),
                text("target"),
                int8("logged"),
                int8("max_messages"),
                text("started"),
                text("ends"),
                text("with_values"),
                text("file")));
        for (PacketTrace t : traces) {
            r.row(
                    t.id(),
                    t.kind().label(),
                    t.target(),
                    Math.min(t.logged(), t.maxMessages()),
                    t.maxMessages(),
                    TIME.format(t.started()),
                    TIME.format(t.ends()),
                    t.withValues() ? "yes" : "no",
                    t.file() == null ? "" : t.file().toString());
        }
        return r;
    }

    private static void help(ConsoleSession s) {
        String text = "Console usage\n"
                + "\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
                + "\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS|LISTS|MEM|STATE\n"
                + "\tSHOW ENDPOINTS|PINS|ERRORS|SERVER_CLOSES|STATEMENT_CACHE|ROUTING (pggat)\n"
                + "\tSET application_name|extra_float_digits = ... (accepted, no effect)\n"
                + "\tPAUSE [<db>]\n\tRESUME [<db>]\n\tRECONNECT [<db>]\n\tKILL <db>\n\tKILL_CLIENT <id>\n"
                + "\tDISABLE <db>\n\tENABLE <db>\n\tWAIT_CLOSE [<db>]\n\tRELOAD\n\tSHUTDOWN\n"
                + "\tTRACE CLIENT <id|address> | USER <name> | DATABASE <name> [FOR <n> MESSAGES] [FOR <n>s]"
                + " [WITH VALUES] [TO FILE '<path>'] (pggat)\n\tTRACE OFF [<id>]\n\tSHOW TRACES (pggat)";
        ByteBuf buf = s.ctx().alloc().buffer(512);
        buf.writeBytes(dev.pggat.pooler.protocol.Messages.noticeResponse(
                s.ctx().alloc(), "NOTICE", SqlState.SUCCESSFUL_COMPLETION, text));
        Result.commandComplete(buf, "SHOW");
        s.done(buf);
    }

    /** Per (database, user): PgBouncer's pool. pggat's pools per endpoint are summed; SHOW ENDPOINTS splits them. */
    private Result pools() {
        Result r = new Result(List.of(
                text("database"),
                text("user"),
                int4("cl_active"),
                int4("cl_waiting"),
                int4("cl_active_cancel_req"),
                int4("cl_waiting_cancel_req"),
                int4("sv_active"),
                int4("sv_active_cancel"),
                int4("sv_being_canceled"),
                int4("sv_idle"),
                int4("sv_used"),
                int4("sv_tested"),
                int4("sv_login"),
                int4("maxwait"),
                int4("maxwait_us"),
                text("pool_mode"),
                text("load_balance_hosts")));
        long now = System.nanoTime();
        for (Router.Database d : router.databases()) {
            for (Router.User u : d.users().values()) {
                int active = 0;
                int idle = 0;
                int login = 0;
                long oldest = now;
                for (Pool p : u.pools().values()) {
                    Pool.PoolStats st = p.stats();
                    active += st.active();
                    idle += st.idle();
                    login += st.connecting();
                    for (Map.Entry<PoolCallback, Long> w : p.waiting()) {
                        oldest = Math.min(oldest, w.getValue());
                    }
                }
                long waitedMicros = (now - oldest) / 1000;
                r.row(
                        d.name(),
                        u.name(),
                        u.clients(Router.User.ClientState.ACTIVE) + u.clients(Router.User.ClientState.IDLE),
                        u.clients(Router.User.ClientState.WAITING),
                        0,
                        0,
                        active,
                        0,
                        0,
                        idle,
                        0,
                        0,
                        login,
                        waitedMicros / 1_000_000,
                        waitedMicros % 1_000_000,
                        mode(d.settings()),
                        null);
            }
        }
        r.row(CONSOLE_DB, CONSOLE_DB, consoleClients(), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "statement", null);
        return r;
    }

    private int consoleClients() {
        int n = 0;
        for (ClientInfo c : frontend.clientInfos()) {
            if (c.handler() == null) {
                n++;
            }
        }
        return n;
    }

    private static String mode(PoolSettings s) {
        return s.mode() == PoolSettings.PoolMode.SESSION ? "session" : "transaction";
    }

    private static final List<String> STAT_NAMES = List.of(
            "server_assignment_count",
            "xact_count",
            "query_count",
            "received",
            "sent",
            "xact_time",
            "query_time",
            "wait_time",
            "client_parse_count",
            "server_parse_count",
            "bind_count");

    private static Object[] values(StatsWindow.Totals t) {
        return new Object[] {
            t.assignments(),
            t.xacts(),
            t.queries(),
            t.received(),
            t.sent(),
            t.xactMicros(),
            t.queryMicros(),
            t.waitMicros(),
            t.clientParses(),
            t.serverParses(),
            t.binds()
        };
    }

    private Map<String, StatsWindow.Totals> totalsWithConsole() {
        Map<String, StatsWindow.Totals> all = new LinkedHashMap<>(window.totals());
        // PgBouncer lists its console too; its commands are no server traffic.
        all.putIfAbsent(CONSOLE_DB, StatsWindow.Totals.ZERO);
        return all;
    }

    private Result stats() {
        List<Column> cols = new ArrayList<>();
        cols.add(text("database"));
        for (String n : STAT_NAMES) {
            cols.add(numeric("total_" + n));
        }
        for (String n : STAT_NAMES) {
            cols.add(numeric("avg_" + avgName(n)));
        }
        Result r = new Result(cols);
        totalsWithConsole().forEach((db, t) -> {
            Object[] row = new Object[cols.size()];
            row[0] = db;
            System.arraycopy(values(t), 0, row, 1, STAT_NAMES.size());
            System.arraycopy(values(window.averages(db)), 0, row, 1 + STAT_NAMES.size(), STAT_NAMES.size());
            r.row(row);
        });
        return r;
    }

    /** avg_recv, not avg_received: PgBouncer's names. */
    private static String avgName(String n) {
        return n.equals("received") ? "recv" : n;
    }

    /** SHOW STATS_TOTALS and STATS_AVERAGES name their byte columns bytes_received and bytes_sent. */
    private static List<Column> statsColumns(boolean averages) {
        List<Column> cols = new ArrayList<>();
        cols.add(text("database"));
        for (String n : STAT_NAMES) {
            String name =
                    switch (n) {
                        case "received" -> "bytes_received";
                        case "sent" -> "bytes_sent";
                        case "client_parse_count", "server_parse_count", "bind_count" -> averages ? "avg_" + n : n;
                        default -> n;
                    };
            cols.add(numeric(name));
        }
        return cols;
    }

    private Result statsTotals() {
        Result r = new Result(statsColumns(false));
        totalsWithConsole().forEach((db, t) -> r.row(prepend(db, values(t))));
        return r;
    }

    private Result statsAverages() {
        Result r = new Result(statsColumns(true));
        totalsWithConsole().forEach((db, t) -> r.row(prepend(db, values(window.averages(db)))));
        return r;
    }

    private static Object[] prepend(Object first, Object[] rest) {
        Object[] row = new Object[rest.length + 1];
        row[0] = first;
        System.arraycopy(rest, 0, row, 1, rest.length);
        return row;
    }

    /** One row per figure, summed over all databases, totals then averages (PgBouncer's names). */
    private Result totals() {
        Result r = new Result(List.of(text("name"), numeric("value")));
        List<String> names = List.of(
                "server_assignment_count",
                "xact_count",
                "query_count",
                "client_bytes",
                "server_bytes",
                "xact_time",
                "query_time",
                "wait_time",
                "ps_client_parse_count",
                "ps_server_parse_count",
                "ps_bind_count");
        long[] total = new long[names.size()];
        long[] avg = new long[names.size()];
        for (Map.Entry<String, StatsWindow.Totals> e : window.totals().entrySet()) {
            Object[] t = values(e.getValue());
            Object[] a = values(window.averages(e.getKey()));
            for (int i = 0; i < total.length; i++) {
                total[i] += (Long) t[i];
                avg[i] += (Long) a[i];
            }
        }
        for (int i = 0; i < names.size(); i++) {
            r.row("total_" + names.get(i), total[i]);
        }
        for (int i = 0; i < names.size(); i++) {
            r.row("avg_" + names.get(i), avg[i]);
        }
        return r;
    }

    private static List<Column> connectionColumns() {
        return List.of(
                text("type"),
                text("user"),
                text("database"),
                text("replication"),
                text("state"),
                text("addr"),
                int4("port"),
                text("local_addr"),
                int4("local_port"),
                text("connect_time"),
                text("request_time"),
                int4("wait"),
                int4("wait_us"),
                int4("close_needed"),
                text("ptr"),
                text("link"),
                int4("remote_pid"),
                text("tls"),
                text("application_name"),
                int4("prepared_statements"),
                int4("id"));
    }

    /** Which server each client runs on, and since when the waiting ones wait: read off the pools. */
    private record Links(Map<Object, ServerConnection> serverOf, Map<Object, Long> waitingSince) {}

    private Links links() {
        Map<Object, ServerConnection> serverOf = new IdentityHashMap<>();
        Map<Object, Long> waiting = new IdentityHashMap<>();
        for (Pool p : router.pools()) {
            for (ServerConnection s : p.servers()) {
                Object l = s.listener();
                if (l != null && !p.isIdle(s)) {
                    serverOf.put(l, s);
                }
            }
            for (Map.Entry<PoolCallback, Long> w : p.waiting()) {
                waiting.put(w.getKey(), w.getValue());
            }
        }
        return new Links(serverOf, waiting);
    }

    private static String ptr(char kind, int id) {
        return "0x" + kind + Integer.toHexString(id);
    }

    private Result clients() {
        Result r = new Result(connectionColumns());
        Links links = links();
        long now = System.nanoTime();
        for (ClientInfo c : frontend.clientInfos()) {
            ServerConnection server =
                    c.handler() == null ? null : links.serverOf().get(c.handler());
            Long since = c.handler() == null ? null : links.waitingSince().get(c.handler());
            String state = server != null ? "active" : since != null ? "waiting" : "idle";
            long waitMicros = since == null ? 0 : (now - since) / 1000;
            long requestMillis = server != null
                    ? System.currentTimeMillis() - (now - server.checkedOutNanos()) / 1_000_000
                    : since != null ? System.currentTimeMillis() - waitMicros / 1000 : c.connectMillis();
            InetSocketAddress remote = inet(c.channel().remoteAddress());
            InetSocketAddress local = inet(c.channel().localAddress());
            r.row(
                    "C",
                    c.user(),
                    c.database(),
                    "none",
                    state,
                    host(remote),
                    remote == null ? 0 : remote.getPort(),
                    host(local),
                    local == null ? 0 : local.getPort(),
                    TIME.format(Instant.ofEpochMilli(c.connectMillis())),
                    TIME.format(Instant.ofEpochMilli(requestMillis)),
                    waitMicros / 1_000_000,
                    waitMicros % 1_000_000,
                    0,
                    ptr('c', c.id()),
                    server == null ? null : ptr('s', server.id()),
                    0,
                    c.tls() == null ? "" : c.tls(),
                    c.applicationName(),
                    0,
                    c.id());
        }
        return r;
    }

    private Result servers() {
        Result r = new Result(connectionColumns());
        Map<Object, ClientInfo> byHandler = new IdentityHashMap<>();
        for (ClientInfo c : frontend.clientInfos()) {
            if (c.handler() != null) {
                byHandler.put(c.handler(), c);
            }
        }
        long now = System.nanoTime();
        long wall = System.currentTimeMillis();
        for (Pool p : router.pools()) {
            for (ServerConnection s : p.servers()) {
                boolean idle = p.isIdle(s);
                ClientInfo linked = idle ? null : byHandler.get(s.listener());
                InetSocketAddress local = inet(s.channel().localAddress());
                long checkedOut = s.checkedOutNanos() == 0 ? s.createdNanos() : s.checkedOutNanos();
                r.row(
                        "S",
                        p.user(),
                        p.database(),
                        "none",
                        idle ? "idle" : "active",
                        p.address().host(),
                        p.address().port(),
                        host(local),
                        local == null ? 0 : local.getPort(),
                        TIME.format(Instant.ofEpochMilli(wall - (now - s.createdNanos()) / 1_000_000)),
                        TIME.format(Instant.ofEpochMilli(wall - (now - checkedOut) / 1_000_000)),
                        0,
                        0,
                        s.generation() != p.generation() ? 1 : 0,
                        ptr('s', s.id()),
                        linked == null ? null : ptr('c', linked.id()),
                        s.processId(),
                        TlsInfo.of(s.channel()).map(TlsInfo::protocol).orElse(""),
                        linked == null ? "" : linked.applicationName(),
                        s.statements().size(),
                        s.id());
            }
        }
        return r;
    }

    private static InetSocketAddress inet(SocketAddress a) {
        return a instanceof InetSocketAddress i ? i : null;
    }

    private static String host(InetSocketAddress a) {
        return a == null || a.getAddress() == null ? null : a.getAddress().getHostAddress();
    }

    private Result databases() {
        Result r = new Result(List.of(
                text("name"),
                text("host"),
                int4("port"),
                text("database"),
                text("force_user"),
                int4("pool_size"),
                int4("min_pool_size"),
                int4("reserve_pool_size"),
                int4("server_lifetime"),
                text("pool_mode"),
                text("load_balance_hosts"),
                int4("max_connections"),
                int4("current_connections"),
                int4("max_client_connections"),
                int4("current_client_connections"),
                int4("paused"),
                int4("disabled")));
        long lifetime = config.timeouts().serverLifetime().toSeconds();
        for (Router.Database d : router.databases()) {
            DatabaseConfig dc = d.config();
            EndpointSet.Member primary = d.endpoints().primary();
            EndpointSet.Member shown = primary != null
                    ? primary
                    : d.endpoints().endpoints().isEmpty()
                            ? null
                            : d.endpoints().endpoints().get(0);
            PoolSettings ps = d.settings();
            int servers = 0;
            for (Pool p : d.pools()) {
                Pool.PoolStats st = p.stats();
                servers += st.idle() + st.active() + st.connecting();
            }
            r.row(
                    d.name(),
                    shown == null ? null : shown.host(),
                    shown == null ? null : shown.port(),
                    dc.serverDatabase(),
                    null,
                    ps.maxServerConnections(),
                    ps.minServerConnections(),
                    ps.reservePoolSize(),
                    lifetime,
                    mode(ps),
                    null,
                    dc.limits().maxDatabaseConnections(),
                    servers,
                    0,
                    clientsOf(d.name(), null),
                    d.paused(),
                    frontend.disabledDatabases().contains(d.name()));
        }
        r.row(
                CONSOLE_DB,
                null,
                config.listen().port(),
                CONSOLE_DB,
                CONSOLE_DB,
                2,
                0,
                0,
                lifetime,
                "statement",
                null,
                0,
                0,
                0,
                consoleClients(),
                0,
                0);
        return r;
    }

    private int clientsOf(String database, String user) {
        int n = 0;
        for (ClientInfo c : frontend.clientInfos()) {
            if ((database == null || database.equals(c.database())) && (user == null || user.equals(c.user()))) {
                n++;
            }
        }
        return n;
    }

    private Result users() {
        Result r = new Result(List.of(
                text("name"),
                text("pool_size"),
                text("reserve_pool_size"),
                text("pool_mode"),
                int4("max_user_connections"),
                int4("current_connections"),
                int4("max_user_client_connections"),
                int4("current_client_connections")));
        Map<String, Integer> caps = new TreeMap<>();
        for (ConnectionCap c : router.caps()) {
            if (c.kind() == ConnectionCap.Kind.USER) {
                caps.put(c.name(), c.limit());
            }
        }
        Map<String, Integer> servers = new TreeMap<>();
        for (Pool p : router.pools()) {
            Pool.PoolStats st = p.stats();
            servers.merge(p.user(), st.idle() + st.active() + st.connecting(), Integer::sum);
        }
        for (ClientInfo c : frontend.clientInfos()) {
            servers.putIfAbsent(c.user(), 0);
        }
        servers.forEach(
                (user, n) -> r.row(user, null, null, null, caps.getOrDefault(user, 0), n, 0, clientsOf(null, user)));
        return r;
    }

    private Result lists() {
        Result r = new Result(List.of(text("list"), int4("items")));
        int users = 0;
        for (Router.Database d : router.databases()) {
            users += d.users().size();
        }
        int servers = 0;
        for (Pool p : router.pools()) {
            servers += p.servers().size();
        }
        int peers = 0;
        r.row("databases", router.databases().size());
        r.row("users", users);
        r.row("peers", peers);
        r.row("pools", router.pools().size());
        r.row("peer_pools", 0);
        r.row("free_clients", 0);
        r.row("used_clients", frontend.clientInfos().size());
        r.row(
                "login_clients",
                Math.max(0, frontend.clientCount() - frontend.clientInfos().size()));
        r.row("free_servers", 0);
        r.row("used_servers", servers);
        r.row("dns_names", 0);
        r.row("dns_zones", 0);
        r.row("dns_queries", 0);
        r.row("dns_pending", 0);
        return r;
    }

    /** pggat's settings under its own key names; none can be changed with SET (the file and RELOAD do that). */
    private Result config() {
        Result r = new Result(List.of(text("key"), text("value"), text("default"), text("changeable")));
        PoolerConfig d = PoolerConfig.defaults(List.of());
        addRecord(r, "listen", config.listen(), d.listen());
        addRecord(r, "admin", config.admin(), d.admin());
        addRecord(r, "limits", config.limits(), d.limits());
        addRecord(r, "timeouts", config.timeouts(), d.timeouts());
        addRecord(r, "pools", config.pools(), d.pools());
        return r;
    }

    private static void addRecord(Result r, String prefix, Record value, Record defaults) {
        for (RecordComponent c : value.getClass().getRecordComponents()) {
            String key = prefix + "." + c.getName();
            String v = configText(key, read(c, value));
            String dv = defaults == null ? null : configText(key, read(c, defaults));
            r.row(key, v, dv, "no");
        }
    }

    private static Object read(RecordComponent c, Record r) {
        try {
            return c.getAccessor().invoke(r);
        } catch (ReflectiveOperationException e) {
            return null;
        }
    }

    private static String configText(String key, Object v) {
        if (key.equals("admin.token")) {
            return v == null ? "" : "<redacted>";
        }
        if (v == null) {
            return "";
        }
        if (v instanceof Duration dur) {
            return dur.toMillis() % 1000 == 0 ? dur.toSeconds() + "s" : dur.toMillis() + "ms";
        }
        if (v instanceof List<?> l) {
            return String.join(",", l.stream().map(String::valueOf).toList());
        }
        return String.valueOf(v);
    }

    /** The JVM's memory and Netty's pooled buffers; size 1 (bytes), used and free in bytes, clamped to int4. */
    private Result mem() {
        Result r = new Result(List.of(text("name"), int4("size"), int4("used"), int4("free"), int4("memtotal")));
        MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        MemoryUsage nonHeap = ManagementFactory.getMemoryMXBean().getNonHeapMemoryUsage();
        r.row("jvm_heap", 1, heap.getUsed(), heap.getCommitted() - heap.getUsed(), heap.getCommitted());
        r.row("jvm_non_heap", 1, nonHeap.getUsed(), nonHeap.getCommitted() - nonHeap.getUsed(), nonHeap.getCommitted());
        var metric = PooledByteBufAllocator.DEFAULT.metric();
        long direct = metric.usedDirectMemory();
        long heapBufs = metric.usedHeapMemory();
        r.row("netty_direct_buffers", 1, direct, 0, direct);
        r.row("netty_heap_buffers", 1, heapBufs, 0, heapBufs);
        return r;
    }

    private Result state() {
        boolean allPaused = !router.databases().isEmpty();
        for (Router.Database d : router.databases()) {
            allPaused &= d.paused();
        }
        return new Result(List.of(text("key"), text("value")))
                .row("active", frontend.draining() ? "no" : "yes")
                .row("paused", allPaused ? "yes" : "no")
                .row("suspended", "no");
    }

    // ---------------------------------------------------------------- pggat's own

    /** Per database and endpoint: where it is, what it is, how it is, and what its servers did. */
    private Result endpoints() {
        Result r = new Result(List.of(
                text("database"),
                text("endpoint"),
                text("host"),
                int4("port"),
                text("role"),
                text("observed_role"),
                text("health"),
                int8("lag_bytes"),
                int8("lag_ms"),
                int8("probe_latency_us"),
                int4("outstanding"),
                int4("sv_active"),
                int4("sv_idle"),
                int4("sv_login"),
                int4("cl_waiting"),
                numeric("xact_count"),
                numeric("query_count"),
                numeric("avg_query_time"),
                numeric("bytes_received"),
                numeric("bytes_sent"),
                numeric("errors"),
                int4("paused"),
                int8("round_trip_us"),
                numeric("round_trips")));
        for (Router.Database d : router.databases()) {
            for (EndpointState st : d.states()) {
                EndpointSet.Member m = st.member();
                int active = 0, idle = 0, login = 0, waiting = 0;
                long xacts = 0, queries = 0, queryMicros = 0, received = 0, sent = 0, errors = 0;
                boolean paused = false;
                for (Pool p : d.pools()) {
                    if (!p.endpoint().equals(st.name())) {
                        continue;
                    }
                    Pool.PoolStats ps = p.stats();
                    active += ps.active();
                    idle += ps.idle();
                    login += ps.connecting();
                    waiting += ps.waiting();
                    ServerStats s = p.serverStats;
                    xacts += s.transactions.sum();
                    queries += s.queries.sum();
                    queryMicros += s.queryNanos.sum() / 1000;
                    received += s.bytesToServer.sum();
                    sent += s.bytesFromServer.sum();
                    errors += s.errorsByClass().values().stream()
                            .mapToLong(Long::longValue)
                            .sum();
                    paused |= p.paused();
                }
                r.row(
                        d.name(),
                        st.name(),
                        m.host(),
                        m.port(),
                        m.role() == null ? null : m.role().yamlName(),
                        st.observedRole() == null
                                ? "unknown"
                                : st.observedRole().yamlName(),
                        String.valueOf(st.health()).toLowerCase(Locale.ROOT),
                        st.lagBytes(),
                        st.lagMillis(),
                        Math.round(st.ewmaLatencyNanos() / 1000),
                        st.outstanding(),
                        active,
                        idle,
                        login,
                        waiting,
                        xacts,
                        queries,
                        queries == 0 ? 0 : queryMicros / queries,
                        received,
                        sent,
                        errors,
                        paused,
                        Math.round(st.roundTripNanos() / 1000),
                        d.roundTrips(st.name()) == null
                                ? 0L
                                : d.roundTrips(st.name()).count());
            }
        }
        return r;
    }

    /** Per pool: the prepared statements of its servers' caches (transaction mode). */
    private Result statementCache() {
        Result r = new Result(List.of(
                text("database"),
                text("user"),
                text("endpoint"),
                numeric("hits"),
                numeric("misses"),
                numeric("evictions"),
                numeric("server_parse_count"),
                int4("cached")));
        for (Pool p : router.pools()) {
            ServerStats st = p.serverStats;
            int cached = 0;
            for (ServerConnection c : p.servers()) {
                cached += c.statements().size();
            }
            r.row(
                    p.database(),
                    p.user(),
                    p.endpoint(),
                    st.statementHits.sum(),
                    st.statementMisses.sum(),
                    st.statementEvictions.sum(),
                    st.serverParses.sum(),
                    cached);
        }
        return r;
    }

    /** Per database: where transactions went and why, replays of refused writes (replayed:25006) included. */
    private Result routing() {
        Result r = new Result(List.of(text("database"), text("decision"), numeric("count")));
        for (Router.Database d : router.databases()) {
            new java.util.TreeMap<>(d.decisions()).forEach((k, v) -> r.row(d.name(), k, v));
        }
        return r;
    }

    private Result pins() {
        Result r = new Result(List.of(text("reason"), numeric("count")));
        frontend.pins().forEach(r::row);
        return r;
    }

    private Result errors() {
        Result r = new Result(
                List.of(text("database"), text("user"), text("endpoint"), text("sqlstate_class"), numeric("count")));
        for (Pool p : router.pools()) {
            p.serverStats.errorsByClass().forEach((k, v) -> r.row(p.database(), p.user(), p.endpoint(), k, v));
        }
        return r;
    }

    /** Per pool: server connections opened, and closed by reason (one column per reason). */
    private Result serverCloses() {
        List<Column> cols =
                new ArrayList<>(List.of(text("database"), text("user"), text("endpoint"), numeric("opened")));
        for (ServerStats.CloseReason c : ServerStats.CloseReason.values()) {
            cols.add(numeric("closed_" + c.label()));
        }
        Result r = new Result(cols);
        for (Pool p : router.pools()) {
            Object[] row = new Object[cols.size()];
            row[0] = p.database();
            row[1] = p.user();
            row[2] = p.endpoint();
            row[3] = p.serverStats.opened.sum();
            for (ServerStats.CloseReason c : ServerStats.CloseReason.values()) {
                row[4 + c.ordinal()] = p.serverStats.closedCount(c);
            }
            r.row(row);
        }
        return r;
    }

    // ---------------------------------------------------------------- commands that change things

    private static final class NoSuchDatabase extends RuntimeException {
        NoSuchDatabase(String name) {
            super(name, null, false, false);
        }
    }

    /** The databases a command applies to: the one named, or all. */
    private List<Router.Database> targets(String arg) {
        if (arg == null || arg.isEmpty()) {
            return List.copyOf(router.databases());
        }
        String name = unquote(arg);
        Router.Database d = router.database(name);
        if (d == null) {
            throw new NoSuchDatabase(name);
        }
        return List.of(d);
    }

    private static String unquote(String s) {
        if (s.length() >= 2 && s.startsWith("\"") && s.endsWith("\"")) {
            return s.substring(1, s.length() - 1).replace("\"\"", "\"");
        }
        return s;
    }

    private void control(ConsoleSession s, String word, String arg, String sql) {
        switch (word) {
            case "PAUSE" -> {
                List<Router.Database> dbs = targets(arg);
                dbs.forEach(Router.Database::pause);
                // Answered once the transactions that had a server have given it back.
                waitThen(s, () -> noneActive(dbs), "PAUSE");
            }
            case "RESUME" -> {
                targets(arg).forEach(Router.Database::resume);
                tag(s, "RESUME");
            }
            case "RECONNECT" -> {
                for (Router.Database d : targets(arg)) {
                    d.pools().forEach(p -> p.reconnect(false));
                }
                tag(s, "RECONNECT");
            }
            case "KILL" -> {
                if (arg == null || arg.isEmpty()) {
                    invalid(s, sql);
                    return;
                }
                Router.Database d = targets(arg).get(0);
                // As PgBouncer: the database stays paused (new clients wait) until RESUME.
                d.pause();
                for (ClientInfo c : frontend.clientInfos()) {
                    if (c.database().equals(d.name())) {
                        c.kill().run();
                    }
                }
                d.pools().forEach(p -> p.reconnect(true));
                tag(s, "KILL");
            }
            case "KILL_CLIENT", "KILLCLIENT" -> {
                int id;
                try {
                    id = Integer.parseInt(arg == null ? "" : arg.strip());
                } catch (NumberFormatException e) {
                    s.error(SqlState.INVALID_PARAMETER_VALUE, "invalid client id supplied: " + arg);
                    return;
                }
                ClientInfo c = frontend.clientInfo(id);
                if (c == null) {
                    s.error(SqlState.UNDEFINED_OBJECT, "client not found");
                    return;
                }
                c.kill().run();
                tag(s, "KILL_CLIENT");
            }
            case "WAIT_CLOSE" -> {
                List<Router.Database> dbs = targets(arg);
                waitThen(s, () -> noOldServers(dbs), "WAIT_CLOSE");
            }
            case "ENABLE", "DISABLE" -> {
                if (arg == null || arg.isEmpty()) {
                    invalid(s, sql);
                    return;
                }
                String name = targets(arg).get(0).name();
                if (word.equals("ENABLE")) {
                    frontend.disabledDatabases().remove(name);
                } else {
                    frontend.disabledDatabases().add(name);
                }
                tag(s, word);
            }
            case "RELOAD" -> {
                var loop = s.ctx().executor();
                CompletableFuture.supplyAsync(actions::reload)
                        .whenComplete((problem, error) -> loop.execute(() -> {
                            if (error != null) {
                                s.error(SqlState.INTERNAL_ERROR, "reload failed: " + error.getMessage());
                            } else if (problem != null) {
                                s.error(SqlState.CONFIG_FILE_ERROR, problem);
                            } else {
                                tag(s, "RELOAD");
                            }
                        }));
            }
            case "SHUTDOWN" -> {
                ByteBuf buf = s.ctx().alloc().buffer(16);
                Result.commandComplete(buf, "SHUTDOWN");
                s.done(buf);
                Thread t = new Thread(actions::shutdown, "pggat-console-shutdown");
                t.setDaemon(false);
                t.start();
            }
            case "SUSPEND" ->
                s.error(
                        SqlState.FEATURE_NOT_SUPPORTED,
                        "SUSPEND is not supported: pggat does not hand its sockets over to a new process");
            default -> invalid(s, sql);
        }
    }

    private static boolean noneActive(List<Router.Database> dbs) {
        for (Router.Database d : dbs) {
            for (Pool p : d.pools()) {
                if (p.stats().active() > 0) {
                    return false;
                }
            }
        }
        return true;
    }

    private static boolean noOldServers(List<Router.Database> dbs) {
        for (Router.Database d : dbs) {
            for (Pool p : d.pools()) {
                if (p.serversFromOlderGenerations() > 0) {
                    return false;
                }
            }
        }
        return true;
    }

    /** Answers {@code tag} once {@code condition} holds, checking every few milliseconds on the client's loop. */
    private static void waitThen(ConsoleSession s, BooleanSupplier condition, String tag) {
        Channel ch = s.ctx().channel();
        if (!ch.isActive()) {
            return;
        }
        if (condition.getAsBoolean()) {
            tag(s, tag);
            return;
        }
        s.ctx().executor().schedule(() -> waitThen(s, condition, tag), 20, TimeUnit.MILLISECONDS);
    }
}
