package dev.pggat.pooler.backend;

import io.netty.channel.Channel;

/** A ServerConnection over any channel (an EmbeddedChannel), for unit tests of the stages that use one. */
public final class TestServerConnections {
    private TestServerConnections() {}

    public static ServerConnection over(Channel channel) {
        return new ServerConnection(channel, new ServerAddress("127.0.0.1", 5432, "db", "user", null), 0);
    }
}
