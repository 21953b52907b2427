package dev.pggat.pooler.auth;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * User secrets from files, re-read on a timer: a directory with one file per user (a mounted Kubernetes Secret:
 * file name = user name, content = plain password, {@code md5...} hash or SCRAM verifier) and/or a userlist file of
 * {@code "user" "secret"} lines. Contents are compared, not modification times, because a Secret update swaps a
 * {@code ..data} symlink and leaves the visible paths' times alone. A content that fails to load keeps the previous
 * secrets and logs the file and line, never the value.
 */
public final class CredentialFiles implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CredentialFiles.class);

    private final Path directory;
    private final Path userlist;
    private volatile Map<String, Secret> secrets = Map.of();
    private byte[] digest;
    private volatile String lastError;
    private ScheduledExecutorService poller;

    private CredentialFiles(Path directory, Path userlist) {
        this.directory = directory;
        this.userlist = userlist;
    }

    /**
     * Reads the sources once; an unreadable source at start is an error for the operator.
     *
     * @throws IOException naming the path and the problem
     */
    public static CredentialFiles load(Path directory, Path userlist, Duration reloadInterval) throws IOException {
        CredentialFiles f = new CredentialFiles(directory, userlist);
        Loaded loaded = f.read();
        f.secrets = loaded.secrets;
        f.digest = loaded.digest;
        log.info("credentials: {} user(s) from {}", loaded.secrets.size(), f.describe());
        if (!reloadInterval.isZero()) {
            f.poller = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "pggat-credentials-reload");
                t.setDaemon(true);
                return t;
            });
            long ms = reloadInterval.toMillis();
            f.poller.scheduleWithFixedDelay(f::reloadQuietly, ms, ms, TimeUnit.MILLISECONDS);
        }
        return f;
    }

    /** The secret for {@code user}, if the files hold one. */
    public Optional<Secret> secret(String user) {
        return Optional.ofNullable(secrets.get(user));
    }

    public int size() {
        return secrets.size();
    }

    /** Why the newest content could not be loaded, while the previous secrets stay in use. */
    public Optional<String> lastError() {
        return Optional.ofNullable(lastError);
    }

    /** Re-reads now; true when the content changed and loaded. */
    public synchronized boolean reload() throws IOException {
        Loaded loaded = read();
        if (Arrays.equals(loaded.digest, digest)) {
            lastError = null;
            return false;
        }
        secrets = loaded.secrets;
        digest = loaded.digest;
        lastError = null;
        log.info("credentials: reloaded {} user(s) from {}", loaded.secrets.size(), describe());
        return true;
    }

    private void reloadQuietly() {
        try {
            reload();
        } catch (IOException | RuntimeException e) {
            String msg = e.getMessage();
            if (!msg.equals(lastError)) {
                log.error("credentials: keeping the previous secrets: {}", msg);
            }
            lastError = msg;
        }
    }

    private record Loaded(Map<String, Secret> secrets, byte[] digest) {}

    private Loaded read() throws IOException {
        Map<String, String> raw = new TreeMap<>();
        if (directory != null) {
            readDirectory(raw);
        }
        if (userlist != null) {
            readUserlist(raw);
        }
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        Map<String, Secret> parsed = new HashMap<>();
        for (Map.Entry<String, String> e : raw.entrySet()) {
            md.update(e.getKey().getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
            md.update(e.getValue().getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
            try {
                parsed.put(e.getKey(), Secret.parse(e.getValue()));
            } catch (IllegalArgumentException ex) {
                throw new IOException("the secret of user \"" + e.getKey() + "\" in " + describe() + " is not valid: "
                        + ex.getMessage());
            }
        }
        return new Loaded(Map.copyOf(parsed), md.digest());
    }

    private void readDirectory(Map<String, String> out) throws IOException {
        if (!Files.isDirectory(directory)) {
            throw new IOException("credentials.directory " + directory + " is not a readable directory");
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(directory)) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                // Kubernetes keeps its bookkeeping (..data, ..2024_...) in dot entries next to the key files.
                if (name.startsWith(".") || !Files.isRegularFile(f)) {
                    continue;
                }
                String value = stripNewline(Files.readString(f, StandardCharsets.UTF_8));
                if (value.isEmpty()) {
                    log.warn("credentials: file {} is empty; user \"{}\" has no secret from it", f, name);
                    continue;
                }
                out.put(name, value);
            }
        } catch (NoSuchFileException e) {
            throw new IOException("credentials.directory " + directory + ": file " + e.getFile() + " vanished");
        }
    }

    private void readUserlist(Map<String, String> out) throws IOException {
        String text;
        try {
            text = Files.readString(userlist, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new IOException("credentials.userlist " + userlist + " does not exist");
        }
        String[] lines = text.split("\r?\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].strip();
            if (line.isEmpty() || line.startsWith(";") || line.startsWith("#")) {
                continue;
            }
            String[] fields = parseLine(line);
            if (fields == null) {
                throw new IOException("credentials.userlist " + userlist + " line " + (i + 1)
                        + " is not of the form \"user\" \"secret\"");
            }
            out.put(fields[0], fields[1]);
        }
    }

    /** Two double-quoted fields separated by blanks; {@code ""} inside a field is one quote. */
    static String[] parseLine(String line) {
        String[] out = new String[2];
        int pos = 0;
        for (int f = 0; f < 2; f++) {
            while (pos < line.length() && Character.isWhitespace(line.charAt(pos))) {
                pos++;
            }
            if (pos >= line.length() || line.charAt(pos) != '"') {
                return null;
            }
            pos++;
            StringBuilder sb = new StringBuilder();
            boolean closed = false;
            while (pos < line.length()) {
                char c = line.charAt(pos++);
                if (c == '"') {
                    if (pos < line.length() && line.charAt(pos) == '"') {
                        sb.append('"');
                        pos++;
                    } else {
                        closed = true;
                        break;
                    }
                } else {
                    sb.append(c);
                }
            }
            if (!closed || sb.length() == 0) {
                return null;
            }
            out[f] = sb.toString();
        }
        String rest = line.substring(pos).strip();
        return rest.isEmpty() || rest.startsWith(";") || rest.startsWith("#") ? out : null;
    }

    private static String stripNewline(String s) {
        if (s.endsWith("\r\n")) {
            return s.substring(0, s.length() - 2);
        }
        return s.endsWith("\n") ? s.substring(0, s.length() - 1) : s;
    }

    private String describe() {
        if (directory != null && userlist != null) {
            return directory + " and " + userlist;
        }
        return String.valueOf(directory != null ? directory : userlist);
    }

    @Override
    public synchronized void close() {
        if (poller != null) {
            poller.shutdownNow();
            poller = null;
        }
    }
}
