package dev.pggat.operator.webhook;

import com.fasterxml.jackson.databind.node.ArrayNode;

/**
 * The webhook's answer for one Pod.
 *
 * @param patch RFC 6902 operations to apply, or null for none
 * @param code HTTP-style status for a denial (shown to whoever created the Pod), 200 otherwise
 * @param message why: shown on denial, logged always
 */
public record Decision(boolean allowed, ArrayNode patch, int code, String message) {
    public static Decision skip(String why) {
        return new Decision(true, null, 200, why);
    }

    public static Decision inject(ArrayNode patch, String what) {
        return new Decision(true, patch, 200, what);
    }

    public static Decision deny(int code, String why) {
        return new Decision(false, null, code, why);
    }

    public boolean patches() {
        return patch != null && !patch.isEmpty();
    }
}
