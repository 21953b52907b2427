package dev.pggat.pooler.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pggat.pooler.tls.TestPki.Issued;
import dev.pggat.pooler.tls.TestPki.KeyKind;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.interfaces.ECPrivateKey;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.SSLEngine;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PKCS8Generator;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.openssl.jcajce.JceOpenSSLPKCS8EncryptorBuilder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ClientTlsContextsTest {
    static Issued ca;
    static Issued otherCa;
    static Issued serverEc;
    static Issued serverRsa;

    @TempDir
    Path dir;

    @BeforeAll
    static void pki() {
        ca = TestPki.ca("test CA");
        otherCa = TestPki.ca("other CA");
        serverEc = TestPki.server(ca, List.of("localhost", "pggat.test"));
        serverRsa = TestPki.server(ca, "localhost", List.of("localhost"), KeyKind.RSA, "SHA256withECDSA");
    }

    private ServerTlsConfig files(Issued server, String keyFormat, Issued clientCa, ClientCertMode mode)
            throws Exception {
        Path cert = TestPki.writeCerts(dir.resolve("tls.crt"), server.cert(), ca.cert());
        Path key = keyFormat.equals("pkcs8")
                ? TestPki.writeKeyPkcs8(dir.resolve("tls.key"), server.key())
                : TestPki.writeKeyTraditional(dir.resolve("tls.key"), server.key());
        Path caFile = clientCa == null ? null : TestPki.writeCerts(dir.resolve("ca.crt"), clientCa.cert());
        return new ServerTlsConfig(cert, key, caFile, mode, Duration.ZERO);
    }

    private static SslContextBuilder client(Issued trusted) {
        return SslContextBuilder.forClient()
                .trustManager(trusted.cert())
                .endpointIdentificationAlgorithm("HTTPS")
                .applicationProtocolConfig(alpn("postgresql"));
    }

    private static ApplicationProtocolConfig alpn(String protocol) {
        return new ApplicationProtocolConfig(
                ApplicationProtocolConfig.Protocol.ALPN,
                ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                protocol);
    }

    @ParameterizedTest
    @ValueSource(strings = {"rsa-pkcs8", "rsa-pkcs1", "ec-pkcs8", "ec-sec1"})
    void servesCertificateFromPemKeyInPkcs8Pkcs1AndSec1Form(String variant) throws Exception {
        Issued server = variant.startsWith("rsa") ? serverRsa : serverEc;
        String format = variant.endsWith("pkcs8") ? "pkcs8" : "traditional";
        ServerTlsConfig config = files(server, format, null, ClientCertMode.NONE);
        assertThat(Files.readString(config.keyFile()))
                .contains(
                        switch (variant) {
                            case "rsa-pkcs1" -> "BEGIN RSA PRIVATE KEY";
                            case "ec-sec1" -> "BEGIN EC PRIVATE KEY";
                            default -> "BEGIN PRIVATE KEY";
                        });
        SslContext serverCtx = ClientTlsContexts.build(config);
        try (TlsLoopback loop = new TlsLoopback(serverCtx::newHandler);
                TlsLoopback.Client c = loop.connect(client(ca).build(), "localhost")) {
            TlsLoopback.Outcome client = c.handshake();
            assertThat(client.failure()).isNull();
            assertThat(client.info().peerCertificates()).containsExactly(server.cert(), ca.cert());
            assertThat(client.info().protocol()).isEqualTo("TLSv1.3");
            assertThat(loop.serverOutcome().ok()).isTrue();
            assertThat(c.echo("hello over TLS")).isEqualTo("hello over TLS");
        }
    }

    @Test
    void acceptsOpensslEcKeyFileWithLeadingEcParametersBlock() throws Exception {
        ServerTlsConfig config = files(serverEc, "traditional", null, ClientCertMode.NONE);
        String params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n";
        Files.writeString(config.keyFile(), params + Files.readString(config.keyFile()));
        PrivateKey parsed = PemFiles.readPrivateKey(config.keyFile());
        assertThat(((ECPrivateKey) parsed).getS()).isEqualTo(((ECPrivateKey) serverEc.key()).getS());
    }

    @Test
    void offersOnlyTls12AndTls13() throws Exception {
        SslContext ctx = ClientTlsContexts.build(files(serverEc, "pkcs8", null, ClientCertMode.NONE));
        SSLEngine engine = ctx.newEngine(ByteBufAllocator.DEFAULT);
        // BoringSSL's engine lists the SSLv2Hello pseudo-protocol, which it never negotiates.
        assertThat(List.of(engine.getEnabledProtocols()))
                .filteredOn(p -> !p.equals("SSLv2Hello"))
                .containsExactlyInAnyOrder("TLSv1.3", "TLSv1.2");
        assertThat(engine.getEnabledCipherSuites()).isNotEmpty().allSatisfy(s -> assertThat(s)
                .matches("TLS_AES_.*|TLS_CHACHA20_.*|TLS_(EC)?DHE_.*_GCM_.*|.*CHACHA20.*"));
    }

    @Test
    void tls12OnlyClientGetsTls12() throws Exception {
        SslContext serverCtx = ClientTlsContexts.build(files(serverEc, "pkcs8", null, ClientCertMode.NONE));
        try (TlsLoopback loop = new TlsLoopback(serverCtx::newHandler);
                TlsLoopback.Client c =
                        loop.connect(client(ca).protocols("TLSv1.2").build(), "localhost")) {
            assertThat(c.handshake().info().protocol()).isEqualTo("TLSv1.2");
            TlsInfo server = loop.serverOutcome().info();
            assertThat(server.protocol()).isEqualTo("TLSv1.2");
            assertThat(server.cipherSuite()).startsWith("TLS_ECDHE_ECDSA_");
        }
    }

    @Test
    void negotiatesAlpnPostgresqlAndAcceptsClientsWithoutAlpn() throws Exception {
        SslContext serverCtx = ClientTlsContexts.build(files(serverEc, "pkcs8", null, ClientCertMode.NONE));
        try (TlsLoopback loop = new TlsLoopback(serverCtx::newHandler)) {
            try (TlsLoopback.Client c = loop.connect(client(ca).build(), "localhost")) {
                assertThat(c.handshake().info().applicationProtocol()).contains("postgresql");
                assertThat(loop.serverOutcome().info().applicationProtocol()).contains("postgresql");
            }
            SslContext noAlpn =
                    SslContextBuilder.forClient().trustManager(ca.cert()).build();
            try (TlsLoopback.Client c = loop.connect(noAlpn, "localhost")) {
                assertThat(c.handshake().ok()).isTrue();
                assertThat(loop.serverOutcome().info().applicationProtocol()).isEmpty();
            }
        }
    }

    @Test
    void jdkProviderRefusesClientOfferingOtherAlpnProtocolsOnly() throws Exception {
        SslContext serverCtx;
        TlsProvider.force(SslProvider.JDK);
        try {
            serverCtx = ClientTlsContexts.build(files(serverEc, "pkcs8", null, ClientCertMode.NONE));
        } finally {
            TlsProvider.force(null);
        }
        assertThat(serverCtx.isServer()).isTrue();
        assertThat(SslProvider.isAlpnSupported(SslProvider.JDK)).isTrue();
        try (TlsLoopback loop = new TlsLoopback(serverCtx::newHandler);
                TlsLoopback.Client c = loop.connect(
                        client(ca).applicationProtocolConfig(alpn("h2")).build(), "localhost")) {
            assertThat(c.handshake().failure()).isNotNull();
            assertThat(loop.serverOutcome().failure()).hasMessageContaining("application layer protocol");
        }
    }

    /** BoringSSL negotiates no protocol instead; the login handler refuses such direct-TLS clients afterwards. */
    @Test
    void openSslProviderNegotiatesNoProtocolWithClientOfferingOtherAlpnProtocolsOnly() throws Exception {
        assertThat(TlsProvider.openSslAvailable())
                .as("netty-tcnative loads on this platform")
                .isTrue();
        SslContext serverCtx;
        TlsProvider.force(SslProvider.OPENSSL);
        try {
            serverCtx = ClientTlsContexts.build(files(serverEc, "pkcs8", null, ClientCertMode.NONE));
        } finally {
            TlsProvider.force(null);
        }
        try (TlsLoopback loop = new TlsLoopback(serverCtx::newHandler);
                TlsLoopback.Client c = loop.connect(
                        client(ca).applicationProtocolConfig(alpn("h2")).build(), "localhost")) {
            assertThat(c.handshake().failure()).isNull();
            assertThat(loop.serverOutcome().info().applicationProtocol()).isEmpty();
        }
    }

    @Test
    void verifyCaRequiresClientCertificateSignedByConfiguredCa() throws Exception {
        SslContext serverCtx = ClientTlsContexts.build(files(serverEc, "pkcs8", ca, ClientCertMode.VERIFY_CA));
        Issued alice = TestPki.client(ca, "alice", List.of("alice.users.test"));
        Issued mallory = TestPki.client(otherCa, "alice", List.of());
        try (TlsLoopback loop = new TlsLoopback(serverCtx::newHandler)) {
            try (TlsLoopback.Client c = loop.connect(client(ca).build(), "localhost")) {
                c.handshake();
                assertThat(loop.serverOutcome().failure())
                        .as("no client certificate")
                        .isNotNull();
            }
            try (TlsLoopback.Client c = loop.connect(
                    client(ca).keyManager(mallory.key(), mallory.cert()).build(), "localhost")) {
                c.handshake();
                assertThat(loop.serverOutcome().failure())
                        .as("certificate of another CA")
                        .isNotNull();
            }
            try (TlsLoopback.Client c = loop.connect(
                    client(ca).keyManager(alice.key(), alice.cert()).build(), "localhost")) {
                assertThat(c.handshake().ok()).isTrue();
                TlsInfo server = loop.serverOutcome().info();
                assertThat(server.peerCertificate()).contains(alice.cert());
                assertThat(server.peerCommonName()).contains("alice");
                assertThat(server.peerDnsNames()).containsExactly("alice.users.test");
                assertThat(server.peerNameMatches("alice")).isTrue();
                assertThat(server.peerNameMatches("alice.users.test")).isTrue();
                assertThat(server.peerNameMatches("bob")).isFalse();
                assertThat(server.peerNameMatches("Alice")).isFalse();
            }
        }
    }

    @Test
    void withoutClientCertificateModeNoPeerIdentityIsExposed() throws Exception {
        SslContext serverCtx = ClientTlsContexts.build(files(serverEc, "pkcs8", null, ClientCertMode.NONE));
        Issued alice = TestPki.client(ca, "alice", List.of());
        try (TlsLoopback loop = new TlsLoopback(serverCtx::newHandler);
                TlsLoopback.Client c = loop.connect(
                        client(ca).keyManager(alice.key(), alice.cert()).build(), "localhost")) {
            assertThat(c.handshake().ok()).isTrue();
            TlsInfo server = loop.serverOutcome().info();
            assertThat(server.peerCertificates()).isEmpty();
            assertThat(server.peerNameMatches("alice")).isFalse();
        }
    }

    @Test
    void clientCertificateModesNeedCaFile() {
        assertThatThrownBy(() -> new ServerTlsConfig(
                        Path.of("tls.crt"), Path.of("tls.key"), null, ClientCertMode.VERIFY_FULL, Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("verify-full")
                .hasMessageContaining("caFile");
        assertThatThrownBy(() -> ClientCertMode.fromConfig("required"))
                .hasMessageContaining("'required'")
                .hasMessageContaining("none, verify-ca, verify-full");
        assertThat(ClientCertMode.fromConfig(" Verify-CA ")).isEqualTo(ClientCertMode.VERIFY_CA);
    }

    @Test
    void missingFileIsNamedInTheError() throws Exception {
        ServerTlsConfig config = files(serverEc, "pkcs8", null, ClientCertMode.NONE);
        Files.delete(config.keyFile());
        assertThatThrownBy(() -> ClientTlsContexts.build(config))
                .isInstanceOf(TlsConfigException.class)
                .hasMessage("private key file " + config.keyFile() + " does not exist");
    }

    @Test
    void certificateFileWithoutCertificateIsRefused() throws Exception {
        ServerTlsConfig config = files(serverEc, "pkcs8", null, ClientCertMode.NONE);
        Files.writeString(config.certFile(), "not a certificate\n");
        assertThatThrownBy(() -> ClientTlsContexts.build(config))
                .isInstanceOf(TlsConfigException.class)
                .hasMessageContaining("certificate file " + config.certFile() + " holds no certificate");
    }

    @Test
    void corruptKeyIsRefusedWithoutEchoingIt() throws Exception {
        ServerTlsConfig config = files(serverEc, "pkcs8", null, ClientCertMode.NONE);
        String pem = Files.readString(config.keyFile());
        String body =
                pem.lines().filter(l -> !l.startsWith("-----")).findFirst().orElseThrow();
        // Damage the base64 in the middle so the parser chokes on it.
        String broken = pem.replace(body, body.substring(0, 10) + "!!!!" + body.substring(14));
        Files.writeString(config.keyFile(), broken);
        assertThatThrownBy(() -> ClientTlsContexts.build(config))
                .isInstanceOf(TlsConfigException.class)
                .hasMessageContaining("private key file " + config.keyFile())
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain(body.substring(0, 10)))
                .satisfies(e -> assertThat(String.valueOf(e.getCause())).doesNotContain(body.substring(0, 10)));
    }

    @Test
    void keyOfAnotherCertificateIsRefused() throws Exception {
        ServerTlsConfig config = files(serverEc, "pkcs8", null, ClientCertMode.NONE);
        TestPki.writeKeyPkcs8(config.keyFile(), TestPki.keyPair(KeyKind.EC_P256).getPrivate());
        assertThatThrownBy(() -> ClientTlsContexts.build(config))
                .isInstanceOf(TlsConfigException.class)
                .hasMessageContaining("private key in " + config.keyFile() + " does not belong to the certificate in "
                        + config.certFile());
    }

    @Test
    void encryptedKeyIsRefusedWithAHint() throws Exception {
        ServerTlsConfig config = files(serverEc, "pkcs8", null, ClientCertMode.NONE);
        var encryptor = new JceOpenSSLPKCS8EncryptorBuilder(PKCS8Generator.AES_256_CBC)
                .setProvider(new BouncyCastleProvider())
                .setPassword("secret".toCharArray())
                .build();
        Files.writeString(
                config.keyFile(),
                TestPki.pem(new JcaPKCS8Generator(serverEc.key(), encryptor).generate()),
                StandardCharsets.US_ASCII);
        assertThatThrownBy(() -> ClientTlsContexts.build(config))
                .isInstanceOf(TlsConfigException.class)
                .hasMessageContaining("holds an encrypted key");
    }
}
