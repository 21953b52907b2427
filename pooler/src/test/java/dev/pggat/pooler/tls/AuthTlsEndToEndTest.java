package dev.pggat.pooler.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.testing.RawClient;
import dev.pggat.pooler.tls.TestPki.Issued;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.security.cert.X509Certificate;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Authentication and TLS through the pooler, on both sides, against a real PostgreSQL with ssl=on and pg_hba.conf
 * lines for scram-sha-256, md5, password and cert. Clients are pgjdbc and psql.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AuthTlsEndToEndTest {
    private static final List<String> METHOD_DATABASES = List.of("m_scram", "m_md5", "m_password", "m_cert");
    private static final List<String> SERVER_USERS = List.of("scram_user", "md5_user", "plain_user", "cert_user");

    @TempDir
    static Path dir;

    static Issued ca;
    static Issued otherCa;
    static Path caFile;
    static Path poolerCrt;
    static Path poolerKey;
    static Path usersDir;
    static final Map<String, Path[]> clientCerts = new LinkedHashMap<>();
    static PostgresCluster pg;
    static Pooler pooler;
    static String scramVerifier;
    static X509Certificate wrongCaCert;
    static java.security.PrivateKey wrongCaKey;
    static String md5Hash;
    static final List<String> secrets = new ArrayList<>();
    static final ByteArrayOutputStream logs = new ByteArrayOutputStream();
    static PrintStream originalErr;

    @BeforeAll
    static void start() throws Exception {
        originalErr = System.err;
        System.setErr(new PrintStream(new Tee(originalErr, logs), true, StandardCharsets.UTF_8));

        ca = TestPki.ca("pggat test CA");
        otherCa = TestPki.ca("unrelated CA");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        caFile = TestPki.writeCerts(dir.resolve("ca.crt"), ca.cert());
        // PostgreSQL's certificate names localhost and db.internal, not 127.0.0.1: "another host" for verify-full.
        Issued pgCert = TestPki.server(ca, List.of("localhost", "db.internal"));
        Path pgCrt = TestPki.writeCerts(dir.resolve("pg.crt"), pgCert.cert());
        Path pgKey = TestPki.writeKeyPkcs8(dir.resolve("pg.key"), pgCert.key());
        Files.setPosixFilePermissions(pgKey, PosixFilePermissions.fromString("rw-------"));
        if ("root".equals(System.getProperty("user.name"))) {
            UserPrincipal postgres =
                    dir.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("postgres");
            Files.setOwner(pgKey, postgres);
        }
        Issued poolerCert = TestPki.server(ca, List.of("localhost", "127.0.0.1"));
        Path poolerDir = Files.createDirectories(dir.resolve("pooler-tls"));
        poolerCrt = TestPki.writeCerts(poolerDir.resolve("tls.crt"), poolerCert.cert());
        poolerKey = TestPki.writeKeyPkcs8(poolerDir.resolve("tls.key"), poolerCert.key());
        for (String user :
                List.of("scram_user", "md5_user", "plain_user", "cert_user", "ghost", "svc-scram_user.example")) {
            clientCerts.put(user, writeClient(TestPki.client(ca, user, List.of()), user));
        }
        Issued wrongCa = TestPki.client(otherCa, "scram_user", List.of());
        wrongCaCert = wrongCa.cert();
        wrongCaKey = wrongCa.key();
        clientCerts.put("wrong-ca", writeClient(wrongCa, "wrong-ca"));
        clientCerts.put(
                "expired",
                writeClient(
                        TestPki.client(
                                ca,
                                "scram_user",
                                Instant.now().minus(Duration.ofDays(30)),
                                Instant.now().minus(Duration.ofDays(1))),
                        "expired"));
        // The pooler's own certificate for the server (cert auth as cert_user).
        Issued toServer = TestPki.client(ca, "cert_user", List.of());
        Path toServerCrt = TestPki.writeCerts(dir.resolve("to-server.crt"), toServer.cert());
        Path toServerKey = TestPki.writeKeyPkcs8(dir.resolve("to-server.key"), toServer.key());

        StringBuilder roles = new StringBuilder();
        for (String r : List.of(
                "scram_user", "plain_user", "ssl_user", "pt_user", "pt_clear", "file_user", "aq_user", "pggat_auth")) {
            roles.append("CREATE ROLE ")
                    .append(r)
                    .append(" LOGIN PASSWORD '")
                    .append(pw(r))
                    .append("';");
            secrets.add(pw(r));
        }
        roles.append("CREATE ROLE cert_user LOGIN;");
        roles.append("SET password_encryption = 'md5';");
        for (String r : List.of("md5_user", "pt_md5")) {
            roles.append("CREATE ROLE ")
                    .append(r)
                    .append(" LOGIN PASSWORD '")
                    .append(pw(r))
                    .append("';");
            secrets.add(pw(r));
        }
        roles.append("RESET password_encryption;");
        pg = PostgresCluster.builder()
                .setting("ssl", "on")
                .setting("ssl_cert_file", pgCrt.toString())
                .setting("ssl_key_file", pgKey.toString())
                .setting("ssl_ca_file", caFile.toString())
                .hbaLines(
                        "hostssl all cert_user 127.0.0.1/32 cert",
                        "hostnossl all ssl_user 127.0.0.1/32 reject",
                        "host all md5_user 127.0.0.1/32 md5",
                        "host all pt_md5 127.0.0.1/32 md5",
                        "host all plain_user 127.0.0.1/32 password")
                .bootstrapSql(
                        roles.toString(),
                        "CREATE DATABASE appdb",
                        "\\c appdb",
                        "CREATE FUNCTION public.pggat_lookup(u text) RETURNS text LANGUAGE sql SECURITY DEFINER"
                                + " SET search_path = pg_catalog AS 'SELECT rolpassword FROM pg_authid WHERE rolname"
                                + " = u AND rolcanlogin';"
                                + "REVOKE ALL ON FUNCTION public.pggat_lookup(text) FROM public;"
                                + "GRANT EXECUTE ON FUNCTION public.pggat_lookup(text) TO pggat_auth")
                .start();
        try (Connection c = superuser();
                ResultSet rs = c.createStatement()
                        .executeQuery("SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN"
                                + " ('pt_user', 'pt_md5', 'aq_user')")) {
            while (rs.next()) {
                secrets.add(rs.getString(2));
                if (rs.getString(1).equals("pt_user")) {
                    scramVerifier = rs.getString(2);
                } else if (rs.getString(1).equals("pt_md5")) {
                    md5Hash = rs.getString(2);
                }
            }
        }
        usersDir = Files.createDirectories(dir.resolve("users"));
        Files.writeString(usersDir.resolve("file_user"), pw("file_user") + "\n");

        int port = pg.primary().port();
        String serverTlsWithCert = """
                    serverTls:
                      sslmode: verify-ca
                      caFile: %s
                      certFile: %s
                      keyFile: %s
                """.formatted(caFile, toServerCrt, toServerKey);
        StringBuilder dbs = new StringBuilder();
        for (String db : METHOD_DATABASES) {
            dbs.append(database(db, "localhost", port, serverTlsWithCert, """
                          scram_user: {password: scram_user-pw}
                          md5_user: {password: md5_user-pw}
                          plain_user: {password: plain_user-pw}
                          cert_user: {password: cert_user-pw}
                    """));
        }
        dbs.append(database("mapped", "localhost", port, "", "      scram_user: {password: scram_user-pw}\n"));
        dbs.append(database("rejected", "localhost", port, "", "      scram_user: {password: scram_user-pw}\n"));
        dbs.append(database(
                "secure", "localhost", port, "    tls: require\n", "      scram_user: {password: scram_user-pw}\n"));
        for (String mode : List.of("disable", "allow", "prefer", "require", "verify-ca", "verify-full")) {
            String tls = "    serverTls: {sslmode: " + mode + ", caFile: " + caFile + "}\n";
            String users = "      scram_user: {password: scram_user-pw}\n      ssl_user: {password: ssl_user-pw}\n";
            dbs.append(database("s_" + mode.replace('-', '_'), "localhost", port, tls, users));
        }
        dbs.append(database(
                "s_wronghost",
                "127.0.0.1",
                port,
                "    serverTls: {sslmode: verify-full, caFile: " + caFile + "}\n",
                "      scram_user: {password: scram_user-pw}\n"));
        dbs.append(database("passthru", "localhost", port, "", """
                          pt_user: {password: "%s", passThrough: true}
                          pt_md5: {password: %s, auth: md5, passThrough: true}
                          pt_clear: {password: "%s", auth: password, passThrough: true}
                    """.formatted(
                        scramVerifier, md5Hash, scramVerifierFor("pt_clear"))));
        dbs.append("""
                  dyn:
                    serverDatabase: appdb
                    endpoints:
                      - {host: localhost, port: %d}
                """.formatted(port));
        dbs.append(database("sources", "localhost", port, "", """
                          file_user: {auth: scram-sha-256}
                          aq_user: {passThrough: true}
                          nowhere_user: {}
                    """));
        String yaml = """
                listen: {host: 127.0.0.1, port: 0}
                admin: {host: 127.0.0.1, port: 0}
                tls:
                  mode: prefer
                  certFile: %s
                  keyFile: %s
                  caFile: %s
                  reloadInterval: 100ms
                auth:
                  maxFailedLogins: 0
                  rules:
                    - {databases: m_scram, method: scram-sha-256}
                    - {databases: m_md5, method: md5}
                    - {databases: m_password, method: password}
                    - {databases: m_cert, method: cert}
                    - {databases: mapped, method: cert, map: svc}
                    - {databases: rejected, method: reject}
                  certMaps:
                    svc:
                      - {certName: "/^svc-(.*)[.]example$", user: "\\\\1"}
                credentials:
                  directory: %s
                  reloadInterval: 100ms
                  authQuery:
                    user: pggat_auth
                    password: pggat_auth-pw
                    query: SELECT public.pggat_lookup($1)
                databases:
                %s
                """.formatted(poolerCrt, poolerKey, caFile, usersDir, dbs);
        pooler = new Pooler(ConfigLoader.parse(yaml, "test.yaml", Map.of()), 2).start();
    }

    private static String scramVerifierFor(String role) throws SQLException {
        try (Connection c = superuser();
                ResultSet rs = c.createStatement()
                        .executeQuery("SELECT rolpassword FROM pg_authid WHERE rolname = '" + role + "'")) {
            rs.next();
            secrets.add(rs.getString(1));
            return rs.getString(1);
        }
    }

    private static String database(String name, String host, int port, String extra, String users) {
        return """
                  %s:
                    serverDatabase: appdb
                %s    endpoints:
                      - {host: %s, port: %d}
                    users:
                %s""".formatted(name, extra, host, port, users);
    }

    private static Path[] writeClient(Issued cert, String name) throws IOException {
        Path crt = TestPki.writeCerts(dir.resolve("client-" + name + ".crt"), cert.cert());
        Path pem = TestPki.writeKeyPkcs8(dir.resolve("client-" + name + ".key"), cert.key());
        Files.setPosixFilePermissions(pem, PosixFilePermissions.fromString("rw-------"));
        Path der = dir.resolve("client-" + name + ".pk8");
        Files.write(der, cert.key().getEncoded());
        Files.setPosixFilePermissions(der, PosixFilePermissions.fromString("rw-------"));
        secrets.add(Base64.getEncoder().encodeToString(cert.key().getEncoded()));
        return new Path[] {crt, pem, der};
    }

    @AfterAll
    static void stop() {
        if (pooler != null) {
            pooler.close();
        }
        if (pg != null) {
            pg.close();
        }
        if (originalErr != null) {
            System.setErr(originalErr);
        }
    }

    static String pw(String role) {
        return role + "-pw";
    }

    static Connection superuser() throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", pg.superuser());
        p.setProperty("password", pg.superuserPassword());
        p.setProperty("sslmode", "disable");
        return DriverManager.getConnection(pg.primary().jdbcUrl("appdb"), p);
    }

    /** A pgjdbc connection through the pooler; {@code extra} are property name/value pairs. */
    static Connection connect(String db, String user, String password, String... extra) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", user);
        if (password != null) {
            p.setProperty("password", password);
        }
        p.setProperty("assumeMinServerVersion", "12");
        p.setProperty("connectTimeout", "10");
        p.setProperty("sslmode", "disable");
        for (int i = 0; i + 1 < extra.length; i += 2) {
            p.setProperty(extra[i], extra[i + 1]);
        }
        return DriverManager.getConnection("jdbc:postgresql://localhost:" + pooler.port() + "/" + db, p);
    }

    static String[] verifyFull(String... more) {
        List<String> l = new ArrayList<>(List.of("sslmode", "verify-full", "sslrootcert", caFile.toString()));
        l.addAll(List.of(more));
        return l.toArray(String[]::new);
    }

    static String[] withCert(String certName, String... more) {
        Path[] c = clientCerts.get(certName);
        List<String> l = new ArrayList<>(List.of(verifyFull("sslcert", c[0].toString(), "sslkey", c[2].toString())));
        l.addAll(List.of(more));
        return l.toArray(String[]::new);
    }

    static String one(Connection c, String sql) throws SQLException {
        try (c;
                ResultSet rs = c.createStatement().executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    static SQLException sqlError(ThrowingConnect action) {
        try {
            action.run().close();
        } catch (SQLException e) {
            return e;
        }
        throw new AssertionError("the connection was expected to fail");
    }

    interface ThrowingConnect {
        Connection run() throws SQLException;
    }

    // ---------------------------------------------------------------- method combinations

    @ParameterizedTest(name = "client {0} to the pooler, server method of {1}")
    @CsvSource({
        "m_scram,scram_user", "m_scram,md5_user", "m_scram,plain_user", "m_scram,cert_user",
        "m_md5,scram_user", "m_md5,md5_user", "m_md5,plain_user", "m_md5,cert_user",
        "m_password,scram_user", "m_password,md5_user", "m_password,plain_user", "m_password,cert_user",
        "m_cert,scram_user", "m_cert,md5_user", "m_cert,plain_user", "m_cert,cert_user"
    })
    void everyClientMethodWorksWithEveryServerMethodOverTls(String db, String user) throws Exception {
        String[] props = db.equals("m_cert") ? withCert(user) : verifyFull();
        assertThat(one(connect(db, user, pw(user), props), "SELECT current_user"))
                .isEqualTo(user);
        // The server side ran over TLS (verify-ca with the pooler's certificate).
        assertThat(one(connect(db, user, pw(user), props), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
                .isEqualTo("t");
    }

    @ParameterizedTest(name = "psql: client {0} as {1}")
    @CsvSource({"m_scram,scram_user", "m_md5,md5_user", "m_password,plain_user", "m_cert,cert_user"})
    void psqlLogsInWithEachMethodOverVerifyFull(String db, String user) throws Exception {
        Path[] cert = clientCerts.get(user);
        Psql r = psql(
                "host=localhost port=" + pooler.port() + " dbname=" + db + " user=" + user
                        + " sslmode=verify-full sslrootcert=" + caFile + " sslcert=" + cert[0] + " sslkey=" + cert[1],
                pw(user),
                "SELECT current_user || ' ' || (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())");
        assertThat(r.exit).as(r.output).isZero();
        assertThat(r.output.strip()).isEqualTo(user + " true");
    }

    @Test
    void scramSha256PlusIsNegotiatedOverTlsWhenTheClientRequiresChannelBinding() throws Exception {
        assertThat(one(
                        connect("m_scram", "scram_user", pw("scram_user"), verifyFull("channelBinding", "require")),
                        "SELECT current_user"))
                .isEqualTo("scram_user");
        // Without TLS there is nothing to bind to: a client that insists is refused by its own driver.
        assertThatThrownBy(() -> connect("m_scram", "scram_user", pw("scram_user"), "channelBinding", "require"))
                .isInstanceOf(SQLException.class);
    }

    // ---------------------------------------------------------------- failures

    @ParameterizedTest(name = "wrong password in {0} fails with 28P01")
    @CsvSource({"m_scram,scram_user", "m_md5,md5_user", "m_password,plain_user"})
    void wrongPasswordFailsWith28P01(String db, String user) {
        SQLException e = sqlError(() -> connect(db, user, "not-the-password", verifyFull()));
        assertThat(e.getSQLState()).isEqualTo("28P01");
        assertThat(e.getMessage()).contains("password authentication failed for user \"" + user + "\"");
    }

    /** Below this, a difference in failure time is not treated as telling users apart. */
    private static final double TIMING_TOLERANCE_MS = 2.0;

    @Test
    void unknownUserFailsLikeAWrongPasswordAfterTheSameTime() throws Exception {
        for (String db : List.of("m_scram", "m_password")) {
            String user = db.equals("m_scram") ? "scram_user" : "plain_user";
            int pairs = 41;
            int warmUp = 3;
            double[] differences = new double[pairs];
            for (int i = 0; i < pairs + warmUp; i++) {
                // Each pair runs back to back, alternating which goes first, so that load, warm caches and GC
                // hit both sides alike; a pair's difference cancels what the moment added to both.
                boolean knownFirst = i % 2 == 0;
                long[] times = new long[2];
                String[] states = new String[2];
                for (int k = 0; k < 2; k++) {
                    boolean known = (k == 0) == knownFirst;
                    String who = known ? user : "no_such_user";
                    long t0 = System.nanoTime();
                    states[k] =
                            sqlError(() -> connect(db, who, "wrong-password")).getSQLState();
                    times[known ? 0 : 1] = System.nanoTime() - t0;
                }
                assertThat(states).containsOnly("28P01");
                if (i >= warmUp) {
                    differences[i - warmUp] = (times[0] - times[1]) / 1e6;
                }
            }
            double[] ci = medianInterval95(differences);
            System.out.printf(
                    "login failure timing %s: existing minus unknown user, median %.2f ms, 95%% interval"
                            + " [%.2f, %.2f] ms%n",
                    db, median(differences), ci[0], ci[1]);
            assertThat(revealsExistence(ci))
                    .as(
                            "the failure time tells users apart: the median difference is in [%.2f, %.2f] ms with 95%%"
                                    + " confidence, beyond the %.1f ms tolerance",
                            ci[0], ci[1], TIMING_TOLERANCE_MS)
                    .isFalse();
            // The check can fail: the same measurements with a gap added to one side, as an oracle that skipped
            // work for unknown users would add, are caught once the gap passes the tolerance plus the spread.
            double gap = 2 * TIMING_TOLERANCE_MS + (ci[1] - ci[0]) + 1.0;
            double[] shifted = differences.clone();
            for (int i = 0; i < shifted.length; i++) {
                shifted[i] += gap;
            }
            assertThat(revealsExistence(medianInterval95(shifted)))
                    .as("an added %.2f ms gap is detected", gap)
                    .isTrue();
        }
    }

    /** True when the median difference is surely (95%) beyond the tolerance, on one side or the other. */
    private static boolean revealsExistence(double[] interval) {
        return interval[0] > TIMING_TOLERANCE_MS || interval[1] < -TIMING_TOLERANCE_MS;
    }

    /**
     * A distribution-free 95% confidence interval for the median of {@code v}: order statistics chosen by the
     * binomial distribution, so outliers from a loaded machine widen it instead of moving the median.
     */
    static double[] medianInterval95(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        // The largest k with P(Binomial(n, 1/2) <= k - 1) <= 2.5%: then [s(k), s(n+1-k)] covers the median.
        double p = Math.pow(0.5, n);
        double cdf = 0;
        double term = p;
        int k = 0;
        for (int j = 0; j < n; j++) {
            cdf += term;
            if (cdf > 0.025) {
                break;
            }
            k = j + 1;
            term = term * (n - j) / (j + 1);
        }
        k = Math.max(k, 1);
        return new double[] {s[k - 1], s[n - k]};
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    @Test
    void plainTextClientOfATlsRequiredDatabaseIsRefusedWith28000() {
        SQLException e = sqlError(() -> connect("secure", "scram_user", pw("scram_user")));
        assertThat(e.getSQLState()).isEqualTo("28000");
        assertThat(e.getMessage())
                .contains("no pg_hba.conf entry for host \"127.0.0.1\", user \"scram_user\", database \"secure\","
                        + " no encryption");
        assertThat(psql(
                                "host=localhost port=" + pooler.port()
                                        + " dbname=secure user=scram_user sslmode=disable",
                                pw("scram_user"),
                                "SELECT 1")
                        .output)
                .contains("no pg_hba.conf entry");
    }

    @Test
    void rejectRuleRefusesWith28000() {
        SQLException e = sqlError(() -> connect("rejected", "scram_user", pw("scram_user"), verifyFull()));
        assertThat(e.getSQLState()).isEqualTo("28000");
        assertThat(e.getMessage()).contains("pg_hba.conf rejects connection for host \"127.0.0.1\"");
    }

    @Test
    void certificateLoginsFailForMissingWrongCaExpiredAndUnmappedCertificates() {
        SQLException none = sqlError(() -> connect("m_cert", "scram_user", pw("scram_user"), verifyFull()));
        assertThat(none.getSQLState()).isEqualTo("28000");
        assertThat(none.getMessage()).contains("connection requires a valid client certificate");

        SQLException otherName = sqlError(() -> connect("m_cert", "scram_user", null, withCert("ghost")));
        assertThat(otherName.getSQLState()).isEqualTo("28000");
        assertThat(otherName.getMessage()).contains("certificate authentication failed for user \"scram_user\"");

        // pgjdbc only offers a certificate from a CA the server names, so the wrong-CA one is never sent.
        SQLException notOffered = sqlError(() -> connect("m_cert", "scram_user", null, withCert("wrong-ca")));
        assertThat(notOffered.getMessage()).contains("connection requires a valid client certificate");
        // An expired certificate, and a wrong-CA one pushed by a client that sends it anyway, end the handshake.
        SQLException expired = sqlError(() -> connect("m_cert", "scram_user", null, withCert("expired")));
        assertThat(expired.getSQLState())
                .as("a connection error, not a login error")
                .startsWith("08");
        assertThatThrownBy(() -> {
                    try (TlsClient c = TlsClient.viaSslRequest(pooler.port(), wrongCaCert, wrongCaKey)) {
                        c.send(RawClient.startup(196608, Map.of("user", "scram_user", "database", "m_cert")));
                        c.read();
                    }
                })
                .isInstanceOf(IOException.class);
    }

    @Test
    void certificateMapTurnsACertificateNameIntoTheUser() throws Exception {
        assertThat(one(
                        connect("mapped", "scram_user", null, withCert("svc-scram_user.example")),
                        "SELECT current_user"))
                .isEqualTo("scram_user");
        // The user's own certificate is not in the map.
        SQLException e = sqlError(() -> connect("mapped", "scram_user", null, withCert("scram_user")));
        assertThat(e.getMessage()).contains("certificate authentication failed for user \"scram_user\"");
    }

    @Test
    void clientAnsweringSaslWithACleartextPasswordIsRefused() throws Exception {
        try (RawClient c = new RawClient("127.0.0.1", pooler.port())) {
            c.send(RawClient.startup(196608, Map.of("user", "scram_user", "database", "m_scram")));
            assertThat(c.read().authCode()).isEqualTo(10);
            c.send(RawClient.password(pw("scram_user")));
            RawClient.Msg m = c.read();
            assertThat(m.type()).isEqualTo('E');
            assertThat(m.field('C')).isEqualTo("08P01");
            assertThat(m.field('M')).isEqualTo("client selected an invalid SASL authentication mechanism");
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void malformedAndReplayedSaslMessagesAreRefused() throws Exception {
        try (RawClient c = saslStart("scram_user")) {
            c.send(saslInitial("SCRAM-SHA-256", "x,,n=,r=abc"));
            RawClient.Msg m = c.read();
            assertThat(m.field('C')).isEqualTo("08P01");
            assertThat(m.field('M')).isEqualTo("malformed SCRAM message");
        }
        // A whole exchange recorded, then its client-final replayed on a new connection with the same first message.
        String clientFirst;
        String recordedFinal;
        try (RawClient c = saslStart("scram_user")) {
            com.ongres.scram.client.ScramClient scram = com.ongres.scram.client.ScramClient.builder()
                    .advertisedMechanisms(List.of("SCRAM-SHA-256"))
                    .username("*")
                    .password(pw("scram_user").toCharArray())
                    .nonceSupplier(() -> "fixedclientnonce0123456789")
                    .build();
            clientFirst = scram.clientFirstMessage().toString();
            c.send(saslInitial("SCRAM-SHA-256", clientFirst));
            RawClient.Msg cont = c.read();
            scram.serverFirstMessage(new String(cont.body(), 4, cont.body().length - 4, StandardCharsets.UTF_8));
            recordedFinal = scram.clientFinalMessage().toString();
            c.send(RawClient.message('p', recordedFinal.getBytes(StandardCharsets.UTF_8)));
            assertThat(c.read().authCode()).as("the recorded exchange logs in").isEqualTo(12);
        }
        try (RawClient c = saslStart("scram_user")) {
            c.send(saslInitial("SCRAM-SHA-256", clientFirst));
            assertThat(c.read().authCode()).isEqualTo(11);
            c.send(RawClient.message('p', recordedFinal.getBytes(StandardCharsets.UTF_8)));
            RawClient.Msg m = c.read();
            assertThat(m.type()).isEqualTo('E');
            assertThat(m.field('C')).isEqualTo("08P01");
            assertThat(m.field('M')).isEqualTo("invalid SCRAM response");
        }
    }

    @Test
    void downgradeFromScramPlusIsDetectedOverTls() throws Exception {
        try (TlsClient c = TlsClient.viaSslRequest(pooler.port())) {
            c.send(RawClient.startup(196608, Map.of("user", "scram_user", "database", "m_scram")));
            RawClient.Msg sasl = c.read();
            assertThat(new String(sasl.body(), 4, sasl.body().length - 4, StandardCharsets.UTF_8))
                    .contains("SCRAM-SHA-256-PLUS");
            // 'y': "I could bind but you cannot" although the server offered -PLUS.
            c.send(saslInitial("SCRAM-SHA-256", "y,,n=,r=abcdefghijklmnop"));
            RawClient.Msg m = c.read();
            assertThat(m.field('C')).isEqualTo("08P01");
            assertThat(m.field('M')).isEqualTo("SCRAM channel binding negotiation error");
        }
    }

    private static RawClient saslStart(String user) throws IOException {
        RawClient c = new RawClient("127.0.0.1", pooler.port());
        c.send(RawClient.startup(196608, Map.of("user", user, "database", "m_scram")));
        assertThat(c.read().authCode()).isEqualTo(10);
        return c;
    }

    private static byte[] saslInitial(String mechanism, String data) {
        byte[] m = mechanism.getBytes(StandardCharsets.US_ASCII);
        byte[] d = data.getBytes(StandardCharsets.UTF_8);
        byte[] body = new byte[m.length + 1 + 4 + d.length];
        System.arraycopy(m, 0, body, 0, m.length);
        int p = m.length + 1;
        body[p] = (byte) (d.length >>> 24);
        body[p + 1] = (byte) (d.length >>> 16);
        body[p + 2] = (byte) (d.length >>> 8);
        body[p + 3] = (byte) d.length;
        System.arraycopy(d, 0, body, p + 4, d.length);
        return RawClient.message('p', body);
    }

    // ---------------------------------------------------------------- TLS towards clients

    @Test
    void directTlsWithAlpnPostgresqlIsAccepted() throws Exception {
        assertThat(one(
                        connect("m_scram", "scram_user", pw("scram_user"), verifyFull("sslNegotiation", "direct")),
                        "SELECT current_user"))
                .isEqualTo("scram_user");
        try (TlsClient c = TlsClient.direct(pooler.port(), null)) {
            c.send(RawClient.startup(196608, Map.of("user", "scram_user", "database", "m_scram")));
            RawClient.Msg m = c.read();
            assertThat(m.field('C')).isEqualTo("08P01");
            assertThat(m.field('M'))
                    .isEqualTo("received direct SSL connection request without ALPN protocol negotiation extension");
        }
        // The JDK's engine fails the handshake with a fatal alert; BoringSSL's completes it without ALPN, and the
        // login is refused right after. Either way the client gets no session.
        TlsClient other;
        try {
            other = TlsClient.direct(pooler.port(), "h2");
        } catch (IOException e) {
            return;
        }
        try (TlsClient c = other) {
            c.send(RawClient.startup(196608, Map.of("user", "scram_user", "database", "m_scram")));
            RawClient.Msg m = c.read();
            assertThat(m.field('C')).isEqualTo("08P01");
            assertThat(m.field('M'))
                    .isEqualTo("received direct SSL connection request without ALPN protocol negotiation extension");
        }
    }

    @Test
    void tlsRequiringClientIsRefusedByAPoolerWithoutTls() throws Exception {
        String yaml = """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                databases:
                  db:
                    serverDatabase: appdb
                    endpoints: [{host: localhost, port: %d}]
                    users:
                      scram_user: {password: scram_user-pw}
                """.formatted(pg.primary().port());
        try (Pooler plain = new Pooler(ConfigLoader.parse(yaml, "plain.yaml", Map.of()), 1).start()) {
            Properties p = new Properties();
            p.setProperty("user", "scram_user");
            p.setProperty("password", pw("scram_user"));
            p.setProperty("sslmode", "require");
            assertThatThrownBy(
                            () -> DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + plain.port() + "/db", p)
                                    .close())
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("does not support SSL");
        }
    }

    @Test
    void selfSignedCertificateIsMadeAtStartAndItsFingerprintLogged() throws Exception {
        String yaml = """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                tls: {mode: require, selfSignedNames: [pggat.test]}
                databases:
                  db:
                    serverDatabase: appdb
                    endpoints: [{host: localhost, port: %d}]
                    users:
                      scram_user: {password: scram_user-pw}
                """.formatted(pg.primary().port());
        try (Pooler selfSigned = new Pooler(ConfigLoader.parse(yaml, "self.yaml", Map.of()), 1).start()) {
            String fingerprint = selfSigned.security().selfSignedFingerprint().orElseThrow();
            X509Certificate served = TlsClient.serverCertificate(selfSigned.port());
            assertThat(SelfSigned.fingerprint(served)).isEqualTo(fingerprint);
            assertThat(logs.toString(StandardCharsets.UTF_8)).contains(fingerprint);
            Psql r = psql(
                    "host=127.0.0.1 port=" + selfSigned.port() + " dbname=db user=scram_user sslmode=require",
                    pw("scram_user"),
                    "SELECT current_user");
            assertThat(r.exit).as(r.output).isZero();
            assertThat(r.output.strip()).isEqualTo("scram_user");
            Psql plain = psql(
                    "host=127.0.0.1 port=" + selfSigned.port() + " dbname=db user=scram_user sslmode=disable",
                    pw("scram_user"),
                    "SELECT 1");
            assertThat(plain.output).contains("no pg_hba.conf entry").contains("no encryption");
        }
    }

    @Test
    void rotatedCertificateServesNewSessionsWhileAnOpenSessionSurvives() throws Exception {
        Connection open = connect("m_scram", "scram_user", pw("scram_user"), verifyFull());
        X509Certificate before = TlsClient.serverCertificate(pooler.port());
        long generation = pooler.security().clientTls().orElseThrow().generation();

        Issued next = TestPki.server(ca, List.of("localhost", "127.0.0.1"));
        Path tmpKey = TestPki.writeKeyPkcs8(dir.resolve("next.key"), next.key());
        Path tmpCrt = TestPki.writeCerts(dir.resolve("next.crt"), next.cert());
        Files.move(tmpKey, poolerKey, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        Files.move(tmpCrt, poolerCrt, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (pooler.security().clientTls().orElseThrow().generation() == generation && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        X509Certificate after = TlsClient.serverCertificate(pooler.port());
        assertThat(before.getEncoded()).isNotEqualTo(next.cert().getEncoded());
        assertThat(after.getEncoded()).isEqualTo(next.cert().getEncoded());
        assertThat(one(open, "SELECT 'still here'")).isEqualTo("still here");
        assertThat(one(connect("m_scram", "scram_user", pw("scram_user"), verifyFull()), "SELECT 1"))
                .isEqualTo("1");
    }

    // ---------------------------------------------------------------- TLS towards servers

    @ParameterizedTest(name = "server sslmode {0}: TLS on the server connection = {2}")
    @CsvSource({
        "s_disable,scram_user,f",
        "s_allow,scram_user,f",
        "s_allow,ssl_user,t",
        "s_prefer,scram_user,t",
        "s_require,scram_user,t",
        "s_verify_ca,scram_user,t",
        "s_verify_full,scram_user,t"
    })
    void serverSslModesGiveTheExpectedEncryption(String db, String user, String ssl) throws Exception {
        assertThat(one(
                        connect(db, user, pw(user), verifyFull()),
                        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
                .isEqualTo(ssl);
    }

    @Test
    void verifyFullRefusesAServerWhoseCertificateNamesAnotherHost() {
        SQLException e = sqlError(() -> connect("s_wronghost", "scram_user", pw("scram_user"), verifyFull()));
        assertThat(e.getSQLState()).isEqualTo("08001");
        assertThat(e.getMessage()).contains("verify-full").contains("127.0.0.1");
    }

    // ---------------------------------------------------------------- credential sources and pass-through

    @Test
    void scramPassThroughLogsInToTheServerWithOnlyTheVerifier() throws Exception {
        assertThat(one(connect("passthru", "pt_user", pw("pt_user"), verifyFull()), "SELECT current_user"))
                .isEqualTo("pt_user");
    }

    @Test
    void md5PassThroughLogsInWithOnlyTheHash() throws Exception {
        assertThat(one(connect("passthru", "pt_md5", pw("pt_md5"), verifyFull()), "SELECT current_user"))
                .isEqualTo("pt_md5");
    }

    @Test
    void cleartextOverTlsIsForwardedToTheServer() throws Exception {
        assertThat(one(connect("passthru", "pt_clear", pw("pt_clear"), verifyFull()), "SELECT current_user"))
                .isEqualTo("pt_clear");
    }

    @Test
    void secretFromAMountedDirectoryIsReloadedWhenTheFileChanges() throws Exception {
        assertThat(one(connect("sources", "file_user", pw("file_user"), verifyFull()), "SELECT current_user"))
                .isEqualTo("file_user");
        String rotated = "file_user-rotated";
        secrets.add(rotated);
        try (Connection c = superuser()) {
            c.createStatement().execute("ALTER ROLE file_user PASSWORD '" + rotated + "'");
        }
        Path tmp = usersDir.resolve("..tmp");
        Files.writeString(tmp, rotated);
        Files.move(
                tmp,
                usersDir.resolve("file_user"),
                StandardCopyOption.REPLACE_EXISTING,
                StandardCopyOption.ATOMIC_MOVE);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        SQLException last = null;
        while (System.nanoTime() < deadline) {
            try {
                assertThat(one(connect("sources", "file_user", rotated, verifyFull()), "SELECT current_user"))
                        .isEqualTo("file_user");
                last = null;
                break;
            } catch (SQLException e) {
                last = e;
                Thread.sleep(100);
            }
        }
        if (last != null) {
            throw new AssertionError("login with the rotated password kept failing", last);
        }
        assertThat(sqlError(() -> connect("sources", "file_user", pw("file_user"), verifyFull()))
                        .getSQLState())
                .isEqualTo("28P01");
    }

    @Test
    void authQueryFindsTheVerifierAndPassThroughLogsIn() throws Exception {
        assertThat(one(connect("sources", "aq_user", pw("aq_user"), verifyFull()), "SELECT current_user"))
                .isEqualTo("aq_user");
        assertThat(sqlError(() -> connect("sources", "aq_user", "wrong", verifyFull()))
                        .getSQLState())
                .isEqualTo("28P01");
        // Configured, but neither in the files nor in PostgreSQL: like an unknown user.
        assertThat(sqlError(() -> connect("sources", "nowhere_user", "x", verifyFull()))
                        .getSQLState())
                .isEqualTo("28P01");
    }

    @Test
    void userNotListedLogsInThroughADatabaseWithoutUsersByAuthQueryAndPassThrough() throws Exception {
        assertThat(one(connect("dyn", "aq_user", pw("aq_user"), verifyFull()), "SELECT current_user"))
                .isEqualTo("aq_user");
        assertThat(one(connect("dyn", "pt_md5", pw("pt_md5"), verifyFull()), "SELECT current_user"))
                .isEqualTo("pt_md5");
        assertThat(sqlError(() -> connect("dyn", "ghost", "x", verifyFull())).getSQLState())
                .isEqualTo("28P01");
    }

    @Test
    void failedLoginsAreRateLimitedPerAddress() throws Exception {
        String yaml = """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                auth: {maxFailedLogins: 3, failedLoginWindow: 1m}
                databases:
                  db:
                    serverDatabase: appdb
                    endpoints: [{host: localhost, port: %d}]
                    users:
                      scram_user: {password: scram_user-pw}
                """.formatted(pg.primary().port());
        try (Pooler limited = new Pooler(ConfigLoader.parse(yaml, "limited.yaml", Map.of()), 1).start()) {
            Properties wrong = new Properties();
            wrong.setProperty("user", "scram_user");
            wrong.setProperty("password", "wrong");
            wrong.setProperty("assumeMinServerVersion", "12");
            String url = "jdbc:postgresql://127.0.0.1:" + limited.port() + "/db";
            for (int i = 0; i < 3; i++) {
                assertThat(sqlError(() -> DriverManager.getConnection(url, wrong))
                                .getSQLState())
                        .isEqualTo("28P01");
            }
            Properties right = new Properties();
            right.putAll(wrong);
            right.setProperty("password", pw("scram_user"));
            SQLException e = sqlError(() -> DriverManager.getConnection(url, right));
            assertThat(e.getSQLState()).isEqualTo("28000");
            assertThat(e.getMessage()).contains("too many failed login attempts from host \"127.0.0.1\"");
        }
    }

    // ---------------------------------------------------------------- no secrets anywhere

    @Test
    @Order(Integer.MAX_VALUE)
    void noPasswordHashOrKeyAppearsInLogsOrMetrics() throws Exception {
        HttpResponse<String> metrics = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + pooler.adminPort() + "/metrics"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(metrics.statusCode()).isEqualTo(200);
        // The authentication and TLS metrics are part of what is searched.
        assertThat(metrics.body())
                .contains("pggat_tls_handshakes_total{protocol=\"TLSv1.3\",result=\"ok\",side=\"client\"}")
                .contains("pggat_tls_handshakes_total{protocol=\"TLSv1.3\",result=\"ok\",side=\"server\"}")
                .contains("pggat_tls_handshakes_total{protocol=\"unknown\",result=\"failed\",side=\"client\"}")
                .contains("pggat_client_auth_total{method=\"scram-sha-256\",result=\"failed\"}")
                .contains("pggat_client_auth_total{method=\"cert\",result=\"ok\"}")
                .contains("pggat_auth_query_lookups_total{result=\"miss\"}")
                .contains("pggat_auth_query_queries_total")
                .contains("pggat_client_login_rate_limited_total")
                .contains("pggat_dynamic_users{database=\"dyn\"}");
        String logText = logs.toString(StandardCharsets.UTF_8);
        assertThat(logText).as("the log was captured").contains("pggat listening on");
        List<String> needles = new ArrayList<>(secrets);
        needles.add(Files.readString(poolerKey)
                .lines()
                .filter(l -> !l.startsWith("-----"))
                .findFirst()
                .orElseThrow());
        for (String secret : needles) {
            assertThat(logText).as("logs").doesNotContain(secret);
            assertThat(metrics.body()).as("metrics").doesNotContain(secret);
        }
        for (String verifier : List.of(scramVerifier)) {
            String storedKey = verifier.substring(verifier.indexOf('$', 14) + 1, verifier.lastIndexOf(':'));
            assertThat(logText).doesNotContain(storedKey);
        }
    }

    // ---------------------------------------------------------------- helpers

    record Psql(int exit, String output) {}

    static Psql psql(String conninfo, String password, String sql) {
        try {
            ProcessBuilder pb = new ProcessBuilder(psqlBinary(), "-X", "-At", "-c", sql, conninfo);
            pb.environment().put("PGPASSWORD", password);
            pb.environment().put("PGCONNECT_TIMEOUT", "10");
            pb.redirectErrorStream(true);
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
            return new Psql(p.exitValue(), out);
        } catch (IOException | InterruptedException e) {
            throw new AssertionError("cannot run psql: " + e, e);
        }
    }

    /** The test needs a libpq client. */
    static String psqlBinary() {
        return dev.pggat.pooler.testing.PostgresPrograms.find("psql").toString();
    }

    /** A client speaking the protocol over TLS, set up by SSLRequest or directly. */
    static final class TlsClient implements AutoCloseable {
        final SSLSocket socket;
        final DataInputStream in;
        final DataOutputStream out;

        private TlsClient(SSLSocket socket) throws IOException {
            this.socket = socket;
            socket.setSoTimeout(10_000);
            this.in = new DataInputStream(socket.getInputStream());
            this.out = new DataOutputStream(socket.getOutputStream());
        }

        static SSLContext trustAll() throws Exception {
            return trustAll(null, null);
        }

        static SSLContext trustAll(X509Certificate cert, java.security.PrivateKey key) throws Exception {
            javax.net.ssl.KeyManager[] keys = cert == null
                    ? null
                    : new javax.net.ssl.KeyManager[] {
                        new javax.net.ssl.X509KeyManager() {
                            @Override
                            public String[] getClientAliases(String keyType, java.security.Principal[] issuers) {
                                return new String[] {"c"};
                            }

                            @Override
                            public String chooseClientAlias(
                                    String[] keyType, java.security.Principal[] issuers, Socket socket) {
                                return "c";
                            }

                            @Override
                            public String[] getServerAliases(String keyType, java.security.Principal[] issuers) {
                                return null;
                            }

                            @Override
                            public String chooseServerAlias(
                                    String keyType, java.security.Principal[] issuers, Socket socket) {
                                return null;
                            }

                            @Override
                            public X509Certificate[] getCertificateChain(String alias) {
                                return new X509Certificate[] {cert};
                            }

                            @Override
                            public java.security.PrivateKey getPrivateKey(String alias) {
                                return key;
                            }
                        }
                    };
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(
                    keys,
                    new TrustManager[] {
                        new X509TrustManager() {
                            @Override
                            public void checkClientTrusted(X509Certificate[] chain, String authType) {}

                            @Override
                            public void checkServerTrusted(X509Certificate[] chain, String authType) {}

                            @Override
                            public X509Certificate[] getAcceptedIssuers() {
                                return new X509Certificate[0];
                            }
                        }
                    },
                    null);
            return ctx;
        }

        static TlsClient viaSslRequest(int port) throws Exception {
            return viaSslRequest(port, null, null);
        }

        /** With {@code cert}: presented whatever CAs the server asks for. */
        static TlsClient viaSslRequest(int port, X509Certificate cert, java.security.PrivateKey key) throws Exception {
            Socket s = new Socket("127.0.0.1", port);
            s.setSoTimeout(10_000);
            DataOutputStream o = new DataOutputStream(s.getOutputStream());
            o.writeInt(8);
            o.writeInt(80877103);
            o.flush();
            int answer = s.getInputStream().read();
            assertThat((char) answer).isEqualTo('S');
            SSLContext ctx = cert == null ? trustAll() : trustAll(cert, key);
            SSLSocket ssl = (SSLSocket) ctx.getSocketFactory().createSocket(s, "localhost", port, true);
            ssl.startHandshake();
            return new TlsClient(ssl);
        }

        static TlsClient direct(int port, String alpn) throws Exception {
            SSLSocket ssl = (SSLSocket) trustAll().getSocketFactory().createSocket("127.0.0.1", port);
            if (alpn != null) {
                SSLParameters p = ssl.getSSLParameters();
                p.setApplicationProtocols(new String[] {alpn});
                ssl.setSSLParameters(p);
            }
            ssl.setSoTimeout(10_000);
            ssl.startHandshake();
            return new TlsClient(ssl);
        }

        static X509Certificate serverCertificate(int port) throws Exception {
            try (TlsClient c = viaSslRequest(port)) {
                return (X509Certificate) c.socket.getSession().getPeerCertificates()[0];
            }
        }

        void send(byte[] bytes) throws IOException {
            out.write(bytes);
            out.flush();
        }

        RawClient.Msg read() throws IOException {
            char type = (char) in.readUnsignedByte();
            int len = in.readInt();
            byte[] body = new byte[len - 4];
            in.readFully(body);
            return new RawClient.Msg(type, body);
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    /** Writes to the original stream and keeps a copy for the secrets check. */
    static final class Tee extends OutputStream {
        private final OutputStream a;
        private final ByteArrayOutputStream b;

        Tee(OutputStream a, ByteArrayOutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public void write(int c) throws IOException {
            a.write(c);
            synchronized (b) {
                b.write(c);
            }
        }

        @Override
        public void write(byte[] buf, int off, int len) throws IOException {
            a.write(buf, off, len);
            synchronized (b) {
                b.write(buf, off, len);
            }
        }
    }
}
