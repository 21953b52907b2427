package dev.pggat.operator.model;

import java.util.List;

/** A database entry of the pooler configuration; passwords are only ever referenced, never held. */
public record PoolerDatabase(String name, String serverDatabase, List<PoolerUser> users) {
    /** A user whose password the pooler pod reads from a Secret key through an environment variable. */
    public record PoolerUser(String name, String secretName, String secretKey) {}
}
