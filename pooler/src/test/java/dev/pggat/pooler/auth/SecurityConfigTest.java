package dev.pggat.pooler.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.pggat.pooler.config.AuthRule;
import dev.pggat.pooler.config.ConfigException;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.config.SecurityConfig;
import dev.pggat.pooler.config.TlsPolicy;
import dev.pggat.pooler.tls.ClientCertMode;
import dev.pggat.pooler.tls.ServerSslMode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The tls, auth, credentials, serverTls and passThrough keys as the loader reads and checks them. */
class SecurityConfigTest {
    private static final String DATABASES = """
            databases:
              app:
                tls: require
                serverTls: {sslmode: verify-full, caFile: /ca.crt}
                endpoints:
                  - {host: db1}
                  - {host: db2, role: replica, serverTls: {sslmode: require}}
                users:
                  alice: {password: secret}
                  bob: {passThrough: true}
            """;

    private static PoolerConfig parse(String yaml) throws ConfigException {
        return ConfigLoader.parse(yaml, "t.yaml", Map.of("AQ_PW", "aq-secret"));
    }

    private static List<String> problems(String yaml) {
        return catchThrowableOfType(ConfigException.class, () -> parse(yaml)).problems();
    }

    @Test
    void everySecuritySectionIsBound() throws Exception {
        SecurityConfig s = parse("""
                tls:
                  certFile: /tls.crt
                  keyFile: /tls.key
                  caFile: /ca.crt
                  clientCert: verify-ca
                  reloadInterval: 5s
                  directTls: false
                auth:
                  maxFailedLogins: 5
                  failedLoginWindow: 30s
                  rules:
                    - {databases: [app], users: alice, addresses: [10.0.0.0/8, "::1"], tls: true, method: scram-sha-256}
                    - {method: cert, map: m, clientCert: verify-full}
                  certMaps:
                    m: [{certName: "/^(.*)$", user: "\\\\1"}]
                credentials:
                  directory: /users
                  authQuery: {user: pggat_auth, password: "${AQ_PW}", cacheTtl: 2m}
                """ + DATABASES).security();
        assertThat(s.tls().policy()).isEqualTo(TlsPolicy.PREFER);
        assertThat(s.tls().clientCert()).isEqualTo(ClientCertMode.VERIFY_CA);
        assertThat(s.tls().directTls()).isFalse();
        assertThat(s.auth().maxFailedLogins()).isEqualTo(5);
        assertThat(s.auth().failedLoginWindow()).isEqualTo(Duration.ofSeconds(30));
        AuthRule first = s.auth().rules().get(0);
        assertThat(first.databases()).containsExactly("app");
        assertThat(first.users()).containsExactly("alice");
        assertThat(first.addresses()).hasSize(2);
        assertThat(first.tls()).isTrue();
        AuthRule second = s.auth().rules().get(1);
        assertThat(second.method()).isEqualTo(AuthRule.Method.CERT);
        assertThat(second.tls()).as("cert implies TLS").isTrue();
        assertThat(second.clientCert()).isEqualTo(ClientCertMode.VERIFY_FULL);
        assertThat(s.auth().certMaps().get("m").get(0).user()).isEqualTo("\\1");
        assertThat(s.credentials().directory()).isEqualTo(Path.of("/users"));
        assertThat(s.credentials().authQuery().password()).isEqualTo("aq-secret");
        assertThat(s.credentials().authQuery().toString()).doesNotContain("aq-secret");
        assertThat(s.credentials().authQuery().cacheTtl()).isEqualTo(Duration.ofMinutes(2));
        var route = s.route("app");
        assertThat(route.clientTls()).isEqualTo(TlsPolicy.REQUIRE);
        assertThat(route.serverTls("db1", 5432).sslMode()).isEqualTo(ServerSslMode.VERIFY_FULL);
        assertThat(route.serverTls("DB2", 5432).sslMode()).isEqualTo(ServerSslMode.REQUIRE);
        assertThat(route.passThroughUsers()).containsExactly("bob");
    }

    @Test
    void withoutTheSectionsNothingChanges() throws Exception {
        PoolerConfig c = parse("databases: {app: {endpoints: [{host: db1}], users: {alice: {password: x}}}}");
        assertThat(c.security()).isEqualTo(SecurityConfig.DEFAULT);
        assertThat(c.security().tls().policy()).isEqualTo(TlsPolicy.DISABLE);
    }

    @Test
    void mistakesNameTheKeyAndWhatIsAccepted() {
        List<String> p = problems("""
                tls: {certFile: /tls.crt, clientCert: verify-full}
                auth:
                  rules:
                    - {addresses: 10.1.2.3/8, method: md5}
                    - {method: cert, map: nope, tls: false}
                    - {databases: other, method: trust}
                    - {method: kerberos}
                databases:
                  app:
                    serverTls: {sslmode: verify-ca}
                    endpoints: [{host: db1}]
                    users: {alice: {password: x}}
                """);
        assertThat(p)
                .anySatisfy(s -> assertThat(s).contains("tls.keyFile: is required with certFile"))
                .anySatisfy(s -> assertThat(s).contains("tls.caFile: is required with clientCert verify-full"))
                .anySatisfy(s -> assertThat(s).contains("auth.rules[0].addresses: '10.1.2.3/8' has bits set"))
                .anySatisfy(s -> assertThat(s).contains("auth.rules[1].map: names no certificate map"))
                .anySatisfy(s -> assertThat(s).contains("auth.rules[1].tls: is false, but method cert needs TLS"))
                .anySatisfy(s -> assertThat(s).contains("auth.rules[2].databases: names no configured database"))
                .anySatisfy(s -> assertThat(s).contains("auth.rules[3].method: is not a known value"))
                .anySatisfy(s -> assertThat(s).contains("databases.app.serverTls: sslmode verify-ca needs caFile"));
    }

    @Test
    void passThroughAndCredentialSourcesLiftTheServerPasswordRequirement() throws Exception {
        String hashed = "md5" + "0".repeat(32);
        assertThat(problems("databases: {app: {endpoints: [{host: db1}], users: {a: {password: " + hashed
                        + ", auth: md5}}}}"))
                .singleElement()
                .asString()
                .contains("serverPassword: is required because password is an md5 hash");
        parse("databases: {app: {endpoints: [{host: db1}], users: {a: {password: " + hashed
                + ", auth: md5, passThrough: true}}}}");
        parse("credentials: {userlist: /u.txt}\ndatabases: {app: {endpoints: [{host: db1}], users: {a: {}}}}");
    }
}
