package dev.pggat.pooler.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pggat.pooler.config.DiscoveryConfig;
import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.routing.EndpointSet;
import java.net.URI;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How Patroni's /cluster answer becomes an endpoint set (the JSON as Patroni 3 documents and sends it). */
class PatroniSourceTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static PatroniSource source(long maxLag) {
        return new PatroniSource(
                "ha",
                new DiscoveryConfig.Patroni(
                        List.of(URI.create("http://127.0.0.1:1")), maxLag, DiscoveryConfig.Patroni.DEFAULT_SCHEDULE));
    }

    private static JsonNode json(String text) throws Exception {
        return JSON.readTree(text.replace('\'', '"'));
    }

    private static final String HEALTHY = "{'members': ["
            + "{'name': 'pg1', 'role': 'leader', 'state': 'running', 'host': '10.0.0.1', 'port': 5432, 'timeline': 3,"
            + " 'tags': {'zone': 'eu-1a'}},"
            + "{'name': 'pg2', 'role': 'sync_standby', 'state': 'streaming', 'host': '10.0.0.2', 'port': 5433,"
            + " 'timeline': 3, 'lag': 0},"
            + "{'name': 'pg3', 'role': 'replica', 'state': 'running', 'host': '10.0.0.3', 'port': 5432, 'timeline': 3,"
            + " 'lag': 5000000, 'tags': {'noloadbalance': true}},"
            + "{'name': 'pg4', 'role': 'replica', 'state': 'starting', 'host': '10.0.0.4', 'port': 5432,"
            + " 'lag': 'unknown'}]}";

    @Test
    void leaderIsThePrimaryRunningReplicasAreReplicasOthersAreLeftOut() throws Exception {
        Discovered d = source(0).parse(json(HEALTHY));
        List<EndpointSet.Member> m = d.clusters().get(0).members();
        assertThat(m).extracting(EndpointSet.Member::name).containsExactly("pg1", "pg2", "pg3");
        assertThat(m.get(0).role()).isEqualTo(Endpoint.Role.PRIMARY);
        assertThat(m.get(0).zone()).isEqualTo("eu-1a");
        assertThat(m.get(1).role()).isEqualTo(Endpoint.Role.REPLICA);
        assertThat(m.get(1).port()).isEqualTo(5433);
        assertThat(m.get(2).weight()).as("noloadbalance: no reads").isZero();
        assertThat(d.changing()).isFalse();
    }

    @Test
    void replicasBehindMaxLagAreLeftOut() throws Exception {
        List<EndpointSet.Member> m =
                source(1_000_000).parse(json(HEALTHY)).clusters().get(0).members();
        assertThat(m).extracting(EndpointSet.Member::name).containsExactly("pg1", "pg2");
    }

    @Test
    void aLeaderBeingDemotedIsLeftOutUntilAnotherLeads() throws Exception {
        PatroniSource s = source(0);
        s.parse(json(HEALTHY));
        // The demotion begins: the leader stops reporting its timeline.
        Discovered demoting = s.parse(json("{'members': ["
                + "{'name': 'pg1', 'role': 'leader', 'state': 'running', 'host': '10.0.0.1', 'port': 5432},"
                + "{'name': 'pg2', 'role': 'replica', 'state': 'running', 'host': '10.0.0.2', 'port': 5433}]}"));
        assertThat(demoting.clusters().get(0).members())
                .extracting(EndpointSet.Member::role)
                .containsOnly(Endpoint.Role.REPLICA);
        assertThat(demoting.changing()).isTrue();
        // Patroni's keys lag: the timeline may show again while the demotion goes on.
        Discovered flicker = s.parse(json(HEALTHY));
        assertThat(flicker.clusters().get(0).members())
                .extracting(EndpointSet.Member::role)
                .doesNotContain(Endpoint.Role.PRIMARY);
        // The new leader runs: it is the primary.
        Discovered after = s.parse(json("{'members': ["
                + "{'name': 'pg1', 'role': 'replica', 'state': 'stopped', 'host': '10.0.0.1', 'port': 5432},"
                + "{'name': 'pg2', 'role': 'leader', 'state': 'running', 'host': '10.0.0.2', 'port': 5433,"
                + " 'timeline': 4}]}"));
        assertThat(after.clusters().get(0).members())
                .extracting(EndpointSet.Member::name, EndpointSet.Member::role)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("pg2", Endpoint.Role.PRIMARY));
        assertThat(after.changing()).isFalse();
    }

    @Test
    void aScheduledSwitchoverWhoseTimeHasComeHoldsWrites() throws Exception {
        Discovered due = source(0)
                .parse(json(HEALTHY.replace(
                        "]}",
                        "], 'scheduled_switchover': {'at':"
                                + " '2020-01-01T00:00:00+00:00', 'from': 'pg1', 'to': 'pg2'}}")));
        assertThat(due.clusters().get(0).members()).noneMatch(m -> m.role() == Endpoint.Role.PRIMARY);
        Discovered later = source(0)
                .parse(json(HEALTHY.replace(
                        "]}",
                        "], 'scheduled_switchover': {'at':"
                                + " '2999-01-01T00:00:00+00:00', 'from': 'pg1', 'to': 'pg2'}}")));
        assertThat(later.clusters().get(0).members()).anyMatch(m -> m.role() == Endpoint.Role.PRIMARY);
    }
}
