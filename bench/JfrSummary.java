import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordedThread;
import jdk.jfr.consumer.RecordingFile;

/**
 * Summary of a JFR recording of pggat under load, for bench/run.sh --profile. Run as a single-file program:
 *
 * <pre>java bench/JfrSummary.java recording.jfr TRANSACTIONS [TOP]</pre>
 *
 * Prints the methods on top of the most execution samples (where the CPU time goes, JDK and Netty included),
 * the first pggat method on each sample's stack (which of our code paths leads there), the threads sampled,
 * the bytes allocated per transaction (the growth of every thread's allocation counter over the recording,
 * jdk.ThreadAllocationStatistics) and the allocating sites by sampled weight.
 */
public final class JfrSummary {
    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: java bench/JfrSummary.java RECORDING.jfr TRANSACTIONS [TOP]");
            System.exit(2);
        }
        long transactions = Long.parseLong(args[1]);
        int top = args.length > 2 ? Integer.parseInt(args[2]) : 15;

        Map<String, Long> selfSamples = new HashMap<>();
        Map<String, Long> pggatSamples = new HashMap<>();
        Map<String, Long> threadSamples = new HashMap<>();
        Map<String, Long> allocSites = new HashMap<>();
        Map<Long, long[]> threadAllocated = new HashMap<>(); // thread id -> {min, max}
        Map<String, Long> nativeTop = new HashMap<>();
        long samples = 0;
        long nativeSamples = 0;
        long sampledAllocation = 0;

        for (RecordedEvent e : RecordingFile.readAllEvents(Path.of(args[0]))) {
            String type = e.getEventType().getName();
            switch (type) {
                case "jdk.ExecutionSample" -> {
                    samples++;
                    RecordedStackTrace st = e.getStackTrace();
                    RecordedThread t = e.getThread("sampledThread");
                    threadSamples.merge(threadName(t), 1L, Long::sum);
                    if (st == null || st.getFrames().isEmpty()) {
                        continue;
                    }
                    selfSamples.merge(name(st.getFrames().get(0)), 1L, Long::sum);
                    pggatSamples.merge(firstPggat(st.getFrames()), 1L, Long::sum);
                }
                case "jdk.NativeMethodSample" -> {
                    nativeSamples++;
                    RecordedStackTrace st = e.getStackTrace();
                    if (st != null && !st.getFrames().isEmpty()) {
                        nativeTop.merge(name(st.getFrames().get(0)), 1L, Long::sum);
                    }
                }
                case "jdk.ObjectAllocationSample" -> {
                    long weight = e.getLong("weight");
                    sampledAllocation += weight;
                    RecordedStackTrace st = e.getStackTrace();
                    String cls = e.getClass("objectClass") == null ? "?" : e.getClass("objectClass").getName();
                    String site = st == null || st.getFrames().isEmpty() ? "?" : firstPggat(st.getFrames());
                    allocSites.merge(cls + " <- " + site, weight, Long::sum);
                }
                case "jdk.ThreadAllocationStatistics" -> {
                    RecordedThread t = e.getThread("thread");
                    if (t == null) {
                        continue;
                    }
                    long allocated = e.getLong("allocated");
                    threadAllocated.merge(t.getJavaThreadId(), new long[] {allocated, allocated},
                            (a, b) -> new long[] {Math.min(a[0], b[0]), Math.max(a[1], b[1])});
                }
                default -> { }
            }
        }

        long allocated = 0;
        for (long[] minMax : threadAllocated.values()) {
            allocated += minMax[1] - minMax[0];
        }
        System.out.printf("transactions: %d; execution samples (in Java): %d; native method samples: %d%n",
                transactions, samples, nativeSamples);
        if (transactions > 0) {
            System.out.printf("allocated: %.0f bytes/txn (thread allocation counters over the recording)%n",
                    (double) allocated / transactions);
        }
        print("hot methods (top frame of execution samples)", selfSamples, samples, top, "samples");
        print("first pggat frame on the sampled stack", pggatSamples, samples, top, "samples");
        print("threads sampled", threadSamples, samples, top, "samples");
        print("native methods sampled (threads in system calls or waiting)", nativeTop, nativeSamples, 5, "samples");
        print("allocation by class <- first pggat frame (sampled weight)", allocSites, sampledAllocation, top,
                "weight");
    }

    private static void print(String title, Map<String, Long> counts, long total, int top, String unit) {
        System.out.println();
        System.out.println(title + ":");
        List<Map.Entry<String, Long>> entries = new ArrayList<>(counts.entrySet());
        entries.sort(Map.Entry.<String, Long>comparingByValue().reversed());
        for (Map.Entry<String, Long> entry : entries.subList(0, Math.min(top, entries.size()))) {
            System.out.printf("  %5.1f%%  %s%n", total == 0 ? 0.0 : 100.0 * entry.getValue() / total, entry.getKey());
        }
        if (entries.isEmpty()) {
            System.out.println("  (no " + unit + ")");
        }
    }

    private static String firstPggat(List<RecordedFrame> frames) {
        for (RecordedFrame f : frames) {
            if (f.getMethod() != null && f.getMethod().getType().getName().startsWith("dev.pggat.")) {
                return name(f);
            }
        }
        return "(no pggat frame) " + name(frames.get(0));
    }

    private static String name(RecordedFrame f) {
        if (f.getMethod() == null) {
            return "?";
        }
        String type = f.getMethod().getType().getName();
        return type.substring(type.lastIndexOf('.') + 1) + "." + f.getMethod().getName();
    }

    private static String threadName(RecordedThread t) {
        if (t == null) {
            return "?";
        }
        // Group numbered threads of one pool: "pggat-io-1-3" and "pggat-io-1-4" are both event loops.
        String n = t.getJavaName() == null ? t.getOSName() : t.getJavaName();
        return n == null ? "?" : n.replaceAll("-\\d+$", "-N");
    }
}
