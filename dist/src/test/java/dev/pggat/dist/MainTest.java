package dev.pggat.dist;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class MainTest {
    private static String run(String... args) {
        StringWriter out = new StringWriter();
        CommandLine cli = Main.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.getSubcommands().values().forEach(c -> c.setOut(new PrintWriter(out)));
        assertThat(cli.execute(args)).isZero();
        return out.toString();
    }

    @Test
    void helpListsPoolerAndOperatorCommands() {
        // `demo` needs PostgreSQL binaries and so lives in the demo module's jar, not in the image.
        assertThat(run("--help")).contains("pooler").contains("operator").doesNotContain("demo");
    }

    @Test
    void operatorSubcommandIsTheOperatorsOwnCommandLine() {
        String help = run("operator", "--help");
        assertThat(help)
                .contains("Usage: pggat operator")
                .contains("--stream-port")
                .contains("--namespace")
                .contains("--default-image");
        assertThat(run("operator", "--version").trim()).startsWith("pggat-operator ");
    }

    @Test
    void poolerSubcommandIsUnchanged() {
        assertThat(run("pooler", "--help")).contains("--config").contains("--check");
    }
}
