package dev.pggat.pooler.discovery;

/** Something that can be asked which servers exist now. Called from one thread at a time; may block. */
public interface DiscoverySource extends AutoCloseable {
    /**
     * Asks the source once.
     *
     * @throws DiscoveryException when the source cannot answer now; the last good answer stays in use
     */
    Discovered fetch() throws DiscoveryException;

    @Override
    default void close() {}
}
