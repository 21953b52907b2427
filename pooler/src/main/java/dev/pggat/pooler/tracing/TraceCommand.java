package dev.pggat.pooler.tracing;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The words after TRACE, the same on the console and in the admin endpoint's POST /trace:
 *
 * <pre>
 * CLIENT &lt;id | host | host:port&gt; | USER &lt;name&gt; | DATABASE &lt;name&gt;
 *     [FOR &lt;n&gt; MESSAGES] [FOR &lt;n&gt;s | FOR &lt;n&gt; SECONDS] [WITH VALUES] [TO FILE '&lt;path&gt;']
 * OFF [&lt;trace id&gt;]
 * </pre>
 *
 * @param spec the trace to start, or null for OFF
 * @param off the trace to stop with OFF (null: all)
 */
public record TraceCommand(PacketTrace.Spec spec, Integer off) {
    private static final Pattern START =
            Pattern.compile("(?is)(CLIENT|USER|DATABASE)\\s+(\"[^\"]{1,256}\"|[^\\s\"']{1,256})"
                    + "((?:\\s+FOR\\s+[0-9]{1,9}\\s*(?:MESSAGES|S|SECONDS))*)"
                    + "(\\s+WITH\\s+VALUES)?"
                    + "(?:\\s+TO\\s+FILE\\s+'([^'\\x00]{1,4096})')?");
    private static final Pattern BOUND = Pattern.compile("(?i)FOR\\s+([0-9]{1,9})\\s*(MESSAGES|S|SECONDS)");
    private static final Pattern OFF = Pattern.compile("(?i)OFF(?:\\s+([0-9]{1,9}))?");
    private static final Pattern HOST = Pattern.compile("[0-9A-Fa-f:.\\[\\]]+");

    /** IllegalArgumentException with the accepted forms when {@code words} is none of them. */
    public static TraceCommand parse(String words) {
        String w = words == null ? "" : words.strip();
        Matcher off = OFF.matcher(w);
        if (off.matches()) {
            return new TraceCommand(null, off.group(1) == null ? null : Integer.valueOf(off.group(1)));
        }
        Matcher m = START.matcher(w);
        if (!m.matches()) {
            throw new IllegalArgumentException("use TRACE CLIENT <id|address> | USER <name> | DATABASE <name>"
                    + " [FOR <n> MESSAGES] [FOR <n>s] [WITH VALUES] [TO FILE '<path>'], or TRACE OFF [<id>]");
        }
        String target = m.group(2);
        if (target.startsWith("\"")) {
            target = target.substring(1, target.length() - 1);
        }
        PacketTrace.Kind kind = PacketTrace.Kind.valueOf(m.group(1).toUpperCase(Locale.ROOT));
        if (kind == PacketTrace.Kind.CLIENT && !target.matches("[0-9]{1,9}")) {
            if (!HOST.matcher(target).matches()) {
                throw new IllegalArgumentException("TRACE CLIENT takes a client id (SHOW CLIENTS) or an IP address,"
                        + " optionally with :port: " + target);
            }
            kind = PacketTrace.Kind.ADDRESS;
        }
        Long messages = null;
        Duration duration = null;
        Matcher b = BOUND.matcher(m.group(3));
        while (b.find()) {
            long n = Long.parseLong(b.group(1));
            if (b.group(2).equalsIgnoreCase("MESSAGES")) {
                messages = n;
            } else {
                duration = Duration.ofSeconds(n);
            }
        }
        Path file = m.group(5) == null ? null : Path.of(m.group(5));
        return new TraceCommand(new PacketTrace.Spec(kind, target, messages, duration, m.group(4) != null, file), null);
    }
}
