package dev.pggat.operator.webhook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class SidecarPlacementTest {
    @Test
    void autoIsNativeFrom129AndAnOrdinaryContainerBelow() {
        assertThat(SidecarPlacement.choose("auto", "1", "29")).isEqualTo(SidecarPlacement.NATIVE);
        assertThat(SidecarPlacement.choose("auto", "1", "31+")).isEqualTo(SidecarPlacement.NATIVE);
        // 1.28 has native sidecars only behind a gate the operator cannot see.
        assertThat(SidecarPlacement.choose("auto", "1", "28")).isEqualTo(SidecarPlacement.CONTAINER);
        assertThat(SidecarPlacement.choose("auto", "1", "26+")).isEqualTo(SidecarPlacement.CONTAINER);
        assertThat(SidecarPlacement.choose(null, null, null)).isEqualTo(SidecarPlacement.CONTAINER);
    }

    @Test
    void nativeOnlyTrustsTheGateOn128AndRefusesBelowSayingWhy() {
        assertThat(SidecarPlacement.choose("native", "1", "28")).isEqualTo(SidecarPlacement.NATIVE);
        SidecarPlacement old = SidecarPlacement.choose("native", "1", "27");
        assertThat(old.refusal()).contains("--sidecar-mode native", "1.29", "v1.27", "--sidecar-mode auto");
        assertThat(SidecarPlacement.choose("container", "1", "30")).isEqualTo(SidecarPlacement.CONTAINER);
    }

    @Test
    void anUnknownModeNamesTheAcceptedOnes() {
        assertThatThrownBy(() -> SidecarPlacement.choose("sidecar", "1", "30"))
                .hasMessageContaining("--sidecar-mode \"sidecar\"")
                .hasMessageContaining("auto, native, container");
    }
}
