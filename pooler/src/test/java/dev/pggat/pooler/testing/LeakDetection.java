package dev.pggat.pooler.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Registered for every test class (auto-detected): records each Netty buffer leak the detector reports and fails
 * the class that leaked. Runs with {@code -Dio.netty.leakDetection.level=paranoid} (set in the build), so every
 * buffer is tracked.
 */
public final class LeakDetection implements AfterAllCallback {
    private static final List<String> LEAKS = new CopyOnWriteArrayList<>();

    static {
        ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new ResourceLeakDetectorFactory() {
            @Override
            @SuppressWarnings("deprecation")
            public <T> ResourceLeakDetector<T> newResourceLeakDetector(
                    Class<T> resource, int samplingInterval, long maxActive) {
                ResourceLeakDetector<T> d = new ResourceLeakDetector<>(resource, samplingInterval, maxActive);
                d.setLeakListener((type, records) -> LEAKS.add(type + " leaked:\n" + records));
                return d;
            }
        });
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        // Leaks are found when leaked buffers are collected and the next buffer is tracked.
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
            ByteBuf a = PooledByteBufAllocator.DEFAULT.buffer(8);
            ByteBuf b = UnpooledByteBufAllocator.DEFAULT.buffer(8);
            a.release();
            b.release();
        }
        if (!LEAKS.isEmpty()) {
            String report = String.join("\n\n", LEAKS);
            LEAKS.clear();
            throw new AssertionError("Netty buffer leak(s) detected in " + context.getDisplayName() + ":\n" + report);
        }
    }
}
