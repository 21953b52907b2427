package dev.pggat.crds.v1alpha1;

/** The duration grammar the pooler configuration accepts, shared by every duration field of the CRD. */
public final class Durations {
    /** "0", or a whole number with unit ms, s, m or h (the pooler's own grammar, so the value passes unchanged). */
    public static final String PATTERN = "^(0|[0-9]+(ms|s|m|h))$";

    private Durations() {}
}
