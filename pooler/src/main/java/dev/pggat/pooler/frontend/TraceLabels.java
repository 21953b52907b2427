package dev.pggat.pooler.frontend;

import dev.pggat.pooler.util.Printable;
import io.netty.channel.Channel;
import java.net.InetSocketAddress;

/** How packet traces name and match a client. */
final class TraceLabels {
    private TraceLabels() {}

    /** The client's address as packet traces match it: host:port, or the channel's address as it prints. */
    static String address(Channel ch) {
        return ch.remoteAddress() instanceof InetSocketAddress a && a.getAddress() != null
                ? a.getAddress().getHostAddress() + ":" + a.getPort()
                : String.valueOf(ch.remoteAddress());
    }

    /** {@code id} -1: not logged in yet (no console id). */
    static String label(int id, String user, String database, String address) {
        return "client " + (id < 0 ? "-" : String.valueOf(id)) + " (" + Printable.log(user) + "@"
                + Printable.log(database) + " " + address + ")";
    }
}
