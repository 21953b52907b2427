package dev.pggat.pooler.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Runs a scenario on a target and compares what the client saw with what it saw directly against PostgreSQL.
 * The direct run is the reference; it is made once per scenario (per test class) and reused by the pooled runs,
 * whichever runs first. A reference without content fails the test: two empty outputs would compare equal and
 * prove nothing.
 */
public final class Conformance {
    /** One scenario: everything the client observed, as lines that compare equal when the behaviour is equal. */
    @FunctionalInterface
    public interface Scenario {
        List<String> run(Target target) throws Exception;
    }

    private final Map<String, List<String>> reference = new ConcurrentHashMap<>();

    /**
     * Runs {@code scenario} on {@code target} and compares with the direct run. With {@link Target#DIRECT} only the
     * reference is made and checked to have content; the caller then asserts what PostgreSQL must have shown.
     */
    public List<String> check(String name, Target target, Scenario scenario) throws Exception {
        List<String> direct = direct(name, scenario);
        if (target == Target.DIRECT) {
            return direct;
        }
        List<String> observed = scenario.run(target);
        assertThat(observed)
                .as("%s %s, compared line by line with the same scenario run directly against PostgreSQL", name, target)
                .containsExactlyElementsOf(direct);
        return observed;
    }

    private synchronized List<String> direct(String name, Scenario scenario) throws Exception {
        List<String> cached = reference.get(name);
        if (cached == null) {
            cached = List.copyOf(scenario.run(Target.DIRECT));
            assertThat(cached)
                    .as("%s run directly against PostgreSQL: the reference must show something", name)
                    .isNotEmpty()
                    .anySatisfy(line -> assertThat(line).isNotBlank());
            reference.put(name, cached);
        }
        return cached;
    }
}
