package dev.pggat.operator.stream;

import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.pooler.stream.Envelope;
import io.javaoperatorsdk.operator.processing.event.Event;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.AbstractEventSource;
import java.util.Set;

/**
 * Reconciles a PgPool when its stream's endpoint-set version moves. The stream follows its own informers, so a
 * reconcile triggered by the same cluster change may run before the new version exists and report the old one.
 */
public final class VersionEvents extends AbstractEventSource<Envelope, PgPool> {
    public VersionEvents(EndpointHub hub) {
        super(Envelope.class, "stream-versions");
        hub.onVersionChange(this::changed);
    }

    private void changed(String key) {
        int slash = key.indexOf('/');
        if (slash > 0 && isRunning() && getEventHandler() != null) {
            getEventHandler().handleEvent(new Event(new ResourceID(key.substring(slash + 1), key.substring(0, slash))));
        }
    }

    @Override
    public Set<Envelope> getSecondaryResources(PgPool primary) {
        return Set.of();
    }
}
