"""Prints the result layout of admin-console commands, one line per column:
COMMAND<TAB>position<TAB>name<TAB>type OID<TAB>type name.

The console answers the simple query protocol only: psycopg's client-side-binding cursor sends plain Query messages.
Usage: python3 console_layout.py CONNINFO COMMAND...
"""
import sys

import psycopg

# The types a console result uses; anything else is printed by OID alone.
TYPE_NAMES = {16: "bool", 20: "int8", 21: "int2", 23: "int4", 25: "text", 700: "float4", 701: "float8",
              1043: "varchar", 1114: "timestamp", 1184: "timestamptz", 869: "inet", 19: "name", 18: "char"}


def main():
    conninfo, commands = sys.argv[1], sys.argv[2:]
    with psycopg.connect(conninfo, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        for command in commands:
            try:
                cur = conn.execute(command)
            except psycopg.Error as e:
                print(f"{command}\t-\tERROR {e.sqlstate}\t-\t{str(e).strip()}")
                continue
            if cur.description is None:
                print(f"{command}\t-\t(no result set)\t-\t{cur.statusmessage}")
                continue
            for i, col in enumerate(cur.description, 1):
                print(f"{command}\t{i}\t{col.name}\t{col.type_code}\t{TYPE_NAMES.get(col.type_code, '?')}")


if __name__ == "__main__":
    main()
