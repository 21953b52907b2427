package dev.pggat.pooler.testing;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import java.io.PrintWriter;
import java.lang.reflect.Method;
import java.util.Arrays;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * Runs one fuzz test ({@code Class#method}) in this JVM, for .ci/fuzz: Jazzer fuzzes one target per JVM, and a
 * JVM per target costs seconds here where a Maven run per target would cost tens of seconds. The exit status is 0
 * only when the target ran and found nothing.
 */
public final class FuzzMain {
    private FuzzMain() {}

    public static void main(String[] args) throws ClassNotFoundException {
        if (args.length != 1 || !args[0].contains("#")) {
            System.err.println("usage: FuzzMain fully.qualified.Class#method");
            System.exit(2);
        }
        String className = args[0].substring(0, args[0].indexOf('#'));
        String methodName = args[0].substring(args[0].indexOf('#') + 1);
        Class<?> testClass = Class.forName(className);
        Method method = Arrays.stream(testClass.getDeclaredMethods())
                .filter(m -> m.getName().equals(methodName))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no method " + methodName + " in " + className));
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectMethod(testClass, method))
                .build();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        LauncherFactory.create().execute(request, listener);
        TestExecutionSummary summary = listener.getSummary();
        PrintWriter out = new PrintWriter(System.out, true);
        summary.printFailuresTo(out, 30);
        out.printf(
                "fuzz target %s: %d run, %d failed, %d skipped%n",
                args[0],
                summary.getTestsStartedCount(),
                summary.getTotalFailureCount(),
                summary.getTestsSkippedCount());
        boolean ok = summary.getTestsStartedCount() > 0 && summary.getTotalFailureCount() == 0;
        System.exit(ok ? 0 : 1);
    }
}
