package dev.pggat.pooler.backend;

/** Where a server lives and how to log in to it. The password is plain text or null (trust). */
public record ServerAddress(String host, int port, String database, String user, String password) {
    @Override
    public String toString() {
        return user + "@" + host + ":" + port + "/" + database;
    }
}
