package dev.pggat.pooler.conformance;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/** Turns what pgjdbc returns into comparable lines: rows with column types, or the SQLSTATE of an error. */
final class Jdbc {
    private Jdbc() {}

    @FunctionalInterface
    interface SqlAction {
        String run() throws SQLException;
    }

    /** The action's description of its result, or {@code ERROR <sqlstate>} when it fails with an SQL error. */
    static String attempt(SqlAction action) {
        try {
            return action.run();
        } catch (SQLException e) {
            return "ERROR " + e.getSQLState();
        }
    }

    /** Every row of the result, each as {@code name:type=value|...}. */
    static String rows(ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        List<String> rows = new ArrayList<>();
        while (rs.next()) {
            StringBuilder row = new StringBuilder();
            for (int i = 1; i <= md.getColumnCount(); i++) {
                if (i > 1) {
                    row.append('|');
                }
                row.append(md.getColumnLabel(i))
                        .append(':')
                        .append(md.getColumnTypeName(i))
                        .append('=')
                        .append(rs.getString(i));
            }
            rows.add(row.toString());
        }
        return String.join(" / ", rows);
    }

    static String query(Connection c, String sql) {
        return attempt(() -> {
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery(sql)) {
                return rows(rs);
            }
        });
    }

    static String execute(Connection c, String sql) {
        return attempt(() -> {
            try (Statement s = c.createStatement()) {
                s.execute(sql);
                return "ok " + s.getUpdateCount();
            }
        });
    }
}
