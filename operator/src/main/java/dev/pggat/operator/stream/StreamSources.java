package dev.pggat.operator.stream;

import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.operator.model.ClusterKinds;
import dev.pggat.operator.model.PoolerResources;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The informer caches the endpoint stream is computed from: PgPools, the database pods of CloudNativePG and
 * Zalando clusters, the pooler pods, and the cluster resources of whichever of the two
 * CRDs is installed (watched from the moment its CRD appears). Every operator replica runs its own, leader or not.
 */
final class StreamSources implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StreamSources.class);

    private final KubernetesClient client;
    private final Set<String> namespaces;
    private final Consumer<String> changed;
    private final Executor background;
    private final List<SharedIndexInformer<?>> all = new CopyOnWriteArrayList<>();
    private List<SharedIndexInformer<PgPool>> pools = List.of();
    private final Map<ClusterKinds, List<SharedIndexInformer<Pod>>> clusterPods = new EnumMap<>(ClusterKinds.class);
    private List<SharedIndexInformer<Pod>> poolerPods = List.of();
    private final Map<ClusterKinds, List<SharedIndexInformer<GenericKubernetesResource>>> clusters =
            new java.util.concurrent.ConcurrentHashMap<>();
    private volatile boolean closed;

    /**
     * @param namespaces where PgPools are watched; empty for all
     * @param changed told the namespace of every object that changes
     * @param background where informers for newly installed CRDs are started (it waits for their first list)
     */
    StreamSources(KubernetesClient client, Set<String> namespaces, Consumer<String> changed, Executor background) {
        this.client = client;
        this.namespaces = namespaces;
        this.changed = changed;
        this.background = background;
    }

    /** Starts the informers and returns once their first lists are in. */
    void start() {
        String managed = PoolerResources.MANAGED_BY + "=" + PoolerResources.MANAGED_BY_VALUE;
        pools = each(ns -> ns == null
                ? client.resources(PgPool.class).inAnyNamespace().inform(handler())
                : client.resources(PgPool.class).inNamespace(ns).inform(handler()));
        for (ClusterKinds kind : ClusterKinds.values()) {
            String label = kind.podClusterLabel();
            clusterPods.put(
                    kind,
                    each(ns -> ns == null
                            ? client.pods().inAnyNamespace().withLabel(label).inform(handler())
                            : client.pods().inNamespace(ns).withLabel(label).inform(handler())));
        }
        poolerPods = each(ns -> ns == null
                ? client.pods()
                        .inAnyNamespace()
                        .withLabelSelector(managed)
                        .withLabel("app.kubernetes.io/name", "pggat")
                        .inform(handler())
                : client.pods()
                        .inNamespace(ns)
                        .withLabelSelector(managed)
                        .withLabel("app.kubernetes.io/name", "pggat")
                        .inform(handler()));
        // Cluster-scoped: a CRD appearing is what starts the informer on its kind.
        all.add(client.apiextensions().v1().customResourceDefinitions().inform(new ResourceEventHandler<>() {
            @Override
            public void onAdd(CustomResourceDefinition crd) {
                crdSeen(crd);
            }

            @Override
            public void onUpdate(CustomResourceDefinition oldCrd, CustomResourceDefinition crd) {
                crdSeen(crd);
            }

            @Override
            public void onDelete(CustomResourceDefinition crd, boolean unknownFinalState) {}
        }));
    }

    private void crdSeen(CustomResourceDefinition crd) {
        for (ClusterKinds kind : ClusterKinds.values()) {
            if (kind.crdName().equals(crd.getMetadata().getName()) && !clusters.containsKey(kind)) {
                background.execute(() -> startClusters(kind));
            }
        }
    }

    private synchronized void startClusters(ClusterKinds kind) {
        if (closed || clusters.containsKey(kind)) {
            return;
        }
        ResourceDefinitionContext def = new ResourceDefinitionContext.Builder()
                .withGroup(kind.group)
                .withVersion(kind.version)
                .withKind(kind.kind)
                .withPlural(kind.plural)
                .withNamespaced(true)
                .build();
        try {
            clusters.put(
                    kind,
                    each(ns -> ns == null
                            ? client.genericKubernetesResources(def)
                                    .inAnyNamespace()
                                    .inform(handler())
                            : client.genericKubernetesResources(def)
                                    .inNamespace(ns)
                                    .inform(handler())));
            LOG.info("endpoint stream: watching {} resources ({})", kind.kind, kind.crdName());
        } catch (RuntimeException e) {
            // Right after a CRD is created the API may not serve it yet; its next update event tries again.
            LOG.info("endpoint stream: cannot watch {} yet: {}", kind.crdName(), e.getMessage());
        }
        namespaces().forEach(changed);
    }

    private Stream<String> namespaces() {
        if (!namespaces.isEmpty()) {
            return namespaces.stream();
        }
        return pools.stream()
                .flatMap(i -> i.getStore().list().stream())
                .map(p -> p.getMetadata().getNamespace())
                .distinct();
    }

    private <T extends HasMetadata> List<SharedIndexInformer<T>> each(Function<String, SharedIndexInformer<T>> inform) {
        List<SharedIndexInformer<T>> out = new ArrayList<>();
        if (namespaces.isEmpty()) {
            out.add(inform.apply(null));
        } else {
            for (String ns : namespaces) {
                out.add(inform.apply(ns));
            }
        }
        all.addAll(out);
        return List.copyOf(out);
    }

    private <T extends HasMetadata> ResourceEventHandler<T> handler() {
        return new ResourceEventHandler<>() {
            @Override
            public void onAdd(T o) {
                changed.accept(o.getMetadata().getNamespace());
            }

            @Override
            public void onUpdate(T oldObj, T o) {
                changed.accept(o.getMetadata().getNamespace());
            }

            @Override
            public void onDelete(T o, boolean deletedFinalStateUnknown) {
                changed.accept(o.getMetadata().getNamespace());
            }
        };
    }

    List<PgPool> pools(String namespace) {
        return inNamespace(pools, namespace);
    }

    List<PgPool> allPools() {
        return pools.stream().flatMap(i -> i.getStore().list().stream()).toList();
    }

    PgPool pool(String namespace, String name) {
        return byName(pools, namespace, name);
    }

    /** The cluster resource, or null when it does not exist or its CRD is not (yet) watched. */
    GenericKubernetesResource cluster(ClusterKinds kind, String namespace, String name) {
        List<SharedIndexInformer<GenericKubernetesResource>> informers = clusters.get(kind);
        return informers == null ? null : byName(informers, namespace, name);
    }

    List<Pod> clusterPods(ClusterKinds kind, String namespace, String clusterName) {
        String label = kind.podClusterLabel();
        return inNamespace(clusterPods.getOrDefault(kind, List.of()), namespace).stream()
                .filter(p -> clusterName.equals(Snapshots.label(p, label)))
                .toList();
    }

    List<Pod> poolerPods(PgPool pool) {
        return inNamespace(poolerPods, pool.getMetadata().getNamespace()).stream()
                .filter(p -> Snapshots.isPoolerPodOf(p, pool))
                .toList();
    }

    private static <T extends HasMetadata> List<T> inNamespace(List<SharedIndexInformer<T>> informers, String ns) {
        List<T> out = new ArrayList<>();
        for (SharedIndexInformer<T> i : informers) {
            for (T o : i.getStore().list()) {
                if (ns.equals(o.getMetadata().getNamespace())) {
                    out.add(o);
                }
            }
        }
        return out;
    }

    private static <T extends HasMetadata> T byName(List<SharedIndexInformer<T>> informers, String ns, String name) {
        for (SharedIndexInformer<T> i : informers) {
            T o = i.getStore().getByKey(ns + "/" + name);
            if (o != null) {
                return o;
            }
        }
        return null;
    }

    @Override
    public synchronized void close() {
        closed = true;
        all.forEach(SharedIndexInformer::close);
    }
}
