package dev.pggat.crds.v1alpha1;

public enum ServiceType {
    ClusterIP,
    NodePort,
    LoadBalancer
}
