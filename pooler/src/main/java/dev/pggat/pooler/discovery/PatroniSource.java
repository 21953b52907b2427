package dev.pggat.pooler.discovery;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pggat.pooler.config.DiscoveryConfig;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.routing.EndpointSet;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Patroni cluster through {@code GET /cluster} on any member's REST API: the leader is the primary, running
 * replicas (and sync standbys) are the replicas. Members in any other state are left out, and so is a leader that
 * is not running or is being demoted (a switchover): the set then names no primary and writes wait for the next
 * one instead of failing.
 */
public final class PatroniSource implements DiscoverySource {
    private static final Logger log = LoggerFactory.getLogger(PatroniSource.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Bounds what a misbehaving member could make the pooler hold in memory. */
    private static final int MAX_ANSWER_BYTES = 1 << 20;

    private final String name;
    private final DiscoveryConfig.Patroni config;
    private final HttpClient http;
    /** The member that answered last: asked first next time. */
    private int preferred;
    /** Per member: whether it reported a timeline while leader (a leader that stops reporting one is demoting). */
    private final Map<String, Boolean> leaderHadTimeline = new HashMap<>();
    /**
     * The leader seen being demoted: kept out of the set until another leader runs, or until it has shown its
     * timeline again for {@link #DEMOTION_ABANDONED} (a switchover that did not happen). Patroni's member keys lag,
     * so the timeline can flicker back during a demotion.
     */
    private String demotingLeader;
    /** What was last logged about a leader kept out, so that each change is logged once, not every look. */
    private String lastNote;

    private long timelineBackSince;

    static final java.time.Duration DEMOTION_ABANDONED = java.time.Duration.ofSeconds(3);

    public PatroniSource(String name, DiscoveryConfig.Patroni config) {
        this.name = name;
        this.config = config;
        this.http = HttpClient.newBuilder()
                .connectTimeout(config.schedule().timeout())
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
    }

    @Override
    public Discovered fetch() throws DiscoveryException {
        List<String> failures = new ArrayList<>();
        int n = config.members().size();
        for (int i = 0; i < n; i++) {
            int index = (preferred + i) % n;
            URI base = config.members().get(index);
            URI uri = base.resolve(base.getPath().endsWith("/") ? "cluster" : base.getPath() + "/cluster");
            try {
                HttpResponse<byte[]> r = http.send(
                        HttpRequest.newBuilder(uri)
                                .timeout(config.schedule().timeout())
                                .header("Accept", "application/json")
                                .GET()
                                .build(),
                        HttpResponse.BodyHandlers.ofByteArray());
                if (r.statusCode() != 200) {
                    failures.add(uri + ": HTTP " + r.statusCode());
                    continue;
                }
                if (r.body().length > MAX_ANSWER_BYTES) {
                    failures.add(uri + ": answer larger than " + MAX_ANSWER_BYTES + " bytes");
                    continue;
                }
                Discovered d = parse(JSON.readTree(r.body()));
                preferred = index;
                return d;
            } catch (IOException e) {
                failures.add(uri + ": " + e.getClass().getSimpleName()
                        + (e.getMessage() == null ? "" : " " + e.getMessage()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new DiscoveryException("unreachable", "interrupted");
            } catch (IllegalArgumentException e) {
                failures.add(uri + ": " + e.getMessage());
            }
        }
        throw new DiscoveryException("unreachable", "no member answered: " + String.join("; ", failures));
    }

    Discovered parse(JsonNode root) {
        JsonNode list = root == null ? null : root.get("members");
        if (list == null || !list.isArray()) {
            throw new IllegalArgumentException("the answer has no members list");
        }
        boolean switchoverDue = switchoverDue(root.get("scheduled_switchover"));
        boolean changing = switchoverDue;
        boolean leaderSeen = false;
        List<EndpointSet.Member> members = new ArrayList<>();
        for (JsonNode m : list) {
            String member = m.path("name").asText(null);
            String host = m.path("host").asText(null);
            int port = m.path("port").asInt(Endpoint.DEFAULT_PORT);
            String role = m.path("role").asText("");
            String state = m.path("state").asText("");
            if (member == null || host == null || host.isEmpty()) {
                continue;
            }
            boolean usable = state.equals("running") || state.equals("streaming");
            JsonNode tags = m.path("tags");
            String zone = tags.path("zone").isTextual() ? tags.path("zone").asText() : null;
            int weight = tags.path("noloadbalance").asBoolean(false) ? 0 : EndpointSet.DEFAULT_WEIGHT;
            if (role.equals("leader") || role.equals("master") || role.equals("primary")) {
                boolean hasTimeline = m.hasNonNull("timeline");
                long now = System.nanoTime();
                if (!hasTimeline && leaderHadTimeline.getOrDefault(member, false)) {
                    demotingLeader = member;
                    timelineBackSince = 0;
                } else if (demotingLeader != null && !demotingLeader.equals(member) && usable) {
                    demotingLeader = null;
                }
                leaderHadTimeline.put(member, hasTimeline);
                boolean demoting = member.equals(demotingLeader);
                if (demoting && hasTimeline) {
                    if (timelineBackSince == 0) {
                        timelineBackSince = now;
                    } else if (now - timelineBackSince > DEMOTION_ABANDONED.toNanos()) {
                        log.info(
                                "discovery {}: leader {} was not demoted after all: it takes writes again",
                                name,
                                member);
                        demotingLeader = null;
                        demoting = false;
                    }
                }
                if (!usable || demoting || switchoverDue) {
                    changing = true;
                    String note = member + " is " + state
                            + (demoting ? " and being demoted" : switchoverDue ? " with a switchover due" : "");
                    if (!note.equals(lastNote)) {
                        log.info("discovery {}: leader {}: writes wait for the next leader", name, note);
                        lastNote = note;
                    }
                    continue;
                }
                lastNote = null;
                leaderSeen = true;
                members.add(new EndpointSet.Member(member, host, port, Endpoint.Role.PRIMARY, zone, weight));
            } else if (role.equals("replica") || role.equals("sync_standby") || role.equals("standby_leader")) {
                leaderHadTimeline.remove(member);
                if (!usable) {
                    continue;
                }
                JsonNode lag = m.get("lag");
                if (config.maxLagBytes() > 0
                        && (lag == null || !lag.canConvertToLong() || lag.asLong() > config.maxLagBytes())) {
                    continue;
                }
                members.add(new EndpointSet.Member(member, host, port, Endpoint.Role.REPLICA, zone, weight));
            }
        }
        // Without a running leader a new one is on its way (or the cluster is down): look again soon.
        changing |= !leaderSeen;
        return new Discovered(List.of(new Discovered.Cluster(name, members, null, null)), changing);
    }

    /** A scheduled switchover whose time has come: the leader may be demoted any moment. */
    private static boolean switchoverDue(JsonNode scheduled) {
        if (scheduled == null || !scheduled.isObject()) {
            return false;
        }
        String at = scheduled.path("at").asText(null);
        if (at == null) {
            return true;
        }
        try {
            return !OffsetDateTime.parse(at).toInstant().isAfter(java.time.Instant.now());
        } catch (DateTimeParseException e) {
            return true;
        }
    }
}
