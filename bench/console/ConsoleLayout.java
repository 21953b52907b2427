import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.Statement;
import java.util.Properties;

/**
 * Prints the result layout (column name and PostgreSQL type) of each admin-console command given, one line per
 * column: "COMMAND<TAB>position<TAB>name<TAB>type". The console speaks the simple query protocol only, so pgjdbc is
 * put in simple mode; its ResultSetMetaData reports what the RowDescription said.
 *
 * <p>Usage: java -cp postgresql.jar ConsoleLayout.java URL USER PASSWORD COMMAND...
 */
public final class ConsoleLayout {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        props.setProperty("preferQueryMode", "simple");
        props.setProperty("sslmode", "disable");
        // Startup parameters instead of SET commands after login: a console has no SET extra_float_digits.
        props.setProperty("assumeMinServerVersion", "9.4");
        try (Connection c = DriverManager.getConnection(args[0], props)) {
            for (int i = 3; i < args.length; i++) {
                String command = args[i];
                try (Statement st = c.createStatement()) {
                    if (!st.execute(command)) {
                        System.out.println(command + "\t-\t(no result set)\t-");
                        continue;
                    }
                    try (ResultSet rs = st.getResultSet()) {
                        ResultSetMetaData md = rs.getMetaData();
                        for (int col = 1; col <= md.getColumnCount(); col++) {
                            System.out.println(command + "\t" + col + "\t" + md.getColumnName(col) + "\t"
                                    + md.getColumnTypeName(col));
                        }
                    }
                } catch (java.sql.SQLException e) {
                    System.out.println(command + "\t-\tERROR " + e.getSQLState() + "\t" + e.getMessage());
                }
            }
        }
    }
}
