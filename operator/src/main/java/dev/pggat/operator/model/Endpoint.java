package dev.pggat.operator.model;

import dev.pggat.crds.v1alpha1.EndpointRole;

/** One PostgreSQL server as the pooler sees it. */
public record Endpoint(String name, String host, int port, EndpointRole role, String zone, int weight) {
    public static final int DEFAULT_PORT = 5432;
    public static final int DEFAULT_WEIGHT = 100;

    public boolean isPrimary() {
        return role == EndpointRole.PRIMARY;
    }
}
