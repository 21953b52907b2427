package dev.pggat.pooler.cli;

import picocli.CommandLine;

/**
 * The pooler's command line with {@code demo} added. The demo needs PostgreSQL binaries, which must stay out of the
 * production jars, so it has its own jar ({@code demo/target/pggat-demo.jar}, what {@code ./pggat demo} runs).
 */
public final class DemoMain {
    private DemoMain() {}

    public static CommandLine commandLine() {
        return new CommandLine(new Main()).addSubcommand("demo", new DemoCommand());
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
