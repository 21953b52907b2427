package dev.pggat.pooler.backend;

import dev.pggat.pooler.auth.AuthFailedException;
import dev.pggat.pooler.auth.Md5Password;
import dev.pggat.pooler.auth.ScramClient;
import dev.pggat.pooler.protocol.Authentication;
import dev.pggat.pooler.protocol.BackendKeyData;
import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Frames;
import dev.pggat.pooler.protocol.Messages;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.ReadyForQuery;
import dev.pggat.pooler.protocol.SqlState;
import dev.pggat.pooler.tls.TlsInfo;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Promise;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The server channel's handler: logs in (startup, authentication, initial ParameterStatus and BackendKeyData up
 * to the first ReadyForQuery), then hands every frame to the connection's current {@link ServerListener}.
 */
final class BackendHandler extends ChannelInboundHandlerAdapter {
    static final String NAME = "pg-backend";

    private final ServerConnection connection;
    private final Promise<ServerConnection> loginPromise;
    private final ServerSecurity security;
    private boolean loggedIn;
    private ScramClient scram;
    private TlsInfo tlsInfo;

    BackendHandler(ServerConnection connection, Promise<ServerConnection> loginPromise) {
        this(connection, loginPromise, ServerSecurity.NONE);
    }

    BackendHandler(ServerConnection connection, Promise<ServerConnection> loginPromise, ServerSecurity security) {
        this.connection = connection;
        this.loginPromise = loginPromise;
        this.security = security;
    }

    /** The connection's TLS state once negotiated; null in plain text. */
    void tlsInfo(TlsInfo info) {
        this.tlsInfo = info;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf frame = (ByteBuf) msg;
        if (loggedIn) {
            ServerMeter meter = connection.meter();
            if (meter != null) {
                meter.received(frame);
            }
            ServerListener l = connection.listener();
            if (l != null) {
                l.onFrame(connection, frame);
            } else {
                frame.release();
            }
            return;
        }
        try {
            login(ctx, frame);
        } catch (ServerError e) {
            fail(ctx, e);
        } catch (RuntimeException e) {
            fail(ctx, new ServerError(SqlState.PROTOCOL_VIOLATION, "bad login reply from server: " + e, false, e));
        } finally {
            ReferenceCountUtil.release(frame);
        }
    }

    private void login(ChannelHandlerContext ctx, ByteBuf frame) throws ServerError {
        ServerAddress addr = connection.address();
        switch (Frames.type(frame)) {
            case ProtocolConstants.AUTHENTICATION -> authenticate(ctx, frame, addr);
            case ProtocolConstants.PARAMETER_STATUS -> connection.recordParameterStatus(frame);
            case ProtocolConstants.BACKEND_KEY_DATA -> {
                connection.backendKey(BackendKeyData.processId(frame), BackendKeyData.secretKey(frame));
            }
            case ProtocolConstants.READY_FOR_QUERY -> {
                loggedIn = true;
                connection.loggedIn(true);
                if (connection.meter() != null) {
                    connection.meter().loggedIn();
                }
                connection.transactionStatus(ReadyForQuery.status(frame));
                loginPromise.trySuccess(connection);
            }
            case ProtocolConstants.ERROR_RESPONSE -> {
                ErrorFields err = ErrorFields.parse(frame);
                // 57P03 (starting up / shutting down / in recovery) and 53300 (too many connections) pass.
                boolean isTransient = SqlState.CANNOT_CONNECT_NOW.equals(err.sqlState())
                        || SqlState.TOO_MANY_CONNECTIONS.equals(err.sqlState())
                        || SqlState.ADMIN_SHUTDOWN.equals(err.sqlState());
                throw new ServerError(err.sqlState(), err.message(), isTransient, null);
            }
            default -> {
                // NoticeResponse and NegotiateProtocolVersion during login need no answer.
            }
        }
    }

    private void authenticate(ChannelHandlerContext ctx, ByteBuf frame, ServerAddress addr) throws ServerError {
        int code = Authentication.code(frame);
        switch (code) {
            case ProtocolConstants.AUTH_OK -> {}
            case ProtocolConstants.AUTH_CLEARTEXT_PASSWORD ->
                ctx.writeAndFlush(Messages.passwordMessage(ctx.alloc(), requirePassword(addr, "password")));
            case ProtocolConstants.AUTH_MD5_PASSWORD -> {
                byte[] salt = Authentication.md5Salt(frame);
                String hash;
                String password = password(addr);
                if (password != null) {
                    hash = Md5Password.hash(addr.user(), password);
                } else {
                    hash = security.credentials(addr).md5Hash();
                    if (hash == null) {
                        throw noCredentials(addr, "md5");
                    }
                }
                ctx.writeAndFlush(Messages.passwordMessage(ctx.alloc(), Md5Password.response(hash, salt)));
            }
            case ProtocolConstants.AUTH_SASL -> {
                List<String> mechanisms = Authentication.saslMechanisms(frame);
                try {
                    String password = password(addr);
                    ScramClient.PassThroughKeys keys = null;
                    if (password == null) {
                        keys = security.credentials(addr).scramKeys();
                        if (keys == null) {
                            throw noCredentials(addr, "SCRAM-SHA-256");
                        }
                    }
                    byte[] binding =
                            tlsInfo == null ? null : tlsInfo.tlsServerEndPoint().orElse(null);
                    scram = new ScramClient(password, keys, mechanisms, binding);
                } catch (AuthFailedException e) {
                    throw new ServerError(e.sqlState(), e.getMessage(), false, e);
                }
                ctx.writeAndFlush(Messages.saslInitialResponse(ctx.alloc(), scram.mechanism(), scram.clientFirst()));
            }
            case ProtocolConstants.AUTH_SASL_CONTINUE -> {
                byte[] data = Authentication.saslData(frame);
                try {
                    ctx.writeAndFlush(
                            Messages.saslResponse(ctx.alloc(), requireScram().serverFirst(data)));
                } catch (AuthFailedException e) {
                    throw new ServerError(e.sqlState(), e.getMessage(), false, e);
                }
            }
            case ProtocolConstants.AUTH_SASL_FINAL -> {
                byte[] data = Authentication.saslData(frame);
                try {
                    requireScram().serverFinal(data);
                } catch (AuthFailedException e) {
                    throw new ServerError(
                            SqlState.INVALID_PASSWORD, "server signature did not verify: " + e.getMessage(), false, e);
                }
                scram = null;
            }
            default ->
                throw new ServerError(
                        SqlState.FEATURE_NOT_SUPPORTED,
                        "server " + addr + " asked for an authentication method the pooler does not support (code "
                                + code + ")",
                        false,
                        null);
        }
    }

    private ScramClient requireScram() throws ServerError {
        if (scram == null) {
            throw new ServerError(SqlState.PROTOCOL_VIOLATION, "SASL message out of order from server", false, null);
        }
        return scram;
    }

    /** The configured password, else one from the credential sources (a file, a client's forwarded password). */
    private String password(ServerAddress addr) {
        return addr.password() != null
                ? addr.password()
                : security.credentials(addr).password();
    }

    private String requirePassword(ServerAddress addr, String method) throws ServerError {
        String password = password(addr);
        if (password == null) {
            throw noCredentials(addr, method);
        }
        return password;
    }

    private static ServerError noCredentials(ServerAddress addr, String method) {
        return new ServerError(
                SqlState.INVALID_PASSWORD,
                "server " + addr + " asked for " + method
                        + " authentication but the pooler has no credentials for this user (configure serverPassword,"
                        + " a credential file entry, or passThrough with a client that logged in first)",
                false,
                null);
    }

    private void fail(ChannelHandlerContext ctx, ServerError e) {
        loginPromise.tryFailure(e);
        connection.abort();
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (loggedIn) {
            ServerListener l = connection.listener();
            if (l != null) {
                l.onReadComplete(connection);
            }
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        ServerListener l = connection.listener();
        if (loggedIn && l != null) {
            l.onWritabilityChanged(connection);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (!loggedIn) {
            loginPromise.tryFailure(new ServerError(
                    SqlState.CONNECTION_FAILURE,
                    "server " + connection.address() + " closed the connection during login",
                    true,
                    null));
        }
        ServerListener l = connection.listener();
        if (l != null) {
            l.onClosed(connection, null);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (!loggedIn) {
            loginPromise.tryFailure(new ServerError(
                    SqlState.CONNECTION_FAILURE,
                    "connection to server " + connection.address() + " failed: " + cause.getMessage(),
                    true,
                    cause));
        }
        connection.abort();
    }

    static String utf8(ByteBuf buf, int from, int len) {
        return buf.toString(from, len, StandardCharsets.UTF_8);
    }
}
