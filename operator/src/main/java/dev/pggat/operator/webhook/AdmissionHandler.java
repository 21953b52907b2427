package dev.pggat.operator.webhook;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.GroupVersionKind;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionRequest;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionResponse;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReview;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One AdmissionReview in, one out. Anything that is not a well-formed {@code admission.k8s.io/v1} review of a Pod
 * gets a clear answer rather than an exception: a body that cannot be answered (no request uid) gets HTTP 400, a
 * review whose object is unusable is denied with the reason.
 */
public final class AdmissionHandler {
    private static final Logger LOG = LoggerFactory.getLogger(AdmissionHandler.class);
    static final String API_VERSION = "admission.k8s.io/v1";

    /** An HTTP answer: JSON AdmissionReview for 200, plain text otherwise. */
    public record Reply(int status, String contentType, byte[] body) {
        static Reply text(int status, String message) {
            return new Reply(status, "text/plain; charset=utf-8", (message + "\n").getBytes(StandardCharsets.UTF_8));
        }

        public String bodyText() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    private final SidecarInjector injector;
    private final SidecarInjector.Lookup lookup;
    private final KubernetesSerialization serialization = new KubernetesSerialization();
    private final ObjectMapper json = new ObjectMapper();

    public AdmissionHandler(SidecarInjector injector, SidecarInjector.Lookup lookup) {
        this.injector = injector;
        this.lookup = lookup;
    }

    public Reply handle(byte[] body) {
        JsonNode tree;
        try {
            tree = json.readTree(body);
        } catch (java.io.IOException e) {
            return Reply.text(400, "the request body is not JSON: " + firstLine(e.getMessage()));
        }
        if (tree == null || !tree.isObject()) {
            return Reply.text(400, "the request body is not a JSON object; expected an AdmissionReview");
        }
        String apiVersion = tree.path("apiVersion").asText("");
        String kind = tree.path("kind").asText("");
        if (!API_VERSION.equals(apiVersion) || !"AdmissionReview".equals(kind)) {
            return Reply.text(
                    400,
                    "expected apiVersion " + API_VERSION + ", kind AdmissionReview; got apiVersion \"" + apiVersion
                            + "\", kind \"" + kind + "\"");
        }
        String uid = tree.path("request").path("uid").asText("");
        if (uid.isEmpty()) {
            return Reply.text(400, "the AdmissionReview has no request.uid to answer");
        }
        AdmissionRequest request;
        try {
            request = serialization.convertValue(tree.get("request"), AdmissionRequest.class);
        } catch (IllegalArgumentException e) {
            return answer(uid, Decision.deny(400, "request is not an AdmissionRequest: " + firstLine(e.getMessage())));
        }
        return answer(uid, decide(request));
    }

    private Decision decide(AdmissionRequest request) {
        GroupVersionKind gvk = request.getKind();
        if (gvk == null
                || !"".equals(nullToEmpty(gvk.getGroup()))
                || !"v1".equals(gvk.getVersion())
                || !"Pod".equals(gvk.getKind())) {
            return Decision.skip("not a v1 Pod: " + describe(gvk));
        }
        if (!"CREATE".equals(request.getOperation())) {
            return Decision.skip("operation " + request.getOperation() + " is left alone");
        }
        if (request.getObject() == null) {
            return Decision.deny(400, "request.object is missing");
        }
        Pod pod;
        try {
            pod = serialization.convertValue(request.getObject(), Pod.class);
        } catch (IllegalArgumentException e) {
            return Decision.deny(400, "request.object is not a Pod: " + firstLine(e.getMessage()));
        }
        String namespace = request.getNamespace();
        if ((namespace == null || namespace.isEmpty()) && pod.getMetadata() != null) {
            namespace = pod.getMetadata().getNamespace();
        }
        if (namespace == null || namespace.isEmpty()) {
            return Decision.deny(400, "the request names no namespace for the Pod");
        }
        String podName = podName(pod, request);
        Decision d;
        try {
            d = injector.decide(pod, namespace, lookup);
        } catch (KubernetesClientException e) {
            // Denied, not failed: under failurePolicy Ignore a failure would let the pod start without its pooler.
            d = Decision.deny(
                    503,
                    "cannot read the PgPool or its ConfigMap from the API server (HTTP " + e.getCode() + "); the"
                            + " pod's controller retries");
        }
        if (d.allowed() && d.patches()) {
            LOG.info("pod {}/{}: {}", namespace, podName, d.message());
        } else if (!d.allowed()) {
            LOG.info("pod {}/{}: denied: {}", namespace, podName, d.message());
        } else {
            LOG.debug("pod {}/{}: {}", namespace, podName, d.message());
        }
        return d;
    }

    private Reply answer(String uid, Decision d) {
        AdmissionResponse response = new AdmissionResponse();
        response.setUid(uid);
        response.setAllowed(d.allowed());
        if (!d.allowed()) {
            response.setStatus(new StatusBuilder()
                    .withStatus("Failure")
                    .withCode(d.code())
                    .withMessage(d.message())
                    .build());
        }
        if (d.patches()) {
            response.setPatchType("JSONPatch");
            response.setPatch(
                    Base64.getEncoder().encodeToString(d.patch().toString().getBytes(StandardCharsets.UTF_8)));
        }
        AdmissionReview review = new AdmissionReview();
        review.setApiVersion(API_VERSION);
        review.setKind("AdmissionReview");
        review.setResponse(response);
        return new Reply(200, "application/json", serialization.asJson(review).getBytes(StandardCharsets.UTF_8));
    }

    private static String podName(Pod pod, AdmissionRequest request) {
        if (pod.getMetadata() != null && pod.getMetadata().getName() != null) {
            return pod.getMetadata().getName();
        }
        if (pod.getMetadata() != null && pod.getMetadata().getGenerateName() != null) {
            return pod.getMetadata().getGenerateName() + "*";
        }
        return request.getName() == null ? "?" : request.getName();
    }

    private static String describe(GroupVersionKind gvk) {
        return gvk == null ? "no request.kind" : gvk.getGroup() + "/" + gvk.getVersion() + " " + gvk.getKind();
    }

    private static String nullToEmpty(String s) {
        return s == null ? "" : s;
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
