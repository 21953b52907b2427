#!/usr/bin/env python3
"""Open many PostgreSQL client connections, log them in, and keep them idle.

Used by bench/run.sh to measure how much memory a pooler needs per idle client.
Standard library only, so it runs wherever python3 does.

Each connection sends a StartupMessage, answers the authentication request
(cleartext, md5 or SCRAM-SHA-256), waits for ReadyForQuery and then sends
nothing more. The password is read from the PGPASSWORD environment variable so
that it never shows up in a process listing.

Output on stdout, one line each, for scripts to parse:
  READY requested=N ok=K failed=F seconds=S
  FAILURES {"reason": count, ...}          (only when some failed)
  DONE still_open=K closed_by_server=C     (after the hold ends)
Progress goes to stderr.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import struct
import sys
import time
from collections import Counter

PROTOCOL_VERSION_3 = 196608

AUTH_OK = 0
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5
AUTH_SASL = 10
AUTH_SASL_CONTINUE = 11
AUTH_SASL_FINAL = 12


class LoginError(Exception):
    """A login that did not reach ReadyForQuery; str() is the reason counted in FAILURES."""


def message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!i", len(payload) + 4) + payload


def startup_message(user: str, database: str, application_name: str) -> bytes:
    params = b""
    for key, value in (("user", user), ("database", database), ("application_name", application_name)):
        params += key.encode() + b"\0" + value.encode() + b"\0"
    payload = struct.pack("!i", PROTOCOL_VERSION_3) + params + b"\0"
    return struct.pack("!i", len(payload) + 4) + payload


async def read_message(reader: asyncio.StreamReader):
    header = await reader.readexactly(5)
    kind = header[:1]
    (length,) = struct.unpack("!i", header[1:])
    if length < 4 or length > 1 << 20:
        raise LoginError(f"protocol: bad length {length} for message {kind!r}")
    return kind, await reader.readexactly(length - 4)


def error_fields(payload: bytes) -> dict:
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


class ScramSha256:
    """Client side of SCRAM-SHA-256 (RFC 5802/7677) without channel binding, as PostgreSQL speaks it."""

    # The salted password costs thousands of HMAC rounds; every connection to the same
    # server gets the same salt and iteration count, so compute it once per process.
    _salted_cache: dict = {}

    def __init__(self, password: str):
        self.password = password.encode("utf-8")
        self.client_nonce = base64.b64encode(secrets.token_bytes(18)).decode()
        # PostgreSQL takes the user name from the StartupMessage and ignores this one.
        self.client_first_bare = f"n=,r={self.client_nonce}"
        self.auth_message = b""
        self.server_key = b""

    def client_first(self) -> bytes:
        return ("n,," + self.client_first_bare).encode()

    def client_final(self, server_first: bytes) -> bytes:
        attrs = dict(item.split("=", 1) for item in server_first.decode().split(","))
        nonce, salt, iterations = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        if not nonce.startswith(self.client_nonce):
            raise LoginError("scram: server nonce does not extend the client nonce")
        key = (self.password, salt, iterations)
        salted = self._salted_cache.get(key)
        if salted is None:
            salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iterations)
            self._salted_cache[key] = salted
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        final_without_proof = f"c=biws,r={nonce}"
        self.auth_message = f"{self.client_first_bare},{server_first.decode()},{final_without_proof}".encode()
        signature = hmac.new(stored_key, self.auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        return f"{final_without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify_server_final(self, server_final: bytes) -> None:
        attrs = dict(item.split("=", 1) for item in server_final.decode().split(","))
        if "e" in attrs:
            raise LoginError(f"scram: server error {attrs['e']}")
        expected = hmac.new(self.server_key, self.auth_message, hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64decode(attrs.get("v", "")), expected):
            raise LoginError("scram: server signature does not match")


async def login(args, password: str):
    """Connect and authenticate; returns (reader, writer) positioned after ReadyForQuery."""
    reader, writer = await asyncio.open_connection(args.host, args.port)
    try:
        writer.write(startup_message(args.user, args.database, args.application_name))
        await writer.drain()
        scram = None
        while True:
            kind, payload = await read_message(reader)
            if kind == b"R":
                (code,) = struct.unpack("!i", payload[:4])
                if code == AUTH_OK:
                    continue
                if code == AUTH_CLEARTEXT:
                    writer.write(message(b"p", password.encode() + b"\0"))
                elif code == AUTH_MD5:
                    inner = hashlib.md5(password.encode() + args.user.encode()).hexdigest()
                    outer = hashlib.md5(inner.encode() + payload[4:8]).hexdigest()
                    writer.write(message(b"p", b"md5" + outer.encode() + b"\0"))
                elif code == AUTH_SASL:
                    mechanisms = [m.decode() for m in payload[4:].split(b"\0") if m]
                    if "SCRAM-SHA-256" not in mechanisms:
                        raise LoginError(f"auth: no supported SASL mechanism in {mechanisms}")
                    scram = ScramSha256(password)
                    first = scram.client_first()
                    body = b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first
                    writer.write(message(b"p", body))
                elif code == AUTH_SASL_CONTINUE and scram is not None:
                    writer.write(message(b"p", scram.client_final(payload[4:])))
                elif code == AUTH_SASL_FINAL and scram is not None:
                    scram.verify_server_final(payload[4:])
                    continue
                else:
                    raise LoginError(f"auth: unsupported authentication request {code}")
                await writer.drain()
            elif kind == b"E":
                fields = error_fields(payload)
                raise LoginError(f"server error {fields.get('C', '?')}: {fields.get('M', '')}")
            elif kind == b"Z":
                return reader, writer
            # ParameterStatus, BackendKeyData and NoticeResponse need no answer.
    except BaseException:
        writer.close()
        raise


async def hold(reader: asyncio.StreamReader, closed: list) -> None:
    """Read (and drop) whatever the server sends until it closes the connection."""
    try:
        while await reader.read(4096):
            pass
    except (ConnectionError, OSError):
        pass
    closed[0] += 1


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6432)
    parser.add_argument("--user", default="bench")
    parser.add_argument("--database", default="bench")
    parser.add_argument("--application-name", default="idle_clients")
    parser.add_argument("--clients", type=int, default=10000, help="connections to open (default 10000)")
    parser.add_argument(
        "--concurrency", type=int, default=100, help="logins in flight at once (default 100), keeps listen backlogs from overflowing"
    )
    parser.add_argument("--login-timeout", type=float, default=30.0, help="seconds per login (default 30)")
    parser.add_argument(
        "--deadline", type=float, default=300.0, help="seconds for all logins (default 300); pending ones then count as failed"
    )
    parser.add_argument("--hold", type=float, default=0, help="seconds to hold the connections; 0 = until SIGTERM/SIGINT")
    args = parser.parse_args()
    password = os.environ.get("PGPASSWORD", "")

    gate = asyncio.Semaphore(args.concurrency)
    failures: Counter = Counter()
    held = []
    closed = [0]
    done_count = [0]

    async def one() -> None:
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(login(args, password), args.login_timeout)
            except asyncio.TimeoutError:
                failures["timeout"] += 1
            except LoginError as e:
                failures[str(e)] += 1
            except (ConnectionError, OSError, asyncio.IncompleteReadError) as e:
                failures[type(e).__name__ + (f": {e.strerror}" if getattr(e, "strerror", None) else "")] += 1
            else:
                held.append((writer, asyncio.ensure_future(hold(reader, closed))))
            done_count[0] += 1
            if done_count[0] % 1000 == 0:
                print(f"idle_clients: {done_count[0]}/{args.clients} attempted, {len(held)} logged in", file=sys.stderr)

    started = time.monotonic()
    attempts = [asyncio.ensure_future(one()) for _ in range(args.clients)]
    _, pending = await asyncio.wait(attempts, timeout=args.deadline)
    for attempt in pending:
        attempt.cancel()
    if pending:
        await asyncio.wait(pending)
        failures["not logged in by --deadline"] += len(pending)
    elapsed = time.monotonic() - started
    ok = len(held)
    print(f"READY requested={args.clients} ok={ok} failed={args.clients - ok} seconds={elapsed:.1f}", flush=True)
    if failures:
        print("FAILURES " + json.dumps(dict(failures.most_common(10))), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), args.hold if args.hold > 0 else None)
    except asyncio.TimeoutError:
        pass

    print(f"DONE still_open={ok - closed[0]} closed_by_server={closed[0]}", flush=True)
    for writer, task in held:
        task.cancel()
        writer.close()
    return 0 if ok == args.clients else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
