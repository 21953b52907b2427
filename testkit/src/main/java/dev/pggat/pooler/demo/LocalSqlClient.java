package dev.pggat.pooler.demo;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A minimal simple-query client over a node's Unix socket, so the cluster can run SQL with nothing but the
 * server binaries (the embedded bundle has no psql) and without a JDBC driver. It relies on the superuser's
 * {@code local ... trust} pg_hba.conf line.
 */
final class LocalSqlClient implements AutoCloseable {
    private static final int PROTOCOL_3_0 = 196608;
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "pggat-postgres-sql-watchdog");
        t.setDaemon(true);
        return t;
    });

    private final SocketChannel channel;
    private final DataInputStream in;
    private final DataOutputStream out;
    private final String where;
    private final Duration timeout;

    private LocalSqlClient(SocketChannel channel, String where, Duration timeout) {
        this.channel = channel;
        this.in = new DataInputStream(new BufferedInputStream(Channels.newInputStream(channel), 8192));
        this.out = new DataOutputStream(new BufferedOutputStream(Channels.newOutputStream(channel), 8192));
        this.where = where;
        this.timeout = timeout;
    }

    /** An SQL error reported by the server. */
    static final class ServerError extends IOException {
        private static final long serialVersionUID = 1L;
        private final String sqlState;

        ServerError(String message, String sqlState) {
            super(message);
            this.sqlState = sqlState;
        }

        String sqlState() {
            return sqlState;
        }
    }

    static LocalSqlClient connect(
            Path socketDir, int port, String user, String database, Duration timeout, String where) throws IOException {
        Path socket = socketDir.resolve(".s.PGSQL." + port);
        SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        LocalSqlClient client = new LocalSqlClient(channel, where, timeout);
        try {
            channel.connect(UnixDomainSocketAddress.of(socket));
            client.guarded(() -> {
                client.startup(user, database);
                return null;
            });
            return client;
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** Runs one simple query (which may hold several statements) and returns the rows of the last result. */
    List<List<String>> query(String sql) throws IOException {
        return guarded(() -> {
            byte[] text = sql.getBytes(StandardCharsets.UTF_8);
            out.writeByte('Q');
            out.writeInt(4 + text.length + 1);
            out.write(text);
            out.writeByte(0);
            out.flush();
            List<List<String>> rows = new ArrayList<>();
            ServerError error = null;
            while (true) {
                byte type = in.readByte();
                byte[] body = readBody();
                switch (type) {
                    case 'T':
                        rows = new ArrayList<>();
                        break;
                    case 'D':
                        rows.add(dataRow(body));
                        break;
                    case 'E':
                        if (error == null) {
                            error = error(body);
                        }
                        break;
                    case 'Z':
                        if (error != null) {
                            throw error;
                        }
                        return rows;
                    default:
                    // CommandComplete, notices, parameter changes: nothing to keep.
                }
            }
        });
    }

    String queryValue(String sql) throws IOException {
        List<List<String>> rows = query(sql);
        if (rows.isEmpty() || rows.get(0).isEmpty()) {
            throw new IOException(where + ": query returned no value");
        }
        return rows.get(0).get(0);
    }

    @Override
    public void close() {
        try {
            if (channel.isOpen()) {
                out.writeByte('X');
                out.writeInt(4);
                out.flush();
            }
        } catch (IOException e) {
            // The server may already be gone; closing is all that is left to do.
        } finally {
            try {
                channel.close();
            } catch (IOException e) {
                // Nothing else to release.
            }
        }
    }

    private void startup(String user, String database) throws IOException {
        ByteArrayOutputStream params = new ByteArrayOutputStream();
        for (String s : new String[] {"user", user, "database", database, "application_name", "pggat-cluster"}) {
            params.writeBytes(s.getBytes(StandardCharsets.UTF_8));
            params.write(0);
        }
        params.write(0);
        out.writeInt(8 + params.size());
        out.writeInt(PROTOCOL_3_0);
        params.writeTo(out);
        out.flush();
        while (true) {
            byte type = in.readByte();
            byte[] body = readBody();
            switch (type) {
                case 'R':
                    int code = ByteBuffer.wrap(body).getInt();
                    if (code != 0) {
                        throw new IOException(where + ": the server asked user '" + user + "' for authentication"
                                + " (method code " + code + ") on the Unix socket; pg_hba.conf must keep a"
                                + " 'local all " + user + " trust' line for the cluster to run SQL");
                    }
                    break;
                case 'E':
                    throw error(body);
                case 'Z':
                    return;
                default:
                // ParameterStatus, BackendKeyData, notices.
            }
        }
    }

    private byte[] readBody() throws IOException {
        int length = in.readInt();
        if (length < 4 || length > 64 * 1024 * 1024) {
            throw new IOException(where + ": malformed message length " + length);
        }
        byte[] body = new byte[length - 4];
        in.readFully(body);
        return body;
    }

    private static List<String> dataRow(byte[] body) {
        ByteBuffer b = ByteBuffer.wrap(body);
        int columns = b.getShort() & 0xFFFF;
        List<String> row = new ArrayList<>(columns);
        for (int i = 0; i < columns; i++) {
            int len = b.getInt();
            if (len < 0) {
                row.add(null);
            } else {
                row.add(new String(body, b.position(), len, StandardCharsets.UTF_8));
                b.position(b.position() + len);
            }
        }
        return row;
    }

    private ServerError error(byte[] body) {
        String severity = "ERROR";
        String code = "";
        String message = "";
        int i = 0;
        while (i < body.length && body[i] != 0) {
            byte field = body[i++];
            int end = i;
            while (end < body.length && body[end] != 0) {
                end++;
            }
            String value = new String(body, i, end - i, StandardCharsets.UTF_8);
            i = end + 1;
            switch (field) {
                case 'V':
                    severity = value;
                    break;
                case 'C':
                    code = value;
                    break;
                case 'M':
                    message = value;
                    break;
                default:
            }
        }
        return new ServerError(where + ": " + severity + " " + code + ": " + message, code);
    }

    private interface Io<T> {
        T run() throws IOException;
    }

    /** Blocking channel reads cannot time out on their own: a watchdog closes the channel at the deadline. */
    private <T> T guarded(Io<T> action) throws IOException {
        ScheduledFuture<?> alarm = WATCHDOG.schedule(
                () -> {
                    try {
                        channel.close();
                    } catch (IOException e) {
                        // Closing is best effort; the blocked call fails either way.
                    }
                },
                timeout.toMillis(),
                TimeUnit.MILLISECONDS);
        try {
            return action.run();
        } catch (AsynchronousCloseException e) {
            throw new IOException(where + ": no answer within " + timeout.toSeconds() + " s", e);
        } finally {
            alarm.cancel(false);
        }
    }
}
