package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * One line per protocol message for packet traces: direction, type, length, and what helps debugging without
 * exposing secrets. Password, SASL and GSS messages show their length only, an authentication request its kind, a
 * cancel key is masked, rows and COPY data show their length; SQL of Query and Parse is shown (escaped, cut at
 * {@value #MAX_SQL} characters), Bind parameter values only when the trace asked for them. Every read is checked
 * against the message's end; a message that does not parse is shown as malformed.
 */
public final class PacketFormat {
    public static final String CLIENT_TO_POOLER = "client->pooler";
    public static final String POOLER_TO_SERVER = "pooler->server";
    public static final String SERVER_TO_POOLER = "server->pooler";
    public static final String POOLER_TO_CLIENT = "pooler->client";

    static final int MAX_SQL = 2048;
    static final int MAX_VALUE = 256;
    static final int MAX_VALUES = 32;

    private PacketFormat() {}

    /** The message at {@code pos} (type byte, length, body), known to lie within {@code b}. */
    public static String describe(ByteBuf b, int pos, String direction, boolean withValues) {
        byte type = b.getByte(pos);
        int len = b.getInt(pos + 1);
        int body = pos + 5;
        int end = pos + 1 + len;
        boolean frontend = direction == CLIENT_TO_POOLER || direction == POOLER_TO_SERVER;
        String name = frontend ? frontendName(type) : backendName(type);
        StringBuilder sb = new StringBuilder(64).append(name).append(" '");
        if (type >= 0x20 && type < 0x7f) {
            sb.append((char) type);
        } else {
            sb.append("\\x").append(Integer.toHexString(type & 0xff));
        }
        sb.append("' len=").append(len);
        try {
            if (frontend) {
                frontendDetail(sb, b, type, body, end, withValues);
            } else {
                backendDetail(sb, b, type, body, end);
            }
        } catch (IndexOutOfBoundsException | IllegalArgumentException e) {
            sb.append(" (malformed)");
        }
        return sb.toString();
    }

    private static String frontendName(byte type) {
        return switch (type) {
            case 'Q' -> "Query";
            case 'P' -> "Parse";
            case 'B' -> "Bind";
            case 'E' -> "Execute";
            case 'S' -> "Sync";
            case 'D' -> "Describe";
            case 'C' -> "Close";
            case 'H' -> "Flush";
            case 'X' -> "Terminate";
            case 'p' -> "PasswordMessage/SASLResponse";
            case 'd' -> "CopyData";
            case 'c' -> "CopyDone";
            case 'f' -> "CopyFail";
            case 'F' -> "FunctionCall";
            default -> "Unknown";
        };
    }

    private static String backendName(byte type) {
        return switch (type) {
            case 'R' -> "Authentication";
            case 'K' -> "BackendKeyData";
            case 'S' -> "ParameterStatus";
            case 'Z' -> "ReadyForQuery";
            case 'T' -> "RowDescription";
            case 'D' -> "DataRow";
            case 'C' -> "CommandComplete";
            case 'E' -> "ErrorResponse";
            case 'N' -> "NoticeResponse";
            case 'A' -> "NotificationResponse";
            case '1' -> "ParseComplete";
            case '2' -> "BindComplete";
            case '3' -> "CloseComplete";
            case 'n' -> "NoData";
            case 's' -> "PortalSuspended";
            case 't' -> "ParameterDescription";
            case 'I' -> "EmptyQueryResponse";
            case 'G' -> "CopyInResponse";
            case 'H' -> "CopyOutResponse";
            case 'W' -> "CopyBothResponse";
            case 'd' -> "CopyData";
            case 'c' -> "CopyDone";
            case 'V' -> "FunctionCallResponse";
            case 'v' -> "NegotiateProtocolVersion";
            default -> "Unknown";
        };
    }

    private static void frontendDetail(StringBuilder sb, ByteBuf b, byte type, int pos, int end, boolean values) {
        switch (type) {
            case 'Q' ->
                sb.append(" sql=\"")
                        .append(sql(b, pos, cstringEnd(b, pos, end)))
                        .append('"');
            case 'P' -> {
                int nameEnd = cstringEnd(b, pos, end);
                int sqlEnd = cstringEnd(b, nameEnd + 1, end);
                sb.append(" statement=\"").append(sql(b, pos, nameEnd)).append("\" sql=\"");
                sb.append(sql(b, nameEnd + 1, sqlEnd)).append('"');
            }
            case 'B' -> bind(sb, b, pos, end, values);
            case 'E' -> {
                int portalEnd = cstringEnd(b, pos, end);
                sb.append(" portal=\"").append(sql(b, pos, portalEnd)).append("\" maxRows=");
                sb.append(b.getInt(portalEnd + 1));
            }
            case 'D', 'C' ->
                sb.append(' ')
                        .append((char) b.getByte(pos))
                        .append(" name=\"")
                        .append(sql(b, pos + 1, cstringEnd(b, pos + 1, end)))
                        .append('"');
            case 'p' -> sb.append(" (body not shown)");
            case 'F' -> {
                if (!values) {
                    sb.append(" (arguments not shown)");
                }
            }
            default -> {}
        }
    }

    private static void bind(StringBuilder sb, ByteBuf b, int pos, int end, boolean values) {
        int portalEnd = cstringEnd(b, pos, end);
        int stmtEnd = cstringEnd(b, portalEnd + 1, end);
        sb.append(" portal=\"").append(sql(b, pos, portalEnd)).append("\" statement=\"");
        sb.append(sql(b, portalEnd + 1, stmtEnd)).append('"');
        int at = stmtEnd + 1;
        int formats = b.getUnsignedShort(at);
        int formatsAt = at + 2;
        at = formatsAt + 2 * formats;
        int params = b.getUnsignedShort(at);
        at += 2;
        sb.append(" parameters=").append(params);
        if (!values) {
            return;
        }
        sb.append(" values=[");
        for (int i = 0; i < params && i < MAX_VALUES; i++) {
            int n = b.getInt(at);
            at += 4;
            if (i > 0) {
                sb.append(", ");
            }
            int format = formats == 0 ? 0 : b.getUnsignedShort(formatsAt + 2 * (formats == 1 ? 0 : i));
            if (n < 0) {
                sb.append("NULL");
                continue;
            }
            if (n > end - at) {
                throw new IndexOutOfBoundsException();
            }
            if (format == 0) {
                sb.append('\'')
                        .append(sql(b, at, at + Math.min(n, MAX_VALUE * 4), MAX_VALUE))
                        .append('\'');
            } else {
                sb.append("<binary ").append(n).append(" bytes>");
            }
            at += n;
        }
        if (params > MAX_VALUES) {
            sb.append(", ...");
        }
        sb.append(']');
    }

    private static void backendDetail(StringBuilder sb, ByteBuf b, byte type, int pos, int end) {
        switch (type) {
            // The authentication kind only: SASL bodies carry nonces, salts and proofs.
            case 'R' -> sb.append(" kind=").append(b.getInt(pos));
            case 'K' -> sb.append(" pid=").append(b.getInt(pos)).append(" key=<hidden>");
            case 'S' -> {
                int nameEnd = cstringEnd(b, pos, end);
                sb.append(' ').append(sql(b, pos, nameEnd)).append("=\"");
                sb.append(sql(b, nameEnd + 1, cstringEnd(b, nameEnd + 1, end))).append('"');
            }
            case 'Z' -> sb.append(" status=").append((char) b.getByte(pos));
            case 'C' ->
                sb.append(" tag=\"")
                        .append(sql(b, pos, cstringEnd(b, pos, end)))
                        .append('"');
            case 'E', 'N' -> errorFields(sb, b, pos, end);
            case 'A' -> {
                int channelAt = pos + 4;
                sb.append(" channel=\"")
                        .append(sql(b, channelAt, cstringEnd(b, channelAt, end)))
                        .append('"');
            }
            case 'T' -> sb.append(" fields=").append(b.getUnsignedShort(pos));
            case 'D' -> sb.append(" columns=").append(b.getUnsignedShort(pos));
            default -> {}
        }
    }

    /** Severity, SQLSTATE and message; detail and hint are left out (they may quote row values). */
    private static void errorFields(StringBuilder sb, ByteBuf b, int pos, int end) {
        while (pos < end) {
            byte field = b.getByte(pos);
            if (field == 0) {
                return;
            }
            int valueEnd = cstringEnd(b, pos + 1, end);
            if (field == 'V' || field == 'C' || field == 'M') {
                String key = field == 'V' ? "severity" : field == 'C' ? "sqlstate" : "message";
                sb.append(' ')
                        .append(key)
                        .append("=\"")
                        .append(sql(b, pos + 1, valueEnd))
                        .append('"');
            }
            pos = valueEnd + 1;
        }
    }

    private static int cstringEnd(ByteBuf b, int from, int end) {
        int zero = b.indexOf(from, end, (byte) 0);
        if (zero < 0) {
            throw new IndexOutOfBoundsException("no terminator");
        }
        return zero;
    }

    private static String sql(ByteBuf b, int from, int to) {
        return sql(b, from, Math.min(to, from + MAX_SQL * 4), MAX_SQL);
    }

    private static String sql(ByteBuf b, int from, int to, int maxChars) {
        String s = b.toString(from, to - from, StandardCharsets.UTF_8);
        int n = Math.min(s.length(), maxChars);
        StringBuilder out = new StringBuilder(n + 8);
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '"' -> out.append("\\\"");
                default -> {
                    if (Character.isISOControl(c) || c == '\u2028' || c == '\u2029') {
                        out.append(String.format(java.util.Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return n < s.length() ? out.append("...").toString() : out.toString();
    }

    /** One line per whole message in {@code b} (one or more messages, as read or written), given to {@code out}. */
    public static void describeAll(ByteBuf b, String direction, boolean withValues, Consumer<String> out) {
        int pos = b.readerIndex();
        int end = b.writerIndex();
        while (end - pos >= 5) {
            int len = b.getInt(pos + 1);
            if (len < 4 || len > end - pos - 1) {
                out.accept(direction + " " + (end - pos) + " bytes that do not frame");
                return;
            }
            out.accept(direction + " " + describe(b, pos, direction, withValues));
            pos += 1 + len;
        }
    }
}
