package dev.pggat.pooler.discovery;

import com.google.api.client.googleapis.json.GoogleJsonResponseException;
import com.google.api.client.http.HttpRequestInitializer;
import com.google.api.client.http.HttpResponseException;
import com.google.api.client.http.javanet.NetHttpTransport;
import com.google.api.client.json.gson.GsonFactory;
import com.google.api.services.sqladmin.SQLAdmin;
import com.google.api.services.sqladmin.SQLAdminScopes;
import com.google.api.services.sqladmin.model.Database;
import com.google.api.services.sqladmin.model.DatabaseInstance;
import com.google.api.services.sqladmin.model.DatabasesListResponse;
import com.google.api.services.sqladmin.model.InstancesListResponse;
import com.google.api.services.sqladmin.model.IpMapping;
import com.google.api.services.sqladmin.model.User;
import com.google.api.services.sqladmin.model.UsersListResponse;
import com.google.auth.http.HttpCredentialsAdapter;
import com.google.auth.oauth2.GoogleCredentials;
import dev.pggat.pooler.config.DiscoveryConfig;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.routing.EndpointSet;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Google Cloud SQL for PostgreSQL through the Cloud SQL Admin API (Google's generated client): the instances of one
 * project whose version is POSTGRES_*, grouped into clusters of a primary and its read replicas, each at its own
 * address of the configured IP type. Only RUNNABLE instances are used; the zone (else the region) becomes the
 * endpoint's zone. Databases and user names come from the primary; the API never gives passwords, so users log in
 * through the credential sources and their server login passes through.
 */
public final class CloudSqlSource implements DiscoverySource {
    private static final Logger log = LoggerFactory.getLogger(CloudSqlSource.class);
    private static final String PRIMARY_TYPE = "CLOUD_SQL_INSTANCE";
    private static final String REPLICA_TYPE = "READ_REPLICA_INSTANCE";

    private final String name;
    private final DiscoveryConfig.CloudSql config;
    private final int port;
    private SQLAdmin api;

    public CloudSqlSource(String name, DiscoveryConfig.CloudSql config) {
        this.name = name;
        this.config = config;
        this.port = config.port();
    }

    /** Built on first use: loading credentials may fail (no ADC yet), which counts as a failed look, not a crash. */
    private SQLAdmin api() throws DiscoveryException {
        if (api != null) {
            return api;
        }
        GoogleCredentials credentials;
        try {
            if (config.credentialsFile() != null) {
                try (InputStream in = Files.newInputStream(config.credentialsFile())) {
                    credentials = GoogleCredentials.fromStream(in);
                }
            } else {
                credentials = GoogleCredentials.getApplicationDefault();
            }
        } catch (IOException e) {
            throw new DiscoveryException(
                    "credentials",
                    "cannot load Google credentials from "
                            + (config.credentialsFile() != null
                                    ? config.credentialsFile().toString()
                                    : "the application-default locations")
                            + ": " + e.getMessage(),
                    null,
                    e);
        }
        // Read-only listing needs no more than this scope (and the cloudsql.*.list permissions).
        credentials = credentials.createScoped(List.of(SQLAdminScopes.SQLSERVICE_ADMIN));
        HttpCredentialsAdapter auth = new HttpCredentialsAdapter(credentials);
        int timeout = (int) config.schedule().timeout().toMillis();
        HttpRequestInitializer init = request -> {
            auth.initialize(request);
            request.setConnectTimeout(timeout);
            request.setReadTimeout(timeout);
            // Retries are the runner's business (with backoff); one look is one try.
            request.setNumberOfRetries(0);
        };
        SQLAdmin.Builder b = new SQLAdmin.Builder(new NetHttpTransport(), GsonFactory.getDefaultInstance(), init)
                .setApplicationName("pggat");
        if (config.rootUrl() != null) {
            b.setRootUrl(config.rootUrl());
        }
        api = b.build();
        return api;
    }

    @Override
    public Discovered fetch() throws DiscoveryException {
        SQLAdmin sql = api();
        try {
            List<DatabaseInstance> all = new ArrayList<>();
            String page = null;
            do {
                InstancesListResponse r = sql.instances()
                        .list(config.project())
                        .setPageToken(page)
                        .execute();
                if (r.getItems() != null) {
                    all.addAll(r.getItems());
                }
                page = r.getNextPageToken();
            } while (page != null && !page.isEmpty());
            return group(sql, all);
        } catch (HttpResponseException e) {
            int status = e.getStatusCode();
            String message = e instanceof GoogleJsonResponseException g && g.getDetails() != null
                    ? g.getDetails().getMessage()
                    : e.getStatusMessage();
            throw new DiscoveryException(
                    DiscoveryException.httpReason(status),
                    "Cloud SQL Admin API answered HTTP " + status + (message == null ? "" : ": " + message),
                    retryAfter(e),
                    e);
        } catch (IOException e) {
            throw new DiscoveryException(
                    "unreachable",
                    "Cloud SQL Admin API: " + e.getClass().getSimpleName() + " " + e.getMessage(),
                    null,
                    e);
        }
    }

    private static Duration retryAfter(HttpResponseException e) {
        Object v = e.getHeaders() == null ? null : e.getHeaders().get("retry-after");
        if (v instanceof List<?> l && !l.isEmpty()) {
            v = l.get(0);
        }
        if (v == null) {
            return null;
        }
        try {
            return Duration.ofSeconds(Long.parseLong(v.toString().trim()));
        } catch (NumberFormatException ex) {
            return null;
        }
    }

    private Discovered group(SQLAdmin sql, List<DatabaseInstance> all) throws IOException {
        Map<String, DatabaseInstance> byName = new LinkedHashMap<>();
        for (DatabaseInstance i : all) {
            if (i.getName() != null
                    && i.getDatabaseVersion() != null
                    && i.getDatabaseVersion().startsWith("POSTGRES_")) {
                byName.put(i.getName(), i);
            }
        }
        List<Discovered.Cluster> clusters = new ArrayList<>();
        for (DatabaseInstance primary : byName.values()) {
            if (!PRIMARY_TYPE.equals(primary.getInstanceType()) || !selected(primary)) {
                continue;
            }
            List<EndpointSet.Member> members = new ArrayList<>();
            List<String> skipped = new ArrayList<>();
            boolean primaryUp = addMember(primary, Endpoint.Role.PRIMARY, members, skipped);
            Set<String> replicaNames = new LinkedHashSet<>();
            if (primary.getReplicaNames() != null) {
                replicaNames.addAll(primary.getReplicaNames());
            }
            // A replica names its primary as project:instance; either side may list the pair first.
            for (DatabaseInstance i : byName.values()) {
                if (REPLICA_TYPE.equals(i.getInstanceType())
                        && primary.getName().equals(masterName(i))) {
                    replicaNames.add(i.getName());
                }
            }
            DatabaseInstance any = primaryUp ? primary : null;
            for (String r : replicaNames) {
                DatabaseInstance replica = byName.get(r);
                if (replica == null || !primary.getName().equals(masterName(replica))) {
                    continue;
                }
                if (addMember(replica, Endpoint.Role.REPLICA, members, skipped) && any == null) {
                    any = replica;
                }
            }
            if (!skipped.isEmpty()) {
                log.debug("discovery {}: cluster {}: left out {}", name, primary.getName(), skipped);
            }
            Set<String> databases = new LinkedHashSet<>();
            Map<String, String> users = new LinkedHashMap<>();
            if (any != null) {
                DatabasesListResponse dbs =
                        sql.databases().list(config.project(), any.getName()).execute();
                if (dbs.getItems() != null) {
                    for (Database d : dbs.getItems()) {
                        databases.add(d.getName());
                    }
                }
                UsersListResponse us =
                        sql.users().list(config.project(), any.getName()).execute();
                if (us.getItems() != null) {
                    for (User u : us.getItems()) {
                        if (u.getName() != null
                                && (u.getType() == null || u.getType().equals("BUILT_IN"))) {
                            users.put(u.getName(), null);
                        }
                    }
                }
            }
            clusters.add(new Discovered.Cluster(primary.getName(), members, databases, users));
        }
        return new Discovered(clusters);
    }

    private static String masterName(DatabaseInstance i) {
        String m = i.getMasterInstanceName();
        if (m == null) {
            return null;
        }
        int colon = m.lastIndexOf(':');
        return colon < 0 ? m : m.substring(colon + 1);
    }

    private boolean selected(DatabaseInstance i) {
        if (config.instances() != null
                && !config.instances().matcher(i.getName()).matches()) {
            return false;
        }
        if (config.labels().isEmpty()) {
            return true;
        }
        Map<String, String> labels =
                i.getSettings() == null ? null : i.getSettings().getUserLabels();
        if (labels == null) {
            return false;
        }
        for (Map.Entry<String, String> want : config.labels().entrySet()) {
            if (!want.getValue().equals(labels.get(want.getKey()))) {
                return false;
            }
        }
        return true;
    }

    /** Adds the instance when it is RUNNABLE and has an address of the configured type; returns whether it did. */
    private boolean addMember(
            DatabaseInstance i, Endpoint.Role role, List<EndpointSet.Member> members, List<String> skipped) {
        if (!"RUNNABLE".equals(i.getState())) {
            skipped.add(i.getName() + " (" + i.getState() + ")");
            return false;
        }
        String host = address(i);
        if (host == null) {
            skipped.add(i.getName() + " (no " + config.ipType() + " address)");
            return false;
        }
        String zone = i.getGceZone() != null ? i.getGceZone() : i.getRegion();
        members.add(new EndpointSet.Member(i.getName(), host, port, role, zone, EndpointSet.DEFAULT_WEIGHT));
        return true;
    }

    private String address(DatabaseInstance i) {
        if (config.ipType() == DiscoveryConfig.IpType.PSC) {
            // Private Service Connect: reached through the instance's DNS name (the endpoint is the consumer's).
            String dns = i.getDnsName();
            if (dns == null || dns.isEmpty()) {
                return null;
            }
            return dns.endsWith(".") ? dns.substring(0, dns.length() - 1) : dns;
        }
        if (i.getIpAddresses() == null) {
            return null;
        }
        for (IpMapping ip : i.getIpAddresses()) {
            if (config.ipType().name().equals(ip.getType()) && ip.getIpAddress() != null) {
                return ip.getIpAddress();
            }
        }
        return null;
    }
}
