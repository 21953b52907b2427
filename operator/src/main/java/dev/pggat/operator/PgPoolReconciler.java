package dev.pggat.operator;

import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.PgPoolStatus;
import dev.pggat.operator.model.ClusterKinds;
import dev.pggat.operator.model.Credentials;
import dev.pggat.operator.model.PoolerConfig;
import dev.pggat.operator.model.PoolerDatabase;
import dev.pggat.operator.model.PoolerResources;
import dev.pggat.operator.model.Problem;
import dev.pggat.operator.model.SpecValidation;
import dev.pggat.operator.model.StatusModel;
import dev.pggat.operator.model.StatusModel.Outcome;
import dev.pggat.operator.model.Topologies;
import dev.pggat.operator.model.Topology;
import dev.pggat.operator.stream.EndpointHub;
import dev.pggat.operator.stream.PoolerVersions;
import dev.pggat.operator.stream.Snapshots;
import dev.pggat.operator.stream.StreamAuth;
import dev.pggat.operator.stream.StreamTokens;
import dev.pggat.operator.stream.VersionEvents;
import dev.pggat.operator.webhook.SidecarInjector;
import dev.pggat.pooler.routing.EndpointSet;
import dev.pggat.pooler.stream.InstanceIds;
import dev.pggat.pooler.stream.StreamProtocol;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.ResourceCache;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.Mappers;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns a PgPool into a pooler ConfigMap, Deployment, Service and PodDisruptionBudget, and keeps the ConfigMap's
 * endpoints in step with the cluster's primary and replicas.
 */
@ControllerConfiguration(name = "pgpool")
public class PgPoolReconciler implements Reconciler<PgPool>, Cleaner<PgPool> {
    private static final Logger LOG = LoggerFactory.getLogger(PgPoolReconciler.class);

    /** Hash of the desired object, so that server-side defaults never make an unchanged object look different. */
    static final String DESIRED_HASH_ANNOTATION = "pggat.dev/desired-hash";

    private final String defaultImage;
    private final Duration recheck;
    private final Clock clock;
    private final ClusterWatches clusterWatches = new ClusterWatches();
    private final String streamBaseUrl;

    private final PggatOperator.Options options;
    private final PoolerVersions poolerVersions;

    /**
     * @param defaultImage pooler image when the PgPool names none
     * @param recheck how soon to look again while waiting on something no informer reports (a Secret, a pod IP)
     */
    public PgPoolReconciler(String defaultImage, Duration recheck, Clock clock, PggatOperator.Options options) {
        this.defaultImage = defaultImage;
        this.recheck = recheck;
        this.clock = clock;
        this.options = options;
        this.streamBaseUrl = options.streamBaseUrl();
        this.poolerVersions =
                options.hub() != null && streamBaseUrl != null ? new PoolerVersions(Duration.ofSeconds(1)) : null;
    }

    /** Objects this operator made for a PgPool (labelled as managed), mapped back through their owner reference. */
    private static <R extends HasMetadata> InformerEventSource<R, PgPool> owned(
            Class<R> type, String managedSelector, EventSourceContext<PgPool> context) {
        return new InformerEventSource<>(
                InformerEventSourceConfiguration.from(type, PgPool.class)
                        .withLabelSelector(managedSelector)
                        .withSecondaryToPrimaryMapper(Mappers.fromOwnerReferences(PgPool.class))
                        .build(),
                context);
    }

    /** The database pods of one cluster kind, mapped to the PgPools whose cluster they belong to. */
    private static InformerEventSource<Pod, PgPool> clusterPods(
            String name, ClusterKinds kind, ResourceCache<PgPool> primaries, EventSourceContext<PgPool> context) {
        return new InformerEventSource<>(
                InformerEventSourceConfiguration.from(Pod.class, PgPool.class)
                        .withName(name)
                        .withLabelSelector(kind.podClusterLabel())
                        .withSecondaryToPrimaryMapper((Pod pod) -> ClusterWatches.referencing(primaries, kind, pod))
                        .build(),
                context);
    }

    /** Pods whose label {@code ownerLabel} names their PgPool (in the pod's namespace). */
    private static InformerEventSource<Pod, PgPool> podsNamingTheirPgPool(
            String name, String selector, String ownerLabel, EventSourceContext<PgPool> context) {
        return new InformerEventSource<>(
                InformerEventSourceConfiguration.from(Pod.class, PgPool.class)
                        .withName(name)
                        .withLabelSelector(selector)
                        .withSecondaryToPrimaryMapper((Pod pod) -> {
                            Map<String, String> labels = pod.getMetadata().getLabels();
                            String owner = labels == null ? null : labels.get(ownerLabel);
                            return owner == null
                                    ? Set.of()
                                    : Set.of(new ResourceID(
                                            owner, pod.getMetadata().getNamespace()));
                        })
                        .build(),
                context);
    }

    @Override
    public List<EventSource<?, PgPool>> prepareEventSources(EventSourceContext<PgPool> context) {
        var primaries = context.getPrimaryCache();
        String managed = PoolerResources.MANAGED_BY + "=" + PoolerResources.MANAGED_BY_VALUE;
        var configMaps = owned(ConfigMap.class, managed, context);
        var deployments = owned(Deployment.class, managed, context);
        var services = owned(Service.class, managed, context);
        var pdbs = owned(PodDisruptionBudget.class, managed, context);
        var cnpgPods = clusterPods("cnpg-pods", ClusterKinds.CNPG, primaries, context);
        var zalandoPods = clusterPods("zalando-pods", ClusterKinds.ZALANDO, primaries, context);
        // A new pooler pod needs its cancel-key instance id before it hands out keys.
        var poolerPods = podsNamingTheirPgPool(
                POOLER_PODS, managed + ",app.kubernetes.io/component=pooler", PoolerResources.INSTANCE, context);
        // A sidecar starting, getting its address or going away changes status.sidecars.
        var sidecarPods = podsNamingTheirPgPool(
                SIDECAR_PODS, SidecarInjector.SIDECAR_OF_LABEL, SidecarInjector.SIDECAR_OF_LABEL, context);
        // A CRD appearing is what lets a waiting PgPool start its cluster informer.
        var crds = new InformerEventSource<>(
                InformerEventSourceConfiguration.from(CustomResourceDefinition.class, PgPool.class)
                        .withName("cluster-crds")
                        .withSecondaryToPrimaryMapper((CustomResourceDefinition crd) -> waitingOn(primaries, crd))
                        .build(),
                context);
        List<EventSource<?, PgPool>> sources =
                new java.util.ArrayList<>(List.of(configMaps, deployments, services, pdbs, cnpgPods, zalandoPods));
        sources.add(poolerPods);
        sources.add(sidecarPods);
        sources.add(crds);
        if (poolerVersions != null) {
            sources.add(new VersionEvents(options.hub()));
        }
        return sources;
    }

    private static Set<ResourceID> waitingOn(ResourceCache<PgPool> primaries, CustomResourceDefinition crd) {
        for (ClusterKinds kind : ClusterKinds.values()) {
            if (kind.crdName().equals(crd.getMetadata().getName())) {
                return primaries
                        .list()
                        .filter(p -> ClusterWatches.clusterName(p, kind) != null)
                        .map(ResourceID::fromResource)
                        .collect(Collectors.toSet());
            }
        }
        return Set.of();
    }

    @Override
    public UpdateControl<PgPool> reconcile(PgPool pool, Context<PgPool> context) {
        KubernetesClient client = context.getClient();
        long generation = pool.getMetadata().getGeneration() == null
                ? 0
                : pool.getMetadata().getGeneration();
        Outcome outcome;
        Topology topology = null;
        Long endpointSetVersion = null;
        Integer podsAtVersion = null;
        Integer podsCounted = null;
        boolean podsBehind = false;
        StatusModel.Sidecars sidecars = null;
        try {
            PgPoolSpec spec = pool.getSpec();
            SpecValidation.check(spec);
            if (streamBaseUrl != null) {
                // Before discovery, which may wait: pods that already run need their ids either way.
                assignInstanceIds(client, pool);
            }
            Discovered discovered = discover(client, pool, context);
            topology = discovered.topology();
            // The configuration file must name a primary; while none is settled it names the cluster's read-write
            // Service, never a pod that has stopped being the primary.
            Topology forFile = topology.hasPrimary() || spec.cluster.discoveredByPooler()
                    ? topology
                    : topology.withPrimary(discovered.standInPrimary());
            PoolerConfig config = PoolerConfig.render(spec, forFile, discovered.databases());
            requireTlsSecret(client, pool);
            ConfigMap currentConfigMap = client.configMaps()
                    .inNamespace(ns(pool))
                    .withName(PoolerResources.configMapName(pool))
                    .get();
            endpointSetVersion = PoolerResources.nextEndpointSetVersion(currentConfigMap, forFile, clock.millis());
            apply(client, pool, PoolerResources.configMap(pool, config, forFile, endpointSetVersion));
            EndpointSet served = servedSet(pool);
            if (PoolerResources.deploymentEnabled(pool)) {
                String streamUrl = null;
                if (streamBaseUrl != null) {
                    if (options.streamAuth() == StreamAuth.TOKEN) {
                        ensureStreamToken(client, pool);
                    }
                    streamUrl = streamBaseUrl + StreamProtocol.path(ns(pool), name(pool));
                }
                Deployment deployment = apply(
                        client,
                        pool,
                        PoolerResources.deployment(pool, config, defaultImage, streamUrl, options.streamAuth()));

                apply(client, pool, PoolerResources.service(pool));
                apply(client, pool, PoolerResources.podDisruptionBudget(pool));
                outcome = StatusModel.rollout(deployment, PoolerResources.replicas(pool));
                if (served != null) {
                    PoolerVersions.Count count = poolerVersions.count(poolerPods(pool, context), served);
                    podsAtVersion = count.atVersion();
                    podsCounted = count.pods();
                    podsBehind = count.atVersion() < count.pods();
                } else {
                    podsAtVersion = StatusModel.podsAtVersion(deployment);
                }
            } else {
                deleteWorkloads(client, pool);
                outcome = Outcome.ready("configuration written; no pooler Deployment (spec.deployment.enabled=false)");
                podsAtVersion = 0;
                podsCounted = 0;
            }
            if (served != null) {
                endpointSetVersion = served.version();
                // Sidecars follow the same stream; a PgPool used only through them has no Deployment at all.
                PoolerVersions.Count count =
                        poolerVersions.count(sidecarPods(pool, context), served, SidecarInjector.ADMIN_PORT_NAME);
                sidecars = new StatusModel.Sidecars(count.pods(), count.atVersion());
                podsBehind |= count.atVersion() < count.pods();
            }
            // A source the pooler follows itself (Patroni, Cloud SQL, DigitalOcean) has no topology here.
            if (!topology.hasPrimary() && !spec.cluster.discoveredByPooler()) {
                outcome = Outcome.progressing(
                        "PrimaryNotFound",
                        discovered.clusterDescription() + " has no primary that may take writes now (a switchover or"
                                + " failover is under way); writes wait, reads go to "
                                + topology.replicas().size() + " replica(s)");
            }
        } catch (Problem p) {
            outcome = Outcome.of(p);
            LOG.info("PgPool {}/{}: {}", ns(pool), name(pool), p.getMessage());
        } catch (KubernetesClientException e) {
            if (e.getCode() != 403) {
                throw e;
            }
            // A missing permission does not go away by retrying at once; say so on the PgPool, look again later.
            String why = e.getStatus() != null && e.getStatus().getMessage() != null
                    ? e.getStatus().getMessage()
                    : e.getMessage();
            outcome = Outcome.progressing(
                    "Forbidden",
                    why + "; grant it to the operator's ServiceAccount (see the RBAC table of docs/operator.md)");
            LOG.warn("PgPool {}/{}: {}", ns(pool), name(pool), outcome.message());
        }
        PgPoolStatus nextStatus = StatusModel.next(
                pool.getStatus(),
                generation,
                outcome,
                topology,
                endpointSetVersion,
                podsAtVersion,
                podsCounted,
                sidecars,
                clock.instant());
        if (writeStatusIfChanged(client, pool, nextStatus)) {
            ReconcileEvents.recordTransition(client, pool, pool.getStatus(), nextStatus, clock.instant());
        }
        UpdateControl<PgPool> control = UpdateControl.noUpdate();
        // Informers report rollouts, pods and clusters; only waits on Secrets and CRD-less kinds need a timer.
        if (outcome.state() == Outcome.State.PROGRESSING && !"RollingOut".equals(outcome.reason())) {
            return control.rescheduleAfter(recheck);
        }
        // Nothing reports a pooler pod applying a snapshot: ask again until every pod has.
        return podsBehind ? control.rescheduleAfter(options.statusRecheck()) : control;
    }

    /**
     * The endpoint set this process's stream serves for the PgPool, or null when the status reports the
     * configuration's version instead (no stream, or the stream knows no servers for the PgPool).
     */
    private EndpointSet servedSet(PgPool pool) {
        if (poolerVersions == null) {
            return null;
        }
        EndpointHub.PoolStream stream = options.hub().stream(Snapshots.key(pool));
        EndpointHub.Snapshot current = stream == null ? null : stream.current();
        return current == null ? null : current.envelope().endpoints();
    }

    /** From the informer cache: asking each pod over HTTP is the costly part, listing them need not be. */
    @SuppressWarnings("unchecked")
    private static List<Pod> poolerPods(PgPool pool, Context<PgPool> context) {
        var source = context.eventSourceRetriever().getEventSourceFor(Pod.class, POOLER_PODS);
        return ((InformerEventSource<Pod, PgPool>) source)
                .list(ns(pool), p -> Snapshots.isPoolerPodOf(p, pool))
                .toList();
    }

    private static final String POOLER_PODS = "pooler-pods";

    /** Application pods whose injected sidecar serves the PgPool, from the informer cache. */
    @SuppressWarnings("unchecked")
    private static List<Pod> sidecarPods(PgPool pool, Context<PgPool> context) {
        var source = context.eventSourceRetriever().getEventSourceFor(Pod.class, SIDECAR_PODS);
        return ((InformerEventSource<Pod, PgPool>) source)
                .list(ns(pool), p -> name(pool).equals(sidecarOf(p)))
                .toList();
    }

    private static final String SIDECAR_PODS = "sidecar-pods";

    private static String sidecarOf(Pod pod) {
        Map<String, String> labels = pod.getMetadata().getLabels();
        return labels == null ? null : labels.get(SidecarInjector.SIDECAR_OF_LABEL);
    }

    /** Created once; a token already there is kept, so running poolers stay subscribed across reconciles. */
    private static void ensureStreamToken(KubernetesClient client, PgPool pool) {
        Secret current = secret(client, pool, StreamTokens.secretName(pool));
        if (current == null) {
            client.resource(PoolerResources.streamTokenSecret(pool, StreamTokens.generate()))
                    .create();
        } else if (!ownedBy(current, pool)) {
            throw Problem.invalid(
                    "NameConflict",
                    "Secret " + StreamTokens.secretName(pool) + " already exists and does not belong to PgPool "
                            + name(pool) + "; rename or delete one of them");
        }
    }

    /**
     * Gives every pooler pod of the PgPool that has none the lowest free cancel-key instance id (0-126). Reads pods
     * from the API rather than a cache, so that an id just given is never given twice.
     */
    private static void assignInstanceIds(KubernetesClient client, PgPool pool) {
        List<Pod> pods = client.pods()
                .inNamespace(ns(pool))
                .withLabels(PoolerResources.selectorLabels(pool))
                .list()
                .getItems();
        Set<Integer> used = new java.util.HashSet<>();
        for (Pod p : pods) {
            Integer id = Snapshots.instanceId(p);
            if (id != null) {
                used.add(id);
            }
        }
        List<Pod> waiting = pods.stream()
                .filter(p -> Snapshots.instanceId(p) == null && p.getMetadata().getDeletionTimestamp() == null)
                .sorted(java.util.Comparator.comparing(
                        (Pod p) -> p.getMetadata().getName()))
                .toList();
        int next = 0;
        for (Pod p : waiting) {
            while (used.contains(next)) {
                next++;
            }
            if (next >= InstanceIds.UNASSIGNED) {
                LOG.warn(
                        "PgPool {}/{}: more than {} pooler pods; pod {} gets no cancel-key instance id and its"
                                + " clients' cancels are honoured only when they reach it directly",
                        ns(pool),
                        name(pool),
                        InstanceIds.UNASSIGNED,
                        p.getMetadata().getName());
                return;
            }
            String id = Integer.toString(next);
            used.add(next);
            try {
                client.pods()
                        .inNamespace(ns(pool))
                        .withName(p.getMetadata().getName())
                        .edit(live -> {
                            if (live.getMetadata().getAnnotations() == null) {
                                live.getMetadata().setAnnotations(new HashMap<>());
                            }
                            live.getMetadata().getAnnotations().putIfAbsent(Snapshots.INSTANCE_ID_ANNOTATION, id);
                            return live;
                        });
            } catch (KubernetesClientException e) {
                if (e.getCode() != 404) {
                    throw e;
                }
            }
        }
    }

    /**
     * @param standInPrimary what the configuration file names as primary while the topology has none
     */
    private record Discovered(
            Topology topology,
            List<PoolerDatabase> databases,
            dev.pggat.pooler.config.Endpoint standInPrimary,
            String clusterDescription) {}

    private Discovered discover(KubernetesClient client, PgPool pool, Context<PgPool> context) {
        PgPoolSpec spec = pool.getSpec();
        if (spec.cluster.discoveredByPooler()) {
            // The pooler finds the servers itself; the configuration names its discovery source.
            List<PoolerDatabase> dbs = Credentials.ofSpec(spec.databases);
            requireSecrets(client, pool, dbs);
            return new Discovered(Topology.discoveredByPooler(), dbs, null, "the pooler's discovery source");
        }
        if (spec.cluster.staticCluster != null) {
            List<PoolerDatabase> dbs = Credentials.ofSpec(spec.databases);
            requireSecrets(client, pool, dbs);
            return new Discovered(Topologies.of(spec.cluster, null, List.of()), dbs, null, "spec.cluster.static");
        }
        ClusterKinds kind = spec.cluster.cnpg != null ? ClusterKinds.CNPG : ClusterKinds.ZALANDO;
        String clusterName = spec.cluster.cnpg != null ? spec.cluster.cnpg.name : spec.cluster.zalando.name;
        watchClusters(client, kind, context);
        GenericKubernetesResource cluster = client.genericKubernetesResources(definition(kind))
                .inNamespace(ns(pool))
                .withName(clusterName)
                .get();
        if (cluster == null) {
            throw Problem.waiting(
                    "ClusterNotFound",
                    kind.kind + " " + clusterName + " (" + kind.apiVersion() + ") does not exist in" + " namespace "
                            + ns(pool));
        }
        List<Pod> pods = client.pods()
                .inNamespace(ns(pool))
                .withLabel(kind.podClusterLabel(), clusterName)
                .list()
                .getItems();
        Topology topology = Topologies.of(spec.cluster, cluster, pods);
        int port =
                pods.isEmpty() ? dev.pggat.pooler.config.Endpoint.DEFAULT_PORT : Topologies.postgresPort(pods.get(0));
        List<PoolerDatabase> dbs;
        if (spec.databases != null && !spec.databases.isEmpty()) {
            dbs = Credentials.ofSpec(spec.databases);
        } else if (kind == ClusterKinds.CNPG) {
            dbs = Credentials.ofCnpgAppSecret(
                    clusterName, secret(client, pool, Credentials.cnpgAppSecretName(clusterName)));
        } else {
            dbs = Credentials.ofZalando(cluster, name -> secret(client, pool, name));
        }
        requireSecrets(client, pool, dbs);
        return new Discovered(
                topology,
                dbs,
                Topologies.readWriteService(kind, clusterName, ns(pool), port),
                kind.kind + " " + clusterName);
    }

    /** A pod whose Secret key is missing never starts; say which one instead of leaving pods stuck. */
    private static void requireSecrets(KubernetesClient client, PgPool pool, List<PoolerDatabase> dbs) {
        Map<String, Secret> seen = new HashMap<>();
        for (PoolerDatabase db : dbs) {
            for (PoolerDatabase.PoolerUser u : db.users()) {
                Secret s = seen.computeIfAbsent(u.secretName(), n -> secret(client, pool, n));
                if (s == null) {
                    throw Problem.waiting(
                            "SecretNotFound",
                            "Secret " + u.secretName() + " (password of user " + u.name() + ", database " + db.name()
                                    + ") does not exist in namespace " + ns(pool));
                }
                if (!Credentials.hasKey(s, u.secretKey())) {
                    throw Problem.invalid(
                            "SecretKeyNotFound",
                            "Secret " + u.secretName() + " has no key " + u.secretKey() + " (password of user "
                                    + u.name() + ", database " + db.name() + ")");
                }
            }
        }
    }

    /** Without its TLS Secret a pooler pod never leaves ContainerCreating; say so on the PgPool. */
    private static void requireTlsSecret(KubernetesClient client, PgPool pool) {
        String name = PoolerResources.tlsSecretName(pool);
        if (name == null) {
            return;
        }
        Secret s = secret(client, pool, name);
        if (s == null) {
            throw Problem.waiting(
                    "TlsSecretNotFound",
                    "Secret " + name + " (spec.tls.secretRef) does not exist in namespace " + ns(pool));
        }
        for (String key : List.of(PoolerConfig.TLS_CERT_KEY, PoolerConfig.TLS_KEY_KEY)) {
            if (!Credentials.hasKey(s, key)) {
                throw Problem.invalid(
                        "TlsSecretKeyNotFound",
                        "Secret " + name + " (spec.tls.secretRef) has no key " + key + "; accepted: a"
                                + " kubernetes.io/tls Secret with tls.crt and tls.key");
            }
        }
    }

    private static Secret secret(KubernetesClient client, PgPool pool, String name) {
        return client.secrets().inNamespace(ns(pool)).withName(name).get();
    }

    private void watchClusters(KubernetesClient client, ClusterKinds kind, Context<PgPool> context) {
        if (clusterWatches.isRegistered(kind)) {
            return;
        }
        CustomResourceDefinition crd = client.apiextensions()
                .v1()
                .customResourceDefinitions()
                .withName(kind.crdName())
                .get();
        if (crd == null) {
            throw Problem.waiting(
                    "CrdNotInstalled",
                    "CRD " + kind.crdName() + " is not installed; the PgPool proceeds once its operator is");
        }
        try {
            clusterWatches.ensureRegistered(kind, context);
        } catch (RuntimeException e) {
            // Right after a CRD is created the API may not serve it yet; the next attempt will succeed.
            throw Problem.waiting("CrdNotServed", "cannot watch " + kind.crdName() + " yet: " + e.getMessage());
        }
    }

    static ResourceDefinitionContext definition(ClusterKinds kind) {
        return new ResourceDefinitionContext.Builder()
                .withGroup(kind.group)
                .withVersion(kind.version)
                .withKind(kind.kind)
                .withPlural(kind.plural)
                .withNamespaced(true)
                .build();
    }

    /**
     * Creates the object, or replaces it when what we want differs from what we last wrote. Comparing hashes of our
     * own desired objects, not live objects, keeps server-side defaults from causing a write on every pass.
     */
    @SuppressWarnings("unchecked")
    private static <T extends HasMetadata> T apply(KubernetesClient client, PgPool pool, T desired) {
        String hash = hashOf(desired);
        desired.getMetadata().getAnnotations().put(DESIRED_HASH_ANNOTATION, hash);
        T current = client.resource(desired).get();
        if (current == null) {
            return client.resource(desired).create();
        }
        if (!ownedBy(current, pool)) {
            throw Problem.invalid(
                    "NameConflict",
                    current.getKind() + " " + current.getMetadata().getName() + " already exists and does not belong"
                            + " to PgPool " + name(pool) + "; rename or delete one of them");
        }
        Map<String, String> annotations = current.getMetadata().getAnnotations();
        if (annotations != null && hash.equals(annotations.get(DESIRED_HASH_ANNOTATION))) {
            return current;
        }
        desired.getMetadata().setResourceVersion(current.getMetadata().getResourceVersion());
        return client.resource(desired).update();
    }

    private static String hashOf(HasMetadata desired) {
        if (desired.getMetadata().getAnnotations() == null) {
            desired.getMetadata().setAnnotations(new HashMap<>());
        }
        desired.getMetadata().getAnnotations().remove(DESIRED_HASH_ANNOTATION);
        String json = io.fabric8.kubernetes.client.utils.Serialization.asJson(desired);
        try {
            var digest =
                    java.security.MessageDigest.getInstance("SHA-256").digest(json.getBytes(StandardCharsets.UTF_8));
            return java.util.HexFormat.of().formatHex(digest, 0, 16);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    private static boolean ownedBy(HasMetadata o, PgPool pool) {
        return o.getMetadata().getOwnerReferences() != null
                && o.getMetadata().getOwnerReferences().stream()
                        .anyMatch(r ->
                                Objects.equals(r.getUid(), pool.getMetadata().getUid()));
    }

    private static void deleteWorkloads(KubernetesClient client, PgPool pool) {
        deleteIfOwned(
                client,
                pool,
                client.apps()
                        .deployments()
                        .inNamespace(ns(pool))
                        .withName(PoolerResources.deploymentName(pool))
                        .get());
        deleteIfOwned(
                client,
                pool,
                client.services()
                        .inNamespace(ns(pool))
                        .withName(PoolerResources.serviceName(pool))
                        .get());
        deleteIfOwned(
                client,
                pool,
                client.policy()
                        .v1()
                        .podDisruptionBudget()
                        .inNamespace(ns(pool))
                        .withName(PoolerResources.pdbName(pool))
                        .get());
    }

    private static void deleteIfOwned(KubernetesClient client, PgPool pool, HasMetadata o) {
        if (o != null && ownedBy(o, pool)) {
            client.resource(o).delete();
        }
    }

    /**
     * Writes only the status, and only when it changed. It is a PUT to the status subresource carrying the
     * resourceVersion we reconciled, so a status computed from a stale spec is refused (409) and retried. Not a merge
     * patch: the test API server appends list items on merge instead of replacing the list. No query string: the
     * test API server drops status writes that carry one.
     */
    /** @return whether the status was written */
    private static boolean writeStatusIfChanged(KubernetesClient client, PgPool pool, PgPoolStatus next) {
        if (next.equals(pool.getStatus())) {
            return false;
        }
        PgPool update = new PgPool();
        update.setMetadata(new ObjectMetaBuilder()
                .withName(name(pool))
                .withNamespace(ns(pool))
                .withResourceVersion(pool.getMetadata().getResourceVersion())
                .build());
        update.setSpec(pool.getSpec());
        update.setStatus(next);
        try {
            client.resource(update).updateStatus();
            return true;
        } catch (KubernetesClientException e) {
            if (e.getCode() != 404) {
                throw e;
            }
            return false;
        }
    }

    /**
     * Owner references make the API server's garbage collector delete the objects; deleting them here as well
     * makes removal immediate and works where no garbage collector runs.
     */
    @Override
    public DeleteControl cleanup(PgPool pool, Context<PgPool> context) {
        KubernetesClient client = context.getClient();
        deleteWorkloads(client, pool);
        deleteIfOwned(client, pool, secret(client, pool, StreamTokens.secretName(pool)));
        deleteIfOwned(
                client,
                pool,
                client.configMaps()
                        .inNamespace(ns(pool))
                        .withName(PoolerResources.configMapName(pool))
                        .get());
        return DeleteControl.defaultDelete();
    }

    private static String ns(PgPool pool) {
        return pool.getMetadata().getNamespace();
    }

    private static String name(PgPool pool) {
        return pool.getMetadata().getName();
    }
}
