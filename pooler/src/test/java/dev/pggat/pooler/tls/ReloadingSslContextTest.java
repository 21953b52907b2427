package dev.pggat.pooler.tls;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.tls.TestPki.Issued;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReloadingSslContextTest {
    static Issued ca;
    static Issued certA;
    static Issued certB;
    static SslContext clientCtx;

    @TempDir
    Path dir;

    SecretMount mount;
    ServerTlsConfig config;

    @BeforeAll
    static void pki() throws Exception {
        ca = TestPki.ca("reload CA");
        certA = TestPki.server(ca, List.of("localhost", "a.test"));
        certB = TestPki.server(ca, List.of("localhost", "b.test"));
        clientCtx = SslContextBuilder.forClient().trustManager(ca.cert()).build();
    }

    @BeforeEach
    void mountA() throws Exception {
        mount = new SecretMount(dir);
        mount.publish(secret(certA, certA));
        config = new ServerTlsConfig(
                dir.resolve("tls.crt"), dir.resolve("tls.key"), null, ClientCertMode.NONE, Duration.ZERO);
    }

    private static Map<String, String> secret(Issued cert, Issued key) {
        Map<String, String> files = new LinkedHashMap<>();
        files.put("tls.crt", TestPki.pem(cert.cert()));
        files.put("tls.key", TestPki.pkcs8Pem(key.key()));
        files.put("ca.crt", TestPki.pem(ca.cert()));
        return files;
    }

    @Test
    void newHandshakesGetTheSwappedSecretWhileEstablishedConnectionsKeepWorking() throws Exception {
        try (ReloadingSslContext reloading = ClientTlsContexts.reloading(config);
                TlsLoopback loop = new TlsLoopback(reloading::newHandler);
                TlsLoopback.Client first = loop.connect(clientCtx, "localhost")) {
            assertThat(first.handshake().info().peerCertificate()).contains(certA.cert());
            loop.serverOutcome();
            assertThat(reloading.checkNow()).as("nothing changed").isFalse();
            FileTime oldTime = Files.getLastModifiedTime(config.certFile());

            mount.publish(secret(certB, certB));
            // Same path, same modification time: only the content tells.
            Files.setLastModifiedTime(config.certFile(), oldTime);
            Files.setLastModifiedTime(config.keyFile(), oldTime);
            assertThat(reloading.checkNow()).isTrue();
            assertThat(reloading.generation()).isEqualTo(2);
            assertThat(reloading.lastError()).isEmpty();

            try (TlsLoopback.Client second = loop.connect(clientCtx, "localhost")) {
                assertThat(second.handshake().info().peerCertificate()).contains(certB.cert());
                loop.serverOutcome();
                assertThat(second.echo("on B")).isEqualTo("on B");
            }
            assertThat(first.echo("still on A")).isEqualTo("still on A");
            assertThat(TlsInfo.of(first.channel).flatMap(TlsInfo::peerCertificate))
                    .contains(certA.cert());
        }
    }

    @Test
    void watcherThreadPicksUpTheSwapOnItsOwnAndStopsOnClose() throws Exception {
        ServerTlsConfig watched = new ServerTlsConfig(
                config.certFile(), config.keyFile(), null, ClientCertMode.NONE, Duration.ofMillis(50));
        ReloadingSslContext reloading = ClientTlsContexts.reloading(watched);
        try {
            mount.publish(secret(certB, certB));
            waitFor(() -> reloading.generation() == 2);
        } finally {
            reloading.close();
        }
        mount.publish(secret(certA, certA));
        Thread.sleep(300);
        assertThat(reloading.generation()).isEqualTo(2);
    }

    @Test
    void brokenUpdateKeepsThePreviousCertificateAndIsLoggedOnceWithoutKeyMaterial() throws Exception {
        try (ReloadingSslContext reloading = ClientTlsContexts.reloading(config);
                TlsLoopback loop = new TlsLoopback(reloading::newHandler)) {
            SslContext before = reloading.current();
            Map<String, String> broken = secret(certB, certB);
            String keyPem = broken.get("tls.key");
            String keyLine = keyPem.lines()
                    .filter(l -> !l.startsWith("-----"))
                    .findFirst()
                    .orElseThrow();
            broken.put("tls.key", keyPem.replace(keyLine, keyLine.substring(0, 20) + "%%%%" + keyLine.substring(24)));
            mount.publish(broken);

            String log = captureStderr(() -> assertThat(reloading.checkNow()).isFalse());
            assertThat(reloading.current()).isSameAs(before);
            assertThat(reloading.lastError())
                    .hasValueSatisfying(e -> assertThat(e).contains("private key file " + config.keyFile()));
            assertThat(log)
                    .contains("client TLS: new files not loaded, still using the previous certificate")
                    .contains(config.keyFile().toString())
                    .doesNotContain(keyLine.substring(0, 20));
            String again = captureStderr(() -> assertThat(reloading.checkNow()).isFalse());
            assertThat(again).as("the same broken content is reported once").isEmpty();

            try (TlsLoopback.Client c = loop.connect(clientCtx, "localhost")) {
                assertThat(c.handshake().info().peerCertificate()).contains(certA.cert());
                loop.serverOutcome();
            }

            mount.publish(secret(certB, certB));
            assertThat(reloading.checkNow()).isTrue();
            assertThat(reloading.lastError()).isEmpty();
        }
    }

    @Test
    void certificateWithTheKeyOfAnotherRotationIsNotTaken() throws Exception {
        try (ReloadingSslContext reloading = ClientTlsContexts.reloading(config)) {
            mount.publish(secret(certB, certA));
            assertThat(reloading.checkNow()).isFalse();
            assertThat(reloading.lastError())
                    .hasValueSatisfying(e -> assertThat(e).contains("does not belong to the certificate"));
            assertThat(reloading.generation()).isEqualTo(1);
        }
    }

    @Test
    void vanishedFileKeepsThePreviousCertificate() throws Exception {
        Path cert = TestPki.writeCerts(dir.resolve("plain.crt"), certA.cert());
        Path key = TestPki.writeKeyPkcs8(dir.resolve("plain.key"), certA.key());
        try (ReloadingSslContext reloading =
                ClientTlsContexts.reloading(new ServerTlsConfig(cert, key, null, null, Duration.ZERO))) {
            Files.delete(key);
            assertThat(reloading.checkNow()).isFalse();
            assertThat(reloading.lastError()).contains("file " + key + " does not exist");
            assertThat(reloading.current()).isNotNull();
            TestPki.writeKeyPkcs8(key, certA.key());
            // Same content as loaded: nothing to swap, and the error is over once the file is back.
            assertThat(reloading.checkNow()).isFalse();
            assertThat(reloading.generation()).isEqualTo(1);
            assertThat(reloading.lastError()).isEmpty();
        }
    }

    private static String captureStderr(Runnable r) {
        PrintStream old = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setErr(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            r.run();
        } finally {
            System.setErr(old);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static void waitFor(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within 10 s");
            }
            Thread.sleep(20);
        }
    }

    /**
     * A directory laid out as the kubelet mounts a Secret: {@code name -> ..data/name}, {@code ..data -> ..<version>},
     * and an update swaps the {@code ..data} link in one rename.
     */
    static final class SecretMount {
        private final Path dir;
        private int version;

        SecretMount(Path dir) {
            this.dir = dir;
        }

        void publish(Map<String, String> files) throws Exception {
            Path previous = version == 0 ? null : dir.resolve("..v" + version);
            version++;
            Path target = Files.createDirectory(dir.resolve("..v" + version));
            for (Map.Entry<String, String> f : files.entrySet()) {
                Files.writeString(target.resolve(f.getKey()), f.getValue(), StandardCharsets.US_ASCII);
            }
            Path tmp = Files.createSymbolicLink(dir.resolve("..data_tmp"), target.getFileName());
            Files.move(tmp, dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            for (String name : files.keySet()) {
                Path link = dir.resolve(name);
                if (!Files.isSymbolicLink(link)) {
                    Files.createSymbolicLink(link, Path.of("..data", name));
                }
            }
            if (previous != null) {
                try (var s = Files.list(previous)) {
                    for (Path p : s.toList()) {
                        Files.delete(p);
                    }
                }
                Files.delete(previous);
            }
        }
    }
}
