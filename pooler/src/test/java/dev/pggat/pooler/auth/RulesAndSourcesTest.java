package dev.pggat.pooler.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.config.AuthRule;
import dev.pggat.pooler.config.CertMapEntry;
import dev.pggat.pooler.tls.ClientCertMode;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Rule matching, address ranges, certificate maps, the failed-login limiter and credential files. */
class RulesAndSourcesTest {
    @TempDir
    Path dir;

    private static InetAddress ip(String s) {
        return Cidr.address(s);
    }

    @Test
    void cidrMatchesRangesAndRefusesHostBitsBeyondThePrefix() {
        assertThat(Cidr.parse("10.0.0.0/8").contains(ip("10.200.1.2"))).isTrue();
        assertThat(Cidr.parse("10.0.0.0/8").contains(ip("11.0.0.1"))).isFalse();
        assertThat(Cidr.parse("192.168.1.128/25").contains(ip("192.168.1.200"))).isTrue();
        assertThat(Cidr.parse("192.168.1.128/25").contains(ip("192.168.1.100"))).isFalse();
        assertThat(Cidr.parse("127.0.0.1").contains(ip("::ffff:127.0.0.1"))).isTrue();
        assertThat(Cidr.parse("::1/128").contains(ip("::1"))).isTrue();
        assertThat(Cidr.parse("::1/128").contains(ip("127.0.0.1"))).isFalse();
        assertThat(Cidr.parse("all").contains(ip("8.8.8.8"))).isTrue();
        assertThatThrownBy(() -> Cidr.parse("10.1.2.3/8")).hasMessageContaining("bits set beyond its prefix");
        assertThatThrownBy(() -> Cidr.parse("10.0.0.0/33")).hasMessageContaining("invalid prefix length");
        assertThatThrownBy(() -> Cidr.parse("example.com")).hasMessageContaining("not an IP address");
    }

    @Test
    void firstMatchingRuleWinsOnEveryCondition() {
        AuthRule tlsOnlyCert = new AuthRule(
                Set.of("app"), Set.of(), List.of(), true, List.of(), AuthRule.Method.CERT, null, ClientCertMode.NONE);
        AuthRule officeMd5 = new AuthRule(
                Set.of(),
                Set.of("alice"),
                List.of(Cidr.parse("10.0.0.0/8")),
                null,
                List.of(Cidr.parse("127.0.0.1")),
                AuthRule.Method.MD5,
                null,
                ClientCertMode.NONE);
        AuthRules rules =
                new AuthRules(List.of(tlsOnlyCert, officeMd5, AuthRule.all(AuthRule.Method.REJECT)), Map.of());
        InetAddress local = ip("127.0.0.1");
        assertThat(rules.match(new AuthRules.Connection("app", "bob", ip("1.2.3.4"), true, local)))
                .contains(tlsOnlyCert);
        assertThat(rules.match(new AuthRules.Connection("app", "alice", ip("10.1.1.1"), false, local)))
                .contains(officeMd5);
        assertThat(rules.match(new AuthRules.Connection("other", "alice", ip("10.1.1.1"), false, ip("10.9.9.9"))))
                .map(AuthRule::method)
                .contains(AuthRule.Method.REJECT);
        assertThat(new AuthRules(List.of(tlsOnlyCert), Map.of())
                        .match(new AuthRules.Connection("app", "bob", ip("1.2.3.4"), false, local)))
                .isEmpty();
    }

    @Test
    void certificateMapsMatchExactNamesAndRegexesWithGroupSubstitution() {
        AuthRules rules = new AuthRules(
                List.of(),
                Map.of(
                        "m",
                        List.of(
                                new CertMapEntry("ops.example.com", "admin"),
                                new CertMapEntry("/^(.*)@example\\.com$", "\\1"))));
        assertThat(rules.certificateAllows("m", List.of("ops.example.com"), "admin"))
                .isTrue();
        assertThat(rules.certificateAllows("m", List.of("carol@example.com"), "carol"))
                .isTrue();
        assertThat(rules.certificateAllows("m", List.of("carol@example.com"), "admin"))
                .isFalse();
        assertThat(rules.certificateAllows("m", List.of("carol@evil.com"), "carol"))
                .isFalse();
        assertThat(rules.certificateAllows(null, List.of("CN-less", "carol"), "carol"))
                .isTrue();
        assertThat(rules.certificateAllows(null, List.of("Carol"), "carol"))
                .as("case-sensitive")
                .isFalse();
        assertThat(rules.certificateAllows("missing", List.of("carol"), "carol"))
                .isFalse();
    }

    @Test
    void limiterBlocksAnAddressAfterTheLimitWithinItsWindowOnly() throws Exception {
        LoginRateLimiter limiter = new LoginRateLimiter(2, Duration.ofMillis(300));
        InetAddress a = ip("10.0.0.1");
        InetAddress b = ip("10.0.0.2");
        limiter.failed(a);
        assertThat(limiter.blockedFor(a)).isZero();
        limiter.failed(a);
        assertThat(limiter.blockedFor(a)).isPositive().isLessThanOrEqualTo(Duration.ofMillis(300));
        assertThat(limiter.blockedFor(b)).isZero();
        Thread.sleep(350);
        assertThat(limiter.blockedFor(a)).isZero();
        assertThat(new LoginRateLimiter(0, Duration.ofMinutes(1)).blockedFor(a)).isZero();
    }

    @Test
    void userlistLinesParseLikeTheirQuotedForm() {
        assertThat(CredentialFiles.parseLine("\"alice\" \"s3cret\"")).containsExactly("alice", "s3cret");
        assertThat(CredentialFiles.parseLine("\"bob\"   \"with \"\"quote\"\"\" ; comment"))
                .containsExactly("bob", "with \"quote\"");
        assertThat(CredentialFiles.parseLine("alice s3cret")).isNull();
        assertThat(CredentialFiles.parseLine("\"alice\" \"unterminated")).isNull();
        assertThat(CredentialFiles.parseLine("\"alice\" \"x\" trailing")).isNull();
    }

    @Test
    void directoryAndUserlistAreReloadedAndABrokenContentKeepsTheOldSecrets() throws Exception {
        Path users = Files.createDirectories(dir.resolve("users"));
        Files.writeString(users.resolve("alice"), "first\n");
        Files.writeString(users.resolve("..data"), "ignored"); // Kubernetes bookkeeping
        Path userlist =
                Files.writeString(dir.resolve("userlist.txt"), "; users\n\"bob\" \"md5" + "0".repeat(32) + "\"\n");
        try (CredentialFiles files = CredentialFiles.load(users, userlist, Duration.ZERO)) {
            assertThat(files.secret("alice")).contains(new Secret.Plain("first"));
            assertThat(files.secret("bob")).get().isInstanceOf(Secret.Md5.class);
            assertThat(files.secret("..data")).isEmpty();
            assertThat(files.reload()).as("unchanged content").isFalse();

            Path tmp = dir.resolve("tmp");
            Files.writeString(tmp, "second");
            Files.move(tmp, users.resolve("alice"), StandardCopyOption.REPLACE_EXISTING);
            assertThat(files.reload()).isTrue();
            assertThat(files.secret("alice")).contains(new Secret.Plain("second"));

            Files.writeString(users.resolve("carol"), "SCRAM-SHA-256$broken");
            assertThatThrownBy(files::reload)
                    .hasMessageContaining("user \"carol\"")
                    .hasMessageNotContaining("broken");
            assertThat(files.secret("alice")).contains(new Secret.Plain("second"));
        }
        assertThatThrownBy(() -> CredentialFiles.load(dir.resolve("nope"), null, Duration.ZERO))
                .hasMessageContaining("credentials.directory");
    }
}
