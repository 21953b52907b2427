package dev.pggat.pooler.tls;

import static org.assertj.core.api.Assertions.assertThat;

import com.ongres.scram.client.ScramClient;
import dev.pggat.pooler.demo.PostgresCluster;
import dev.pggat.pooler.net.Transport;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.MessageFramer;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.tls.TestPki.Issued;
import dev.pggat.pooler.tls.TestPki.KeyKind;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContext;
import io.netty.util.concurrent.Future;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** SSLRequest negotiation and TLS against real PostgreSQL servers: one with ssl=on, one without. */
class BackendTlsTest {
    private static final String SCRAM_USER = "scram_user";
    private static final String SCRAM_PASSWORD = "scram-secret-pw";
    private static final String CERT_USER = "cert_user";

    @TempDir
    static Path dir;

    static Issued ca;
    static Issued otherCa;
    static Path caFile;
    static Path otherCaFile;
    static Path clientCertFile;
    static Path clientKeyFile;
    static Issued serverCert;
    static PostgresCluster tlsPg;
    static PostgresCluster plainPg;
    static EventLoopGroup group;

    @BeforeAll
    static void start() throws Exception {
        ca = TestPki.ca("PostgreSQL CA");
        otherCa = TestPki.ca("unrelated CA");
        // Names localhost and a DNS name, not 127.0.0.1: connecting by IP is "another host" for verify-full. Signed
        // with SHA-384 so that channel binding must pick SHA-384, not SHA-256.
        serverCert = TestPki.server(
                ca, "localhost", List.of("localhost", "db.internal"), KeyKind.EC_P256, "SHA384withECDSA");
        Issued client = TestPki.client(ca, CERT_USER, List.of());

        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        caFile = TestPki.writeCerts(dir.resolve("ca.crt"), ca.cert());
        otherCaFile = TestPki.writeCerts(dir.resolve("other-ca.crt"), otherCa.cert());
        Path serverCrt = TestPki.writeCerts(dir.resolve("server.crt"), serverCert.cert());
        Path serverKey = TestPki.writeKeyPkcs8(dir.resolve("server.key"), serverCert.key());
        clientCertFile = TestPki.writeCerts(dir.resolve("client.crt"), client.cert());
        clientKeyFile = TestPki.writeKeyTraditional(dir.resolve("client.key"), client.key());
        for (Path p : List.of(caFile, otherCaFile, serverCrt, clientCertFile)) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-r--r--"));
        }
        // PostgreSQL refuses a key file others can read; as root, the server runs as "postgres" and must own it.
        Files.setPosixFilePermissions(serverKey, PosixFilePermissions.fromString("rw-------"));
        if ("root".equals(System.getProperty("user.name"))) {
            UserPrincipal postgres =
                    dir.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("postgres");
            Files.setOwner(serverKey, postgres);
        }

        tlsPg = PostgresCluster.builder()
                .setting("ssl", "on")
                .setting("ssl_cert_file", serverCrt.toString())
                .setting("ssl_key_file", serverKey.toString())
                .setting("ssl_ca_file", caFile.toString())
                .hbaLines("hostssl all " + CERT_USER + " 127.0.0.1/32 cert")
                .bootstrapSql("CREATE ROLE " + CERT_USER + " LOGIN; CREATE ROLE " + SCRAM_USER + " LOGIN PASSWORD '"
                        + SCRAM_PASSWORD + "'")
                .start();
        plainPg = PostgresCluster.builder()
                .bootstrapSql("CREATE ROLE " + SCRAM_USER + " LOGIN PASSWORD '" + SCRAM_PASSWORD + "'")
                .start();
        group = Transport.best().newGroup(1, "backend-tls-test");
    }

    @AfterAll
    static void stop() {
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
        if (tlsPg != null) {
            tlsPg.close();
        }
        if (plainPg != null) {
            plainPg.close();
        }
    }

    private static SslContext context(ServerSslMode mode, Path ca, boolean clientCert) throws TlsConfigException {
        return BackendTls.context(new BackendTlsConfig(
                        mode, ca, clientCert ? clientCertFile : null, clientCert ? clientKeyFile : null, Duration.ZERO))
                .orElseThrow();
    }

    // ---------------------------------------------------------------- TLS-enabled server

    @ParameterizedTest
    @EnumSource(
            value = ServerSslMode.class,
            names = {"ALLOW", "PREFER", "REQUIRE"})
    void modesWithoutCaFileEncryptWithoutCheckingTheCertificate(ServerSslMode mode) throws Exception {
        try (Wire w = Wire.connect(tlsPg.primary().port())) {
            TlsInfo info =
                    w.negotiate(mode, context(mode, null, false), "127.0.0.1").orElseThrow();
            assertThat(info.protocol()).isIn("TLSv1.3", "TLSv1.2");
            assertThat(info.peerCertificate()).contains(serverCert.cert());
            w.startup(SCRAM_USER);
            assertThat(w.authRequest()).as("AuthenticationSASL over TLS").isEqualTo(10);
        }
    }

    @Test
    void verifyFullAcceptsCertificateNamingTheHost() throws Exception {
        try (Wire w = Wire.connect(tlsPg.primary().port())) {
            Optional<TlsInfo> info = w.negotiate(
                    ServerSslMode.VERIFY_FULL, context(ServerSslMode.VERIFY_FULL, caFile, false), "localhost");
            assertThat(info).isPresent();
            w.startup(SCRAM_USER);
            assertThat(w.authRequest()).isEqualTo(10);
        }
    }

    @Test
    void verifyFullRefusesCertificateNamingAnotherHost() throws Exception {
        try (Wire w = Wire.connect(tlsPg.primary().port())) {
            Future<Optional<TlsInfo>> f = w.negotiateAsync(
                    ServerSslMode.VERIFY_FULL, context(ServerSslMode.VERIFY_FULL, caFile, false), "127.0.0.1");
            assertThat(failure(f))
                    .isInstanceOf(BackendTlsException.class)
                    .hasMessageContaining("TLS handshake with server 127.0.0.1:")
                    .hasMessageContaining("sslmode verify-full")
                    .hasMessageContaining("127.0.0.1");
            assertThat(w.channel.closeFuture().await(5, TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void verifyCaAcceptsAnyHostNameButOnlyTheConfiguredCa() throws Exception {
        try (Wire w = Wire.connect(tlsPg.primary().port())) {
            assertThat(w.negotiate(
                            ServerSslMode.VERIFY_CA, context(ServerSslMode.VERIFY_CA, caFile, false), "127.0.0.1"))
                    .isPresent();
        }
        try (Wire w = Wire.connect(tlsPg.primary().port())) {
            Future<Optional<TlsInfo>> f = w.negotiateAsync(
                    ServerSslMode.VERIFY_CA, context(ServerSslMode.VERIFY_CA, otherCaFile, false), "localhost");
            assertThat(failure(f)).isInstanceOf(BackendTlsException.class).hasMessageContaining("sslmode verify-ca");
        }
    }

    @Test
    void requireWithCaFileChecksTheChainAsLibpqDoes() throws Exception {
        try (Wire w = Wire.connect(tlsPg.primary().port())) {
            Future<Optional<TlsInfo>> f = w.negotiateAsync(
                    ServerSslMode.REQUIRE, context(ServerSslMode.REQUIRE, otherCaFile, false), "localhost");
            assertThat(failure(f)).isInstanceOf(BackendTlsException.class);
        }
    }

    @Test
    void clientCertificateLogsInThroughCertAuthentication() throws Exception {
        try (Wire w = Wire.connect(tlsPg.primary().port())) {
            w.negotiate(ServerSslMode.VERIFY_FULL, context(ServerSslMode.VERIFY_FULL, caFile, true), "localhost");
            w.startup(CERT_USER);
            assertThat(w.authRequest())
                    .as("AuthenticationOk without a password")
                    .isEqualTo(0);
        }
        try (Wire w = Wire.connect(tlsPg.primary().port())) {
            w.negotiate(ServerSslMode.VERIFY_FULL, context(ServerSslMode.VERIFY_FULL, caFile, false), "localhost");
            w.startup(CERT_USER);
            assertThat(w.error().message())
                    .as("no certificate, no login")
                    .contains("requires a valid client certificate");
        }
    }

    @Test
    void postgresqlAcceptsScramSha256PlusWithOurServerEndPointBinding() throws Exception {
        try (Wire w = Wire.connect(tlsPg.primary().port())) {
            TlsInfo info = w.negotiate(
                            ServerSslMode.VERIFY_FULL, context(ServerSslMode.VERIFY_FULL, caFile, false), "localhost")
                    .orElseThrow();
            byte[] binding = info.tlsServerEndPoint().orElseThrow();
            assertThat(binding).hasSize(48);
            w.scramPlus(binding);
            assertThat(w.authRequest()).as("AuthenticationOk").isEqualTo(0);
        }
    }

    @Test
    void postgresqlRefusesScramSha256PlusWithAWrongBinding() throws Exception {
        try (Wire w = Wire.connect(tlsPg.primary().port())) {
            TlsInfo info = w.negotiate(ServerSslMode.REQUIRE, context(ServerSslMode.REQUIRE, null, false), "localhost")
                    .orElseThrow();
            byte[] binding = info.tlsServerEndPoint().orElseThrow();
            binding[0] ^= 1;
            w.scramPlus(binding);
            ErrorFields e = w.error();
            assertThat(e.message()).containsIgnoringCase("channel binding");
        }
    }

    @Test
    void disableSendsNoSslRequest() throws Exception {
        try (Wire w = Wire.connect(tlsPg.primary().port())) {
            assertThat(w.negotiate(ServerSslMode.DISABLE, null, "localhost")).isEmpty();
            assertThat(w.channel.pipeline().get(BackendTls.NEGOTIATION_HANDLER_NAME))
                    .isNull();
            w.startup(SCRAM_USER);
            assertThat(w.authRequest()).isEqualTo(10);
        }
    }

    // ---------------------------------------------------------------- server without TLS

    @ParameterizedTest
    @EnumSource(
            value = ServerSslMode.class,
            names = {"ALLOW", "PREFER"})
    void plaintextModesContinueWithoutTlsWhenTheServerSaysN(ServerSslMode mode) throws Exception {
        try (Wire w = Wire.connect(plainPg.primary().port())) {
            assertThat(w.negotiate(mode, context(mode, null, false), "localhost"))
                    .isEmpty();
            assertThat(w.channel.pipeline().get(BackendTls.NEGOTIATION_HANDLER_NAME))
                    .isNull();
            w.startup(SCRAM_USER);
            assertThat(w.authRequest()).isEqualTo(10);
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = ServerSslMode.class,
            names = {"REQUIRE", "VERIFY_CA", "VERIFY_FULL"})
    void modesRequiringTlsFailWhenTheServerSaysN(ServerSslMode mode) throws Exception {
        try (Wire w = Wire.connect(plainPg.primary().port())) {
            Future<Optional<TlsInfo>> f = w.negotiateAsync(mode, context(mode, caFile, false), "localhost");
            assertThat(failure(f))
                    .isInstanceOf(BackendTlsException.class)
                    .hasMessage("server localhost:" + plainPg.primary().port() + " does not support SSL, but sslmode "
                            + mode.configName() + " requires it");
            assertThat(w.channel.closeFuture().await(5, TimeUnit.SECONDS)).isTrue();
        }
    }

    // ---------------------------------------------------------------- helpers

    private static Throwable failure(Future<?> f) throws InterruptedException {
        assertThat(f.await(15, TimeUnit.SECONDS)).as("negotiation finished").isTrue();
        assertThat(f.isSuccess()).as("negotiation must fail").isFalse();
        return f.cause();
    }

    /** A raw connection with the pipeline ServerConnector builds: framer, then a handler collecting messages. */
    static final class Wire implements AutoCloseable {
        record Msg(char type, byte[] body) {}

        Channel channel;
        int port;
        final BlockingQueue<Msg> messages = new LinkedBlockingQueue<>();

        static Wire connect(int port) throws InterruptedException {
            Wire w = new Wire();
            w.port = port;
            w.channel = new Bootstrap()
                    .group(group)
                    .channel(Transport.best().socketChannel())
                    .handler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            ch.pipeline()
                                    .addLast(MessageFramer.NAME, new MessageFramer(1 << 20))
                                    .addLast(new ChannelInboundHandlerAdapter() {
                                        @Override
                                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                            ByteBuf f = (ByteBuf) msg;
                                            byte[] body = new byte[f.readableBytes() - 5];
                                            f.getBytes(f.readerIndex() + 5, body);
                                            w.messages.add(new Msg((char) f.getByte(f.readerIndex()), body));
                                            f.release();
                                        }

                                        @Override
                                        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                            ctx.close();
                                        }
                                    });
                        }
                    })
                    .connect("127.0.0.1", port)
                    .sync()
                    .channel();
            return w;
        }

        Future<Optional<TlsInfo>> negotiateAsync(ServerSslMode mode, SslContext ctx, String host) {
            return BackendTls.negotiate(channel, mode, ctx, host, port);
        }

        Optional<TlsInfo> negotiate(ServerSslMode mode, SslContext ctx, String host)
                throws InterruptedException, ExecutionException {
            Future<Optional<TlsInfo>> f = negotiateAsync(mode, ctx, host);
            assertThat(f.await(15, TimeUnit.SECONDS)).as("negotiation finished").isTrue();
            return f.get();
        }

        void startup(String user) {
            Map<String, String> params = new LinkedHashMap<>();
            params.put("user", user);
            params.put("database", "postgres");
            channel.writeAndFlush(Messages.startupMessage(channel.alloc(), params));
        }

        Msg next() throws InterruptedException {
            Msg m = messages.poll(15, TimeUnit.SECONDS);
            if (m == null) {
                throw new AssertionError("no message from the server within 15 s");
            }
            return m;
        }

        /** The code of the next Authentication message. */
        int authRequest() throws InterruptedException {
            Msg m = next();
            if (m.type() == 'E') {
                throw new AssertionError("server error: " + parse(m));
            }
            assertThat(m.type()).isEqualTo('R');
            return Unpooled.wrappedBuffer(m.body()).getInt(0);
        }

        ErrorFields error() throws InterruptedException {
            Msg m = next();
            while (m.type() == 'R' || m.type() == 'S') {
                m = next();
            }
            assertThat(m.type()).isEqualTo('E');
            return parse(m);
        }

        private static ErrorFields parse(Msg m) {
            ByteBuf frame = Unpooled.buffer()
                    .writeByte('E')
                    .writeInt(4 + m.body().length)
                    .writeBytes(m.body());
            return ErrorFields.parse(frame);
        }

        /** Logs in as SCRAM_USER with SCRAM-SHA-256-PLUS and the given binding, up to the server's final answer. */
        void scramPlus(byte[] binding) throws Exception {
            startup(SCRAM_USER);
            Msg sasl = next();
            assertThat(sasl.type()).isEqualTo('R');
            ByteBuf b = Unpooled.wrappedBuffer(sasl.body());
            assertThat(b.readInt()).isEqualTo(10);
            List<String> mechanisms = new ArrayList<>();
            while (b.isReadable() && b.getByte(b.readerIndex()) != 0) {
                int end = b.indexOf(b.readerIndex(), b.writerIndex(), (byte) 0);
                mechanisms.add(b.readCharSequence(end - b.readerIndex(), StandardCharsets.UTF_8)
                        .toString());
                b.skipBytes(1);
            }
            assertThat(mechanisms).contains("SCRAM-SHA-256-PLUS");
            ScramClient scram = ScramClient.builder()
                    .advertisedMechanisms(mechanisms)
                    .username("*")
                    .password(SCRAM_PASSWORD.toCharArray())
                    .channelBinding("tls-server-end-point", binding)
                    .build();
            assertThat(scram.getScramMechanism().getName()).isEqualTo("SCRAM-SHA-256-PLUS");
            channel.writeAndFlush(Messages.saslInitialResponse(
                    channel.alloc(),
                    "SCRAM-SHA-256-PLUS",
                    scram.clientFirstMessage().toString().getBytes(StandardCharsets.UTF_8)));
            Msg cont = next();
            assertThat(cont.type()).isEqualTo('R');
            ByteBuf c = Unpooled.wrappedBuffer(cont.body());
            assertThat(c.readInt()).isEqualTo(11);
            scram.serverFirstMessage(c.toString(StandardCharsets.UTF_8));
            channel.writeAndFlush(Messages.saslResponse(
                    channel.alloc(), scram.clientFinalMessage().toString().getBytes(StandardCharsets.UTF_8)));
            Msg fin = next();
            if (fin.type() == 'E') {
                // Put it back for the caller's error() check.
                messages.add(fin);
                List<Msg> rest = new ArrayList<>();
                messages.drainTo(rest);
                messages.addAll(rest);
                return;
            }
            ByteBuf f = Unpooled.wrappedBuffer(fin.body());
            assertThat(f.readInt()).isEqualTo(12);
            scram.serverFinalMessage(f.toString(StandardCharsets.UTF_8));
        }

        @Override
        public void close() {
            channel.close().awaitUninterruptibly();
        }
    }
}
