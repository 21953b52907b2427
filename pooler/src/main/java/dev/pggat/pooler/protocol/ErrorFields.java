package dev.pggat.pooler.protocol;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;

/** The fields of an ErrorResponse or NoticeResponse that the pooler acts on or logs. */
public record ErrorFields(String severity, String sqlState, String message) {

    public static ErrorFields parse(ByteBuf frame) {
        String severity = null;
        String code = null;
        String message = null;
        int pos = Frames.bodyStart(frame);
        int end = frame.writerIndex();
        while (pos < end) {
            byte field = frame.getByte(pos++);
            if (field == 0) {
                break;
            }
            int valueEnd = frame.indexOf(pos, end, (byte) 0);
            if (valueEnd < 0) {
                break;
            }
            String value = frame.toString(pos, valueEnd - pos, StandardCharsets.UTF_8);
            switch (field) {
                case 'V' -> severity = value;
                case 'S' -> {
                    if (severity == null) {
                        severity = value;
                    }
                }
                case 'C' -> code = value;
                case 'M' -> message = value;
                default -> {}
            }
            pos = valueEnd + 1;
        }
        return new ErrorFields(severity, code, message);
    }

    /**
     * The class of the SQLSTATE (its first two characters, as {@code first << 8 | second}), found without copying
     * the message; -1 when there is none.
     */
    public static int sqlStateClass(ByteBuf frame) {
        int pos = Views.body(frame);
        int end = Views.end(frame);
        while (pos < end) {
            byte field = frame.getByte(pos);
            if (field == 0) {
                return -1;
            }
            if (field == 'C' && pos + 2 < end) {
                return (frame.getByte(pos + 1) & 0xFF) << 8 | (frame.getByte(pos + 2) & 0xFF);
            }
            int zero = frame.indexOf(pos + 1, end, (byte) 0);
            if (zero < 0) {
                return -1;
            }
            pos = zero + 1;
        }
        return -1;
    }

    @Override
    public String toString() {
        return severity + " " + sqlState + " " + message;
    }
}
