"""Scenarios for psycopg 3, run by the pggat conformance tests against PostgreSQL and through pggat.

Usage: python3 psycopg_scenarios.py SCENARIO. The target comes from libpq's PG* environment variables. Every
line printed is an observation that must be the same on every target; errors print as "ERROR <sqlstate>".
Tables are created by the caller.
"""

import select
import sys
import time

import psycopg


def connect(**kwargs):
    return psycopg.connect("", autocommit=True, **kwargs)


def attempt(action):
    try:
        return action()
    except psycopg.Error as e:
        return f"ERROR {e.sqlstate}"


def rows(cur):
    return repr(cur.fetchall())


def basics():
    """Unnamed statements only (prepare_threshold=None): what transaction mode supports today."""
    with connect(prepare_threshold=None) as c:
        print(attempt(lambda: rows(c.execute(
            "SELECT 1 + 1, 'x' || 'y', NULL::int, 1.50::numeric(4,2), ARRAY[1,2], '\\x0102'::bytea"))))
        print(attempt(lambda: rows(c.execute("SELECT %s::int * 10, %s, %s::bytea", (7, "sev'en", b"\x00\x01")))))
        print(attempt(lambda: rows(c.execute("SELECT 1/0"))))
        print(attempt(lambda: rows(c.execute("SELEC 1"))))
        print(attempt(lambda: rows(c.execute("SELECT 'after errors'"))))

        def transaction():
            with c.transaction():
                c.execute("INSERT INTO conf_psycopg VALUES (1, 'kept')")
                try:
                    with c.transaction():
                        c.execute("INSERT INTO conf_psycopg VALUES (1, 'duplicate')")
                except psycopg.errors.UniqueViolation as e:
                    print("savepoint rolled back after", e.sqlstate)
                c.execute("INSERT INTO conf_psycopg VALUES (2, 'after savepoint')")
            return "committed"

        print(attempt(transaction))

        def rolled_back():
            with c.transaction():
                c.execute("INSERT INTO conf_psycopg VALUES (3, 'rolled back')")
                c.execute("SELECT 1/0")
            return "not reached"

        print(attempt(rolled_back))
        with c.cursor() as cur:
            cur.executemany("INSERT INTO conf_psycopg VALUES (%s, %s)", [(i, f"many {i}") for i in range(10, 20)])
            print("executemany rowcount", cur.rowcount)
            with cur.copy("COPY conf_psycopg (id, note) FROM STDIN") as copy:
                for i in range(100, 110):
                    copy.write_row((i, f"copied {i}"))
            print("copy in rowcount", cur.rowcount)
            with cur.copy("COPY (SELECT id, note FROM conf_psycopg WHERE id >= 100 ORDER BY id) TO STDOUT") as copy:
                print("copy out", list(copy.rows()))

        def failed_copy():
            with c.cursor() as cur:
                with cur.copy("COPY conf_psycopg (id, note) FROM STDIN") as copy:
                    copy.write_row((200, "ok"))
                    copy.write_row((100, "duplicate"))
            return "no error"

        print("failing copy:", attempt(failed_copy))
        with c.pipeline():
            cursors = [c.execute("SELECT %s::int * 2", (i,)) for i in range(5)]
        print("pipeline", [cur.fetchone()[0] for cur in cursors])
        with c.transaction():
            with c.cursor(name="conf_server_cursor") as cur:
                cur.execute("SELECT id FROM conf_psycopg ORDER BY id")
                print("server-side cursor", cur.fetchmany(3), cur.fetchmany(3))
        print(rows(c.execute("SELECT id, note FROM conf_psycopg WHERE id < 100 ORDER BY id")))


def prepared():
    """Every statement named and prepared at its first execution, two clients taking turns."""
    with connect(prepare_threshold=0) as a, connect(prepare_threshold=0) as b:
        for rep in range(3):
            line = []
            for i in range(30):
                for c, stmt in ((a, i), (b, 29 - i)):
                    line.append(str(attempt(lambda: c.execute(
                        "SELECT %s::int * 100 + " + str(stmt), (rep,)).fetchone()[0])))
            print(f"rep {rep}:", ",".join(line))
        with a.cursor() as cur:
            print("executemany", attempt(lambda: cur.executemany(
                "INSERT INTO conf_psycopg VALUES (%s, %s)", [(i, "prepared") for i in range(300, 320)]) or "done"))
        print(attempt(lambda: rows(b.execute("SELECT count(*) FROM conf_psycopg WHERE id >= 300"))))


def ddl():
    """A statement prepared once and executed while another client changes its result type."""
    with connect(prepare_threshold=0) as c, connect(prepare_threshold=None) as ddl_client, \
            connect(prepare_threshold=None) as holder:
        query = "SELECT * FROM conf_psycopg_ddl WHERE id = %s"
        steps = ["", "ALTER TABLE conf_psycopg_ddl ALTER COLUMN v TYPE text USING v || '!'",
                 "ALTER TABLE conf_psycopg_ddl ADD COLUMN w int DEFAULT 7", "ALTER TABLE conf_psycopg_ddl DROP COLUMN v"]
        for step in steps:
            if step:
                print(step, attempt(lambda: ddl_client.execute(step) and "done"))
            for i in range(3):
                if i == 1:
                    # In transaction mode the holder takes the server c just used, so c runs elsewhere.
                    holder.autocommit = False
                    holder.execute("SELECT 'holding'")
                print(attempt(lambda: rows(c.execute(query, (1,)))))
                if i == 1:
                    holder.commit()
                    holder.autocommit = True


def notifications(conn, received, n, timeout):
    """Up to n notifications within timeout seconds: those psycopg already read during a command (handed to
    the notify handler that fills `received`), then whatever arrives on the idle socket."""
    deadline = time.monotonic() + timeout
    while len(received) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        select.select([conn.pgconn.socket], [], [], left)
        conn.pgconn.consume_input()
        while (pgn := conn.pgconn.notifies()) is not None:
            received.append(f"{pgn.relname.decode()}:{pgn.extra.decode()}")
    got = received[:n]
    del received[:n]
    return got


def listen():
    """LISTEN and UNLISTEN sent with the extended protocol (libpq's PQsendQueryParams), NOTIFY from another
    client; a notification sent while the listener is inside a transaction arrives at its end."""
    with connect() as listener, connect() as notifier:
        received = []
        listener.add_notify_handler(lambda n: received.append(f"{n.channel}:{n.payload}"))
        print("listen", attempt(lambda: listener.execute("LISTEN conf_psycopg_channel").statusmessage))
        print("listen", attempt(lambda: listener.execute('LISTEN "Conf_Psycopg_Quoted"').statusmessage))
        notifier.execute("NOTIFY conf_psycopg_channel, 'one'")
        notifier.execute("SELECT pg_notify(%s, %s)", ("Conf_Psycopg_Quoted", "two"))
        print("received", notifications(listener, received, 2, 5))
        with listener.transaction():
            listener.execute("SELECT 1")
            notifier.execute("NOTIFY conf_psycopg_channel, 'during transaction'")
            time.sleep(0.3)
            listener.execute("SELECT 2")
            print("received in transaction", list(received))
        print("received after commit", notifications(listener, received, 1, 5))
        print("unlisten", attempt(lambda: listener.execute("UNLISTEN conf_psycopg_channel").statusmessage))
        notifier.execute("NOTIFY conf_psycopg_channel, 'unlistened'")
        notifier.execute("NOTIFY \"Conf_Psycopg_Quoted\", 'still listened'")
        print("received", notifications(listener, received, 2, 1))
        print("unlisten", attempt(lambda: listener.execute("UNLISTEN *").statusmessage))
        notifier.execute("NOTIFY \"Conf_Psycopg_Quoted\", 'after unlisten *'")
        print("received after unlisten *", notifications(listener, received, 1, 0.5))


SCENARIOS = {"basics": basics, "prepared": prepared, "ddl": ddl, "listen": listen}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
