package dev.pggat.pooler.config;

import static dev.pggat.pooler.config.ConfigFixtures.MINIMAL;
import static dev.pggat.pooler.config.ConfigFixtures.SOURCE;
import static dev.pggat.pooler.config.ConfigFixtures.parse;
import static dev.pggat.pooler.config.ConfigFixtures.problems;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The client timeouts, connection caps, reserve pool and statement cache keys. */
class ConfigTimeoutsLimitsTest {
    private static final String TWO_DATABASES = """
            databases:
              app:
                endpoints: [{host: db1}]
                users:
                  alice: {password: a, maxUserConnections: %s}
              reports:
                endpoints: [{host: db1}]
                users:
                  alice: {password: a, maxUserConnections: %s}
            """;

    @Test
    void everyNewKeyIsOffOrAtItsDefaultWhenLeftOut() throws Exception {
        PoolerConfig config = parse(MINIMAL);
        assertThat(config.timeouts().clientIdle()).isZero();
        assertThat(config.timeouts().idleInTransaction()).isZero();
        assertThat(config.timeouts().query()).isZero();
        assertThat(config.pools().limits()).isEqualTo(new PoolLimits(0, 0, Duration.ofSeconds(5), 1000));
        assertThat(config.pools().maxUserConnections()).isZero();
        assertThat(config.databases().get("app").limits()).isEqualTo(PoolLimits.DEFAULT);
        assertThat(config.databases().get("app").users().get("alice").maxUserConnections())
                .isZero();
    }

    @Test
    void databaseOverridesThePoolDefaultsAndInheritsTheRest() throws Exception {
        PoolerConfig config = parse("""
                timeouts:
                  clientIdle: 10m
                  idleInTransaction: 30s
                  query: 1500ms
                pools:
                  maxDatabaseConnections: 40
                  maxUserConnections: 25
                  reservePoolSize: 3
                  reservePoolTimeout: 2s
                  preparedStatementCacheSize: 200
                databases:
                  inherits:
                    endpoints: [{host: db1}]
                    users: {u: {password: p}}
                  overrides:
                    maxDatabaseConnections: 0
                    reservePoolSize: 1
                    reservePoolTimeout: 0
                    preparedStatementCacheSize: 50
                    endpoints: [{host: db2}]
                    users: {u: {password: p, maxUserConnections: 7}}
                """);
        assertThat(config.timeouts().clientIdle()).isEqualTo(Duration.ofMinutes(10));
        assertThat(config.timeouts().idleInTransaction()).isEqualTo(Duration.ofSeconds(30));
        assertThat(config.timeouts().query()).isEqualTo(Duration.ofMillis(1500));
        assertThat(config.pools().maxUserConnections()).isEqualTo(25);
        assertThat(config.databases().get("inherits").limits())
                .isEqualTo(new PoolLimits(40, 3, Duration.ofSeconds(2), 200));
        assertThat(config.databases().get("overrides").limits()).isEqualTo(new PoolLimits(0, 1, Duration.ZERO, 50));
        assertThat(config.databases().get("overrides").users().get("u").maxUserConnections())
                .isEqualTo(7);
    }

    @Test
    void wrongValuesNameTheKeyTheValueAndWhatIsAccepted() {
        assertThat(problems("""
                        timeouts:
                          query: 30
                          clientIdle: -1s
                        pools:
                          maxDatabaseConnections: -1
                          reservePoolSize: many
                          preparedStatementCacheSize: 0
                        """ + MINIMAL))
                .containsExactly(
                        SOURCE + ": timeouts.clientIdle: is not a duration (value '-1s'; accepted: an integer with"
                                + " unit ms, s, m, h or d, like 500ms, 30s, 5m, 1h, 2d, at most 365d; or 0 to"
                                + " disable)",
                        SOURCE + ": timeouts.query: has no unit, which is ambiguous (value '30'; accepted: an"
                                + " integer with unit ms, s, m, h or d, like 500ms, 30s, 5m, 1h, 2d, at most 365d;"
                                + " or 0 to disable)",
                        SOURCE + ": pools.maxDatabaseConnections: is out of range (value '-1'; accepted: an integer"
                                + " of at least 0 (0: no cap))",
                        SOURCE + ": pools.reservePoolSize: is not a decimal integer (value 'many'; accepted: an"
                                + " integer of at least 0 (0: no reserve pool))",
                        SOURCE + ": pools.preparedStatementCacheSize: is out of range (value '0'; accepted: an"
                                + " integer of at least 1)");
    }

    @Test
    void databaseCapBelowItsMinimumIsRejected() {
        assertThat(problems("""
                        databases:
                          app:
                            minServerConnections: 5
                            maxDatabaseConnections: 3
                            endpoints: [{host: db1}]
                            users: {alice: {password: a}}
                        """))
                .containsExactly(SOURCE + ": databases.app.maxDatabaseConnections: is below minServerConnections (5),"
                        + " which one pool alone could never reach (value '3'; accepted: 0 (no cap) or at least"
                        + " minServerConnections)");
    }

    @Test
    void aUserCapsItselfWithOneValueAcrossDatabases() throws Exception {
        assertThat(problems(TWO_DATABASES.formatted("4", "6")))
                .containsExactly(SOURCE + ": databases.reports.users.alice.maxUserConnections: differs from"
                        + " databases.app.users.alice.maxUserConnections (4); the cap counts the user's connections"
                        + " across all databases (value '6'; accepted: the same value in every database that sets"
                        + " it (4), or leave it out here)");
        assertThat(parse(TWO_DATABASES.formatted("4", "4")).databases()).hasSize(2);
        assertThat(parse(TWO_DATABASES.formatted("4", "0")).databases()).hasSize(2);
    }
}
