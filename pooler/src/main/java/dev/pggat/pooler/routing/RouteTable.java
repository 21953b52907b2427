package dev.pggat.pooler.routing;

import dev.pggat.pooler.config.RouteConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;

/**
 * The routes in use, in order, each with its counters. A reload makes a new table; a route that stays (same name)
 * keeps its counters, so that metrics do not go back to zero.
 */
public final class RouteTable {
    /**
     * One route and how often it was taken.
     *
     * @param matchedTotal clients the route matched
     * @param errorTotal clients an error route refused
     * @param stepLimitTotal values on which a regular expression of the route gave up
     */
    public record Entry(RouteConfig route, LongAdder matchedTotal, LongAdder errorTotal, LongAdder stepLimitTotal) {}

    private final List<Entry> entries;
    private final Set<String> inlineBackends;

    RouteTable(List<RouteConfig> routes, RouteTable previous) {
        Map<String, Entry> old = new java.util.HashMap<>();
        if (previous != null) {
            previous.entries.forEach(e -> old.put(e.route().name(), e));
        }
        List<Entry> list = new ArrayList<>();
        for (RouteConfig r : routes) {
            Entry was = old.get(r.name());
            list.add(
                    was == null
                            ? new Entry(r, new LongAdder(), new LongAdder(), new LongAdder())
                            : new Entry(r, was.matchedTotal(), was.errorTotal(), was.stepLimitTotal()));
        }
        this.entries = List.copyOf(list);
        this.inlineBackends = Set.copyOf(RouteConfig.inlineBackends(routes));
    }

    public List<RouteConfig> routes() {
        return entries.stream().map(Entry::route).toList();
    }

    public List<Entry> entries() {
        return entries;
    }

    /** Backends defined inside routes: clients reach them through their route only. */
    public Set<String> inlineBackends() {
        return inlineBackends;
    }
}
