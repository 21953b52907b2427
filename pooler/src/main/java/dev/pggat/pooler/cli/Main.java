package dev.pggat.pooler.cli;

import io.netty.util.ResourceLeakDetector;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code pggat}: the command line. */
@Command(
        name = "pggat",
        mixinStandardHelpOptions = true,
        versionProvider = Version.class,
        description = "PostgreSQL connection pooler with replica-aware routing.",
        subcommands = {PoolerCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Asks for Netty's buffer leak detection in a production run: disabled, simple, advanced or paranoid. */
    static final String LEAK_DETECTION_ENV = "PGGAT_LEAK_DETECTION";

    public static void main(String[] args) {
        String problem = leakDetection(System.getenv());
        if (problem != null) {
            System.err.println(problem);
            System.exit(2);
        }
        System.exit(new CommandLine(new Main()).execute(args));
    }

    /**
     * Netty's default samples one buffer in 128 for leak tracking, taking a stack trace at each; the pooler's
     * buffers are all released by code its tests run at the paranoid level, so a production run goes without
     * unless {@code -Dio.netty.leakDetection.level} or {@link #LEAK_DETECTION_ENV} asks for it. Returns an error
     * message for an unknown level, else null.
     */
    static String leakDetection(Map<String, String> env) {
        if (System.getProperty("io.netty.leakDetection.level") != null
                || System.getProperty("io.netty.leakDetectionLevel") != null) {
            return null; // Netty reads the property itself
        }
        String wanted = env.get(LEAK_DETECTION_ENV);
        if (wanted == null || wanted.isBlank()) {
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
            return null;
        }
        try {
            ResourceLeakDetector.setLevel(
                    ResourceLeakDetector.Level.valueOf(wanted.trim().toUpperCase(Locale.ROOT)));
            return null;
        } catch (IllegalArgumentException e) {
            return "pggat: environment variable " + LEAK_DETECTION_ENV + "=" + wanted
                    + ": unknown level (accepted: disabled, simple, advanced, paranoid)";
        }
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
