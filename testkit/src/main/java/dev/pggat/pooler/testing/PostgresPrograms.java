package dev.pggat.pooler.testing;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** The PostgreSQL client programs (psql, pgbench...) tests run, found the same way by every test. */
public final class PostgresPrograms {
    private PostgresPrograms() {}

    /**
     * {@code name} from {@code pg_config --bindir} first (the programs matching the installed server), then from
     * PATH; fails the test when neither has it, since a test that needs a client must not pass without one.
     */
    public static Path find(String name) {
        try {
            Process pc = new ProcessBuilder("pg_config", "--bindir")
                    .redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
            String bindir = new String(pc.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (pc.waitFor(10, TimeUnit.SECONDS) && pc.exitValue() == 0 && !bindir.isEmpty()) {
                Path p = Path.of(bindir, name);
                if (Files.isExecutable(p)) {
                    return p;
                }
            }
        } catch (IOException e) {
            // No pg_config on PATH: look on PATH itself.
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while looking for " + name, e);
        }
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, name))) {
                return Path.of(dir, name);
            }
        }
        throw new AssertionError(name + " not found (neither in `pg_config --bindir` nor on PATH): install the"
                + " PostgreSQL client programs, on Debian `apt-get install postgresql-client`");
    }
}
