package dev.pggat.pooler.cli;

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

    public static void main(String[] args) {
        System.exit(new CommandLine(new Main()).execute(args));
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
