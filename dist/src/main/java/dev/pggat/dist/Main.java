package dev.pggat.dist;

import picocli.CommandLine;

/**
 * {@code pggat}: the pooler's command line ({@code pooler}) with {@code operator} added, so that one image runs
 * either.
 */
public final class Main {
    private Main() {}

    public static CommandLine commandLine() {
        CommandLine operator = new CommandLine(new dev.pggat.operator.Main());
        // Usage lines then read "pggat operator", not the standalone command's own name.
        operator.getCommandSpec().name("operator");
        return new CommandLine(new dev.pggat.pooler.cli.Main()).addSubcommand("operator", operator);
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
