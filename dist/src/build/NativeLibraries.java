import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * {@code NativeLibraries JAR LIBDIR ARCH}: moves the jar's bundled native libraries for this machine's architecture
 * (Netty's transport and TLS libraries under META-INF/native/) into LIBDIR, and drops every bundled native library
 * from the jar. Netty loads a library the jar does not carry from java.library.path; one the jar carries is first
 * unpacked into a temporary file on every start, which costs start-up time and needs a writable /tmp.
 */
public class NativeLibraries {
    private static final String PREFIX = "META-INF/native/";

    public static void main(String[] args) throws IOException {
        Path jar = Path.of(args[0]);
        Path libDir = Path.of(args[1]);
        String arch = args[2];
        Files.createDirectories(libDir);
        Path rewritten = jar.resolveSibling(jar.getFileName() + ".tmp");
        int moved = 0;
        int dropped = 0;
        try (ZipInputStream in = new ZipInputStream(Files.newInputStream(jar));
                ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(rewritten))) {
            ZipEntry e;
            while ((e = in.getNextEntry()) != null) {
                String name = e.getName();
                if (name.startsWith(PREFIX) && name.endsWith(".so")) {
                    String file = name.substring(PREFIX.length());
                    if (!file.contains("/") && file.contains("_" + arch + ".")) {
                        Files.copy(in, libDir.resolve(file), StandardCopyOption.REPLACE_EXISTING);
                        moved++;
                    } else {
                        dropped++;
                    }
                    continue;
                }
                ZipEntry copy = new ZipEntry(name);
                copy.setTime(e.getTime());
                out.putNextEntry(copy);
                in.transferTo(out);
                out.closeEntry();
            }
        }
        Files.move(rewritten, jar, StandardCopyOption.REPLACE_EXISTING);
        System.out.println("native libraries: " + moved + " moved to " + libDir + ", " + dropped + " of other platforms dropped");
    }
}
