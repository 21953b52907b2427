package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.config.Endpoint;
import dev.pggat.pooler.routing.EndpointSet.Member;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class EndpointSetTest {

    private static EndpointSet sample() {
        return new EndpointSet(
                7,
                List.of(
                        new Member("pg-0", "10.0.0.5", 5432, Endpoint.Role.PRIMARY, "eu-1a", 100),
                        new Member("pg-1", "10.0.0.6", 5433, Endpoint.Role.REPLICA, null, 50),
                        Member.replica("db-2.example", 6000).withZone("eu-1b")));
    }

    @Test
    void jsonRoundTripKeepsEveryField() {
        EndpointSet set = sample();
        String json = set.toJson();
        assertThat(json).contains("\"role\":\"primary\"").contains("\"role\":\"replica\"");
        assertThat(json).doesNotContain("\"zone\":null");
        EndpointSet back = EndpointSet.fromJson(json);
        assertThat(back).isEqualTo(set);
        assertThat(EndpointSet.fromJson(json.getBytes(StandardCharsets.UTF_8))).isEqualTo(set);
    }

    @Test
    void jsonDefaultsNamePortAndWeight() {
        EndpointSet set = EndpointSet.fromJson("{\"version\":0,\"endpoints\":[{\"host\":\"a\",\"role\":\"primary\"},"
                + "{\"host\":\"b\",\"port\":6543,\"role\":\"replica\",\"zone\":null}]}");
        assertThat(set.endpoints())
                .containsExactly(
                        new Member("a:5432", "a", 5432, Endpoint.Role.PRIMARY, null, 100),
                        new Member("b:6543", "b", 6543, Endpoint.Role.REPLICA, null, 100));
        assertThat(set.primary().name()).isEqualTo("a:5432");
        assertThat(set.replicas()).extracting(Member::host).containsExactly("b");
        assertThat(set.member("b:6543").port()).isEqualTo(6543);
        assertThat(set.member("nope")).isNull();
    }

    @Test
    void aSetWithoutPrimaryIsAcceptedForFailovers() {
        EndpointSet set = EndpointSet.fromJson("{\"version\":3,\"endpoints\":[{\"host\":\"a\",\"role\":\"replica\"}]}");
        assertThat(set.primary()).isNull();
    }

    @Test
    void newerVersionsWin() {
        EndpointSet v7 = sample();
        EndpointSet v8 = new EndpointSet(8, v7.endpoints());
        assertThat(v8.newerThan(v7)).isTrue();
        assertThat(v7.newerThan(v8)).isFalse();
        assertThat(v7.newerThan(v7)).isFalse();
        assertThat(v7.newerThan(null)).isTrue();
    }

    @Test
    void fromConfigKeepsRolesAndOrder() {
        EndpointSet set = EndpointSet.fromConfig(1, List.of(Endpoint.replica("r", 5433), Endpoint.primary("p", 5432)));
        assertThat(set.endpoints())
                .extracting(Member::name, Member::role)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("r:5433", Endpoint.Role.REPLICA),
                        org.assertj.core.groups.Tuple.tuple("p:5432", Endpoint.Role.PRIMARY));
    }

    @Test
    void rejectsBadJsonNamingTheKeyAndWhatIsAccepted() {
        assertRejected("{", "not valid JSON");
        assertRejected("[]", "expected a JSON object");
        assertRejected("{\"endpoints\":[]}", "version (missing) is not accepted; an integer from 0 up");
        assertRejected("{\"version\":\"1\",\"endpoints\":[]}", "version \"1\" is not accepted");
        assertRejected("{\"version\":-1,\"endpoints\":[{\"host\":\"a\",\"role\":\"primary\"}]}", "version -1");
        assertRejected("{\"version\":1}", "endpoints (missing) is not accepted; a JSON array is required");
        assertRejected("{\"version\":1,\"endpoints\":[]}", "at least one endpoint is required");
        assertRejected("{\"version\":1,\"endpoints\":[],\"extra\":1}", "unknown key extra; accepted are endpoints");
        assertRejected("{\"version\":1,\"endpoints\":[1]}", "endpoints[0] is not a JSON object");
        assertRejected(
                "{\"version\":1,\"endpoints\":[{\"host\":\"a\",\"role\":\"primary\",\"hots\":1}]}",
                "unknown key endpoints[0].hots; accepted are host, name, port, role, weight, zone");
        assertRejected("{\"version\":1,\"endpoints\":[{\"role\":\"primary\"}]}", "endpoints[0].host is missing");
        assertRejected("{\"version\":1,\"endpoints\":[{\"host\":\"a\"}]}", "endpoints[0].role is missing");
        assertRejected(
                "{\"version\":1,\"endpoints\":[{\"host\":\"a\",\"role\":\"PRIMARY\"}]}",
                "endpoints[0].role \"PRIMARY\" is not accepted; accepted are primary and replica");
        assertRejected(
                "{\"version\":1,\"endpoints\":[{\"host\":\"a\",\"role\":\"replica\",\"port\":70000}]}",
                "endpoints[0]: port 70000 is out of range; accepted are 1 to 65535");
        assertRejected(
                "{\"version\":1,\"endpoints\":[{\"host\":\"a\",\"role\":\"replica\",\"port\":\"5432\"}]}",
                "endpoints[0].port \"5432\" is not accepted; an integer is required");
        assertRejected(
                "{\"version\":1,\"endpoints\":[{\"host\":\"a\",\"role\":\"replica\",\"weight\":-1}]}",
                "endpoints[0]: weight -1 is out of range; accepted are 0 to 10000");
        assertRejected(
                "{\"version\":1,\"endpoints\":[{\"host\":\"a\",\"role\":\"replica\",\"name\":\" \"}]}",
                "endpoints[0]: name is empty");
        assertRejected(
                "{\"version\":1,\"endpoints\":[{\"host\":\"a\",\"role\":\"primary\"},{\"host\":\"b\",\"role\":"
                        + "\"primary\"}]}",
                "endpoints 'a:5432' and 'b:5432' are both primary");
        assertRejected(
                "{\"version\":1,\"endpoints\":[{\"host\":\"a\",\"role\":\"replica\",\"name\":\"x\"},{\"host\":\"b\","
                        + "\"role\":\"replica\",\"name\":\"x\"}]}",
                "endpoint name 'x' appears twice");
        assertRejected(
                "{\"version\":1,\"endpoints\":[{\"host\":\"a\",\"role\":\"replica\",\"name\":\"x\"},{\"host\":\"a\","
                        + "\"role\":\"replica\",\"name\":\"y\"}]}",
                "endpoint address a:5432 appears twice");
    }

    private static void assertRejected(String json, String message) {
        assertThatThrownBy(() -> EndpointSet.fromJson(json))
                .as(json)
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("endpoint set: ")
                .hasMessageContaining(message);
    }
}
