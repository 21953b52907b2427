package dev.pggat.pooler.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code pggat pooler --check} loads what start-up loads from files, and both report a wrong certificate or
 * credential file as {@code <file>: <key>: <what> (value ...; accepted: ...)} with exit code 2, not a stack trace.
 */
class PoolerCommandTest {
    private static final String USER_SECRET = "alice-userlist-secret";
    private static final String BROKEN_SECRET = "bob-secret-without-quotes";

    @TempDir
    Path dir;

    /** What one run of the command printed and returned. */
    record Run(int exit, String out, String err) {}

    private Run run(Path config, boolean check) {
        PoolerCommand cmd = new PoolerCommand();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        cmd.out = new PrintStream(out, true, StandardCharsets.UTF_8);
        cmd.err = new PrintStream(err, true, StandardCharsets.UTF_8);
        cmd.env = Map.of();
        List<String> args = new ArrayList<>(List.of("--config", config.toString()));
        if (check) {
            args.add("--check");
        }
        int exit = new CommandLine(cmd).execute(args.toArray(String[]::new));
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private Path config(String sections) throws Exception {
        Path file = dir.resolve("pggat.yaml");
        Files.writeString(file, """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                databases:
                  appdb:
                    endpoints: [{host: 127.0.0.1, port: 5432}]
                    users:
                      alice: {serverPassword: x}
                """ + sections);
        return file;
    }

    private static void assertRejected(Run run, String expectedLine) {
        assertThat(run.exit()).as(run.toString()).isEqualTo(2);
        assertThat(run.out()).doesNotContain("configuration is valid");
        assertThat(run.err().lines()).as(run.err()).contains(expectedLine);
        assertThat(run.err()).doesNotContain("Exception").doesNotContain("\tat ");
    }

    @Test
    void checkAndStartRejectAMissingTlsCertFileUnderItsKey() throws Exception {
        Path cert = dir.resolve("missing/server.crt");
        Path config = config(
                """
                tls: {mode: require, certFile: %s, keyFile: %s}
                credentials: {userlist: %s}
                """.formatted(cert, dir.resolve("missing/server.key"), userlist("\"alice\" \"" + USER_SECRET + "\"")));
        String line = config + ": tls.certFile: the file does not exist (value '" + cert
                + "'; accepted: an existing PEM file with the certificate chain, leaf first)";
        assertRejected(run(config, true), line);
        assertRejected(run(config, false), line);
    }

    @Test
    void checkAndStartRejectATlsCertFileWithoutACertificate() throws Exception {
        Path cert = dir.resolve("server.crt");
        Files.writeString(cert, "not a certificate\n");
        Path key = dir.resolve("server.key");
        Files.writeString(key, "not a key\n");
        Path config = config("""
                tls: {mode: require, certFile: %s, keyFile: %s}
                credentials: {userlist: %s}
                """.formatted(cert, key, userlist("\"alice\" \"" + USER_SECRET + "\"")));
        for (boolean check : new boolean[] {true, false}) {
            Run run = run(config, check);
            assertThat(run.exit()).as(run.toString()).isEqualTo(2);
            assertThat(run.err().lines()).as(run.err()).anySatisfy(l -> assertThat(l)
                    .startsWith(config + ": tls.certFile: ")
                    .contains("holds no certificate")
                    .endsWith("(value '" + cert + "'; accepted: an existing PEM file with the certificate"
                            + " chain, leaf first)"));
            assertThat(run.err()).doesNotContain("Exception").doesNotContain("\tat ");
        }
    }

    @Test
    void checkAndStartRejectAMissingCredentialsDirectoryUnderItsKey() throws Exception {
        Path secrets = dir.resolve("no-such-secret");
        Path config = config("credentials: {directory: %s}\n".formatted(secrets));
        String line = config + ": credentials.directory: the directory does not exist (value '" + secrets
                + "'; accepted: an existing directory with one file per user)";
        assertRejected(run(config, true), line);
        assertRejected(run(config, false), line);
    }

    @Test
    void checkAndStartRejectAMalformedUserlistLineWithoutShowingSecrets() throws Exception {
        Path users = userlist("\"alice\" \"" + USER_SECRET + "\"\n\"bob\" " + BROKEN_SECRET);
        Path config = config("credentials: {userlist: %s}\n".formatted(users));
        String line = config + ": credentials.userlist: line 2 is not of the form \"user\" \"secret\" (value '" + users
                + "'; accepted: an existing file of \"user\" \"secret\" lines)";
        for (boolean check : new boolean[] {true, false}) {
            Run run = run(config, check);
            assertRejected(run, line);
            assertThat(run.out() + run.err()).doesNotContain(USER_SECRET).doesNotContain(BROKEN_SECRET);
        }
    }

    @Test
    void checkLoadsAValidUserlistAndSaysTheConfigurationIsValid() throws Exception {
        Path config = config("credentials: {userlist: %s}\n".formatted(userlist("\"alice\" \"" + USER_SECRET + "\"")));
        Run run = run(config, true);
        assertThat(run.exit()).as(run.toString()).isZero();
        assertThat(run.out()).isEqualTo(config + ": configuration is valid" + System.lineSeparator());
        assertThat(run.err()).isEmpty();
    }

    @Test
    void realProcessWithAMissingCertificateExitsWith2AndNoStackTrace() throws Exception {
        Path cert = dir.resolve("gone.crt");
        Path config =
                config("""
                tls: {mode: require, certFile: %s, keyFile: %s}
                credentials: {userlist: %s}
                """.formatted(cert, dir.resolve("gone.key"), userlist("\"alice\" \"" + USER_SECRET + "\"")));
        Process p = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-Xmx128m",
                        "-cp",
                        System.getProperty("java.class.path"),
                        Main.class.getName(),
                        "pooler",
                        "--config",
                        config.toString())
                .redirectErrorStream(true)
                .start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(output).isEqualTo(2);
        assertThat(output.lines())
                .as(output)
                .contains(config + ": tls.certFile: the file does not exist (value '" + cert
                        + "'; accepted: an existing PEM file with the certificate chain, leaf first)");
        assertThat(output).doesNotContain("Exception").doesNotContain("\tat ");
    }

    private Path userlist(String content) throws Exception {
        Path file = dir.resolve("userlist.txt");
        Files.writeString(file, content + "\n");
        return file;
    }
}
