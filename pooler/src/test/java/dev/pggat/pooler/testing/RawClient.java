package dev.pggat.pooler.testing;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A protocol-level client for tests that need exact bytes: no driver between the test and the pooler. */
public final class RawClient implements AutoCloseable {
    public final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;

    /** One backend message: its type and body (without the length). */
    public record Msg(char type, byte[] body) {
        public String text() {
            return new String(body, StandardCharsets.UTF_8);
        }

        /** A field (e.g. 'C' for SQLSTATE, 'M' for message) of an ErrorResponse/NoticeResponse. */
        public String field(char code) {
            int i = 0;
            while (i < body.length && body[i] != 0) {
                char f = (char) body[i++];
                int end = i;
                while (body[end] != 0) {
                    end++;
                }
                if (f == code) {
                    return new String(body, i, end - i, StandardCharsets.UTF_8);
                }
                i = end + 1;
            }
            return null;
        }

        public int authCode() {
            return ByteBuffer.wrap(body).getInt();
        }
    }

    public RawClient(String host, int port) throws IOException {
        socket = new Socket(host, port);
        // Only stops a test that would otherwise hang; a busy machine must never come near it.
        socket.setSoTimeout(30_000);
        in = new DataInputStream(socket.getInputStream());
        out = socket.getOutputStream();
    }

    public RawClient send(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
        return this;
    }

    public static byte[] startup(int version, Map<String, String> params) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (Map.Entry<String, String> e : params.entrySet()) {
            body.writeBytes(e.getKey().getBytes(StandardCharsets.UTF_8));
            body.write(0);
            body.writeBytes(e.getValue().getBytes(StandardCharsets.UTF_8));
            body.write(0);
        }
        body.write(0);
        byte[] b = body.toByteArray();
        return ByteBuffer.allocate(8 + b.length)
                .putInt(8 + b.length)
                .putInt(version)
                .put(b)
                .array();
    }

    public static byte[] message(char type, byte[] body) {
        return ByteBuffer.allocate(5 + body.length)
                .put((byte) type)
                .putInt(4 + body.length)
                .put(body)
                .array();
    }

    public static byte[] query(String sql) {
        byte[] s = sql.getBytes(StandardCharsets.UTF_8);
        byte[] body = new byte[s.length + 1];
        System.arraycopy(s, 0, body, 0, s.length);
        return message('Q', body);
    }

    public static byte[] password(String pw) {
        byte[] s = pw.getBytes(StandardCharsets.UTF_8);
        byte[] body = new byte[s.length + 1];
        System.arraycopy(s, 0, body, 0, s.length);
        return message('p', body);
    }

    public Msg read() throws IOException {
        char type = (char) in.readUnsignedByte();
        int len = in.readInt();
        byte[] body = new byte[len - 4];
        in.readFully(body);
        return new Msg(type, body);
    }

    /** Reads messages up to and including ReadyForQuery (or until the server closes). */
    public List<Msg> readUntilReady() throws IOException {
        List<Msg> msgs = new ArrayList<>();
        while (true) {
            Msg m;
            try {
                m = read();
            } catch (EOFException e) {
                return msgs;
            }
            msgs.add(m);
            if (m.type() == 'Z') {
                return msgs;
            }
        }
    }

    /** Logs in as a trust or cleartext user; returns the messages up to ReadyForQuery. */
    public List<Msg> login(String user, String database, String cleartextPassword) throws IOException {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("user", user);
        p.put("database", database);
        send(startup(196608, p));
        List<Msg> msgs = new ArrayList<>();
        Msg first = read();
        msgs.add(first);
        if (first.type() == 'R' && first.authCode() == 3) {
            send(password(cleartextPassword));
        }
        msgs.addAll(readUntilReady());
        return msgs;
    }

    /** True when the server closed the connection (EOF) within the socket timeout. */
    public boolean closedByServer() throws IOException {
        try {
            while (true) {
                if (in.read() < 0) {
                    return true;
                }
            }
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // reset
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
