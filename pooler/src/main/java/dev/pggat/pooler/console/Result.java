package dev.pggat.pooler.console;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A console command's rows, written as PostgreSQL's simple query protocol answers a SELECT: RowDescription, one
 * DataRow per row (text format), CommandComplete. Values are Strings, numbers or null; a number in an INT4 column is
 * clamped to the int4 range so that a client's parser never fails on it.
 */
final class Result {
    private final List<Column> columns;
    private final List<Object[]> rows = new ArrayList<>();

    Result(List<Column> columns) {
        this.columns = columns;
    }

    Result row(Object... values) {
        if (values.length != columns.size()) {
            throw new IllegalArgumentException("row of " + values.length + " values for " + columns.size()
                    + " columns: " + Arrays.toString(values));
        }
        rows.add(values);
        return this;
    }

    List<Column> columns() {
        return columns;
    }

    int size() {
        return rows.size();
    }

    /** Writes the whole answer but ReadyForQuery; {@code tag} is the CommandComplete tag (SHOW). */
    ByteBuf encode(ByteBufAllocator alloc, String tag) {
        ByteBuf buf = alloc.buffer(256);
        int start = buf.writerIndex();
        buf.writeByte('T').writeInt(0).writeShort(columns.size());
        for (Column c : columns) {
            ByteBufUtil.writeUtf8(buf, c.name());
            buf.writeByte(0)
                    .writeInt(0)
                    .writeShort(0)
                    .writeInt(c.type().oid)
                    .writeShort(c.type().size)
                    .writeInt(-1)
                    .writeShort(0);
        }
        buf.setInt(start + 1, buf.writerIndex() - start - 1);
        for (Object[] row : rows) {
            int at = buf.writerIndex();
            buf.writeByte('D').writeInt(0).writeShort(row.length);
            for (int i = 0; i < row.length; i++) {
                String text = text(row[i], columns.get(i).type());
                if (text == null) {
                    buf.writeInt(-1);
                } else {
                    int lenAt = buf.writerIndex();
                    buf.writeInt(0);
                    int n = ByteBufUtil.writeUtf8(buf, text);
                    buf.setInt(lenAt, n);
                }
            }
            buf.setInt(at + 1, buf.writerIndex() - at - 1);
        }
        commandComplete(buf, tag);
        return buf;
    }

    static void commandComplete(ByteBuf buf, String tag) {
        int at = buf.writerIndex();
        buf.writeByte('C').writeInt(0);
        ByteBufUtil.writeUtf8(buf, tag);
        buf.writeByte(0);
        buf.setInt(at + 1, buf.writerIndex() - at - 1);
    }

    private static String text(Object v, Column.Type type) {
        if (v == null) {
            return null;
        }
        if (type == Column.Type.INT4 && v instanceof Number n) {
            long l = n.longValue();
            return Long.toString(Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, l)));
        }
        if (v instanceof Boolean b) {
            return b ? "1" : "0";
        }
        return v.toString();
    }
}
