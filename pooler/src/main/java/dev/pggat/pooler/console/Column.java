package dev.pggat.pooler.console;

/** One column of a console result: its name and PostgreSQL type, as the RowDescription announces them. */
record Column(String name, Type type) {
    /** The types console results use, with their OIDs and wire sizes. */
    enum Type {
        TEXT(25, -1),
        INT4(23, 4),
        INT8(20, 8),
        NUMERIC(1700, -1);

        final int oid;
        final int size;

        Type(int oid, int size) {
            this.oid = oid;
            this.size = size;
        }
    }

    static Column text(String name) {
        return new Column(name, Type.TEXT);
    }

    static Column int4(String name) {
        return new Column(name, Type.INT4);
    }

    static Column int8(String name) {
        return new Column(name, Type.INT8);
    }

    static Column numeric(String name) {
        return new Column(name, Type.NUMERIC);
    }
}
