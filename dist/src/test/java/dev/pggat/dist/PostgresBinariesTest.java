package dev.pggat.dist;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The check that {@link ProductionJarsIT} runs on the built jars, shown to tell a jar with PostgreSQL from one without. */
class PostgresBinariesTest {
    @TempDir
    Path dir;

    private Path jar(String... entries) throws IOException {
        Path jar = dir.resolve("sample.jar");
        try (OutputStream out = Files.newOutputStream(jar);
                JarOutputStream zip = new JarOutputStream(out)) {
            for (String entry : entries) {
                zip.putNextEntry(new JarEntry(entry));
                zip.write(1);
                zip.closeEntry();
            }
        }
        return jar;
    }

    @Test
    void findsTheEmbeddedBinariesArchive() throws IOException {
        assertThat(PostgresBinaries.in(jar("dev/pggat/X.class", "postgres-linux-x86_64.txz")))
                .containsExactly("postgres-linux-x86_64.txz");
    }

    @Test
    void findsLooseServerProgramsAndTheLibraryThatUnpacksThem() throws IOException {
        assertThat(PostgresBinaries.in(jar("pg/bin/postgres", "pg/bin/pg_ctl", "io/zonky/test/db/Embedded.class")))
                .containsExactly("pg/bin/postgres", "pg/bin/pg_ctl", "io/zonky/test/db/Embedded.class");
    }

    @Test
    void acceptsThePoolersOwnClassesAndNativeLibraries() throws IOException {
        assertThat(PostgresBinaries.in(jar(
                        "dev/pggat/pooler/Pooler.class",
                        "dev/pggat/pooler/backend/PostgresVersion.class",
                        "META-INF/native/libnetty_transport_native_epoll_x86_64.so",
                        "org/postgresql/Driver.class")))
                .isEmpty();
    }
}
