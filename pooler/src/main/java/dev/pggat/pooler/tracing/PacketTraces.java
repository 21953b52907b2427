package dev.pggat.pooler.tracing;

import dev.pggat.pooler.protocol.MessageFramer;
import io.netty.channel.Channel;
import io.netty.channel.ChannelPipeline;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The packet traces switched on at run time (console TRACE, admin POST /trace). A traced client gets a
 * {@link PacketTraceHandler} in its channel's pipeline, and the server it is given for a transaction another one for
 * as long as it holds it; untraced clients have none, so their messages pay nothing. The data path asks
 * {@link #any()} (one volatile read) at a login and at a server checkout, and looks further only when it is true.
 */
public final class PacketTraces {
    private static final Logger log = LoggerFactory.getLogger(PacketTraces.class);
    /** At most this many traces at once. */
    public static final int MAX_TRACES = 16;

    private static final PacketTrace[] NONE = new PacketTrace[0];

    private final AtomicInteger ids = new AtomicInteger();
    private volatile PacketTrace[] traces = NONE;

    /** Whether any trace runs (or ran and was not yet noticed to be over). */
    public boolean any() {
        return traces.length != 0;
    }

    /** Starts a trace; IllegalArgumentException with a message for the user when it cannot. */
    public synchronized PacketTrace start(PacketTrace.Spec spec) {
        prune();
        if (traces.length >= MAX_TRACES) {
            throw new IllegalArgumentException("at most " + MAX_TRACES + " packet traces may run at once");
        }
        PacketTrace t = PacketTrace.open(ids.incrementAndGet(), spec);
        PacketTrace[] next = java.util.Arrays.copyOf(traces, traces.length + 1);
        next[next.length - 1] = t;
        traces = next;
        log.info(
                "packet trace {} started: {} {}, up to {} messages until {}{}{}",
                t.id(),
                t.kind().label(),
                dev.pggat.pooler.util.Printable.log(t.target()),
                t.maxMessages(),
                t.ends(),
                t.withValues() ? ", with bind values" : "",
                t.file() == null ? "" : ", to " + t.file());
        return t;
    }

    /** Stops the trace {@code id}, or every trace when null; returns how many were stopped. */
    public synchronized int stop(Integer id) {
        int n = 0;
        List<PacketTrace> keep = new ArrayList<>();
        for (PacketTrace t : traces) {
            if (id == null || t.id() == id) {
                t.stop();
                n++;
            } else {
                keep.add(t);
            }
        }
        traces = keep.toArray(NONE);
        return n;
    }

    /** The traces that still run. */
    public synchronized List<PacketTrace> list() {
        prune();
        return List.of(traces);
    }

    private void prune() {
        List<PacketTrace> keep = new ArrayList<>();
        for (PacketTrace t : traces) {
            if (!t.over()) {
                keep.add(t);
            }
        }
        if (keep.size() != traces.length) {
            traces = keep.toArray(NONE);
        }
    }

    /** The first running trace that follows this client, or null. */
    public PacketTrace match(int clientId, String address, String user, String database) {
        for (PacketTrace t : traces) {
            if (!t.over() && t.matches(clientId, address, user, database)) {
                return t;
            }
        }
        return null;
    }

    private static String address(Channel ch) {
        return ch.remoteAddress() instanceof java.net.InetSocketAddress a
                ? a.getHostString() + ":" + a.getPort()
                : String.valueOf(ch.remoteAddress());
    }

    /** Whether a packet trace follows the channel of {@code p} (its handler must then see every message). */
    public static boolean traced(ChannelPipeline p) {
        return p.get(PacketTraceHandler.NAME) != null;
    }

    /**
     * Follows a client's channel with {@code trace}: a handler goes in front of the handler named {@code before}
     * (the login handler or the session), where it sees whole messages both ways. Call on the channel's event loop.
     */
    public static void followClient(Channel client, String before, PacketTrace trace, String label) {
        ChannelPipeline p = client.pipeline();
        if (p.get(PacketTraceHandler.NAME) != null || p.get(before) == null) {
            return;
        }
        p.addBefore(before, PacketTraceHandler.NAME, new PacketTraceHandler(trace, label, false, null));
    }

    /**
     * The traced client {@code client} was given {@code server}: the server's messages are traced too, behind its
     * framer, for as long as {@code owned} says the client holds it.
     */
    public static void followServer(Channel client, Channel server, BooleanSupplier owned) {
        if (!(client.pipeline().get(PacketTraceHandler.NAME) instanceof PacketTraceHandler h) || h.over()) {
            return;
        }
        ChannelPipeline p = server.pipeline();
        try {
            if (p.get(PacketTraceHandler.NAME) != null) {
                p.remove(PacketTraceHandler.NAME); // left by an earlier owner; it would have removed itself
            }
            if (p.get(MessageFramer.NAME) != null) {
                p.addAfter(
                        MessageFramer.NAME,
                        PacketTraceHandler.NAME,
                        new PacketTraceHandler(h.trace(), h.label() + " server " + address(server), true, owned));
            }
        } catch (java.util.NoSuchElementException | IllegalArgumentException e) {
            // The server's own loop changed its pipeline meanwhile (closed, or a stale handler left): not traced.
        }
    }
}
