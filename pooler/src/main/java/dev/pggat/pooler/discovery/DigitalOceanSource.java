package dev.pggat.pooler.discovery;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pggat.pooler.config.DiscoveryConfig;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.routing.EndpointSet;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;

/**
 * DigitalOcean managed PostgreSQL through the public API v2 (plain HTTP and JSON: there is no official Java
 * client): clusters with engine {@code pg} and status {@code online}, optionally with a tag, page by page; each
 * cluster's online read-only replicas; the public or private (VPC) host and port; the database names, and the users
 * with their passwords, which stay in memory and are never logged. The API token comes from an environment variable
 * or a file, read at each look so that a rotated token is picked up.
 */
public final class DigitalOceanSource implements DiscoverySource {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_ANSWER_BYTES = 8 << 20;
    private static final int MAX_PAGES = 100;

    private final String name;
    private final DiscoveryConfig.DigitalOcean config;
    private final Function<String, String> env;
    private final URI base;
    private final HttpClient http;

    public DigitalOceanSource(String name, DiscoveryConfig.DigitalOcean config) {
        this(name, config, System::getenv);
    }

    DigitalOceanSource(String name, DiscoveryConfig.DigitalOcean config, Function<String, String> env) {
        this.name = name;
        this.config = config;
        this.env = env;
        String b = config.baseUrl();
        this.base = URI.create(b.endsWith("/") ? b : b + "/");
        this.http = HttpClient.newBuilder()
                .connectTimeout(config.schedule().timeout())
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
    }

    private String token() throws DiscoveryException {
        String t;
        if (config.tokenFile() != null) {
            try {
                t = Files.readString(config.tokenFile(), StandardCharsets.UTF_8).trim();
            } catch (IOException e) {
                throw new DiscoveryException(
                        "credentials",
                        "cannot read the API token file " + config.tokenFile() + ": "
                                + e.getClass().getSimpleName());
            }
        } else {
            t = env.apply(config.tokenEnv());
            if (t == null || t.isBlank()) {
                throw new DiscoveryException(
                        "credentials", "the environment variable " + config.tokenEnv() + " holds no API token");
            }
            t = t.trim();
        }
        if (t.isEmpty() || t.chars().anyMatch(c -> c <= ' ' || c > '~')) {
            throw new DiscoveryException("credentials", "the API token is empty or has characters a token cannot have");
        }
        return t;
    }

    @Override
    public Discovered fetch() throws DiscoveryException {
        String token = token();
        List<JsonNode> all = new ArrayList<>();
        URI next = base.resolve("v2/databases?per_page=100"
                + (config.tag() == null ? "" : "&tag_name=" + URLEncoder.encode(config.tag(), StandardCharsets.UTF_8)));
        for (int page = 0; next != null; page++) {
            if (page == MAX_PAGES) {
                throw new DiscoveryException("invalid_answer", "more than " + MAX_PAGES + " pages of clusters");
            }
            JsonNode r = get(next, token);
            r.path("databases").forEach(all::add);
            String link = r.path("links").path("pages").path("next").asText(null);
            next = link == null || link.isEmpty() ? null : sameOrigin(link);
        }
        List<Discovered.Cluster> clusters = new ArrayList<>();
        for (JsonNode c : all) {
            if (!"pg".equals(c.path("engine").asText())
                    || !"online".equals(c.path("status").asText())) {
                continue;
            }
            String id = c.path("id").asText(null);
            String clusterName = c.path("name").asText(null);
            if (id == null || clusterName == null) {
                continue;
            }
            String zone = c.path("region").asText(null);
            List<EndpointSet.Member> members = new ArrayList<>();
            EndpointSet.Member primary = member(clusterName, c, Endpoint.Role.PRIMARY, zone);
            if (primary != null) {
                members.add(primary);
            }
            JsonNode replicas = get(base.resolve("v2/databases/" + encode(id) + "/replicas"), token);
            for (JsonNode r : replicas.path("replicas")) {
                if (!"online".equals(r.path("status").asText())) {
                    continue;
                }
                String rName = r.path("name").asText(null);
                EndpointSet.Member m = rName == null
                        ? null
                        : member(
                                rName,
                                r,
                                Endpoint.Role.REPLICA,
                                r.path("region").asText(zone));
                if (m != null && members.stream().noneMatch(x -> x.name().equals(m.name()) || sameAddress(x, m))) {
                    members.add(m);
                }
            }
            Set<String> databases = new LinkedHashSet<>();
            if (c.path("db_names").isArray()) {
                c.path("db_names").forEach(d -> databases.add(d.asText()));
            } else {
                get(base.resolve("v2/databases/" + encode(id) + "/dbs"), token)
                        .path("dbs")
                        .forEach(d -> databases.add(d.path("name").asText()));
            }
            Map<String, String> users = new LinkedHashMap<>();
            JsonNode userList = c.has("users")
                    ? c.path("users")
                    : get(base.resolve("v2/databases/" + encode(id) + "/users"), token)
                            .path("users");
            for (JsonNode u : userList) {
                String n = u.path("name").asText(null);
                String password = u.path("password").asText(null);
                if (n != null && password != null && !password.isEmpty()) {
                    users.put(n, password);
                }
            }
            clusters.add(new Discovered.Cluster(clusterName, members, databases, users));
        }
        return new Discovered(clusters);
    }

    private EndpointSet.Member member(String memberName, JsonNode node, Endpoint.Role role, String zone) {
        JsonNode conn = config.privateNetwork() ? node.path("private_connection") : node.path("connection");
        String host = conn.path("host").asText(null);
        int port = conn.path("port").asInt(0);
        if (host == null || host.isEmpty() || port < 1 || port > 65535) {
            return null;
        }
        return new EndpointSet.Member(memberName, host, port, role, zone, EndpointSet.DEFAULT_WEIGHT);
    }

    private static boolean sameAddress(EndpointSet.Member a, EndpointSet.Member b) {
        return a.host().equals(b.host()) && a.port() == b.port();
    }

    /** The token goes only to the configured API: a next-page link elsewhere is refused. */
    private URI sameOrigin(String link) throws DiscoveryException {
        URI u;
        try {
            u = base.resolve(link);
        } catch (IllegalArgumentException e) {
            throw new DiscoveryException("invalid_answer", "the next-page link is not a URL");
        }
        if (!Objects.equals(u.getScheme(), base.getScheme())
                || !Objects.equals(u.getHost(), base.getHost())
                || u.getPort() != base.getPort()) {
            throw new DiscoveryException(
                    "invalid_answer", "the next-page link leads to another host than " + base.getHost());
        }
        return u;
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    private JsonNode get(URI uri, String token) throws DiscoveryException {
        HttpResponse<byte[]> r;
        try {
            r = http.send(
                    HttpRequest.newBuilder(uri)
                            .timeout(config.schedule().timeout())
                            .header("Authorization", "Bearer " + token)
                            .header("Accept", "application/json")
                            .GET()
                            .build(),
                    HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw new DiscoveryException(
                    "unreachable",
                    "DigitalOcean API " + uri.getPath() + ": " + e.getClass().getSimpleName(),
                    null,
                    e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DiscoveryException("unreachable", "interrupted");
        }
        if (r.statusCode() != 200) {
            Duration retryAfter = r.headers()
                    .firstValue("Retry-After")
                    .map(v -> {
                        try {
                            return Duration.ofSeconds(Long.parseLong(v.trim()));
                        } catch (NumberFormatException e) {
                            return null;
                        }
                    })
                    .orElse(null);
            // The error body is DigitalOcean's {"id","message"}: safe to show; it never echoes the token.
            String message = "";
            try {
                message = JSON.readTree(r.body()).path("message").asText("");
            } catch (IOException e) {
                // not JSON
            }
            throw new DiscoveryException(
                    DiscoveryException.httpReason(r.statusCode()),
                    "DigitalOcean API " + uri.getPath() + " answered HTTP " + r.statusCode()
                            + (message.isEmpty()
                                    ? ""
                                    : ": " + (message.length() > 200 ? message.substring(0, 200) : message)),
                    retryAfter,
                    null);
        }
        if (r.body().length > MAX_ANSWER_BYTES) {
            throw new DiscoveryException(
                    "invalid_answer", "DigitalOcean API answer over " + MAX_ANSWER_BYTES + " bytes");
        }
        try {
            return JSON.readTree(r.body());
        } catch (IOException e) {
            throw new DiscoveryException("invalid_answer", "DigitalOcean API " + uri.getPath() + " answered no JSON");
        }
    }
}
