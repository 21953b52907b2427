package dev.pggat.pooler.routing;

import dev.pggat.pooler.auth.Secret;
import dev.pggat.pooler.backend.ServerAddress;
import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.config.AuthMethod;
import dev.pggat.pooler.config.DatabaseConfig;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.config.PoolMode;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.config.Timeouts;
import dev.pggat.pooler.config.UserConfig;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.pool.PoolSettings;
import io.netty.channel.EventLoopGroup;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Maps a client's (database, user) to its pool, as the configuration says. */
public final class Router {
    private final Map<String, Database> databases = new LinkedHashMap<>();

    public Router(PoolerConfig config, ServerConnector connector, EventLoopGroup loops) {
        Timeouts t = config.timeouts();
        for (DatabaseConfig db : config.databases().values()) {
            Endpoint primary = db.endpoints().stream()
                    .filter(e -> e.role() == Endpoint.Role.PRIMARY)
                    .findFirst()
                    .orElseThrow();
            PoolSettings settings = new PoolSettings(
                    db.mode() == PoolMode.SESSION ? PoolSettings.PoolMode.SESSION : PoolSettings.PoolMode.TRANSACTION,
                    db.maxServerConnections(),
                    db.minServerConnections(),
                    t.queryWait(),
                    t.serverIdle(),
                    t.serverConnectBackoffMax(),
                    db.resetQuery());
            Map<String, User> users = new LinkedHashMap<>();
            for (UserConfig u : db.users().values()) {
                ServerAddress address = new ServerAddress(
                        primary.host(), primary.port(), db.serverDatabase(), u.serverUser(), u.serverPassword());
                Pool pool = new Pool(db.name(), u.name(), settings, address, connector, loops);
                users.put(u.name(), new User(u.name(), u.auth(), u.password(), pool));
            }
            databases.put(db.name(), new Database(db.name(), Map.copyOf(users)));
        }
    }

    /** The database clients named, or null when none is configured under that name. */
    public Database database(String name) {
        return databases.get(name);
    }

    public Collection<Database> databases() {
        return databases.values();
    }

    public List<Pool> pools() {
        return databases.values().stream()
                .flatMap(d -> d.users().values().stream())
                .map(User::pool)
                .toList();
    }

    public record Database(String name, Map<String, User> users) {
        public User user(String name) {
            return users.get(name);
        }
    }

    /** A configured user: how clients prove who they are, and the pool their queries run on. */
    public record User(String name, AuthMethod auth, Secret secret, Pool pool) {
        @Override
        public String toString() {
            return "User[" + name + ", " + auth + "]";
        }
    }
}
