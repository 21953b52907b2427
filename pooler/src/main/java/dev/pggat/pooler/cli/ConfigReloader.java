package dev.pggat.pooler.cli;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigException;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.DatabaseConfig;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.routing.EndpointSet;
import dev.pggat.pooler.routing.Router;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
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
 * Other changes (users, pool sizes, listeners) need a restart, and the log says which. An invalid file changes
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

    /** Reads the file again and applies what can change while running. */
    public synchronized void reload() {
        PoolerConfig next;
        try {
            next = ConfigLoader.load(file, env);
        } catch (ConfigException e) {
            log.error("configuration reload: {} is invalid, nothing changed:\n{}", file, e.getMessage());
            return;
        }
        for (DatabaseConfig db : next.databases().values()) {
            DatabaseConfig was = current.databases().get(db.name());
            if (was == null) {
                log.warn("configuration reload: new database \"{}\" needs a restart", db.name());
                continue;
            }
            if (!was.endpoints().equals(db.endpoints())) {
                Router.Database live = pooler.router().database(db.name());
                EndpointSet set = EndpointSet.fromConfig(live.endpoints().version() + 1, db.endpoints());
                if (pooler.applyEndpointSet(db.name(), set)) {
                    log.info("configuration reload: database \"{}\" now uses {}", db.name(), set.endpoints());
                }
            }
            boolean more = !was.serverDatabase().equals(db.serverDatabase())
                    || was.mode() != db.mode()
                    || was.maxServerConnections() != db.maxServerConnections()
                    || was.minServerConnections() != db.minServerConnections()
                    || !was.resetQuery().equals(db.resetQuery())
                    || !was.routing().equals(db.routing())
                    || !was.users().keySet().equals(db.users().keySet());
            if (more) {
                log.warn(
                        "configuration reload: database \"{}\" changed more than its endpoints; those changes"
                                + " need a restart",
                        db.name());
            }
        }
        current.databases().keySet().stream()
                .filter(name -> !next.databases().containsKey(name))
                .forEach(name -> log.warn("configuration reload: removing database \"{}\" needs a restart", name));
        current = next;
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
