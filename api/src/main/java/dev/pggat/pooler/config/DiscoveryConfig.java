package dev.pggat.pooler.config;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * The {@code discovery} section: sources that find a database's servers by themselves (Patroni's REST API, the
 * Cloud SQL Admin API, DigitalOcean's API) and the databases each one feeds.
 *
 * @param sources by the name the configuration gives them, in file order
 * @param targets by database name: which source (and optionally which of its clusters) feeds that database
 */
public record DiscoveryConfig(Map<String, Source> sources, Map<String, Target> targets) {
    public static final DiscoveryConfig NONE = new DiscoveryConfig(Map.of(), Map.of());

    public DiscoveryConfig {
        sources = Collections.unmodifiableMap(new LinkedHashMap<>(sources));
        targets = Collections.unmodifiableMap(new LinkedHashMap<>(targets));
    }

    public boolean isEmpty() {
        return sources.isEmpty();
    }

    /**
     * What a database's {@code discovery} key names.
     *
     * @param cluster the cluster of the source (a Cloud SQL primary instance, a DigitalOcean cluster); null = the one
     *     cluster that has the database
     */
    public record Target(String source, String cluster) {
        public Target {
            Objects.requireNonNull(source, "source");
        }
    }

    /**
     * How often a source is asked, how long one look may take, and how far retries back off while it fails (the
     * delay doubles from {@code interval}, with jitter, up to {@code backoffMax}).
     */
    public record Schedule(Duration interval, Duration timeout, Duration backoffMax) {
        public Schedule {
            Objects.requireNonNull(interval, "interval");
            Objects.requireNonNull(timeout, "timeout");
            Objects.requireNonNull(backoffMax, "backoffMax");
        }
    }

    /** One source of endpoint sets. */
    public sealed interface Source permits Patroni, CloudSql, DigitalOcean {
        Schedule schedule();

        /** The YAML key of the kind: patroni, cloudSql, digitalOcean. */
        String kind();
    }

    /**
     * A Patroni cluster, through the REST API of any of its members.
     *
     * @param members the members' REST API base URLs, tried in turn
     * @param maxLagBytes replicas further behind than this are left out; 0 = no limit
     */
    public record Patroni(List<URI> members, long maxLagBytes, Schedule schedule) implements Source {
        public static final Schedule DEFAULT_SCHEDULE =
                new Schedule(Duration.ofSeconds(1), Duration.ofSeconds(2), Duration.ofSeconds(10));

        public Patroni {
            members = List.copyOf(members);
        }

        @Override
        public String kind() {
            return "patroni";
        }
    }

    /** Which address of a Cloud SQL instance the pooler connects to. */
    public enum IpType {
        PRIMARY,
        PRIVATE,
        PSC
    }

    /**
     * Google Cloud SQL instances of one project, through the Cloud SQL Admin API.
     *
     * @param instances instance names must match this (whole name); null = any
     * @param labels every one must be on the instance (user labels); empty = any
     * @param rootUrl the API's root URL; null = Google's
     * @param credentialsFile a service account or authorized-user JSON file; null = application-default credentials
     * @param port where the instances' addresses accept connections: 5432, unless a tunnel sits in between
     */
    public record CloudSql(
            String project,
            Pattern instances,
            Map<String, String> labels,
            IpType ipType,
            String rootUrl,
            Path credentialsFile,
            int port,
            Schedule schedule)
            implements Source {
        public static final Schedule DEFAULT_SCHEDULE =
                new Schedule(Duration.ofSeconds(30), Duration.ofSeconds(10), Duration.ofMinutes(5));

        public CloudSql {
            Objects.requireNonNull(project, "project");
            labels = Collections.unmodifiableMap(new LinkedHashMap<>(labels));
            Objects.requireNonNull(ipType, "ipType");
        }

        @Override
        public String kind() {
            return "cloudSql";
        }

        /** By value, the pattern by its text: two loads of one file are equal (a reload keeps the source running). */
        @Override
        public boolean equals(Object o) {
            return o instanceof CloudSql c
                    && project.equals(c.project)
                    && Objects.equals(patternText(instances), patternText(c.instances))
                    && labels.equals(c.labels)
                    && ipType == c.ipType
                    && Objects.equals(rootUrl, c.rootUrl)
                    && Objects.equals(credentialsFile, c.credentialsFile)
                    && port == c.port
                    && Objects.equals(schedule, c.schedule);
        }

        @Override
        public int hashCode() {
            return Objects.hash(
                    project, patternText(instances), labels, ipType, rootUrl, credentialsFile, port, schedule);
        }

        private static String patternText(Pattern p) {
            return p == null ? null : p.pattern() + "/" + p.flags();
        }
    }

    /**
     * DigitalOcean managed PostgreSQL clusters, through the public API v2.
     *
     * @param tokenEnv the environment variable holding the API token, or null
     * @param tokenFile the file holding the API token, or null (exactly one of the two is set)
     * @param tag only clusters with this tag; null = any
     * @param privateNetwork connect to the clusters' private (VPC) host instead of the public one
     */
    public record DigitalOcean(
            String baseUrl, String tokenEnv, Path tokenFile, String tag, boolean privateNetwork, Schedule schedule)
            implements Source {
        public static final String DEFAULT_BASE_URL = "https://api.digitalocean.com";
        public static final String DEFAULT_TOKEN_ENV = "DIGITALOCEAN_TOKEN";
        public static final Schedule DEFAULT_SCHEDULE =
                new Schedule(Duration.ofSeconds(30), Duration.ofSeconds(10), Duration.ofMinutes(5));

        public DigitalOcean {
            Objects.requireNonNull(baseUrl, "baseUrl");
        }

        @Override
        public String kind() {
            return "digitalOcean";
        }
    }
}
