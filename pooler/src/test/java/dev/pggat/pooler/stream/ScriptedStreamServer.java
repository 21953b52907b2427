package dev.pggat.pooler.stream;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real HTTP server speaking the stream protocol, driven line by line by the test: each accepted request gets
 * the lines the test queues, the newest connection taking them. Records the request headers (lower-cased names)
 * of every connection.
 */
final class ScriptedStreamServer implements AutoCloseable {
    static final String PATH = StreamProtocol.path("shop", "orders");

    final HttpServer server;
    final List<Map<String, List<String>>> requests = new CopyOnWriteArrayList<>();
    final BlockingQueue<Object> script = new LinkedBlockingQueue<>();
    private final AtomicInteger generation = new AtomicInteger();
    volatile int status = 200;
    /** When positive, refusals carry a body of this many bytes instead of "refused". */
    volatile long errorBodyBytes;
    /** Refusal bodies that went out whole, and those the client cut short. */
    final AtomicInteger errorBodiesWritten = new AtomicInteger();

    final AtomicInteger errorBodiesCut = new AtomicInteger();

    /** Queued to end the current response. */
    static final Object END = new Object();

    ScriptedStreamServer(int port) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 0);
        server.setExecutor(Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "scripted-stream");
            t.setDaemon(true);
            return t;
        }));
        server.createContext(PATH, this::handle);
        server.start();
    }

    int port() {
        return server.getAddress().getPort();
    }

    URI url() {
        return URI.create("http://127.0.0.1:" + port() + PATH);
    }

    void send(String line) {
        script.add(line);
    }

    void endResponse() {
        script.add(END);
    }

    private void handle(HttpExchange ex) throws IOException {
        Map<String, List<String>> headers = new HashMap<>();
        ex.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(Locale.ROOT), List.copyOf(v)));
        requests.add(headers);
        int mine = generation.incrementAndGet();
        int s = status;
        if (s != 200 && errorBodyBytes > 0) {
            ex.sendResponseHeaders(s, errorBodyBytes);
            byte[] block = new byte[65536];
            java.util.Arrays.fill(block, (byte) 'x');
            try (OutputStream out = ex.getResponseBody()) {
                for (long left = errorBodyBytes; left > 0; left -= block.length) {
                    out.write(block, 0, (int) Math.min(block.length, left));
                }
                errorBodiesWritten.incrementAndGet();
            } catch (IOException e) {
                errorBodiesCut.incrementAndGet();
            }
            return;
        }
        if (s != 200) {
            byte[] body = "refused".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(s, body.length);
            ex.getResponseBody().write(body);
            ex.close();
            return;
        }
        ex.getResponseHeaders().set("Content-Type", StreamProtocol.CONTENT_TYPE);
        ex.sendResponseHeaders(200, 0);
        try (OutputStream out = ex.getResponseBody()) {
            // The headers go out now, not with the first line: the client's timeout covers only them.
            out.flush();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (System.nanoTime() < deadline) {
                // Only the newest connection takes lines, so a line meant for it never goes to one the client left.
                if (generation.get() != mine) {
                    return;
                }
                if (script.peek() == null) {
                    Thread.sleep(10);
                    continue;
                }
                Object next = script.poll();
                if (next == END) {
                    return;
                }
                out.write(((String) next).getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            // the client went away
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
