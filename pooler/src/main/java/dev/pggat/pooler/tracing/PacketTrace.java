package dev.pggat.pooler.tracing;

import dev.pggat.pooler.util.Printable;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One packet trace switched on at run time: which clients it follows (one client by id or address, or every
 * client of a user or a database), until when (a number of messages and a time, both with a hard upper bound), and
 * where its lines go (the {@value #LOGGER} logger, or a new file). Thread-safe: handlers on several event loops
 * count down the same trace.
 */
public final class PacketTrace {
    /** The logger that packet lines go to unless a file is named; configure its level and output like any other. */
    public static final String LOGGER = "dev.pggat.pooler.packets";

    private static final Logger packets = LoggerFactory.getLogger(LOGGER);
    private static final Logger log = LoggerFactory.getLogger(PacketTrace.class);

    /** Hard upper bounds: a trace forgotten on a busy pooler stops by itself. */
    public static final long MAX_MESSAGES = 100_000;

    public static final Duration MAX_DURATION = Duration.ofHours(1);
    public static final long DEFAULT_MESSAGES = 10_000;
    public static final Duration DEFAULT_DURATION = Duration.ofMinutes(5);

    public enum Kind {
        /** One logged-in client by its console id. */
        CLIENT,
        /** Clients from an address (host, or host:port). */
        ADDRESS,
        USER,
        DATABASE;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** What a TRACE command asks for; bounds not given are null and get the defaults. */
    public record Spec(Kind kind, String target, Long messages, Duration duration, boolean withValues, Path file) {}

    private final int id;
    private final Kind kind;
    private final String target;
    private final int clientId;
    private final boolean withValues;
    private final long maxMessages;
    private final long deadlineNanos;
    private final Instant started;
    private final Instant ends;
    private final Path file;
    private final BufferedWriter writer;
    private final AtomicLong logged = new AtomicLong();
    private volatile boolean stopped;

    private PacketTrace(int id, Spec spec, BufferedWriter writer, long nowNanos) {
        this.id = id;
        this.kind = spec.kind();
        this.target = spec.target();
        this.clientId = spec.kind() == Kind.CLIENT ? Integer.parseInt(spec.target()) : -1;
        this.withValues = spec.withValues();
        this.maxMessages = spec.messages() == null ? DEFAULT_MESSAGES : spec.messages();
        Duration d = spec.duration() == null ? DEFAULT_DURATION : spec.duration();
        this.deadlineNanos = nowNanos + d.toNanos();
        this.started = Instant.now();
        this.ends = started.plus(d);
        this.file = spec.file();
        this.writer = writer;
    }

    /**
     * Checks {@code spec}'s bounds and opens its file (a new one: an existing file is never appended to or
     * replaced). Throws IllegalArgumentException with a message for the user.
     */
    static PacketTrace open(int id, Spec spec) {
        if (spec.kind() == Kind.CLIENT && !spec.target().matches("[0-9]{1,9}")) {
            throw new IllegalArgumentException("client id must be a number: " + spec.target());
        }
        if (spec.messages() != null && (spec.messages() < 1 || spec.messages() > MAX_MESSAGES)) {
            throw new IllegalArgumentException("message count must be from 1 to " + MAX_MESSAGES);
        }
        if (spec.duration() != null
                && (spec.duration().isNegative()
                        || spec.duration().isZero()
                        || spec.duration().compareTo(MAX_DURATION) > 0)) {
            throw new IllegalArgumentException("duration must be from 1s to " + MAX_DURATION.toSeconds() + "s");
        }
        if (spec.target().isEmpty() || spec.target().length() > 256) {
            throw new IllegalArgumentException(
                    "the trace needs a client, address, user or database of at most 256" + " characters");
        }
        BufferedWriter w = null;
        if (spec.file() != null) {
            try {
                w = Files.newBufferedWriter(
                        spec.file(), StandardCharsets.UTF_8, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            } catch (IOException e) {
                throw new IllegalArgumentException(
                        "cannot create trace file " + spec.file() + " (it must not exist yet): " + e.getMessage());
            }
        }
        return new PacketTrace(id, spec, w, System.nanoTime());
    }

    public int id() {
        return id;
    }

    public Kind kind() {
        return kind;
    }

    public String target() {
        return target;
    }

    public boolean withValues() {
        return withValues;
    }

    public long maxMessages() {
        return maxMessages;
    }

    public long logged() {
        return logged.get();
    }

    public Instant started() {
        return started;
    }

    public Instant ends() {
        return ends;
    }

    /** The file the lines go to, or null for the logger. */
    public Path file() {
        return file;
    }

    /** Whether a client of this id, address, user and database is followed (id -1: not logged in yet). */
    public boolean matches(int id, String address, String user, String database) {
        return switch (kind) {
            case CLIENT -> id >= 0 && id == clientId;
            case ADDRESS -> address != null && (address.equals(target) || address.startsWith(target + ":"));
            case USER -> target.equals(user);
            case DATABASE -> target.equals(database);
        };
    }

    /** Over: stopped, out of time or out of messages. */
    public boolean over() {
        if (stopped) {
            return true;
        }
        if (logged.get() >= maxMessages || System.nanoTime() - deadlineNanos > 0) {
            stop();
            return true;
        }
        return false;
    }

    /** Writes one line, unless the trace is over (which this line may make it). */
    void line(String text) {
        long n = logged.incrementAndGet();
        if (n > maxMessages || stopped) {
            return;
        }
        if (writer == null) {
            packets.info("trace {}: {}", id, text);
        } else {
            synchronized (writer) {
                try {
                    writer.write(Instant.now() + " trace " + id + ": " + text);
                    writer.newLine();
                    writer.flush();
                } catch (IOException e) {
                    log.warn("packet trace {}: writing {} failed, trace stopped: {}", id, file, e.getMessage());
                    stopped = true;
                }
            }
        }
        if (n == maxMessages) {
            stop();
        }
    }

    /** Ends the trace; its handlers remove themselves at their next message. */
    public synchronized void stop() {
        if (stopped) {
            return;
        }
        stopped = true;
        if (writer != null) {
            synchronized (writer) {
                try {
                    writer.close();
                } catch (IOException e) {
                    log.warn("packet trace {}: closing {} failed: {}", id, file, e.getMessage());
                }
            }
        }
        log.info(
                "packet trace {} ({} {}) ended after {} messages",
                id,
                kind.label(),
                Printable.log(target),
                Math.min(logged.get(), maxMessages));
    }
}
