package dev.pggat.pooler.listen;

import dev.pggat.pooler.backend.ServerConnector;
import dev.pggat.pooler.routing.Router;
import io.netty.channel.EventLoopGroup;
import java.time.Duration;
import java.util.Collection;
import java.util.concurrent.ConcurrentHashMap;

/** The LISTEN relays of a pooler, one per (database, user), made when a client of that pair first listens. */
public final class ListenRelays {
    /** How long a relay connection stays open after its last channel is unlistened. */
    static final Duration LINGER = Duration.ofSeconds(2);

    private final ServerConnector connector;
    private final EventLoopGroup loops;
    private volatile int maxChannelsPerClient;
    private final ConcurrentHashMap<Router.User, ListenRelay> relays = new ConcurrentHashMap<>();

    public ListenRelays(ServerConnector connector, EventLoopGroup loops, int maxChannelsPerClient) {
        this.connector = connector;
        this.loops = loops;
        this.maxChannelsPerClient = maxChannelsPerClient;
    }

    ListenRelay relay(Router.User user) {
        return relays.computeIfAbsent(user, u -> new ListenRelay(u, connector, loops.next(), LINGER));
    }

    int maxChannelsPerClient() {
        return maxChannelsPerClient;
    }

    /** A reload's pools.listenRelayMaxChannels: the cap each LISTEN from now on is held to. */
    public void maxChannelsPerClient(int max) {
        this.maxChannelsPerClient = max;
    }

    /** The relays made so far, for metrics. */
    public Collection<ListenRelay> relays() {
        return relays.values();
    }

    public void close() {
        relays.values().forEach(ListenRelay::close);
    }
}
