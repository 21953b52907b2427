package dev.pggat.operator.manifests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.crds.v1alpha1.PgPool;
import org.junit.jupiter.api.Test;

/** The strict reader the manifest tests rely on really refuses what the API server would ignore. */
class StrictManifestsTest {
    private static void read(String yaml) {
        StrictManifests.typed(StrictManifests.documents(yaml).get(0), "test.yaml");
    }

    @Test
    void misspeltKeyInABuiltInKindFailsNamingItsPath() {
        assertThatThrownBy(() -> read("""
                        apiVersion: apps/v1
                        kind: Deployment
                        metadata: {name: x}
                        spec:
                          replica: 2
                          template:
                            spec:
                              containers:
                                - name: a
                                  image: a
                                  imagePullPolicy: Always
                                  imagePulPolicy: Always
                        """))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("/spec")
                .hasMessageContaining("replica")
                .hasMessageContaining("imagePulPolicy");
    }

    @Test
    void misspeltKeyInAPgPoolFailsNamingItsPath() {
        assertThatThrownBy(() -> read("""
                        apiVersion: pggat.dev/v1alpha1
                        kind: PgPool
                        metadata: {name: x}
                        spec:
                          cluster:
                            cnpg: {name: pg}
                          pool:
                            maxServerConections: 5
                        """))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("maxServerConections");
    }

    @Test
    void wrongValueTypeFailsAndAKindWithoutModelFails() {
        assertThatThrownBy(() -> read("""
                        apiVersion: pggat.dev/v1alpha1
                        kind: PgPool
                        metadata: {name: x}
                        spec:
                          cluster:
                            cnpg: {name: pg}
                          routing:
                            consistency: strong
                        """)).isInstanceOf(AssertionError.class).hasMessageContaining("does not parse");
        assertThatThrownBy(() -> read("""
                        apiVersion: cert-manager.io/v1
                        kind: Certificate
                        metadata: {name: x}
                        """)).isInstanceOf(AssertionError.class).hasMessageContaining("no typed model");
    }

    @Test
    void aCorrectPgPoolReadsAsThePgPoolModel() {
        var o = StrictManifests.typed(StrictManifests.documents("""
                                apiVersion: pggat.dev/v1alpha1
                                kind: PgPool
                                metadata: {name: x, namespace: y}
                                spec:
                                  cluster:
                                    cnpg: {name: pg}
                                  routing: {readWriteSplit: true, consistency: read-your-writes}
                                """).get(0), "test.yaml");
        assertThat(o).isInstanceOf(PgPool.class);
        assertThat(((PgPool) o).getSpec().routing.readWriteSplit).isTrue();
    }
}
