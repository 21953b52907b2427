package dev.pggat.pooler.config;

import dev.pggat.pooler.auth.Cidr;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What a route asks of a client at login. The leaves look at one fact each; {@link All}, {@link Any} and {@link Not}
 * combine them. A mapping with several keys in the YAML is an {@link All} of them.
 */
public sealed interface RouteMatcher {
    /** Matches every client: a route without {@code match}. */
    RouteMatcher ALWAYS = new All(List.of());

    /**
     * What is known of a client when its route is chosen: its StartupMessage, the connection's TLS state and both
     * addresses (null for a non-IP transport).
     */
    record Client(
            String database,
            String user,
            Map<String, String> parameters,
            boolean tls,
            InetAddress localAddress,
            InetAddress clientAddress) {}

    /**
     * Whether {@code client} matches; the captures of the first {@link Database} matcher that matched go to
     * {@code captures[0]}.
     */
    boolean matches(Client client, List<String>[] captures);

    record All(List<RouteMatcher> of) implements RouteMatcher {
        public All {
            of = List.copyOf(of);
        }

        @Override
        public boolean matches(Client client, List<String>[] captures) {
            for (RouteMatcher m : of) {
                if (!m.matches(client, captures)) {
                    return false;
                }
            }
            return true;
        }
    }

    record Any(List<RouteMatcher> of) implements RouteMatcher {
        public Any {
            of = List.copyOf(of);
        }

        @Override
        public boolean matches(Client client, List<String>[] captures) {
            for (RouteMatcher m : of) {
                if (m.matches(client, captures)) {
                    return true;
                }
            }
            return false;
        }
    }

    /** Captures found under a {@code not} are dropped: what did not match has nothing to pass on. */
    record Not(RouteMatcher of) implements RouteMatcher {
        public Not {
            Objects.requireNonNull(of, "of");
        }

        @SuppressWarnings("unchecked")
        @Override
        public boolean matches(Client client, List<String>[] captures) {
            return !of.matches(client, new List[1]);
        }
    }

    record Database(TextPattern pattern) implements RouteMatcher {
        @Override
        public boolean matches(Client client, List<String>[] captures) {
            List<String> groups = pattern.match(client.database());
            if (groups != null && captures[0] == null) {
                captures[0] = groups;
            }
            return groups != null;
        }
    }

    record User(TextPattern pattern) implements RouteMatcher {
        @Override
        public boolean matches(Client client, List<String>[] captures) {
            return pattern.match(client.user()) != null;
        }
    }

    /** A startup parameter's value as the client sent it; a parameter the client did not send never matches. */
    record Parameter(String name, TextPattern pattern) implements RouteMatcher {
        @Override
        public boolean matches(Client client, List<String>[] captures) {
            return pattern.match(client.parameters().get(name)) != null;
        }
    }

    record Tls(boolean required) implements RouteMatcher {
        @Override
        public boolean matches(Client client, List<String>[] captures) {
            return client.tls() == required;
        }
    }

    /** The address the client connected to (the listener's, or the interface's when it listens on all). */
    record LocalAddress(List<Cidr> ranges) implements RouteMatcher {
        public LocalAddress {
            ranges = List.copyOf(ranges);
        }

        @Override
        public boolean matches(Client client, List<String>[] captures) {
            return in(ranges, client.localAddress());
        }
    }

    record ClientAddress(List<Cidr> ranges) implements RouteMatcher {
        public ClientAddress {
            ranges = List.copyOf(ranges);
        }

        @Override
        public boolean matches(Client client, List<String>[] captures) {
            return in(ranges, client.clientAddress());
        }
    }

    private static boolean in(List<Cidr> ranges, InetAddress address) {
        if (address == null) {
            return false;
        }
        for (Cidr c : ranges) {
            if (c.contains(address)) {
                return true;
            }
        }
        return false;
    }
}
