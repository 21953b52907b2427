package dev.pggat.operator.kube;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What a GitOps tool does with our manifests: apply them again and again, and compare what it applied with what the
 * server keeps. A manifest the server normalizes (a field it drops or rewrites) shows as a change on every apply and
 * as a conflict under server-side apply: Argo CD would report it OutOfSync forever.
 */
@RealApiServer
class GitOpsDriftTest {
    @Test
    void deployAppliedTwiceClientSideThenServerSideChangesNothing(KubeApiServer k8s) {
        String deploy = KubeApiServer.repo("deploy").toString();
        k8s.kubectl("apply", "-k", deploy).ok();
        assertAppliedUnchanged(k8s, "-k", deploy);
    }

    @ParameterizedTest
    @ValueSource(strings = {"cnpg.yaml", "zalando.yaml", "static.yaml", "read-write-split.yaml", "tls.yaml",
            "sidecar.yaml", "argocd.yaml"})
    void everyExampleAppliedTwiceClientSideThenServerSideChangesNothing(String example, KubeApiServer k8s) {
        Clusters.installCrds(k8s);
        String file = KubeApiServer.repo("examples/" + example).toString();
        // Each example creates the namespaces it uses: applied to an empty cluster it must succeed as it is.
        k8s.kubectl("apply", "-f", file).ok();
        assertAppliedUnchanged(k8s, "-f", file);
    }

    private static void assertAppliedUnchanged(KubeApiServer k8s, String how, String what) {
        KubeApiServer.Result second = k8s.kubectl("apply", how, what).ok();
        List<String> lines = Arrays.stream(second.output().split("\n"))
                .filter(l -> !l.isBlank())
                .toList();
        assertThat(lines)
                .as("a second client-side apply of %s changes nothing", what)
                .isNotEmpty()
                .allMatch(l -> l.endsWith(" unchanged"));
        assertThat(k8s.kubectl("diff", how, what))
                .as("kubectl diff of %s after applying it", what)
                .extracting(KubeApiServer.Result::code)
                .isEqualTo(0);
        KubeApiServer.Result serverSide = k8s.kubectl("apply", "--server-side", how, what);
        assertThat(serverSide.code())
                .as("server-side apply after client-side apply: %s", serverSide.output())
                .isEqualTo(0);
        KubeApiServer.Result diff = k8s.kubectl("diff", "--server-side", how, what);
        assertThat(diff.code()).as("kubectl diff --server-side of %s: %s", what, diff.output()).isEqualTo(0);
    }
}
