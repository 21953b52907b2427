package dev.pggat.pooler.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TCP relay that sends each new connection to the next target in turn, as a Kubernetes Service spreads
 * connections over its pods. With two targets, a client's session lands on the first and its cancel connection on
 * the second.
 */
public final class RoundRobinRelay implements AutoCloseable {
    private final ServerSocket server;
    private final List<InetSocketAddress> targets;
    private final AtomicInteger next = new AtomicInteger();
    private final List<Socket> open = new CopyOnWriteArrayList<>();

    public RoundRobinRelay(List<InetSocketAddress> targets) throws IOException {
        this(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), targets);
    }

    /** Listening on {@code bind}, e.g. another loopback address (127.0.0.2) at a port shared with other relays. */
    public RoundRobinRelay(InetSocketAddress bind, List<InetSocketAddress> targets) throws IOException {
        this.targets = List.copyOf(targets);
        this.server = new ServerSocket(bind.getPort(), 50, bind.getAddress());
        Thread accept = new Thread(this::acceptLoop, "relay-accept");
        accept.setDaemon(true);
        accept.start();
    }

    public int port() {
        return server.getLocalPort();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                InetSocketAddress target = targets.get(Math.floorMod(next.getAndIncrement(), targets.size()));
                Socket upstream = new Socket(target.getAddress(), target.getPort());
                open.add(client);
                open.add(upstream);
                pump(client, upstream);
                pump(upstream, client);
            } catch (IOException e) {
                // closed, or a target refused: the client sees its connection close
            }
        }
    }

    private static void pump(Socket from, Socket to) {
        Thread t = new Thread(
                () -> {
                    byte[] buf = new byte[8192];
                    try (InputStream in = from.getInputStream();
                            OutputStream out = to.getOutputStream()) {
                        int n;
                        while ((n = in.read(buf)) >= 0) {
                            out.write(buf, 0, n);
                            out.flush();
                        }
                    } catch (IOException e) {
                        // one side went away
                    } finally {
                        try {
                            to.shutdownOutput();
                        } catch (IOException e) {
                            // already closed
                        }
                    }
                },
                "relay-pump");
        t.setDaemon(true);
        t.start();
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket s : open) {
            s.close();
        }
    }
}
