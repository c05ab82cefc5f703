"""The load generator of ``tidehash bench matcher``: HTTP/1.1 lookups over keep-alive
connections, in one or more generator processes, standard library only.

A connection is an ``asyncio.Protocol``: a request is one ``write`` of pre-encoded bytes, a
response is parsed from the bytes received (status line, ``Content-Length`` or chunked,
``Connection: close``), its latency recorded, the next request written at once. A server
that closes connections (gunicorn's sync worker closes after every response) is followed:
the client reconnects and the connect time counts in the latency, as it would for any
client of that server. Each response body is checked against the query's expectation
(``judge``): a hit must list a match (at the expected distance when the server reports
distances), a miss must list none.

``run_level(...)`` splits ``concurrency`` connections over ``procs`` processes (spawned,
started on a common clock) and merges their latencies. ``serve_trivial(port)`` is the
trivial server the generator's ceiling is measured against: a fixed 200 ``{"matches":
[]}`` answer, keep-alive, in a process of its own.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import socket
import time
from array import array

_CRLF2 = b"\r\n\r\n"


def find_matches(obj):
    """The list of matches in a lookup answer: HMA's ``{"matches": [...]}``, the
    registry's ``{"results": [{"matches": [...]}]}``, or a bare list."""
    if isinstance(obj, list):
        return obj
    if isinstance(obj, dict):
        if "matches" in obj:
            return obj["matches"] or []
        if "results" in obj:
            out = []
            for r in obj["results"]:
                out.extend(r.get("matches") or [])
            return out
    return []


def judge(body: bytes, expect: int) -> tuple[bool, bool]:
    """(found, right) for one answer: ``expect`` is -1 for a miss, else the distance of
    the listed hash the query was made from. A match reported with a ``distance`` must
    be at exactly that distance (every other listed hash is > 31 bits away)."""
    try:
        matches = find_matches(json.loads(body))
    except ValueError:
        return False, False
    found = bool(matches)
    if expect < 0:
        return found, not found
    if not found:
        return False, False
    dists = []
    for m in matches:
        if isinstance(m, dict) and "distance" in m:
            try:
                dists.append(int(float(m["distance"])))
            except (TypeError, ValueError):
                return True, False
    return True, (not dists) or min(dists) == expect


class _Client(asyncio.Protocol):
    def __init__(self, job: _Job):
        self.job = job
        self.transport = None
        self.buf = bytearray()
        self.start = 0.0
        self.index = -1
        self.closing = False

    # --- connection
    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.index >= 0:  # a reconnect after "Connection: close": resend
            transport.write(self.job.raws[self.index % len(self.job.raws)])
        else:
            self.send_next()

    def connection_lost(self, exc) -> None:
        self.transport = None
        job = self.job
        if job.done:
            return
        if self.closing:  # closed by us after an answer with "Connection: close"
            self.closing = False
            if self.index >= 0:
                job.reconnect(self)
            else:
                job.client_done()
        elif self.index >= 0:  # a request in flight lost
            job.fail(self, f"connection lost: {exc!r}"[:200])
        else:
            job.client_done()

    # --- requests
    def take(self) -> int:
        """The next request's index (its clock started), or -1 when the level is over."""
        self.index = self.job.take()
        self.start = time.perf_counter()
        return self.index

    def send_next(self) -> None:
        if self.take() < 0:
            self.transport.close()
        else:
            self.transport.write(self.job.raws[self.index % len(self.job.raws)])

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            end = buf.find(_CRLF2)
            if end < 0:
                return
            head = bytes(buf[:end])
            lines = head.split(b"\r\n")
            try:
                status = int(lines[0].split(b" ", 2)[1])
            except (IndexError, ValueError):
                self.job.fail(self, f"bad status line {lines[0][:80]!r}")
                return
            length, chunked, close = None, False, lines[0].startswith(b"HTTP/1.0")
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
                elif name == b"connection":
                    v = value.strip().lower()
                    close = v == b"close" or (close and v != b"keep-alive")
            start = end + 4
            if chunked:
                body, used = _dechunk(buf, start)
                if body is None:
                    return
            else:
                if length is None:
                    length = 0
                if len(buf) < start + length:
                    return
                body, used = bytes(buf[start:start + length]), start + length
            del buf[:used]
            self.job.answer(self, status, body)
            if close:  # the next request goes on a new connection
                self.closing = True
                self.buf = bytearray()
                self.take()
                self.transport.close()
                return
            self.send_next()
            if self.index < 0 or not buf:
                return


def _dechunk(buf: bytearray, pos: int):
    parts = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None, 0
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if len(buf) < eol + 2 + size + 2:
            return None, 0
        if size == 0:
            return b"".join(parts), eol + 4
        parts.append(bytes(buf[eol + 2:eol + 2 + size]))
        pos = eol + 2 + size + 2


class _Job:
    """One generator process's share of a level: its connections, its request budget."""

    def __init__(self, host, port, raws, expect, connections, budget, deadline, offset):
        self.host, self.port = host, port
        self.raws, self.expect = raws, expect
        self.connections, self.budget, self.deadline = connections, budget, deadline
        self.next = offset
        self.issued = 0
        self.latencies = array("d")
        self.hits = self.wrong = self.errors = self.reconnects = 0
        self.statuses: dict[int, int] = {}
        self.first_errors: list[str] = []
        self.open_clients = connections
        self.done = False
        self.loop = None
        self.finished = None

    def take(self) -> int:
        if self.issued >= self.budget or time.perf_counter() >= self.deadline:
            return -1
        self.issued += 1
        i = self.next
        self.next += 1
        return i

    def answer(self, client: _Client, status: int, body: bytes) -> None:
        self.latencies.append(time.perf_counter() - client.start)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status != 200:
            self.errors += 1
            if len(self.first_errors) < 5:
                self.first_errors.append(f"HTTP {status}: {body[:200]!r}")
            return
        found, right = judge(body, self.expect[client.index % len(self.expect)])
        self.hits += found
        self.wrong += not right

    def fail(self, client: _Client, reason: str) -> None:
        """A broken connection or answer: counted; the client goes on with the next
        request on a new connection."""
        self.errors += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(reason)
        client.buf = bytearray()
        if client.transport is not None:
            client.closing = True
            client.take()
            client.transport.close()
        elif client.take() >= 0:
            self.reconnect(client)
        else:
            self.client_done()

    def reconnect(self, client: _Client) -> None:
        self.reconnects += 1
        self.loop.create_task(self._connect(client))

    async def _connect(self, client: _Client) -> None:
        try:
            await self.loop.create_connection(lambda: client, self.host, self.port)
        except OSError as exc:
            self.errors += 1
            if len(self.first_errors) < 5:
                self.first_errors.append(f"connect: {exc!r}"[:200])
            await asyncio.sleep(0.01)
            if client.take() >= 0:
                self.reconnect(client)
            else:
                self.client_done()

    def client_done(self) -> None:
        self.open_clients -= 1
        if self.open_clients <= 0 and not self.finished.done():
            self.finished.set_result(None)

    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.finished = self.loop.create_future()
        for _ in range(self.connections):
            client = _Client(self)
            try:
                await self.loop.create_connection(lambda c=client: c, self.host, self.port)
            except OSError as exc:
                self.errors += 1
                self.first_errors.append(f"connect: {exc!r}"[:200])
                self.client_done()
        try:
            await asyncio.wait_for(asyncio.shield(self.finished),
                                   max(1.0, self.deadline - time.perf_counter() + 30))
        except asyncio.TimeoutError:
            self.first_errors.append("clients still waiting 30 s after the deadline")
        self.done = True


def _worker(params: dict) -> dict:
    """One generator process: wait for the common start, run its share, return figures."""
    delay = params["start_at"] - time.time()
    if delay > 0:
        time.sleep(delay)
    t0 = time.perf_counter()
    job = _Job(params["host"], params["port"], params["raws"], params["expect"],
               params["connections"], params["budget"], t0 + params["duration"],
               params["offset"])
    cpu0 = time.process_time()
    asyncio.run(job.run())
    return {"latencies": job.latencies.tobytes(), "seconds": time.perf_counter() - t0,
            "cpu_s": time.process_time() - cpu0, "hits": job.hits, "wrong": job.wrong,
            "errors": job.errors, "statuses": job.statuses, "reconnects": job.reconnects,
            "first_errors": job.first_errors, "issued": job.issued}


class Generator:
    """A pool of ``procs`` spawned generator processes, reused for every level."""

    def __init__(self, procs: int):
        self.procs = procs
        self.pool = multiprocessing.get_context("spawn").Pool(procs) if procs > 1 else None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run_level(self, host: str, port: int, raws: list[bytes], expect: list[int],
                  concurrency: int, max_requests: int, duration: float) -> dict:
        """``concurrency`` connections in all, at most ``max_requests`` requests or
        ``duration`` seconds; lookups/s, latency percentiles, hits, wrong answers."""
        procs = max(1, min(self.procs, concurrency))
        share = [concurrency // procs + (k < concurrency % procs) for k in range(procs)]
        start_at = time.time() + (0.3 if self.pool is not None else 0.0)
        params = []
        for k in range(procs):
            params.append({"host": host, "port": port, "raws": raws, "expect": expect,
                           "connections": share[k],
                           "budget": max_requests * share[k] // concurrency or 1,
                           "duration": duration, "start_at": start_at,
                           "offset": (len(raws) * k) // procs})
        if self.pool is None or procs == 1:
            outs = [_worker(p) for p in params]
        else:
            outs = self.pool.map(_worker, params, chunksize=1)
        return merge(outs, concurrency, procs)


def merge(outs: list[dict], concurrency: int, procs: int) -> dict:
    lat = array("d")
    for o in outs:
        lat.frombytes(o["latencies"])
    values = sorted(lat)
    seconds = max(o["seconds"] for o in outs)
    n = len(values)

    def pct(q: float) -> float | None:
        if not n:
            return None
        return values[min(n - 1, int(round(q / 100 * (n - 1))))] * 1e3

    statuses: dict[str, int] = {}
    for o in outs:
        for k, v in o["statuses"].items():
            statuses[str(k)] = statuses.get(str(k), 0) + v
    errors = sum(o["errors"] for o in outs)
    return {"concurrency": concurrency, "generator_procs": procs, "requests": n,
            "seconds": seconds, "lookups_per_s": (n - errors) / seconds if seconds else 0.0,
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
            "max_ms": values[-1] * 1e3 if n else None,
            "errors": errors, "statuses": statuses,
            "hits": sum(o["hits"] for o in outs), "wrong": sum(o["wrong"] for o in outs),
            "reconnects": sum(o["reconnects"] for o in outs),
            "generator_cpu_s": sum(o["cpu_s"] for o in outs),
            "first_errors": [e for o in outs for e in o["first_errors"]][:5]}


# ----------------------------------------------------------------------------- the trivial server
_TRIVIAL = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n"
            b'{"matches":[]}')


class _Trivial(asyncio.Protocol):
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        n = self.buf.count(b"\r\n\r\n")
        if n:
            self.buf = self.buf[self.buf.rfind(b"\r\n\r\n") + 4:]
            self.transport.write(_TRIVIAL * n)


def serve_trivial(port: int, host: str = "127.0.0.1") -> None:
    """Answer every GET with ``{"matches": []}`` on a keep-alive connection (bodiless
    requests only), until killed."""
    async def main():
        server = await asyncio.get_running_loop().create_server(_Trivial, host, port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())
