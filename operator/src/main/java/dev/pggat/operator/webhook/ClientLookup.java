package dev.pggat.operator.webhook;

import dev.pggat.crds.v1alpha1.PgPool;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.client.KubernetesClient;

/**
 * Reads straight from the API server. A Pod is admitted rarely compared with how often an informer cache would
 * have to hold every PgPool and ConfigMap of the cluster, and a fresh read never injects a stale configuration.
 */
public final class ClientLookup implements SidecarInjector.Lookup {
    private final KubernetesClient client;

    public ClientLookup(KubernetesClient client) {
        this.client = client;
    }

    @Override
    public PgPool pgPool(String namespace, String name) {
        return client.resources(PgPool.class)
                .inNamespace(namespace)
                .withName(name)
                .get();
    }

    @Override
    public ConfigMap configMap(String namespace, String name) {
        return client.configMaps().inNamespace(namespace).withName(name).get();
    }
}
