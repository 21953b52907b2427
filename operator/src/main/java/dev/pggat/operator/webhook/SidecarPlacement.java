package dev.pggat.operator.webhook;

import java.util.Locale;

/**
 * Where the injected pooler goes. A native sidecar (an init container with {@code restartPolicy: Always}, Kubernetes
 * 1.29, or 1.28 with the SidecarContainers feature gate) starts before the app's containers and stops after them.
 * Older API servers drop {@code restartPolicy} from init containers and then refuse the pod (an init container may
 * not have a liveness probe), so there the pooler becomes an ordinary container, listed first. The caveat: the
 * kubelet does not wait for it, so the app may try to connect before the pooler listens (clients retry), and both
 * get SIGTERM together when the pod stops (the pooler drains its clients meanwhile); a Job's pod never completes
 * while the pooler runs.
 *
 * @param nativeSidecar true: an init container with {@code restartPolicy: Always}; false: the first container
 * @param refusal when not null, labelled pods are refused with this message (native sidecars asked for, not
 *     available)
 */
public record SidecarPlacement(boolean nativeSidecar, String refusal) {
    public static final SidecarPlacement NATIVE = new SidecarPlacement(true, null);
    public static final SidecarPlacement CONTAINER = new SidecarPlacement(false, null);

    public static final String AUTO = "auto";
    public static final String NATIVE_ONLY = "native";
    public static final String CONTAINER_ONLY = "container";

    /**
     * @param mode {@value #AUTO} (native from 1.29, a container below), {@value #NATIVE_ONLY} (native from 1.28, whose
     *     feature gate the cluster admin enabled; refused below) or {@value #CONTAINER_ONLY}
     * @param major the API server's major version, e.g. "1"
     * @param minor the API server's minor version, e.g. "26" or "26+"
     */
    public static SidecarPlacement choose(String mode, String major, String minor) {
        String m = mode == null ? AUTO : mode.trim().toLowerCase(Locale.ROOT);
        int[] v = version(major, minor);
        String shown = "v" + v[0] + "." + v[1];
        return switch (m) {
            case CONTAINER_ONLY -> CONTAINER;
            case AUTO -> atLeast(v, 1, 29) ? NATIVE : CONTAINER;
            case NATIVE_ONLY ->
                atLeast(v, 1, 28)
                        ? NATIVE
                        : new SidecarPlacement(
                                true,
                                "the pggat sidecar is configured as a native sidecar only (operator option --sidecar-mode"
                                        + " native), which needs Kubernetes 1.29, or 1.28 with the SidecarContainers"
                                        + " feature gate, and this API server is " + shown + "; run the operator with"
                                        + " --sidecar-mode auto to inject an ordinary container here, or keep the pod"
                                        + " out of injection with annotation " + SidecarInjector.INJECT_ANNOTATION
                                        + ": \"false\"");
            default ->
                throw new IllegalArgumentException("--sidecar-mode \"" + mode + "\" is not known; accepted: " + AUTO
                        + ", " + NATIVE_ONLY + ", " + CONTAINER_ONLY);
        };
    }

    private static boolean atLeast(int[] v, int major, int minor) {
        return v[0] > major || (v[0] == major && v[1] >= minor);
    }

    /** Managed clusters report minors like "26+"; only the leading digits count. */
    private static int[] version(String major, String minor) {
        return new int[] {digits(major), digits(minor)};
    }

    private static int digits(String s) {
        if (s == null) {
            return 0;
        }
        int i = 0;
        while (i < s.length() && Character.isDigit(s.charAt(i))) {
            i++;
        }
        return i == 0 ? 0 : Integer.parseInt(s.substring(0, i));
    }
}
