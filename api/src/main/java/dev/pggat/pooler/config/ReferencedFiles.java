package dev.pggat.pooler.config;

import dev.pggat.pooler.tls.BackendTlsConfig;
import dev.pggat.pooler.tls.ServerSslMode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The files a configuration points to (certificates, keys, CAs, credential files), with the key that names each.
 * The YAML loader only checks that these are paths; whether they exist and hold what they should is only known
 * when start-up reads them. This class lets {@code --check} and start-up report those problems in the same
 * {@code <file>: <key>: <what> (value ...; accepted: ...)} form as the loader, instead of as a stack trace.
 */
public final class ReferencedFiles {
    private static final String CERT_ACCEPTED = "an existing PEM file with the certificate chain, leaf first";
    private static final String KEY_ACCEPTED = "an existing PEM file with the unencrypted private key";
    private static final String CA_ACCEPTED = "an existing PEM file with one or more CA certificates";
    private static final String DIR_ACCEPTED = "an existing directory with one file per user";
    private static final String USERLIST_ACCEPTED = "an existing file of \"user\" \"secret\" lines";

    private ReferencedFiles() {}

    /** One file or directory the running pooler would read, and the key that names it. */
    private record Ref(KeyPath key, Path path, boolean directory, String accepted) {}

    /**
     * Checks that every file start-up would read exists and is readable, without parsing it.
     *
     * @throws ConfigException listing each missing or unreadable file under its key
     */
    public static void checkPresent(String source, PoolerConfig config) throws ConfigException {
        Problems problems = new Problems(source);
        for (Ref ref : refs(config)) {
            String value = ref.path().toString();
            if (!Files.exists(ref.path())) {
                problems.add(
                        ref.key(),
                        ref.directory() ? "the directory does not exist" : "the file does not exist",
                        value,
                        ref.accepted());
            } else if (ref.directory() && !Files.isDirectory(ref.path())) {
                problems.add(ref.key(), "is not a directory", value, ref.accepted());
            } else if (!ref.directory() && Files.isDirectory(ref.path())) {
                problems.add(ref.key(), "is a directory, not a file", value, ref.accepted());
            } else if (!Files.isReadable(ref.path())) {
                problems.add(ref.key(), "cannot be read: permission denied", value, ref.accepted());
            }
        }
        problems.throwIfAny();
    }

    /**
     * Turns the message of a failure to load these files (which names the file, never its content) into a problem
     * under the key that points to that file; when no key's path appears in the message, under the file alone.
     */
    public static ConfigException explain(String source, PoolerConfig config, String message) {
        Problems problems = new Problems(source);
        String what = message == null || message.isBlank() ? "cannot be loaded" : message;
        Ref best = null;
        int bestAt = Integer.MAX_VALUE;
        for (Ref ref : refs(config)) {
            String p = ref.path().toString();
            int at = what.indexOf(p);
            // The earliest mention is the file the loader was reading; a longer path wins a tie (a/b vs a/b.bak).
            if (at >= 0
                    && (at < bestAt
                            || (at == bestAt
                                    && p.length() > best.path().toString().length()))) {
                best = ref;
                bestAt = at;
            }
        }
        if (best == null) {
            problems.addRaw(what);
        } else {
            String prefix = best.key() + " " + best.path() + " ";
            problems.add(
                    best.key(),
                    what.startsWith(prefix) ? what.substring(prefix.length()) : what,
                    best.path().toString(),
                    best.accepted());
        }
        return new ConfigException(problemsOf(problems));
    }

    private static List<String> problemsOf(Problems problems) {
        try {
            problems.throwIfAny();
        } catch (ConfigException e) {
            return e.problems();
        }
        throw new IllegalStateException("no problem recorded");
    }

    /** What start-up reads, in the order it reads it; settings that start-up ignores are left out. */
    private static List<Ref> refs(PoolerConfig config) {
        List<Ref> refs = new ArrayList<>();
        ClientTlsSettings tls = config.security().tls();
        if (tls.enabled()) {
            KeyPath t = KeyPath.ROOT.key("tls");
            addFile(refs, t.key("certFile"), tls.certFile(), CERT_ACCEPTED);
            addFile(refs, t.key("keyFile"), tls.keyFile(), KEY_ACCEPTED);
            addFile(refs, t.key("caFile"), tls.caFile(), CA_ACCEPTED);
        }
        CredentialSettings credentials = config.security().credentials();
        KeyPath c = KeyPath.ROOT.key("credentials");
        if (credentials.directory() != null) {
            refs.add(new Ref(c.key("directory"), credentials.directory(), true, DIR_ACCEPTED));
        }
        addFile(refs, c.key("userlist"), credentials.userlist(), USERLIST_ACCEPTED);
        for (DatabaseConfig db : config.databases().values()) {
            RouteSecurity route = config.security().route(db.name());
            KeyPath dbPath = KeyPath.ROOT.key("databases").key(db.name());
            // A database's own serverTls is read only for the endpoints that do not set theirs.
            Map<String, BackendTlsConfig> used = new LinkedHashMap<>();
            Map<String, KeyPath> where = new LinkedHashMap<>();
            for (int i = 0; i < db.endpoints().size(); i++) {
                Endpoint e = db.endpoints().get(i);
                String key = RouteSecurity.key(e.host(), e.port());
                if (route.endpointTls().containsKey(key)) {
                    used.putIfAbsent("e" + i, route.endpointTls().get(key));
                    where.putIfAbsent("e" + i, dbPath.key("endpoints").index(i).key("serverTls"));
                } else {
                    used.putIfAbsent("db", route.serverTls());
                    where.putIfAbsent("db", dbPath.key("serverTls"));
                }
            }
            for (Map.Entry<String, BackendTlsConfig> u : used.entrySet()) {
                BackendTlsConfig s = u.getValue();
                if (s.sslMode() == ServerSslMode.DISABLE) {
                    continue;
                }
                KeyPath p = where.get(u.getKey());
                addFile(refs, p.key("caFile"), s.caFile(), CA_ACCEPTED);
                addFile(refs, p.key("certFile"), s.certFile(), CERT_ACCEPTED);
                addFile(refs, p.key("keyFile"), s.keyFile(), KEY_ACCEPTED);
            }
        }
        return refs;
    }

    private static void addFile(List<Ref> refs, KeyPath key, Path path, String accepted) {
        if (path != null) {
            refs.add(new Ref(key, path, false, accepted));
        }
    }
}
