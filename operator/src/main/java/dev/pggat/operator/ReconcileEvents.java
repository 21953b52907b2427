package dev.pggat.operator;

import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolCondition;
import dev.pggat.crds.v1alpha1.PgPoolStatus;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.util.HexFormat;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kubernetes Events on a PgPool for what a reconciliation changed: the Ready condition moving to another reason (a
 * rollout done, a primary lost, a permission missing). {@code kubectl describe pgpool} and event-based alerting see
 * them; the same state is in the status conditions. Only transitions are recorded, so a PgPool waiting for hours
 * writes one Event, not one per pass.
 */
final class ReconcileEvents {
    private static final Logger LOG = LoggerFactory.getLogger(ReconcileEvents.class);
    static final String COMPONENT = "pggat-operator";

    private ReconcileEvents() {}

    static void recordTransition(
            KubernetesClient client, PgPool pool, PgPoolStatus previous, PgPoolStatus next, Instant now) {
        PgPoolCondition before = previous == null ? null : previous.condition(PgPoolStatus.READY);
        PgPoolCondition after = next.condition(PgPoolStatus.READY);
        if (after == null
                || (before != null
                        && Objects.equals(before.status, after.status)
                        && Objects.equals(before.reason, after.reason))) {
            return;
        }
        boolean ready = "True".equals(after.status);
        boolean stalled = next.condition(PgPoolStatus.STALLED) != null
                && "True".equals(next.condition(PgPoolStatus.STALLED).status);
        String type =
                ready || (!stalled && !"Forbidden".equals(after.reason) && !"PrimaryNotFound".equals(after.reason))
                        ? "Normal"
                        : "Warning";
        String time = DateTimeFormatter.ISO_INSTANT.format(now);
        try {
            client.v1()
                    .events()
                    .inNamespace(pool.getMetadata().getNamespace())
                    .resource(new EventBuilder()
                            .withNewMetadata()
                            .withName(pool.getMetadata().getName() + "."
                                    + HexFormat.of()
                                            .toHexDigits(
                                                    ThreadLocalRandom.current().nextLong()))
                            .withNamespace(pool.getMetadata().getNamespace())
                            .endMetadata()
                            .withNewInvolvedObject()
                            .withApiVersion(pool.getApiVersion())
                            .withKind(pool.getKind())
                            .withName(pool.getMetadata().getName())
                            .withNamespace(pool.getMetadata().getNamespace())
                            .withUid(pool.getMetadata().getUid())
                            .withResourceVersion(pool.getMetadata().getResourceVersion())
                            .endInvolvedObject()
                            .withType(type)
                            .withReason(after.reason)
                            .withMessage(truncate(after.message))
                            .withFirstTimestamp(time)
                            .withLastTimestamp(time)
                            .withCount(1)
                            .withNewSource()
                            .withComponent(COMPONENT)
                            .endSource()
                            .build())
                    .create();
        } catch (KubernetesClientException e) {
            // An Event is a courtesy: the status already says it, and a missing grant must not stop reconciling.
            LOG.warn(
                    "PgPool {}/{}: cannot record an Event ({}): {}",
                    pool.getMetadata().getNamespace(),
                    pool.getMetadata().getName(),
                    after.reason,
                    e.getMessage());
        }
    }

    /** The API server refuses Event messages over 1 kB. */
    private static String truncate(String s) {
        if (s == null) {
            return "";
        }
        return s.length() <= 1000 ? s : s.substring(0, 997) + "...";
    }
}
