package dev.pggat.pooler.tls;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.auth.AuthMetrics;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.testing.TestPostgres;
import io.netty.handler.ssl.SslProvider;
import java.io.DataOutputStream;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The client listener with each TLS provider (BoringSSL is the default where it loads, the JDK's the fallback):
 * SCRAM-SHA-256-PLUS channel binding, direct TLS with ALPN, and the handshake metrics.
 */
class TlsProviderTest {

    @ParameterizedTest
    @EnumSource(
            value = SslProvider.class,
            names = {"JDK", "OPENSSL"})
    void channelBindingDirectTlsAndHandshakeMetricsWorkWithProvider(SslProvider provider) throws Exception {
        assertThat(TlsProvider.openSslAvailable())
                .as("netty-tcnative loads on this platform")
                .isTrue();
        String yaml = """
                listen: {host: 127.0.0.1, port: 0}
                admin: {enabled: false}
                tls: {mode: require}
                databases:
                  appdb:
                    endpoints: [{host: 127.0.0.1, port: %d}]
                    users:
                      scram_user: {password: scram_user-secret}
                """.formatted(TestPostgres.shared().primary().port());
        TlsProvider.force(provider);
        Pooler pooler;
        try {
            pooler = new Pooler(ConfigLoader.parse(yaml, "tls.yaml", Map.of()), 1).start();
        } finally {
            TlsProvider.force(null);
        }
        try (pooler) {
            assertThat(pooler.security().clientTls().orElseThrow().current())
                    .isInstanceOf(
                            provider == SslProvider.JDK
                                    ? io.netty.handler.ssl.JdkSslContext.class
                                    : io.netty.handler.ssl.OpenSslContext.class);
            for (List<String> extra : List.of(
                    List.of("channelBinding", "require"),
                    List.of("sslNegotiation", "direct", "channelBinding", "require"))) {
                Properties p = new Properties();
                p.setProperty("user", "scram_user");
                p.setProperty("password", "scram_user-secret");
                p.setProperty("assumeMinServerVersion", "12");
                p.setProperty("sslmode", "require");
                p.setProperty(extra.get(0), extra.get(1));
                if (extra.size() > 2) {
                    p.setProperty(extra.get(2), extra.get(3));
                }
                try (Connection c = DriverManager.getConnection(
                                "jdbc:postgresql://127.0.0.1:" + pooler.port() + "/appdb", p);
                        ResultSet rs = c.createStatement().executeQuery("SELECT current_user")) {
                    rs.next();
                    assertThat(rs.getString(1)).as(extra.toString()).isEqualTo("scram_user");
                }
            }
            // A client that answers the 'S' with garbage: a failed handshake.
            try (Socket s = new Socket("127.0.0.1", pooler.port())) {
                s.setSoTimeout(5_000);
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                out.writeInt(8);
                out.writeInt(80877103);
                out.flush();
                InputStream in = s.getInputStream();
                assertThat((char) in.read()).isEqualTo('S');
                out.write("this is not a TLS ClientHello, just text".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                in.readAllBytes();
            }
            AuthMetrics m = pooler.security().metrics();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (!m.handshakes().containsKey(List.of("client", "failed", "unknown"))
                    && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(m.handshakes())
                    .containsEntry(List.of("client", "ok", "TLSv1.3"), 2L)
                    .containsEntry(List.of("client", "failed", "unknown"), 1L);
            assertThat(m.logins()).containsEntry(List.of("scram-sha-256", "ok"), 2L);
        }
    }
}
