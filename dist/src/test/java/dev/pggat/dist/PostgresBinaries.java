package dev.pggat.dist;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.regex.Pattern;

/** Finds PostgreSQL server binaries (or the embedded-binaries library that unpacks them) inside a jar. */
final class PostgresBinaries {
    /**
     * The embedded-binaries jars ship one archive per platform ({@code postgres-linux-x86_64.txz}); a loose server
     * would show as its programs; the library that unpacks them lives under {@code io/zonky/}.
     */
    private static final Pattern ARCHIVE = Pattern.compile("(^|/)postgres[^/]*\\.(txz|tar\\.xz|tgz|tar\\.gz|tar|zip)$");

    private static final Pattern PROGRAM = Pattern.compile("(^|/)(postgres|postmaster|pg_ctl|initdb|pg_basebackup)$");

    private PostgresBinaries() {}

    /** Names of the entries of {@code jar} that are PostgreSQL binaries or what brings them; empty when none. */
    static List<String> in(Path jar) throws IOException {
        try (JarFile file = new JarFile(jar.toFile())) {
            return file.stream()
                    .map(JarEntry::getName)
                    .filter(name -> {
                        String lower = name.toLowerCase(Locale.ROOT);
                        return ARCHIVE.matcher(lower).find()
                                || PROGRAM.matcher(lower).find()
                                || lower.startsWith("io/zonky/");
                    })
                    .toList();
        }
    }
}
