package dev.pggat.operator.model;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import java.util.List;

/**
 * The JVM settings and the default resources of pooler containers (injected sidecars and the PgPool's Deployment),
 * chosen from measurements with {@code bench/footprint.sh}; docs/benchmarks.md ("Footprint") has the figures and
 * the reasons. The heap is a share of the container's memory limit, so a larger limit gives a larger heap without
 * another flag.
 */
public final class PoolerJvm {
    /** Read by the image's {@code pggat} launcher; replaces its default options. */
    public static final String JAVA_OPTS = "JAVA_OPTS";

    /**
     * Serial GC: no GC threads and the smallest heap overhead, and its pauses stay short with the small heaps of a
     * pooler, whose live set is its sessions. Half the memory limit for the heap, starting small; Netty's pooled
     * buffers in 1 MiB chunks (instead of 4 MiB) and one arena, since a sidecar's few clients never contend for
     * it; direct memory, metaspace and code cache capped at what a busy pooler was seen to use with room to spare;
     * 512 KiB stacks (the event loops recurse little); freed native memory (the JIT's, mostly) handed back to the
     * system every 5 s instead of staying in glibc's arenas. Kept in step with {@code SIDECAR_OPTS} in
     * bench/footprint.sh.
     */
    public static final String OPTIONS = "-XX:+UseSerialGC -XX:MaxRAMPercentage=50 -XX:InitialRAMPercentage=6"
            + " -XX:MaxMetaspaceSize=64m -XX:ReservedCodeCacheSize=32m -Xss512k -XX:MaxDirectMemorySize=32m"
            + " -XX:TrimNativeHeapInterval=5000 -Dio.netty.allocator.maxOrder=7 -Dio.netty.allocator.numDirectArenas=1"
            + " -Dio.netty.allocator.numHeapArenas=1 -XX:+ExitOnOutOfMemoryError";

    /** glibc makes up to 8 malloc arenas per core, each holding freed native memory; two are enough here. */
    public static final String MALLOC_ARENA_MAX = "MALLOC_ARENA_MAX";

    private PoolerJvm() {}

    /** The variables that give a pooler container its JVM settings. */
    public static List<EnvVar> env() {
        return List.of(new EnvVar(JAVA_OPTS, OPTIONS, null), new EnvVar(MALLOC_ARENA_MAX, "2", null));
    }

    /**
     * A sidecar serves one application pod: requests cover a pooler under load (pgbench -S -c 50 peaked below
     * 96 MiB), the limit leaves headroom, and half of it is the heap.
     */
    public static ResourceRequirements sidecarResources() {
        return new ResourceRequirementsBuilder()
                .addToRequests("cpu", new Quantity("50m"))
                .addToRequests("memory", new Quantity("96Mi"))
                .addToLimits("memory", new Quantity("128Mi"))
                .build();
    }

    /**
     * A pooler Deployment serves many application pods: a 256 MiB limit holds thousands of idle clients besides the
     * load a sidecar sees. Used when the PgPool names no resources of its own.
     */
    public static ResourceRequirements deploymentResources() {
        return new ResourceRequirementsBuilder()
                .addToRequests("cpu", new Quantity("100m"))
                .addToRequests("memory", new Quantity("128Mi"))
                .addToLimits("memory", new Quantity("256Mi"))
                .build();
    }
}
