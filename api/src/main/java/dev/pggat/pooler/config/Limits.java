package dev.pggat.pooler.config;

/** Resource limits; sizes are in bytes. */
public record Limits(int maxClientConnections, int maxStartupPacketSize, int maxMessageSize) {
    public static final Limits DEFAULT = new Limits(10_000, 10_000, 64 * 1024 * 1024);
}
