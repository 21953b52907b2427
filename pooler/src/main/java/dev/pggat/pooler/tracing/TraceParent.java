package dev.pggat.pooler.tracing;

import dev.pggat.pooler.sql.Utf8Text;
import io.netty.buffer.ByteBuf;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import java.util.List;

/**
 * Finds the application's W3C trace context where a client can put it without a protocol change: in a SQL comment
 * of the sqlcommenter form ({@code /*traceparent='00-...-01',tracestate='...'*}{@code /}) at the start or the end
 * of the first statement, or in the startup parameter application_name. The value is checked by OpenTelemetry's
 * W3C propagator (version, lengths, lower-case hex, no all-zero ids); anything malformed is ignored, never an error
 * for the client. Only the first and last {@link #MAX_COMMENT} bytes of a statement are looked at, so a client
 * cannot make the pooler scan a large text.
 */
public final class TraceParent {
    /** Longest comment looked at: a traceparent (55 characters) and a tracestate of reasonable size. */
    static final int MAX_COMMENT = 640;
    /** W3C allows at most 32 list members of up to 256 characters; the pooler takes a shorter tracestate. */
    static final int MAX_TRACESTATE = 512;

    private static final String TRACEPARENT = "traceparent";
    private static final String TRACESTATE = "tracestate";

    private TraceParent() {}

    /** The span context in a sqlcommenter comment of the text [from, to) of {@code buf}, or null. */
    public static SpanContext fromSql(ByteBuf buf, int from, int to) {
        if (from < 0 || to <= from) {
            return null;
        }
        // One char per byte, read in place (the sql package's view); only a found comment is decoded.
        Utf8Text sql = new Utf8Text(buf, from, to);
        int n = sql.length();
        int start = 0;
        while (start < n && isSpace(sql.charAt(start))) {
            start++;
        }
        if (n - start >= 4 && sql.charAt(start) == '/' && sql.charAt(start + 1) == '*') {
            int limit = Math.min(n, start + MAX_COMMENT);
            int close = indexOf(sql, start + 2, limit, '*', '/');
            if (close >= 0) {
                SpanContext c = fromComment(sql.decode(start + 2, close));
                if (c != null) {
                    return c;
                }
            }
        }
        // sqlcommenter's own libraries append the comment, after the statement (and maybe a semicolon).
        int end = n;
        while (end > 0 && (isSpace(sql.charAt(end - 1)) || sql.charAt(end - 1) == ';')) {
            end--;
        }
        if (end >= 4 && sql.charAt(end - 1) == '/' && sql.charAt(end - 2) == '*') {
            int limit = Math.max(0, end - MAX_COMMENT);
            int open = lastIndexOf(sql, limit, end - 2, '/', '*');
            if (open >= 0) {
                return fromComment(sql.decode(open + 2, end - 2));
            }
        }
        return null;
    }

    /**
     * The span context in an application_name: either the traceparent itself, or {@code traceparent='...'} (or
     * {@code traceparent=...}) somewhere in it. Null when there is none or it is malformed.
     */
    public static SpanContext fromApplicationName(String name) {
        if (name == null || name.length() < 55 || name.length() > 256) {
            return null;
        }
        if (name.length() == 55) {
            return validated(name, null);
        }
        int at = name.indexOf(TRACEPARENT + "=");
        if (at < 0) {
            return null;
        }
        int v = at + TRACEPARENT.length() + 1;
        if (v < name.length() && name.charAt(v) == '\'') {
            v++;
        }
        return v + 55 <= name.length() ? validated(name.substring(v, v + 55), null) : null;
    }

    /** key='value' pairs separated by commas, values URL-encoded (sqlcommenter); unknown keys are ignored. */
    static SpanContext fromComment(String comment) {
        String parent = null;
        String state = null;
        for (String pair : comment.split(",", 16)) {
            int eq = pair.indexOf('=');
            if (eq < 0) {
                continue;
            }
            String key = pair.substring(0, eq).trim();
            String value = pair.substring(eq + 1).trim();
            if (value.length() < 2 || value.charAt(0) != '\'' || value.charAt(value.length() - 1) != '\'') {
                continue;
            }
            value = value.substring(1, value.length() - 1);
            if (TRACEPARENT.equals(key)) {
                parent = value;
            } else if (TRACESTATE.equals(key) && value.length() <= MAX_TRACESTATE * 3) {
                state = percentDecoded(value);
            }
        }
        return parent == null ? null : validated(parent, state);
    }

    private static final TextMapGetter<String[]> GETTER = new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(String[] carrier) {
            return List.of(TRACEPARENT, TRACESTATE);
        }

        @Override
        public String get(String[] carrier, String key) {
            if (carrier == null) {
                return null;
            }
            return TRACEPARENT.equals(key) ? carrier[0] : TRACESTATE.equals(key) ? carrier[1] : null;
        }
    };

    /** Checked by OpenTelemetry's W3C propagator: a malformed value gives an invalid context, returned as null. */
    static SpanContext validated(String traceparent, String tracestate) {
        if (traceparent.length() != 55 || (tracestate != null && tracestate.length() > MAX_TRACESTATE)) {
            return null;
        }
        Context extracted = W3CTraceContextPropagator.getInstance()
                .extract(Context.root(), new String[] {traceparent, tracestate}, GETTER);
        SpanContext c = Span.fromContext(extracted).getSpanContext();
        return c.isValid() && c.isRemote() ? c : null;
    }

    /** %XX escapes undone; null when an escape is malformed or the result is not ASCII (tracestate is ASCII). */
    private static String percentDecoded(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '%') {
                if (i + 2 >= s.length()) {
                    return null;
                }
                int hi = Character.digit(s.charAt(i + 1), 16);
                int lo = Character.digit(s.charAt(i + 2), 16);
                if (hi < 0 || lo < 0 || hi > 7) {
                    return null;
                }
                out.append((char) (hi * 16 + lo));
                i += 2;
            } else if (c > 0x7e || c < 0x20) {
                return null;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static boolean isSpace(char b) {
        return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f';
    }

    private static int indexOf(CharSequence s, int from, int to, char a, char b) {
        for (int i = from; i + 1 < to; i++) {
            if (s.charAt(i) == a && s.charAt(i + 1) == b) {
                return i;
            }
        }
        return -1;
    }

    private static int lastIndexOf(CharSequence s, int from, int to, char a, char b) {
        for (int i = to - 2; i >= from; i--) {
            if (s.charAt(i) == a && s.charAt(i + 1) == b) {
                return i;
            }
        }
        return -1;
    }
}
