package dev.pggat.pooler.conformance;

import java.util.LinkedHashMap;
import java.util.Map;

/** How a client reaches one target: what a driver, psql or a script is given. */
public record Endpoint(String host, int port, String database, String user, String password) {

    /** libpq's environment variables, also read by asyncpg; no password file or service file may interfere. */
    public Map<String, String> libpqEnvironment() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PGHOST", host);
        env.put("PGPORT", Integer.toString(port));
        env.put("PGDATABASE", database);
        env.put("PGUSER", user);
        if (password != null) {
            env.put("PGPASSWORD", password);
        }
        env.put("PGSSLMODE", "disable");
        env.put("PGCONNECT_TIMEOUT", "10");
        env.put("PGPASSFILE", "/dev/null");
        env.put("PGSERVICEFILE", "/dev/null");
        env.put("PGAPPNAME", "pggat-conformance");
        return env;
    }

    public String jdbcUrl() {
        return "jdbc:postgresql://" + host + ":" + port + "/" + database;
    }
}
