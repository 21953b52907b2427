package dev.pggat.operator;

import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.operator.model.ClusterKinds;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.ResourceCache;
import io.javaoperatorsdk.operator.processing.GroupVersionKind;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import java.util.EnumSet;
import java.util.Set;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Informers on other operators' cluster resources. They cannot be registered at start-up: an informer on a kind
 * whose CRD is missing fails, and the operator must work with either CRD absent. Each is registered the first time
 * a PgPool needs it and its CRD exists.
 */
final class ClusterWatches {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterWatches.class);

    private final Set<ClusterKinds> registered = EnumSet.noneOf(ClusterKinds.class);

    synchronized boolean isRegistered(ClusterKinds kind) {
        return registered.contains(kind);
    }

    synchronized void ensureRegistered(ClusterKinds kind, Context<PgPool> context) {
        if (registered.contains(kind)) {
            return;
        }
        EventSourceContext<PgPool> esContext =
                context.eventSourceRetriever().eventSourceContextForDynamicRegistration();
        ResourceCache<PgPool> primaries = esContext.getPrimaryCache();
        InformerEventSourceConfiguration<GenericKubernetesResource> config = InformerEventSourceConfiguration.from(
                        new GroupVersionKind(kind.group, kind.version, kind.kind), PgPool.class)
                .withName(eventSourceName(kind))
                .withSecondaryToPrimaryMapper(cluster -> referencing(primaries, kind, cluster))
                .build();
        context.eventSourceRetriever().dynamicallyRegisterEventSource(new InformerEventSource<>(config, esContext));
        registered.add(kind);
        LOG.info("watching {} resources ({})", kind.kind, kind.crdName());
    }

    static String eventSourceName(ClusterKinds kind) {
        return kind.name().toLowerCase(java.util.Locale.ROOT) + "-clusters";
    }

    /** The PgPools in the object's namespace that point at the cluster the object belongs to. */
    static Set<ResourceID> referencing(ResourceCache<PgPool> primaries, ClusterKinds kind, HasMetadata clusterOrPod) {
        String namespace = clusterOrPod.getMetadata().getNamespace();
        String clusterName = clusterOrPod instanceof GenericKubernetesResource
                ? clusterOrPod.getMetadata().getName()
                : labelOrNull(clusterOrPod, kind.podClusterLabel());
        if (clusterName == null) {
            return Set.of();
        }
        return primaries
                .list(namespace)
                .filter(p -> clusterName.equals(clusterName(p, kind)))
                .map(ResourceID::fromResource)
                .collect(Collectors.toSet());
    }

    static String clusterName(PgPool pool, ClusterKinds kind) {
        if (pool.getSpec() == null || pool.getSpec().cluster == null) {
            return null;
        }
        var ref = kind == ClusterKinds.CNPG ? pool.getSpec().cluster.cnpg : pool.getSpec().cluster.zalando;
        return ref == null ? null : ref.name;
    }

    private static String labelOrNull(HasMetadata o, String key) {
        var labels = o.getMetadata().getLabels();
        return labels == null ? null : labels.get(key);
    }
}
