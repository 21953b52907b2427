package dev.pggat.pooler.config;

import static dev.pggat.pooler.config.ConfigFixtures.SOURCE;
import static dev.pggat.pooler.config.ConfigFixtures.parse;
import static dev.pggat.pooler.config.ConfigFixtures.problems;
import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The discovery section and a database's discovery key: what is accepted, and errors naming key, value, accepted. */
class ConfigDiscoveryTest {
    private static final String USERS = """
                users:
                  alice:
                    password: secret
            """;

    @Test
    void databaseFedByPatroniNeedsNoEndpoints() throws Exception {
        PoolerConfig c = parse("""
                discovery:
                  ha:
                    interval: 500ms
                    patroni:
                      members: [http://10.0.0.1:8008, "http://10.0.0.2:8008/"]
                databases:
                  app:
                    discovery: ha
                """ + USERS);
        assertThat(c.databases().get("app").endpoints()).isEmpty();
        DiscoveryConfig.Patroni p =
                (DiscoveryConfig.Patroni) c.discovery().sources().get("ha");
        assertThat(p.members())
                .containsExactly(URI.create("http://10.0.0.1:8008"), URI.create("http://10.0.0.2:8008/"));
        assertThat(p.schedule().interval()).isEqualTo(Duration.ofMillis(500));
        assertThat(p.schedule().timeout()).isEqualTo(Duration.ofSeconds(2));
        assertThat(c.discovery().targets().get("app")).isEqualTo(new DiscoveryConfig.Target("ha", null));
    }

    @Test
    void clusterOfACloudSourceCanBeNamed() throws Exception {
        PoolerConfig c = parse("""
                discovery:
                  gcp:
                    cloudSql:
                      project: my-project
                      instances: "orders-.*"
                      ipType: PSC
                databases:
                  app:
                    discovery: gcp/orders-main
                """ + USERS);
        assertThat(c.discovery().targets().get("app")).isEqualTo(new DiscoveryConfig.Target("gcp", "orders-main"));
        DiscoveryConfig.CloudSql g =
                (DiscoveryConfig.CloudSql) c.discovery().sources().get("gcp");
        assertThat(g.ipType()).isEqualTo(DiscoveryConfig.IpType.PSC);
        assertThat(g.port()).isEqualTo(5432);
        assertThat(g.instances().matcher("orders-main").matches()).isTrue();
    }

    @Test
    void mistakesNameTheKeyTheValueAndWhatIsAccepted() {
        assertThat(problems("""
                discovery:
                  ha:
                    interval: 5s
                    backoffMax: 1s
                    patroni:
                      members: [ftp://10.0.0.1]
                  gcp:
                    cloudSql:
                      instances: "orders-("
                      ipType: PUBLIC
                  both:
                    patroni: {members: [http://a:8008]}
                    digitalOcean: {}
                  do:
                    digitalOcean:
                      tokenEnv: DO_TOKEN
                      tokenFile: /run/do-token
                      network: vpc
                databases:
                  app:
                    discovery: nowhere
                """ + USERS))
                .contains(
                        SOURCE + ": discovery.ha.backoffMax: is shorter than the interval (5000 ms) (value '1000ms';"
                                + " accepted: a duration of at least the interval)",
                        SOURCE
                                + ": discovery.ha.patroni.members[0]: is not an http or https URL (value 'ftp://10.0.0.1';"
                                + " accepted: a list of the members' REST API URLs, like http://10.0.0.5:8008)",
                        SOURCE + ": discovery.gcp.cloudSql.project: is required (accepted: a Google Cloud project id,"
                                + " like my-project-123)",
                        SOURCE + ": discovery.both: names 2 kinds of source (value 'patroni, digitalOcean'; accepted:"
                                + " exactly one of patroni, cloudSql or digitalOcean)",
                        SOURCE + ": discovery.do.digitalOcean.network: is not a network (value 'vpc'; accepted: public"
                                + " or private)",
                        SOURCE + ": discovery.gcp.cloudSql.instances: is not a regular expression (value 'orders-(';"
                                + " accepted: a Java regular expression that whole instance names must match, like"
                                + " orders-.*)",
                        SOURCE + ": discovery.do.digitalOcean.tokenFile: is set together with tokenEnv (value"
                                + " '/run/do-token'; accepted: either tokenEnv or tokenFile)")
                .noneMatch(p -> p.contains("at least one endpoint is required"));
        assertThat(problems("""
                discovery:
                  ha:
                    patroni:
                      members: [http://10.0.0.1:8008]
                databases:
                  app:
                    discovery: nowhere
                """ + USERS)).anySatisfy(p -> assertThat(p)
                .startsWith(SOURCE + ": databases.app.discovery: names no configured discovery source (value"
                        + " 'nowhere';"));
        assertThat(problems("""
                discovery:
                  ha:
                    patroni:
                      members: [http://10.0.0.1:8008]
                databases:
                  app:
                    discovery: ha
                    endpoints:
                      - host: db1
                """ + USERS))
                .anySatisfy(p -> assertThat(p).contains("databases.app.endpoints: is set together with discovery"));
    }
}
