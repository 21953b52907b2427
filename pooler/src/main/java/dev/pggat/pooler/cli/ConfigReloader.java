package dev.pggat.pooler.cli;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigDiff;
import dev.pggat.pooler.config.ConfigException;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.DatabaseConfig;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.routing.EndpointSet;
import dev.pggat.pooler.routing.Router;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Live reload of the configuration file: when its content changes (checked every few seconds, by content, so a
 * Kubernetes ConfigMap's symlink swap is seen) or on SIGHUP, the file is read and validated again, and each
 * database whose endpoints changed gets them as a new endpoint set, without touching clients that need not move.
 * Every other change needs a restart; the log names each such key (never its value). An invalid file changes
 * nothing and its problems are logged.
 */
public final class ConfigReloader implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ConfigReloader.class);

    private final Path file;
    private final Map<String, String> env;
    private final Pooler pooler;
    private PoolerConfig current;
    private byte[] hash;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "pggat-config-reload");
        t.setDaemon(true);
        return t;
    });

    public ConfigReloader(Path file, Map<String, String> env, Pooler pooler, PoolerConfig loaded) {
        this.file = file;
        this.env = env;
        this.pooler = pooler;
        this.current = loaded;
        this.hash = hash(file);
    }

    /** Polls the file every {@code seconds}; also reloads on SIGHUP where the JVM lets us handle it. */
    public ConfigReloader start(long seconds) {
        timer.scheduleWithFixedDelay(this::checkFile, seconds, seconds, TimeUnit.SECONDS);
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("HUP"), s -> timer.execute(this::reload));
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            log.debug("SIGHUP not available: {}", e.getMessage());
        }
        return this;
    }

    private void checkFile() {
        byte[] h = hash(file);
        if (h != null && !Arrays.equals(h, hash)) {
            hash = h;
            reload();
        }
    }

    /**
     * What one reload did.
     *
     * @param valid false when the file could not be loaded (nothing changed)
     * @param applied the keys whose new values are in use now
     * @param needRestart the keys whose new values are not in use, and will not be until a restart
     */
    public record Outcome(boolean valid, List<String> applied, List<String> needRestart) {}

    /**
     * Reads the file again and applies what can change while running: the {@code endpoints} of databases that
     * exist. Every other difference from the running configuration is logged as needing a restart, by key and
     * never with its value (it may be a secret), again at each reload for as long as it stands.
     */
    public synchronized Outcome reload() {
        PoolerConfig next;
        try {
            next = ConfigLoader.load(file, env);
        } catch (ConfigException e) {
            log.error("configuration reload: {} is invalid, nothing changed:\n{}", file, e.getMessage());
            return new Outcome(false, List.of(), List.of());
        }
        List<String> applied = new ArrayList<>();
        Map<String, DatabaseConfig> running = new LinkedHashMap<>(current.databases());
        for (DatabaseConfig db : next.databases().values()) {
            DatabaseConfig was = current.databases().get(db.name());
            if (was == null || was.endpoints().equals(db.endpoints())) {
                continue;
            }
            Router.Database live = pooler.router().database(db.name());
            EndpointSet set = EndpointSet.fromConfig(live.endpoints().version() + 1, db.endpoints());
            if (pooler.applyEndpointSet(db.name(), set)) {
                log.info("configuration reload: database \"{}\" now uses {}", db.name(), set.endpoints());
                applied.add(ConfigDiff.endpointsKey(db.name()));
                running.put(db.name(), withEndpoints(was, db.endpoints()));
            }
        }
        List<String> needRestart = new ArrayList<>(ConfigDiff.changedKeys(current, next));
        needRestart.removeAll(applied);
        for (String key : needRestart) {
            log.warn("configuration reload: {} changed in {}, needs a restart to take effect", key, file);
        }
        // What runs now: the loaded configuration plus what was applied, so the next reload compares with it.
        current = new PoolerConfig(
                current.listen(),
                current.admin(),
                current.limits(),
                current.timeouts(),
                current.pools(),
                running,
                current.security(),
                current.discovery(),
                current.tracing());
        return new Outcome(true, List.copyOf(applied), List.copyOf(needRestart));
    }

    /** {@code d} with other endpoints and everything else kept, limits included. */
    private static DatabaseConfig withEndpoints(DatabaseConfig d, List<Endpoint> endpoints) {
        return new DatabaseConfig(
                d.name(),
                d.serverDatabase(),
                endpoints,
                d.mode(),
                d.maxServerConnections(),
                d.minServerConnections(),
                d.resetQuery(),
                d.users(),
                d.routing(),
                d.limits());
    }

    private static byte[] hash(Path file) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file));
        } catch (IOException | NoSuchAlgorithmException e) {
            return null;
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
