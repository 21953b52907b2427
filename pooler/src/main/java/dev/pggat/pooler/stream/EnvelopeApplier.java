package dev.pggat.pooler.stream;

import dev.pggat.pooler.frontend.CancelRegistry;
import dev.pggat.pooler.routing.EndpointSet;
import java.util.Collection;
import java.util.OptionalInt;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies a snapshot to a running pooler: the endpoint set to every database the pooler serves (a PgPool fronts
 * one cluster, so all its databases share the servers), this pod's instance id and the peers to the cancel
 * registry.
 */
public final class EnvelopeApplier implements Consumer<Envelope> {
    private static final Logger log = LoggerFactory.getLogger(EnvelopeApplier.class);

    private final Supplier<? extends Collection<String>> databases;
    private final BiConsumer<String, EndpointSet> applyEndpointSet;
    private final CancelRegistry cancels;
    private final String podName;

    /**
     * Sets the registry's instance id to {@link CancelRegistry#UNASSIGNED} until the operator names this pod's id:
     * keys issued before that are never claimed by another pod.
     *
     * @param databases the names of the databases clients connect to
     * @param applyEndpointSet e.g. {@code pooler::applyEndpointSet}
     * @param podName this pod's name as the operator lists it among the peers
     */
    public EnvelopeApplier(
            Supplier<? extends Collection<String>> databases,
            BiConsumer<String, EndpointSet> applyEndpointSet,
            CancelRegistry cancels,
            String podName) {
        this.databases = databases;
        this.applyEndpointSet = applyEndpointSet;
        this.cancels = cancels;
        this.podName = podName;
        cancels.setInstance(CancelRegistry.UNASSIGNED);
    }

    @Override
    public void accept(Envelope envelope) {
        if (podName != null) {
            OptionalInt id = envelope.instanceIdOf(podName);
            if (id.isPresent() && id.getAsInt() != cancels.instance()) {
                log.info("cancel keys now carry instance id {} (from the operator)", id.getAsInt());
                cancels.setInstance(id.getAsInt());
            }
        }
        cancels.setPeers(envelope.peerAddresses());
        EndpointSet set = envelope.endpoints();
        if (set != null) {
            for (String db : databases.get()) {
                applyEndpointSet.accept(db, set);
            }
        }
    }
}
