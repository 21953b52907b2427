import java.net.InetAddress;
import java.net.ServerSocket;

/** Prints a TCP port that is free on 127.0.0.1 right now (build-runtime.sh's training start listens on it). */
public class FreePort {
    public static void main(String[] args) throws Exception {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            System.out.println(socket.getLocalPort());
        }
    }
}
