package dev.pggat.pooler.conformance;

/** Where a scenario runs: PostgreSQL itself (the reference), or pggat in front of it in either pool mode. */
public enum Target {
    DIRECT("directly against PostgreSQL"),
    TRANSACTION("through pggat in transaction mode"),
    SESSION("through pggat in session mode");

    private final String description;

    Target(String description) {
        this.description = description;
    }

    @Override
    public String toString() {
        return description;
    }
}
