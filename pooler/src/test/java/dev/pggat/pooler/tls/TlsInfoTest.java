package dev.pggat.pooler.tls;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.tls.TestPki.Issued;
import dev.pggat.pooler.tls.TestPki.KeyKind;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class TlsInfoTest {

    @ParameterizedTest(name = "{1} -> {2}")
    @CsvSource({
        "RSA, SHA256withRSA, SHA-256",
        "RSA, SHA1withRSA, SHA-256",
        "RSA, MD5withRSA, SHA-256",
        "RSA, SHA384withRSA, SHA-384",
        "RSA, SHA512withRSA, SHA-512",
        "RSA, RSASSA-PSS, SHA-384",
        "EC_P256, SHA1withECDSA, SHA-256",
        "EC_P256, SHA256withECDSA, SHA-256",
        "EC_P384, SHA384withECDSA, SHA-384",
        "EC_P384, SHA512withECDSA, SHA-512",
    })
    void channelBindingHashFollowsRfc5929(KeyKind kind, String signature, String expectedHash) throws Exception {
        X509Certificate cert = TestPki.selfSignedWith(kind, signature);
        assertThat(TlsInfo.channelBindingHash(cert)).contains(expectedHash);
        byte[] expected = sha(expectedHash, cert);
        assertThat(TlsInfo.tlsServerEndPoint(cert))
                .hasValueSatisfying(b ->
                        assertThat(b).isEqualTo(expected).hasSize(Integer.parseInt(expectedHash.substring(4)) / 8));
    }

    @Test
    void ed25519CertificatesHaveNoChannelBinding() {
        X509Certificate cert = TestPki.selfSignedWith(KeyKind.ED25519, "Ed25519");
        assertThat(TlsInfo.channelBindingHash(cert)).isEmpty();
        assertThat(TlsInfo.tlsServerEndPoint(cert)).isEmpty();
    }

    @Test
    void bothEndsOfAHandshakeDeriveTheSameServerEndPointFromThePoolersCertificate() throws Exception {
        Issued ca = TestPki.ca("binding CA");
        Issued server = TestPki.server(ca, "localhost", List.of("localhost"), KeyKind.EC_P256, "SHA384withECDSA");
        SslContext serverCtx =
                ClientTlsContexts.build(server.key(), List.of(server.cert()), ClientCertMode.NONE, List.of(), "test");
        Issued client = TestPki.client(ca, "carol", List.of());
        SslContext clientCtx = SslContextBuilder.forClient()
                .trustManager(ca.cert())
                .keyManager(client.key(), client.cert())
                .build();
        try (TlsLoopback loop = new TlsLoopback(serverCtx::newHandler);
                TlsLoopback.Client c = loop.connect(clientCtx, "localhost")) {
            TlsInfo clientSide = c.handshake().info();
            TlsInfo serverSide = loop.serverOutcome().info();
            byte[] expected = sha("SHA-384", server.cert());
            assertThat(serverSide.tlsServerEndPoint())
                    .hasValueSatisfying(b -> assertThat(b).isEqualTo(expected));
            assertThat(clientSide.tlsServerEndPoint())
                    .hasValueSatisfying(b -> assertThat(b).isEqualTo(expected));
            // The client certificate must not be what the server side binds to.
            assertThat(serverSide.peerCertificate()).isEmpty();
            assertThat(clientSide.toString()).startsWith("TLSv1.3 TLS_").contains("peer='CN=localhost'");
        }
    }

    @Test
    void returnedBindingIsACopy() {
        X509Certificate cert = TestPki.selfSignedWith(KeyKind.EC_P256, "SHA256withECDSA");
        byte[] first = TlsInfo.tlsServerEndPoint(cert).orElseThrow();
        first[0] ^= 1;
        assertThat(TlsInfo.tlsServerEndPoint(cert).orElseThrow()).isNotEqualTo(first);
    }

    private static byte[] sha(String algorithm, X509Certificate cert) throws Exception {
        return MessageDigest.getInstance(algorithm).digest(cert.getEncoded());
    }
}
