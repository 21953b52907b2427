"""Scenarios for asyncpg, run by the pggat conformance tests against PostgreSQL and through pggat.

Usage: python3 asyncpg_scenarios.py SCENARIO. The target comes from the PG* environment variables, which asyncpg
reads like libpq. Every line printed is an observation that must be the same on every target; errors print as
"ERROR <sqlstate>". Tables are created by the caller.
"""

import asyncio
import sys

import asyncpg


async def connect(**kwargs):
    return await asyncpg.connect(**kwargs)


async def attempt(awaitable):
    try:
        return await awaitable
    except asyncpg.PostgresError as e:
        return f"ERROR {e.sqlstate}"


def show(records):
    return repr([tuple(r) for r in records]) if isinstance(records, list) else repr(records)


async def busy_client(c, n, offset):
    """n distinct queries, each run twice, checking every answer; returns a summary line."""
    wrong, errors = 0, {}
    for rep in range(2):
        for i in range(n):
            try:
                v = await c.fetchval(f"SELECT $1::int * 1000 + {(i + offset) % n}", rep)
                if v != rep * 1000 + (i + offset) % n:
                    wrong += 1
            except asyncpg.PostgresError as e:
                errors[e.sqlstate] = errors.get(e.sqlstate, 0) + 1
    return f"wrong {wrong} errors {sorted(errors.items())}"


async def concurrent(cache_size):
    conns = [await connect(statement_cache_size=cache_size) for _ in range(4)]
    try:
        results = await asyncio.gather(*(busy_client(c, 50, k * 13) for k, c in enumerate(conns)))
        for k, r in enumerate(results):
            print(f"client {k}: {r}")
    finally:
        for c in conns:
            await c.close()


async def basics(c):
    print(show(await attempt(c.fetch("SELECT 1 + 1 AS two, 'x' || 'y' AS xy, NULL::int AS n, ARRAY[1,2] AS a"))))
    print(show(await attempt(c.fetchrow("SELECT $1::int * 10, $2::text, $3::bytea", 7, "sev'en", b"\x00\x01"))))
    print(await attempt(c.fetch("SELECT 1/0")))
    print(await attempt(c.fetch("SELEC 1")))
    print(show(await attempt(c.fetchval("SELECT 'after errors'"))))

    async def transaction():
        async with c.transaction():
            await c.execute("INSERT INTO conf_asyncpg VALUES (1, 'kept')")
            try:
                async with c.transaction():
                    await c.execute("INSERT INTO conf_asyncpg VALUES (1, 'duplicate')")
            except asyncpg.UniqueViolationError as e:
                print("savepoint rolled back after", e.sqlstate)
            await c.execute("INSERT INTO conf_asyncpg VALUES (2, 'after savepoint')")
        return "committed"

    print(await attempt(transaction()))
    await c.executemany("INSERT INTO conf_asyncpg VALUES ($1, $2)", [(i, f"many {i}") for i in range(10, 20)])
    chunks = []

    async def sink(data):
        chunks.append(bytes(data))

    print("copy out", await attempt(c.copy_from_query(
        "SELECT id, note FROM conf_asyncpg WHERE id < 12 ORDER BY id", output=sink)), b"".join(chunks))
    print(show(await attempt(c.fetch("SELECT id, note FROM conf_asyncpg ORDER BY id"))))


async def copy_records(c):
    # copy_records_to_table looks up the table's columns with a named statement even without a statement cache.
    print("copy in", await attempt(c.copy_records_to_table(
        "conf_asyncpg", records=[(i, f"copied {i}") for i in range(100, 110)], columns=["id", "note"])))
    print(show(await attempt(c.fetch("SELECT id, note FROM conf_asyncpg WHERE id >= 100 ORDER BY id"))))


async def unnamed():
    """statement_cache_size=0: asyncpg's advice for poolers in transaction mode (unnamed statements only)."""
    c = await connect(statement_cache_size=0)
    try:
        await basics(c)
    finally:
        await c.close()
    await concurrent(0)


async def named():
    """asyncpg's default: every statement named and cached, four clients at once, and an explicit prepare."""
    c = await connect()
    try:
        await basics(c)
        await copy_records(c)
        stmt = await c.prepare("SELECT $1::int + 1")
        print("prepared", [await attempt(stmt.fetchval(i)) for i in range(3)])
    finally:
        await c.close()
    await concurrent(100)


async def ddl():
    """A cached statement whose result type another client changes; asyncpg prepares it again by itself."""
    c = await connect()
    ddl_client, holder = await connect(statement_cache_size=0), await connect(statement_cache_size=0)
    try:
        steps = ["", "ALTER TABLE conf_asyncpg_ddl ALTER COLUMN v TYPE text USING v || '!'",
                 "ALTER TABLE conf_asyncpg_ddl ADD COLUMN w int DEFAULT 7", "ALTER TABLE conf_asyncpg_ddl DROP COLUMN v"]
        for step in steps:
            if step:
                print(step, await attempt(ddl_client.execute(step)))
            for i in range(3):
                if i == 1:
                    # In transaction mode the holder takes the server c just used, so c runs elsewhere.
                    tx = holder.transaction()
                    await tx.start()
                    await holder.fetchval("SELECT 'holding'")
                print(show(await attempt(c.fetch("SELECT * FROM conf_asyncpg_ddl WHERE id = $1", 1))))
                if i == 1:
                    await tx.commit()
    finally:
        for x in (c, ddl_client, holder):
            await x.close()


async def listen():
    """add_listener (LISTEN) on one connection, NOTIFY from another."""
    listener, notifier = await connect(statement_cache_size=0), await connect(statement_cache_size=0)
    received = asyncio.Queue()
    try:
        await listener.add_listener("conf_channel", lambda conn, pid, channel, payload: received.put_nowait(payload))
        await notifier.execute("NOTIFY conf_channel, 'one'")
        await notifier.execute("SELECT pg_notify('conf_channel', 'two')")
        got = []
        try:
            for _ in range(2):
                got.append(await asyncio.wait_for(received.get(), 5))
        except asyncio.TimeoutError:
            pass
        print("received", got)
    finally:
        await listener.close()
        await notifier.close()


SCENARIOS = {"unnamed": unnamed, "named": named, "ddl": ddl, "listen": listen}

if __name__ == "__main__":
    asyncio.run(SCENARIOS[sys.argv[1]]())
