package dev.pggat.pooler.listen;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.backend.ServerError;
import dev.pggat.pooler.backend.ServerListener;
import dev.pggat.pooler.pool.Pool;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.NotificationResponse;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.routing.Router;
import dev.pggat.pooler.util.Printable;
import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Transaction mode's LISTEN for one (database, user): a single server connection to the primary, outside the
 * pool, that listens to every channel some client of the pair listens to, and hands each notification to the
 * clients subscribed to its channel. Opened when the first client listens, closed a little after the last one
 * stops. If it dies it is opened again with backoff and listens again to every channel; notifications sent
 * while it was down are lost.
 *
 * <p>All state lives on one event loop; the public methods may be called from any thread.
 */
public final class ListenRelay implements ServerListener {
    private static final Logger log = LoggerFactory.getLogger(ListenRelay.class);
    private static final long FIRST_RETRY_MILLIS = 100;

    /** A client listening through the relay. */
    interface Subscriber {
        /** A NotificationResponse for {@code channel}; the subscriber owns {@code frame}. Called on any thread. */
        void notification(String channel, ByteBuf frame);
    }

    private final Router.User user;
    private final ServerConnector connector;
    private final EventLoop loop;
    private final Duration linger;

    private final Map<String, Channel> channels = new HashMap<>();
    /** Channels per subscriber, to count subscribed clients. */
    private final Map<Subscriber, Integer> subscribers = new HashMap<>();
    /** Commands sent on the connection whose ReadyForQuery has not come back yet, in order. */
    private final ArrayDeque<Command> inFlight = new ArrayDeque<>();

    private ServerConnection connection;
    private boolean connecting;
    private boolean closed;
    private long retryMillis = FIRST_RETRY_MILLIS;
    private ScheduledFuture<?> retry;
    private ScheduledFuture<?> lingerTimer;

    private volatile int connectionCount;
    private volatile int channelCount;
    private volatile int clientCount;
    final LongAdder notificationsRelayed = new LongAdder();
    final LongAdder reconnects = new LongAdder();

    private static final class Channel {
        final String name;
        final Set<Subscriber> subscribers = new LinkedHashSet<>();
        /** Subscribers waiting to hear that the server listens, with what to tell them. */
        final Map<Subscriber, Consumer<ErrorFields>> waiters = new LinkedHashMap<>();
        /** LISTEN was sent on the current connection. */
        boolean sent;

        Channel(String name) {
            this.name = name;
        }
    }

    /** A LISTEN (channel set) or UNLISTEN (channel null) on the connection, and the error it got, if any. */
    private static final class Command {
        final Channel listen;
        ErrorFields error;

        Command(Channel listen) {
            this.listen = listen;
        }
    }

    ListenRelay(Router.User user, ServerConnector connector, EventLoop loop, Duration linger) {
        this.user = user;
        this.connector = connector;
        this.loop = loop;
        this.linger = linger;
    }

    public String database() {
        return user.database().name();
    }

    public String user() {
        return user.name();
    }

    /** 1 while the relay's server connection is open. */
    public int connections() {
        return connectionCount;
    }

    /** Channels the relay listens to (or is about to). */
    public int channels() {
        return channelCount;
    }

    /** Clients listening to at least one channel through the relay. */
    public int clients() {
        return clientCount;
    }

    /** Notifications handed to clients. */
    public long notificationsRelayed() {
        return notificationsRelayed.sum();
    }

    /** Times the relay connection was lost while clients listened, and opened again. */
    public long reconnects() {
        return reconnects.sum();
    }

    /**
     * Subscribes {@code s} to {@code channel}; {@code reply} gets null once the server listens to it, or the error
     * that kept it from listening (the subscription is then dropped). {@code reply} runs on the relay's loop.
     */
    void subscribe(Subscriber s, String channel, Consumer<ErrorFields> reply) {
        loop.execute(() -> {
            if (closed) {
                reply.accept(new ErrorFields("ERROR", SqlState.ADMIN_SHUTDOWN, "the pooler is shutting down"));
                return;
            }
            Channel c = channels.computeIfAbsent(channel, Channel::new);
            if (c.subscribers.add(s)) {
                subscribers.merge(s, 1, Integer::sum);
            }
            // Before any answer: a client that has its answer must find itself counted.
            counts();
            cancelLinger();
            if (connection != null && c.sent && !c.waiters.containsKey(s) && confirmed(c)) {
                reply.accept(null);
            } else {
                c.waiters.put(s, reply);
                if (connection != null && !c.sent) {
                    send(c);
                    connection.channel().flush();
                } else if (connection == null && !connecting && retry == null) {
                    connect();
                }
            }
            counts();
        });
    }

    /** True when the server has answered the LISTEN for {@code c} (no command for it still in flight). */
    private boolean confirmed(Channel c) {
        for (Command cmd : inFlight) {
            if (cmd.listen == c) {
                return false;
            }
        }
        return true;
    }

    void unsubscribe(Subscriber s, String channel) {
        loop.execute(() -> {
            remove(s, channel);
            counts();
            lingerIfUnused();
        });
    }

    void unsubscribeAll(Subscriber s, List<String> names) {
        loop.execute(() -> {
            for (String name : names) {
                remove(s, name);
            }
            counts();
            lingerIfUnused();
        });
    }

    private void remove(Subscriber s, String name) {
        Channel c = channels.get(name);
        if (c == null || !c.subscribers.remove(s)) {
            return;
        }
        subscribers.computeIfPresent(s, (k, n) -> n == 1 ? null : n - 1);
        Consumer<ErrorFields> waiting = c.waiters.remove(s);
        if (waiting != null) {
            waiting.accept(null); // the client is gone; nobody reads the answer
        }
        if (c.subscribers.isEmpty()) {
            channels.remove(name);
            if (c.sent && connection != null) {
                inFlight.add(new Command(null));
                connection
                        .channel()
                        .writeAndFlush(
                                Messages.query(connection.channel().alloc(), new ListenStatement(false, name).sql()),
                                connection.channel().voidPromise());
            }
        }
    }

    private void send(Channel c) {
        c.sent = true;
        inFlight.add(new Command(c));
        connection
                .channel()
                .write(
                        Messages.query(connection.channel().alloc(), new ListenStatement(true, c.name).sql()),
                        connection.channel().voidPromise());
    }

    private void connect() {
        Pool primary = user.primaryPool();
        if (primary == null) {
            connectFailed(new ErrorFields(
                    "ERROR",
                    SqlState.CONNECTION_FAILURE,
                    "no primary server of database \"" + database() + "\" is known to listen on"));
            return;
        }
        connecting = true;
        connector.connect(loop, primary.address()).addListener((Future<ServerConnection> f) -> {
            connecting = false;
            if (f.isSuccess()) {
                connected(f.getNow());
            } else {
                Throwable cause = f.cause();
                String state = cause instanceof ServerError e && e.sqlState() != null
                        ? e.sqlState()
                        : SqlState.CONNECTION_FAILURE;
                connectFailed(new ErrorFields(
                        "ERROR", state, "could not open the LISTEN relay connection: " + cause.getMessage()));
            }
        });
    }

    private void connected(ServerConnection c) {
        if (closed || channels.isEmpty()) {
            c.close();
            return;
        }
        connection = c;
        retryMillis = FIRST_RETRY_MILLIS;
        c.listener(this);
        for (Channel ch : channels.values()) {
            send(ch);
        }
        c.channel().flush();
        counts();
        log.debug("LISTEN relay for {}@{} connected to {}", Printable.log(user()), database(), c);
    }

    /**
     * Clients still waiting for their first LISTEN are told at once; channels clients already listen to are
     * listened to again after a backoff.
     */
    private void connectFailed(ErrorFields error) {
        log.warn("LISTEN relay for {}@{}: {}", Printable.log(user()), database(), Printable.log(error.message()));
        failWaiters(error);
        if (!channels.isEmpty() && !closed) {
            scheduleRetry();
        }
        counts();
    }

    private void failWaiters(ErrorFields error) {
        List<Consumer<ErrorFields>> refused = new ArrayList<>();
        for (Iterator<Channel> it = channels.values().iterator(); it.hasNext(); ) {
            Channel c = it.next();
            for (Map.Entry<Subscriber, Consumer<ErrorFields>> w : c.waiters.entrySet()) {
                c.subscribers.remove(w.getKey());
                subscribers.computeIfPresent(w.getKey(), (k, n) -> n == 1 ? null : n - 1);
                refused.add(w.getValue());
            }
            c.waiters.clear();
            if (c.subscribers.isEmpty()) {
                it.remove();
            }
        }
        // Counted before the clients hear of it, as in subscribe.
        counts();
        refused.forEach(w -> w.accept(error));
    }

    private void scheduleRetry() {
        long delay = retryMillis;
        long max = Math.max(FIRST_RETRY_MILLIS, maxBackoffMillis());
        retryMillis = Math.min(max, retryMillis * 2);
        retry = loop.schedule(
                () -> {
                    retry = null;
                    if (!closed && connection == null && !connecting && !channels.isEmpty()) {
                        reconnects.increment();
                        connect();
                    }
                },
                delay,
                TimeUnit.MILLISECONDS);
    }

    private long maxBackoffMillis() {
        Pool p = user.primaryPool();
        return p == null ? 30_000 : p.settings().serverConnectBackoffMax().toMillis();
    }

    @Override
    public void onFrame(ServerConnection server, ByteBuf frame) {
        if (loop.inEventLoop()) {
            frame(server, frame);
        } else {
            loop.execute(() -> frame(server, frame));
        }
    }

    private void frame(ServerConnection server, ByteBuf frame) {
        try {
            if (server != connection) {
                return;
            }
            switch (Frames.type(frame)) {
                case ProtocolConstants.NOTIFICATION_RESPONSE -> {
                    String name = NotificationResponse.channel(frame);
                    Channel c = channels.get(name);
                    if (c != null) {
                        for (Subscriber s : c.subscribers) {
                            notificationsRelayed.increment();
                            s.notification(name, frame.retainedDuplicate());
                        }
                    }
                }
                case ProtocolConstants.ERROR_RESPONSE -> {
                    Command head = inFlight.peekFirst();
                    ErrorFields error = ErrorFields.parse(frame);
                    if (head != null) {
                        head.error = error;
                    } else {
                        log.warn(
                                "LISTEN relay for {}@{}: server said {}",
                                Printable.log(user()),
                                database(),
                                Printable.log(error));
                    }
                }
                case ProtocolConstants.READY_FOR_QUERY -> answered(inFlight.pollFirst());
                default -> {} // CommandComplete, notices, ParameterStatus
            }
        } finally {
            frame.release();
        }
    }

    private void answered(Command cmd) {
        if (cmd == null || cmd.listen == null) {
            return;
        }
        Channel c = cmd.listen;
        if (channels.get(c.name) != c) {
            return; // every subscriber left meanwhile
        }
        if (cmd.error == null) {
            c.waiters.values().forEach(w -> w.accept(null));
            c.waiters.clear();
            return;
        }
        c.sent = false;
        List<Consumer<ErrorFields>> refused = new ArrayList<>(c.waiters.values());
        for (Subscriber w : c.waiters.keySet()) {
            c.subscribers.remove(w);
            subscribers.computeIfPresent(w, (k, n) -> n == 1 ? null : n - 1);
        }
        c.waiters.clear();
        if (c.subscribers.isEmpty()) {
            channels.remove(c.name);
        }
        // Counted before the clients hear of it, as in subscribe.
        counts();
        refused.forEach(w -> w.accept(cmd.error));
        lingerIfUnused();
    }

    @Override
    public void onReadComplete(ServerConnection server) {}

    @Override
    public void onClosed(ServerConnection server, Throwable cause) {
        loop.execute(() -> {
            if (server != connection) {
                return;
            }
            connection = null;
            inFlight.clear();
            for (Channel c : channels.values()) {
                c.sent = false;
            }
            counts();
            if (closed || channels.isEmpty()) {
                return;
            }
            log.warn(
                    "LISTEN relay for {}@{}: server {} closed the connection; listening again to {} channels"
                            + " (notifications sent meanwhile are lost)",
                    Printable.log(user()),
                    database(),
                    server,
                    channels.size());
            scheduleRetry();
        });
    }

    private void lingerIfUnused() {
        if (!channels.isEmpty() || lingerTimer != null) {
            return;
        }
        if (retry != null) {
            retry.cancel(false);
            retry = null;
        }
        if (connection == null) {
            return;
        }
        // A client that listens again soon (or the next one) finds the connection still open.
        lingerTimer = loop.schedule(
                () -> {
                    lingerTimer = null;
                    if (channels.isEmpty() && connection != null) {
                        closeConnection();
                    }
                },
                linger.toMillis(),
                TimeUnit.MILLISECONDS);
    }

    private void cancelLinger() {
        if (lingerTimer != null) {
            lingerTimer.cancel(false);
            lingerTimer = null;
        }
    }

    private void closeConnection() {
        ServerConnection c = connection;
        connection = null;
        inFlight.clear();
        c.listener(null);
        c.close();
        counts();
    }

    /** At shutdown: closes the connection; clients still waiting are told. */
    void close() {
        loop.execute(() -> {
            closed = true;
            cancelLinger();
            if (retry != null) {
                retry.cancel(false);
                retry = null;
            }
            failWaiters(new ErrorFields("ERROR", SqlState.ADMIN_SHUTDOWN, "the pooler is shutting down"));
            if (connection != null) {
                closeConnection();
            }
        });
    }

    private void counts() {
        connectionCount = connection != null ? 1 : 0;
        channelCount = channels.size();
        clientCount = subscribers.size();
    }

    /** For tests and the log: the channels listened to, sorted. */
    List<String> channelNames() {
        List<String> names = new ArrayList<>(channels.keySet());
        names.sort(null);
        return names;
    }
}
