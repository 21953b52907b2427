package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class PgPoolStatus {
    /** Condition types; Ready is the one tools wait on. */
    public static final String READY = "Ready";

    public static final String RECONCILING = "Reconciling";
    public static final String STALLED = "Stalled";

    @JsonPropertyDescription("The metadata.generation of the spec this status describes.")
    public Long observedGeneration;

    @JsonPropertyDescription("Ready: the pooler serves the current spec. Reconciling: the operator is still working"
            + " towards it. Stalled: it cannot progress without a change (the message says what).")
    public List<PgPoolCondition> conditions = new ArrayList<>();

    @JsonPropertyDescription("Name of the endpoint that is the primary now.")
    public String primary;

    @JsonPropertyDescription("Names of the replica endpoints now.")
    public List<String> replicas = new ArrayList<>();

    @JsonPropertyDescription("Version of the endpoint set the leading operator replica's endpoint stream serves for"
            + " this PgPool; it grows when endpoints change. Without a stream: the version written into the pooler"
            + " configuration.")
    public Long endpointSetVersion;

    @JsonPropertyDescription("Pooler pods that have applied the endpoint set of endpointSetVersion (without a stream:"
            + " pods that run the current configuration).")
    public Integer podsAtVersion;

    @JsonPropertyDescription("Pooler pods with an address that the operator counted; podsAtVersion is out of these.")
    public Integer pods;

    @JsonPropertyDescription("Application pods with an injected pggat sidecar for this PgPool (label"
            + " pggat.dev/sidecar-of) that run with an address and that the operator counted. Set only while the"
            + " operator serves an endpoint stream.")
    public Integer sidecars;

    @JsonPropertyDescription(
            "Injected sidecars, out of sidecars, that have applied the endpoint set of" + " endpointSetVersion.")
    public Integer sidecarsAtVersion;

    /** The condition of that type, or null. */
    public PgPoolCondition condition(String type) {
        for (PgPoolCondition c : conditions) {
            if (type.equals(c.type)) {
                return c;
            }
        }
        return null;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof PgPoolStatus)) {
            return false;
        }
        PgPoolStatus s = (PgPoolStatus) o;
        return Objects.equals(observedGeneration, s.observedGeneration)
                && Objects.equals(conditions, s.conditions)
                && Objects.equals(primary, s.primary)
                && Objects.equals(replicas, s.replicas)
                && Objects.equals(endpointSetVersion, s.endpointSetVersion)
                && Objects.equals(podsAtVersion, s.podsAtVersion)
                && Objects.equals(pods, s.pods)
                && Objects.equals(sidecars, s.sidecars)
                && Objects.equals(sidecarsAtVersion, s.sidecarsAtVersion);
    }

    @Override
    public int hashCode() {
        return Objects.hash(
                observedGeneration,
                conditions,
                primary,
                replicas,
                endpointSetVersion,
                podsAtVersion,
                pods,
                sidecars,
                sidecarsAtVersion);
    }
}
