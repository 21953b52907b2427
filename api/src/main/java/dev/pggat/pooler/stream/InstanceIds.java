package dev.pggat.pooler.stream;

/**
 * Ids of the pooler instances of one pool. The operator assigns each pooler pod an id and sends it in the endpoint
 * stream; the pooler writes it into the top byte of the cancel keys it issues, so that a CancelRequest reaching any
 * pod finds the pod that issued the key. Seven bits, because a backend process id is a positive 32-bit integer.
 */
public final class InstanceIds {
    /** The id of a pooler the operator has not named (yet); never a peer's id. */
    public static final int UNASSIGNED = 127;

    /** The highest id the operator assigns. */
    public static final int MAX_ASSIGNED = UNASSIGNED - 1;

    private InstanceIds() {}

    /** Whether {@code id} is one the operator may assign (0 to {@link #MAX_ASSIGNED}). */
    public static boolean isAssigned(int id) {
        return id >= 0 && id <= MAX_ASSIGNED;
    }
}
