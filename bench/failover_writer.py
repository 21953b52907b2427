#!/usr/bin/env python3
"""One persistent client writing through pggat during the promotion benchmark (bench/run.sh --replicas).

Opens one connection (libpq settings from the environment: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE)
and runs an autocommit INSERT every INTERVAL_MS until it gets SIGTERM or SIGINT. Each attempt's outcome goes to
stdout as one line, flushed at once:

    ok <wall-clock ms when the INSERT returned committed>
    err <wall-clock ms> <SQLSTATE or ->
    reconnect <wall-clock ms>      (the connection was closed; a new one was opened)

Transaction mode keeps the client's connection across the loss of a server (the failed write gets an ERROR),
so in the usual case the same connection writes from the first round to the last: the figure is pggat's
failover, not a client's start-up and login. Wall-clock (CLOCK_REALTIME) milliseconds, as `date +%s%N` gives.
"""

import os
import signal
import sys
import time

import psycopg

INTERVAL_MS = int(sys.argv[1]) if len(sys.argv) > 1 else 10


def now_ms():
    return time.time_ns() // 1_000_000


def connect():
    while True:
        try:
            return psycopg.connect(autocommit=True, connect_timeout=10)
        except psycopg.Error as e:
            print("err %d connect %s" % (now_ms(), type(e).__name__), flush=True)
            time.sleep(INTERVAL_MS / 1000)


STOP = []


def main():
    signal.signal(signal.SIGTERM, lambda *_: STOP.append(1))
    signal.signal(signal.SIGINT, lambda *_: STOP.append(1))
    conn = connect()
    print("ready %d" % now_ms(), flush=True)
    while not STOP:
        started = time.monotonic()
        try:
            conn.execute("INSERT INTO failover_writes DEFAULT VALUES")
            print("ok %d" % now_ms(), flush=True)
        except psycopg.Error as e:
            state = getattr(e, "sqlstate", None) or "-"
            print("err %d %s" % (now_ms(), state), flush=True)
            if conn.closed or conn.broken:
                conn = connect()
                print("reconnect %d" % now_ms(), flush=True)
        left = INTERVAL_MS / 1000 - (time.monotonic() - started)
        if left > 0:
            time.sleep(left)
    conn.close()


if __name__ == "__main__":
    os.environ.setdefault("PGAPPNAME", "failover-writer")
    main()
