package dev.pggat.pooler.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

class SelfSignedTest {

    @Test
    void certificateNamesLocalhostLoopbackAndConfiguredNames() throws Exception {
        SelfSigned s = SelfSigned.generate(List.of("pggat.example", "*.pggat.svc", "10.1.2.3"));
        X509Certificate cert = s.certificate();
        assertThat(TlsInfo.dnsNames(cert)).containsExactly("pggat.example", "*.pggat.svc", "localhost");
        List<Object> ips = cert.getSubjectAlternativeNames().stream()
                .filter(san -> san.get(0).equals(7))
                .map(san -> (Object) san.get(1))
                .toList();
        assertThat(ips).containsExactly("10.1.2.3", "127.0.0.1", "0:0:0:0:0:0:0:1");
        assertThat(TlsInfo.commonName(cert)).contains("pggat.example");
        cert.verify(cert.getPublicKey());
        assertThat(cert.getBasicConstraints()).isEqualTo(-1);
        assertThat(cert.getNotBefore().toInstant()).isBefore(Instant.now());
        assertThat(cert.getNotAfter().toInstant()).isAfter(Instant.now().plus(Duration.ofDays(360)));
        PemFiles.checkKeyMatches(s.privateKey(), cert, "generated key", "generated certificate");
    }

    @Test
    void fingerprintIsSha256OfTheDerCertificateInColonHex() throws Exception {
        SelfSigned s = SelfSigned.generate(List.of());
        String expected = HexFormat.ofDelimiter(":")
                .withUpperCase()
                .formatHex(MessageDigest.getInstance("SHA-256")
                        .digest(s.certificate().getEncoded()));
        assertThat(s.sha256Fingerprint()).isEqualTo(expected).matches("([0-9A-F]{2}:){31}[0-9A-F]{2}");
        assertThat(SelfSigned.generate(List.of()).sha256Fingerprint()).isNotEqualTo(s.sha256Fingerprint());
    }

    @Test
    void clientsPinningTheCertificateVerifyEveryNameInItAndNoOther() throws Exception {
        SelfSigned s = SelfSigned.generate(List.of("pggat.example"));
        ReloadingSslContext serverCtx = ClientTlsContexts.selfSigned(s);
        // The JDK's client names the host it could not match; BoringSSL's message does not.
        SslContext pinned = SslContextBuilder.forClient()
                .sslProvider(io.netty.handler.ssl.SslProvider.JDK)
                .trustManager(s.certificate())
                .endpointIdentificationAlgorithm("HTTPS")
                .build();
        try (TlsLoopback loop = new TlsLoopback(serverCtx::newHandler)) {
            for (String host : List.of("pggat.example", "localhost", "127.0.0.1")) {
                try (TlsLoopback.Client c = loop.connect(pinned, host)) {
                    assertThat(c.handshake().failure()).as(host).isNull();
                    loop.serverOutcome();
                }
            }
            try (TlsLoopback.Client c = loop.connect(pinned, "other.example")) {
                assertThat(c.handshake().failure()).hasMessageContaining("other.example");
                loop.serverOutcome();
            }
        }
    }

    @Test
    void refusesNamesThatAreNeitherDnsNamesNorAddresses() {
        assertThatThrownBy(() -> SelfSigned.generate(List.of("bad name")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'bad name'");
        assertThatThrownBy(() -> SelfSigned.generate(List.of("a..b"))).hasMessageContaining("'a..b'");
        assertThatThrownBy(() -> SelfSigned.generate(List.of(" "))).hasMessageContaining("must not be empty");
    }
}
