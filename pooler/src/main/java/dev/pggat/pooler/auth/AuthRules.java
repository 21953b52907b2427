package dev.pggat.pooler.auth;

import dev.pggat.pooler.config.AuthRule;
import dev.pggat.pooler.config.CertMapEntry;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The ordered client authentication rules and the certificate name maps they refer to. */
public final class AuthRules {
    private final List<AuthRule> rules;
    private final Map<String, List<CompiledEntry>> maps;

    /** What a connection looks like to the rules. */
    public record Connection(String database, String user, InetAddress client, boolean tls, InetAddress local) {}

    private record CompiledEntry(String exact, Pattern regex, String user) {}

    public AuthRules(List<AuthRule> rules, Map<String, List<CertMapEntry>> certMaps) {
        this.rules = List.copyOf(rules);
        Map<String, List<CompiledEntry>> compiled = new java.util.HashMap<>();
        certMaps.forEach((name, entries) -> {
            List<CompiledEntry> list = new ArrayList<>();
            for (CertMapEntry e : entries) {
                if (e.certName().startsWith("/")) {
                    list.add(
                            new CompiledEntry(null, Pattern.compile(e.certName().substring(1)), e.user()));
                } else {
                    list.add(new CompiledEntry(e.certName(), null, e.user()));
                }
            }
            compiled.put(name, List.copyOf(list));
        });
        this.maps = Map.copyOf(compiled);
    }

    /** The first rule that matches; empty when none does and the user's own method applies. */
    public Optional<AuthRule> match(Connection c) {
        for (AuthRule r : rules) {
            if (matches(r, c)) {
                return Optional.of(r);
            }
        }
        return Optional.empty();
    }

    public boolean isEmpty() {
        return rules.isEmpty();
    }

    static boolean matches(AuthRule r, Connection c) {
        if (!r.databases().isEmpty() && !r.databases().contains(c.database())) {
            return false;
        }
        if (!r.users().isEmpty() && !r.users().contains(c.user())) {
            return false;
        }
        if (r.tls() != null && r.tls() != c.tls()) {
            return false;
        }
        if (!r.addresses().isEmpty() && r.addresses().stream().noneMatch(a -> a.contains(c.client()))) {
            return false;
        }
        return r.listen().isEmpty() || r.listen().stream().anyMatch(a -> a.contains(c.local()));
    }

    /**
     * Whether a certificate carrying {@code certNames} (its CN, then its DNS subjectAltNames) may log in as
     * {@code user}: through map {@code mapName}, or without a map when one of the names is the user name itself.
     * Names are compared exactly (case-sensitive), as PostgreSQL compares a certificate's CN.
     */
    public boolean certificateAllows(String mapName, List<String> certNames, String user) {
        if (mapName == null) {
            return certNames.contains(user);
        }
        List<CompiledEntry> entries = maps.get(mapName);
        if (entries == null) {
            return false;
        }
        for (String name : certNames) {
            for (CompiledEntry e : entries) {
                if (e.exact() != null) {
                    if (e.exact().equals(name) && e.user().equals(user)) {
                        return true;
                    }
                    continue;
                }
                Matcher m = e.regex().matcher(name);
                if (m.matches() && substitute(e.user(), m).equals(user)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** pg_ident.conf's rule: {@code \1} in the user takes the first capture group. */
    private static String substitute(String user, Matcher m) {
        if (!user.contains("\\1") || m.groupCount() < 1 || m.group(1) == null) {
            return user;
        }
        return user.replace("\\1", m.group(1));
    }
}
