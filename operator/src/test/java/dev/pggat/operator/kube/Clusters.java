package dev.pggat.operator.kube;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** Installs, once per run, the CRDs that tests create objects of. */
public final class Clusters {
    private static boolean crds;
    private static boolean deploy;

    private Clusters() {}

    private static final String ARGO_APPLICATION_STAND_IN = """
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata:
              name: applications.argoproj.io
            spec:
              group: argoproj.io
              names: {kind: Application, listKind: ApplicationList, plural: applications, singular: application}
              scope: Namespaced
              versions:
                - name: v1alpha1
                  served: true
                  storage: true
                  schema:
                    openAPIV3Schema:
                      type: object
                      x-kubernetes-preserve-unknown-fields: true
            """;

    /**
     * Our PgPool CRD (the committed one of deploy/), the published CloudNativePG and Zalando CRDs, and a stand-in
     * for Argo CD's Application (its published CRD is not available here; the example is only applied, not acted
     * on).
     */
    public static synchronized void installCrds(KubeApiServer k8s) {
        if (crds) {
            return;
        }
        k8s.kubectl("apply", "-f", KubeApiServer.repo("deploy/crds").toString()).ok();
        Path published = KubeApiServer.publishedCrds();
        try (Stream<Path> files = Files.list(published)) {
            for (Path f :
                    files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
                // Server-side: the CloudNativePG CRD is larger than the last-applied annotation may be.
                k8s.kubectl("apply", "--server-side", "-f", f.toString()).ok();
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        k8s.kubectlWithInput(ARGO_APPLICATION_STAND_IN, "apply", "-f", "-").ok();
        for (String crd : List.of("pgpools.pggat.dev", "clusters.postgresql.cnpg.io", "postgresqls.acid.zalan.do")) {
            k8s.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/" + crd)
                    .ok();
        }
        crds = true;
    }

    /** {@code kubectl apply -k deploy/}: the namespace, RBAC, Deployment, Service and webhook configuration. */
    public static synchronized void installDeploy(KubeApiServer k8s) {
        if (deploy) {
            return;
        }
        installCrds(k8s);
        k8s.kubectl("apply", "-k", KubeApiServer.repo("deploy").toString()).ok();
        k8s.ensureNamespace("pggat-system");
        deploy = true;
    }
}
