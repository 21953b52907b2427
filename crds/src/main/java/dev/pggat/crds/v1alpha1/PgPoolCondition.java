package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;
import java.util.Objects;

/** The shape of metav1.Condition, with descriptions so that {@code kubectl explain} covers it. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class PgPoolCondition {
    @Required
    @JsonPropertyDescription("Ready, Reconciling or Stalled.")
    public String type;

    @Required
    @JsonPropertyDescription("True, False or Unknown.")
    public String status;

    @JsonPropertyDescription("The metadata.generation this condition was set for.")
    public Long observedGeneration;

    @Required
    @JsonPropertyDescription("When status last changed (RFC 3339).")
    public String lastTransitionTime;

    @Required
    @JsonPropertyDescription("A CamelCase word for the cause of the last transition.")
    public String reason;

    @JsonPropertyDescription("What happened, for humans; may be empty.")
    public String message;

    public PgPoolCondition() {}

    public PgPoolCondition(
            String type,
            String status,
            Long observedGeneration,
            String lastTransitionTime,
            String reason,
            String message) {
        this.type = type;
        this.status = status;
        this.observedGeneration = observedGeneration;
        this.lastTransitionTime = lastTransitionTime;
        this.reason = reason;
        this.message = message;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof PgPoolCondition)) {
            return false;
        }
        PgPoolCondition c = (PgPoolCondition) o;
        return Objects.equals(type, c.type)
                && Objects.equals(status, c.status)
                && Objects.equals(observedGeneration, c.observedGeneration)
                && Objects.equals(lastTransitionTime, c.lastTransitionTime)
                && Objects.equals(reason, c.reason)
                && Objects.equals(message, c.message);
    }

    @Override
    public int hashCode() {
        return Objects.hash(type, status, observedGeneration, lastTransitionTime, reason, message);
    }

    @Override
    public String toString() {
        return type + "=" + status + " (" + reason + ": " + message + ")";
    }
}
