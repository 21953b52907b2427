package dev.pggat.pooler.cli;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigDiff;
import dev.pggat.pooler.config.ConfigException;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.PoolerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
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
 * new configuration is applied while clients stay connected (see {@link Pooler#reload}). Only the listener and
 * admin addresses need a restart; the log names each such key (never its value). An invalid file changes nothing and its problems are logged.
 */
public final class ConfigReloader implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ConfigReloader.class);

    private final Path file;
    private final Map<String, String> env;
    private final Pooler pooler;
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
     * @param problems why an invalid file was refused
     */
    public record Outcome(boolean valid, List<String> applied, List<String> needRestart, List<String> problems) {
        public Outcome(boolean valid, List<String> applied, List<String> needRestart) {
            this(valid, applied, needRestart, List.of());
        }
    }

    /**
     * Reads the file again and applies it: every key takes effect at once for new logins and for the next
     * transaction of connected clients (see {@link Pooler#reload}), except those that need a restart
     * ({@code listen}, {@code admin}, and the few {@link Pooler#reload} names), which are logged by key, never with
     * their value (it may be a secret), again at each reload for as long as they stand. An invalid file changes
     * nothing: its problems are logged and returned.
     */
    public synchronized Outcome reload() {
        PoolerConfig next;
        try {
            next = ConfigLoader.load(file, env);
        } catch (ConfigException e) {
            log.error("configuration reload: {} is invalid, nothing changed:\n{}", file, e.getMessage());
            return new Outcome(false, List.of(), List.of(), e.problems());
        }
        List<String> changed = ConfigDiff.changedKeys(pooler.config(), next);
        Pooler.Reloaded done;
        try {
            done = pooler.reload(next);
        } catch (IOException e) {
            log.error("configuration reload: {} cannot be applied, nothing changed: {}", file, e.getMessage());
            return new Outcome(false, List.of(), List.of(), List.of(file + ": " + e.getMessage()));
        }
        for (String line : done.applied()) {
            log.info("configuration reload: {}", line);
        }
        List<String> applied = new ArrayList<>(changed);
        applied.removeAll(done.needRestart());
        for (String key : done.needRestart()) {
            log.warn("configuration reload: {} changed in {}, needs a restart to take effect", key, file);
        }
        return new Outcome(true, List.copyOf(applied), done.needRestart(), List.of());
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
