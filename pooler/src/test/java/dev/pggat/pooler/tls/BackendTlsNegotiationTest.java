package dev.pggat.pooler.tls;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pggat.pooler.protocol.Messages;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.Future;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.ExtendedSSLSession;
import javax.net.ssl.SNIHostName;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** How the negotiation treats answers a well-behaved PostgreSQL never sends, and what the TLS client sends. */
class BackendTlsNegotiationTest {
    static SslContext ctx;

    @BeforeAll
    static void context() throws Exception {
        ctx = BackendTls.context(BackendTlsConfig.of(ServerSslMode.REQUIRE)).orElseThrow();
    }

    private static Future<Optional<TlsInfo>> negotiate(EmbeddedChannel ch, ServerSslMode mode) {
        Future<Optional<TlsInfo>> f = BackendTls.negotiate(ch, mode, ctx, "db.internal", 5432);
        ByteBuf request = ch.readOutbound();
        try {
            assertThat(request.readableBytes()).isEqualTo(8);
            assertThat(request.getInt(0)).isEqualTo(8);
            assertThat(request.getInt(4)).isEqualTo(80877103);
        } finally {
            request.release();
        }
        return f;
    }

    @Test
    void unencryptedBytesAfterTheSslAnswerAreRefused() {
        EmbeddedChannel ch = new EmbeddedChannel();
        Future<Optional<TlsInfo>> f = negotiate(ch, ServerSslMode.REQUIRE);
        ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {'S', 'Z', 0, 0, 0, 5}));
        assertThat(f.cause()).hasMessage("server db.internal:5432 sent unencrypted data after its SSL response");
        assertThat(ch.isOpen()).isFalse();
        assertThat(ch.pipeline().get(SslHandler.class)).isNull();
        ch.finishAndReleaseAll();
    }

    @Test
    void errorResponseToTheSslRequestIsReportedWithItsMessage() {
        EmbeddedChannel ch = new EmbeddedChannel();
        Future<Optional<TlsInfo>> f = negotiate(ch, ServerSslMode.PREFER);
        ByteBuf error = Messages.errorResponse(ch.alloc(), "FATAL", "53300", "sorry, too many clients already");
        // Split, as TCP may deliver it.
        ch.writeInbound(error.readRetainedSlice(3));
        assertThat(f.isDone()).isFalse();
        ch.writeInbound(error);
        assertThat(f.cause())
                .hasMessage("server db.internal:5432 refused the SSLRequest: sorry, too many clients already");
        assertThat(ch.isOpen()).isFalse();
        ch.finishAndReleaseAll();
    }

    @Test
    void anythingElseIsNotPostgresql() {
        EmbeddedChannel ch = new EmbeddedChannel();
        Future<Optional<TlsInfo>> f = negotiate(ch, ServerSslMode.PREFER);
        ch.writeInbound(Unpooled.copiedBuffer(new byte[] {'H', 'T', 'T', 'P'}));
        assertThat(f.cause()).hasMessageContaining("unexpected byte 0x48");
        ch.finishAndReleaseAll();
    }

    @Test
    void closedConnectionFailsTheNegotiation() {
        EmbeddedChannel ch = new EmbeddedChannel();
        Future<Optional<TlsInfo>> f = negotiate(ch, ServerSslMode.PREFER);
        ch.close();
        assertThat(f.cause()).hasMessage("server db.internal:5432 closed the connection during SSL negotiation");
    }

    @Test
    void sslAnswerPutsTheTlsHandlerFirstAndStartsTheHandshake() {
        EmbeddedChannel ch = new EmbeddedChannel();
        Future<Optional<TlsInfo>> f = negotiate(ch, ServerSslMode.REQUIRE);
        ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {'S'}));
        assertThat(ch.pipeline().names().get(0)).isEqualTo(BackendTls.HANDLER_NAME);
        assertThat(ch.pipeline().get(BackendTls.NEGOTIATION_HANDLER_NAME)).isNull();
        ByteBuf hello = ch.readOutbound();
        try {
            assertThat(hello.getByte(0)).as("a TLS handshake record").isEqualTo((byte) 0x16);
        } finally {
            hello.release();
        }
        assertThat(f.isDone()).isFalse();
        ch.finishAndReleaseAll();
    }

    @Test
    void sniCarriesHostNamesButNotAddresses() throws Exception {
        Issued pair = new Issued();
        SslContext server = ClientTlsContexts.build(
                pair.server.key(), List.of(pair.server.cert()), ClientCertMode.NONE, List.of(), "test");
        try (TlsLoopback loop = new TlsLoopback(server::newHandler)) {
            try (TlsLoopback.Client c = loop.connect(ctx, "db.internal")) {
                c.handshake();
                assertThat(sni(loop)).containsExactly("db.internal");
            }
            try (TlsLoopback.Client c = loop.connect(ctx, "127.0.0.1")) {
                c.handshake();
                assertThat(sni(loop)).isEmpty();
            }
        }
    }

    private static List<String> sni(TlsLoopback loop) throws InterruptedException {
        TlsLoopback.Outcome o = loop.serverOutcome();
        return o.serverSession() instanceof ExtendedSSLSession e
                ? e.getRequestedServerNames().stream()
                        .map(n -> ((SNIHostName) n).getAsciiName())
                        .toList()
                : List.of();
    }

    private static final class Issued {
        final TestPki.Issued ca = TestPki.ca("sni CA");
        final TestPki.Issued server = TestPki.server(ca, List.of("db.internal"));
    }
}
