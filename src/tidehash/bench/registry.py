"""The registry under load: a real ``tidehash serve`` (uvicorn, SQLite) over N PDQ entries.

What it does, in order (each step bounded in requests and in time, and stops by itself):

1. builds a registry database of ``--entries`` PDQ entries (random hashes, one of them
   the PDQ of a synthetic photo, 2 entries a case) straight into the registry's schema in
   bulk, published as one publisher tick would publish them (seq 1..N, the head at N),
   and a platform token; ``--db-dir`` keeps it for the next run;
2. starts the registry as a subprocess on 127.0.0.1 (``serve()`` of
   ``tidehash.registry.server.run``, publish delay 0, ``--pow-difficulty`` bits) and
   times it until ``/readyz`` answers 200 (the lookup index loaded);
3. **single**: ``--clients`` concurrent clients, one PDQ hash a ``POST /v1/lookup``
   (half of them listed hashes with a few bits flipped, which must match): lookups/s,
   p50 / p99 latency;
4. **batched**: ``--batch-clients`` clients, ``--batch`` hashes a request: hashes/s;
5. **snapshot**: ``GET /v1/list/snapshot`` read to the end: MB/s, and the server's RSS
   (``/proc/PID/status``) before and at its peak while streaming;
6. **sync**: ``Client.sync_list`` of the snapshot into an empty list file, then
   ``Matcher.load(list).match_file(photo)`` finds the photo: seconds from nothing to the
   first match (in a subprocess, as a platform runs it);
7. **changes**: 100,000 changes (half new entries, half withdrawals of listed ones) written
   as the store writes them (entry and outbox rows), published by the real publisher;
   seconds until the server's lookup index has applied the last of them (polled by
   lookups of the entry with the highest seq);
8. **submit**: ``--clients`` concurrent persons, each ``GET /v1/challenge``, solving the
   proof of work at ``--pow-difficulty`` (low, so that the load generator's CPU does not
   crowd the server; the server verifies every one), ``POST /v1/cases``: cases/s into
   SQLite (WAL, synchronous=FULL);
9. **bare** (``--bare``): the same single-hash load against a minimal FastAPI endpoint
   over a bare ``tidehash.Index`` of the same hashes (one search per request).

The load generator is this process: asyncio streams over keep-alive HTTP/1.1
connections, requests pre-encoded, responses parsed by Content-Length (cheap per
request, so it takes little of the CPU it measures). The figures and the machine (CPU
model, SIMD level) are printed as a table; ``--json OUT`` writes them.

Usage (``benchmarks/bench_registry.py`` is the same with BLAS / OpenMP pools pinned)::

    python -m tidehash.bench registry [--entries 1000000] [--clients 32] [--json OUT]
    python -m tidehash.bench registry --entries 10000000 --db-dir /tmp/reg10m --bare
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import numpy as np

import tidehash

from .args import int_in, nonnegative_float, positive_float
from .machine import cpu_model, loadavg, scratch_dir

HOST = "127.0.0.1"
TARGETS = {  # the issue's, at 10M entries on this 2-core machine
    "single_lookups_per_s": (">=", 2000), "single_p99_ms": ("<=", 20),
    "batched_hashes_per_s": (">=", 50_000), "sync_first_match_s": ("<=", 60),
    "changes_apply_s": ("<=", 5), "snapshot_peak_rss_mb": ("<=", 300),
    "cases_per_s": (">=", 200),
}
STEPS = ("single", "batched", "snapshot", "sync", "changes", "submit", "bare", "service")
_CROCKFORD = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", np.uint8)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- the database
def photo(path: str) -> tidehash.PDQHash:
    """A synthetic photo on disk and its PDQ hash (it is listed, so it must match)."""
    from PIL import Image

    from .photos import make_photo_like

    Image.fromarray(make_photo_like(800, 600, 17)).save(path, quality=90)
    return tidehash.hash_file(path).pdq


def case_ids(rng: np.random.Generator, n: int) -> list[str]:
    chars = _CROCKFORD[rng.integers(0, 32, (n, 16))].tobytes().decode()
    return ["TH-" + "-".join(chars[i + j:i + j + 4] for j in range(0, 16, 4))
            for i in range(0, 16 * n, 16)]


def build_registry(path: str, n: int, seed: int, listed: tidehash.PDQHash) -> dict:
    """A registry database of n published PDQ entries at ``path``; returns what the
    benchmark needs to know about it (the platform token, sample hashes, timings)."""
    from tidehash.registry.server.db import Database
    from tidehash.registry.server.keys import Keys
    from tidehash.registry.server.store import Store

    t0 = time.perf_counter()
    db = Database(f"sqlite:///{path}")
    store = Store(db, Keys.load(db))
    token = store.add_platform("bench")["token"]
    db.close()
    rng = np.random.default_rng(seed)
    ids = np.unique(rng.integers(1, (1 << 63) - 1, n + n // 100 + 16, dtype=np.int64))
    ids = rng.permutation(ids)[:n]
    ids.sort()
    sample_rows = np.sort(rng.choice(n, min(n, 100_000), replace=False))
    samples = np.empty((sample_rows.size, 32), np.uint8)
    listed_row = int(rng.integers(0, n))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # building the fixture, not measuring it
    day = "2026-12-01"
    chunk = 1 << 20
    conn.execute("BEGIN")
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        codes = rng.integers(0, 256, (b - a, 32), dtype=np.uint8)
        if a <= listed_row < b:
            codes[listed_row - a] = np.frombuffer(listed.bytes, np.uint8)
        quality = rng.integers(40, 101, b - a).tolist()
        at = (sample_rows >= a) & (sample_rows < b)
        samples[at] = codes[sample_rows[at] - a]
        cases = case_ids(rng, (b - a + 1) // 2)
        secret = os.urandom(32)
        conn.executemany('INSERT INTO "case" (id, secret_hash, created_day) VALUES (?, ?, ?)',
                         ((c, secret, day) for c in cases))
        blobs = [codes[i].tobytes() for i in range(b - a)]
        id_list = ids[a:b].tolist()
        conn.executemany(
            "INSERT INTO entry (id, case_id, item, kind, pdq, quality, status, created_day, "
            "added_seq) VALUES (?, ?, ?, 'image', ?, ?, 'active', ?, ?)",
            ((id_list[i], cases[i // 2], i % 2, blobs[i], quality[i], day, a + i + 1)
             for i in range(b - a)))
        conn.executemany("INSERT INTO change (seq, entry_id, op) VALUES (?, ?, 'upsert')",
                         ((a + i + 1, id_list[i]) for i in range(b - a)))
        log(f"  built {b:,} of {n:,} entries ({time.perf_counter() - t0:.0f} s)")
    conn.execute("UPDATE publisher SET head = ?", (n,))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"entries": n, "seed": seed, "token": token, "build_s": time.perf_counter() - t0,
            "listed_id": f"{int(ids[listed_row]):016x}"}, samples


# ----------------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def rss_mb(pid: int, field: str = "VmRSS") -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Server:
    """A server subprocess on 127.0.0.1 (stopped by ``stop`` or the with block)."""

    def __init__(self, code: str, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-c", code.replace("PORT", str(self.port))],
                                     env={**os.environ, **(env or {})},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._err: list[bytes] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self._err.append(line)
            del self._err[:-50]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, path: str, timeout: float) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("the server exited: " + b"".join(self._err).decode()[-2000:])
            try:
                status, _ = http_get(self.port, path, timeout=5)
                if status == 200:
                    return time.perf_counter() - t0
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server was not ready within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def registry_server(db_url: str, difficulty: int, publish_delay: float) -> Server:
    return Server(
        "from tidehash.registry.server.run import serve\n"
        "from tidehash.registry.server.settings import Settings\n"
        f"serve(Settings(db_url={db_url!r}, publish_delay={publish_delay!r}, "
        f"pow_difficulty={difficulty}), {HOST!r}, PORT)\n")


def bare_server(index_path: str) -> Server:
    return Server("import uvicorn\n"
                  "from tidehash.bench.registry_bare import create_app\n"
                  f"uvicorn.run(create_app({index_path!r}), host={HOST!r}, port=PORT, "
                  "access_log=False, log_level='warning')\n")


def http_get(port: int, path: str, headers: dict | None = None, timeout: float = 30):
    import http.client

    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# ----------------------------------------------------------------------------- load generator
class Conn:
    """One keep-alive HTTP/1.1 connection over asyncio streams: a request is one write
    of pre-encoded bytes, a response is read by its Content-Length (or chunks)."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def open(self) -> Conn:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        return self

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked = None, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                data = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(data[:-2])
            return status, b"".join(parts)
        return status, await self.reader.readexactly(length or 0)


def post(path: str, body: bytes, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"{auth}Content-Length: {len(body)}\r\n\r\n").encode() + body


def get(path: str, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{auth}\r\n".encode()


async def _drive(port: int, clients: int, max_requests: int, duration: float, one):
    """``clients`` connections, each running ``await one(conn, i)`` (one request or a
    few, returning how many units it did) until ``max_requests`` in all or
    ``duration`` seconds; returns (latencies in s, units done, elapsed s, failures)."""
    conns = [await Conn(port).open() for _ in range(clients)]
    latencies: list[float] = []
    units = [0]
    failures: list[str] = []
    issued = [0]
    t0 = time.perf_counter()
    deadline = t0 + duration

    async def client(conn):
        while issued[0] < max_requests and time.perf_counter() < deadline:
            i = issued[0]
            issued[0] += 1
            start = time.perf_counter()
            try:
                done = await one(conn, i)  # not `units[0] += await ...`: that loses updates
                units[0] += done
            except Exception as exc:  # noqa: BLE001 - counted and reported, never hidden
                failures.append(f"{type(exc).__name__}: {exc}"[:200])
                if len(failures) > 100:
                    return
                continue
            latencies.append(time.perf_counter() - start)

    try:
        await asyncio.gather(*(client(c) for c in conns))
    finally:
        for c in conns:
            c.close()
    return latencies, units[0], time.perf_counter() - t0, failures


def drive(port, clients, max_requests, duration, one):
    return asyncio.run(_drive(port, clients, max_requests, duration, one))


def latency_stats(latencies: list[float], units: int, elapsed: float, failures: list) -> dict:
    lat = np.array(latencies) * 1e3 if latencies else np.zeros(1)
    return {"requests": len(latencies), "units": units, "seconds": elapsed,
            "per_s": units / elapsed if elapsed else 0.0,
            "requests_per_s": len(latencies) / elapsed if elapsed else 0.0,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "failures": len(failures), "first_failure": failures[0] if failures else None}


def flip(codes: np.ndarray, rng: np.random.Generator, bits: int) -> np.ndarray:
    out = np.unpackbits(codes, axis=1)
    for row in out:
        row[rng.choice(256, bits, replace=False)] ^= 1
    return np.packbits(out, axis=1)


def query_bodies(samples: np.ndarray, count: int, per_request: int, seed: int):
    """Request bodies: half the hashes listed ones with 8 bits flipped (they match at
    distance 8), half random (they match nothing)."""
    rng = np.random.default_rng(seed)
    total = count * per_request
    near = flip(samples[rng.integers(0, len(samples), total)], rng, 8)
    far = rng.integers(0, 256, (total, 32), dtype=np.uint8)
    pick = rng.random(total) < 0.5
    codes = np.where(pick[:, None], near, far)
    hexes = codes.tobytes().hex()
    bodies = []
    for r in range(count):
        qs = ",".join(f'{{"pdq":"{hexes[64 * i:64 * i + 64]}"}}'
                      for i in range(r * per_request, (r + 1) * per_request))
        bodies.append(f'{{"queries":[{qs}]}}'.encode())
    return bodies, pick.reshape(count, per_request)


def lookup_load(port: int, token: str | None, path: str, bodies: list[bytes], expect,
                clients: int, duration: float, per_request: int) -> dict:
    raws = [post(path, b, token) for b in bodies]
    wrong = [0]

    async def one(conn, i):
        status, body = await conn.request(raws[i % len(raws)])
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
        if expect is not None:
            got = json.loads(body)
            results = got["results"] if "results" in got else [got]
            found = [bool(r["matches"]) for r in results]
            if found != expect[i % len(raws)].tolist():
                wrong[0] += 1
        return per_request

    stats = latency_stats(*drive(port, clients, len(raws) * 1000, duration, one))
    stats["wrong_results"] = wrong[0]
    return stats


# ----------------------------------------------------------------------------- the steps
def step_snapshot(server: Server, token: str, timeout: float) -> dict:
    import http.client

    peak = [rss_mb(server.pid) or 0.0]
    before = peak[0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            value = rss_mb(server.pid)
            if value is not None:
                peak[0] = max(peak[0], value)
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    conn = http.client.HTTPConnection(HOST, server.port, timeout=timeout)
    t0 = time.perf_counter()
    size = lines = 0
    tail = b""
    try:
        conn.request("GET", "/v1/list/snapshot", headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"snapshot: HTTP {resp.status}")
        while True:
            block = resp.read(1 << 20)
            if not block:
                break
            size += len(block)
            lines += block.count(b"\n")
            tail = (tail + block)[-4096:]
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"snapshot: not done within {timeout:.0f} s")
    finally:
        conn.close()
        elapsed = time.perf_counter() - t0
        done.set()
        sampler.join()
    trailer = json.loads(tail.rstrip(b"\n").rsplit(b"\n", 1)[-1])["trailer"]
    return {"bytes": size, "lines": lines, "seconds": elapsed,
            "mb_per_s": size / elapsed / 1e6, "count": trailer["count"],
            "rss_before_mb": before, "rss_peak_mb": peak[0],
            "rss_growth_mb": peak[0] - before}


_SYNC_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
from tidehash.registry import Client
from tidehash.match import Matcher
url, token, into, image = sys.argv[1:5]
report = Client(url, token=token, timeout=600).sync_list(into)
t1 = time.perf_counter()
matches = Matcher.load(into).match_file(image)
t2 = time.perf_counter()
ids = sorted(e.id for m in matches for e in m.entries)
print(json.dumps({"sync_s": t1 - t0, "match_s": t2 - t1, "total_s": t2 - t0,
                  "entries": report.get("entries"), "ids": [str(i) for i in ids]}))
"""


def step_sync(server: Server, token: str, image: str, workdir: str, listed_id: str,
              timeout: float) -> dict:
    into = os.path.join(workdir, "synced.thl")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(into)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _SYNC_SCRIPT, server.url, token, into, image],
                         capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError("sync: " + out.stderr.strip()[-1500:])
    got = json.loads(out.stdout.strip().splitlines()[-1])
    got["wall_s"] = wall
    got["list_bytes"] = os.path.getsize(into)
    wanted = {listed_id, str(int(listed_id, 16))}
    got["found_listed"] = bool(wanted & set(got.pop("ids")))
    return got


def step_changes(db_path: str, server: Server, token: str, count: int, seed: int,
                 timeout: float) -> dict:
    """count changes: count/2 new entries (new cases), count/2 withdrawals of listed
    entries, written as the store writes them (entry + outbox rows, one transaction)."""
    from tidehash.registry.server.changelog import Changelog
    from tidehash.registry.server.db import Database
    from tidehash.registry.server.keys import Keys

    rng = np.random.default_rng(seed + 1)
    db = Database(f"sqlite:///{db_path}")
    changelog = Changelog(db, Keys.load(db))
    try:
        head0 = changelog.head()
        conn = sqlite3.connect(db_path, isolation_level=None, timeout=60)
        adds = count // 2
        dels = count - adds
        new_ids = rng.integers(1, (1 << 63) - 1, adds, dtype=np.int64).tolist()
        codes = rng.integers(0, 256, (adds, 32), dtype=np.uint8)
        cases = case_ids(rng, adds)
        victims = [r[0] for r in conn.execute(
            "SELECT id FROM entry WHERE status = 'active' AND added_seq IS NOT NULL "
            "ORDER BY random() LIMIT ?", (dels,))]
        pdq_of = {new_ids[i]: codes[i].tobytes().hex() for i in range(adds)}
        for eid, pdq in conn.execute(
                f"SELECT id, pdq FROM entry WHERE id IN ({','.join(map(str, victims))})"):
            pdq_of[eid] = bytes(pdq).hex()
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        epoch = conn.execute("SELECT epoch FROM publisher").fetchone()[0]
        conn.executemany('INSERT INTO "case" (id, secret_hash, created_day) '
                         "VALUES (?, ?, '2026-12-01')", ((c, os.urandom(32)) for c in cases))
        conn.executemany(
            "INSERT INTO entry (id, case_id, item, kind, pdq, quality, status, created_day) "
            "VALUES (?, ?, 0, 'image', ?, 90, 'active', '2026-12-01')",
            ((new_ids[i], cases[i], codes[i].tobytes()) for i in range(adds)))
        conn.executemany("UPDATE entry SET status = 'withdrawn' WHERE id = ?",
                         ((v,) for v in victims))
        conn.executemany("INSERT INTO outbox (entry_id, op, epoch) VALUES (?, ?, ?)",
                         [(e, "upsert", epoch) for e in new_ids]
                         + [(v, "delete", epoch) for v in victims])
        conn.execute("COMMIT")
        conn.close()
        written = time.perf_counter() - t0
        changelog.publish()  # the server's publisher may have taken them first: the same
        while changelog.head() < head0 + count:
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError("changes: not published in time")
            time.sleep(0.01)
        published = time.perf_counter()
        with db.connect() as c:
            from sqlalchemy import text
            last = c.execute(text("SELECT entry_id, op FROM change ORDER BY seq DESC "
                                  "LIMIT 1")).one()
    finally:
        db.close()
    body = post("/v1/lookup", json.dumps(
        {"queries": [{"pdq": pdq_of[last.entry_id], "radius": 0}]}).encode(), token)

    async def poll():
        conn = await Conn(server.port).open()
        try:
            while time.perf_counter() - published < timeout:
                status, data = await conn.request(body)
                found = status == 200 and bool(json.loads(data)["results"][0]["matches"])
                if found == (last.op == "upsert"):
                    return time.perf_counter()
                await asyncio.sleep(0.005)
        finally:
            conn.close()
        raise RuntimeError("changes: the lookup index did not apply them in time")

    applied = asyncio.run(poll())
    return {"changes": count, "upserts": adds, "deletes": dels, "write_s": written,
            "publish_s": published - t0 - written, "apply_s": applied - published,
            "total_s": applied - t0}


def step_submit(server: Server, clients: int, difficulty: int, duration: float) -> dict:
    from tidehash.registry.pow import solve

    rng = random.Random(5)
    challenge_raw = get("/v1/challenge")

    async def one(conn, i):
        status, body = await conn.request(challenge_raw)
        if status != 200:
            raise RuntimeError(f"challenge: HTTP {status}")
        challenge = json.loads(body)["challenge"]
        nonce = solve(challenge, difficulty)
        pdq = rng.getrandbits(256).to_bytes(32, "big").hex()
        item = {"kind": "image", "pdq": pdq, "quality": 90,
                "md5": hashlib.md5(pdq.encode()).hexdigest(),
                "sha256": hashlib.sha256(pdq.encode()).hexdigest()}
        status, body = await conn.request(post("/v1/cases", json.dumps(
            {"pow": {"challenge": challenge, "nonce": nonce}, "items": [item]}).encode()))
        if status != 201:
            raise RuntimeError(f"submit: HTTP {status}: {body[:200]!r}")
        return 1

    stats = latency_stats(*drive(server.port, clients, 10**7, duration, one))
    stats["difficulty"] = difficulty
    return stats


def step_service(db_path: str, samples: np.ndarray, clients: int, duration: float,
                 batch: int, changes: int, seed: int) -> dict:
    """The lookup service alone, in this process, no HTTP: loaded from the change log,
    ``clients`` concurrent single lookups through its batcher, batches of ``batch``
    hashes, and ``changes`` changes applied (half upserts, half deletes)."""
    from tidehash.registry.server.changelog import Changelog
    from tidehash.registry.server.db import Database
    from tidehash.registry.server.keys import Keys
    from tidehash.registry.server.lookup import Batcher, LookupState

    db = Database(f"sqlite:///{db_path}")
    try:
        t0 = time.perf_counter()
        _, entries = Changelog(db, Keys.load(db)).active_entries()
        entries = list(entries)
        read_s = time.perf_counter() - t0
        state = LookupState(threads=2)
        t0 = time.perf_counter()
        state.load(entries)
        load_s = time.perf_counter() - t0
        del entries
    finally:
        db.close()
    bodies, _ = query_bodies(samples, 20_000, 1, seed + 3)
    queries = [json.loads(b)["queries"] for b in bodies]
    batcher = Batcher(lambda: state)
    latencies: list[float] = []

    async def one_client(i0: int, deadline: float):
        i = i0
        while time.perf_counter() < deadline and len(latencies) < 200_000:
            t = time.perf_counter()
            await batcher.lookup(queries[i % len(queries)])
            latencies.append(time.perf_counter() - t)
            i += clients

    async def run_single():
        deadline = time.perf_counter() + duration
        await asyncio.gather(*(one_client(i, deadline) for i in range(clients)))

    t0 = time.perf_counter()
    try:
        asyncio.run(run_single())
    finally:
        batcher.close()
    single = latency_stats(latencies, len(latencies), time.perf_counter() - t0, [])
    single["searches"] = batcher.searches
    b_bodies, _ = query_bodies(samples, 4, batch, seed + 5)
    b_queries = [json.loads(b)["queries"] for b in b_bodies]
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < duration or done == 0:
        state.search(b_queries[done % len(b_queries)])
        done += 1
    batched_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed + 9)
    keys = state._keys
    live = keys.entry[:keys.n][keys.alive[:keys.n]]
    victims = rng.choice(live, changes // 2, replace=False).tolist()
    adds = changes - len(victims)
    hexes = rng.integers(0, 256, (adds, 32), dtype=np.uint8).tobytes().hex()
    new_ids = rng.integers(1, (1 << 63) - 1, adds, dtype=np.int64).tolist()
    page = [{"seq": i, "op": "upsert", "entry": {"id": f"{new_ids[i]:016x}", "kind": "image",
                                                 "pdq": hexes[64 * i:64 * i + 64],
                                                 "quality": 90}} for i in range(adds)]
    page += [{"seq": adds + i, "op": "delete", "id": f"{v:016x}"} for i, v in enumerate(victims)]
    random.Random(seed).shuffle(page)
    t0 = time.perf_counter()
    for a in range(0, len(page), 10_000):
        state.apply(page[a:a + 10_000])
    apply_s = time.perf_counter() - t0
    return {"read_s": read_s, "load_s": load_s, "single": single,
            "batched_hashes_per_s": done * batch / batched_s, "batched_requests": done,
            "apply_changes": changes, "apply_s": apply_s, "entries": len(state)}


# ----------------------------------------------------------------------------- main
def parser(prog: str = "python -m tidehash.bench registry") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int_in(1, 10**9), default=1_000_000,
                    help="PDQ entries in the registry (default 1M; the issue's figures: 10M)")
    ap.add_argument("--clients", type=int_in(1, 1024), default=32,
                    help="concurrent single-lookup clients (and submitting persons)")
    ap.add_argument("--batch", type=int_in(1, 1000), default=1000,
                    help="hashes a batched lookup request")
    ap.add_argument("--batch-clients", type=int_in(1, 256), default=2)
    ap.add_argument("--duration", type=positive_float(3600.0), default=10.0,
                    help="seconds each load step runs at most")
    ap.add_argument("--changes", type=int_in(2, 10**7), default=100_000)
    ap.add_argument("--pow-difficulty", type=int_in(0, 32), default=8,
                    help="the server's proof-of-work bits (low: the load generator solves them)")
    ap.add_argument("--publish-delay", type=nonnegative_float(3600.0), default=60.0,
                    help="the server's publish delay (default 60 s, the registry's default; "
                         "the changes step publishes by itself)")
    ap.add_argument("--seed", type=int_in(0, 2**63 - 1), default=1)
    ap.add_argument("--steps", default=",".join(STEPS[:6]),
                    help=f"comma-separated steps to run, of {','.join(STEPS)}")
    ap.add_argument("--bare", action="store_true", help="also run the bare FastAPI endpoint")
    ap.add_argument("--service", action="store_true",
                    help="also measure the lookup service alone, in this process, no HTTP")
    ap.add_argument("--db-dir", metavar="DIR", help="keep / reuse the registry database here")
    ap.add_argument("--build-only", action="store_true",
                    help="build the database (into --db-dir) and stop")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 20,000 entries, 2 s a step, 2,000 changes")
    ap.add_argument("--json", metavar="OUT")
    return ap


def _ratio(name: str, value: float | None):
    if value is None or name not in TARGETS:
        return None
    op, target = TARGETS[name]
    ratio = value / target if op == ">=" else target / value if value else float("inf")
    return {"target": f"{op} {target:,}", "ratio": ratio, "met": ratio >= 1.0}


def report_rows(res: dict) -> list[tuple[str, str, str]]:
    rows = []

    def add(label, key, value, fmt):
        if value is None:
            return
        r = _ratio(key, value)
        target = "" if r is None else f"{r['target']}  ({r['ratio']:.2f}x, " \
                                      f"{'met' if r['met'] else 'missed'})"
        rows.append((label, fmt.format(value), target))

    s = {k: v for k, v in res.get("steps", {}).items()
         if not (isinstance(v, dict) and "error" in v)}
    add("server ready (lookup index loaded)", "", res.get("ready_s"), "{:.1f} s")
    if "single" in s:
        add(f"single lookups ({res['args']['clients']} clients)", "single_lookups_per_s",
            s["single"]["per_s"], "{:,.0f} /s")
        add("  p50", "", s["single"]["p50_ms"], "{:.2f} ms")
        add("  p99", "single_p99_ms", s["single"]["p99_ms"], "{:.2f} ms")
    if "batched" in s:
        add(f"batched lookups ({res['args']['batch']} a request)", "batched_hashes_per_s",
            s["batched"]["per_s"], "{:,.0f} hashes/s")
        add("  p50 a request", "", s["batched"]["p50_ms"], "{:.1f} ms")
    if "snapshot" in s:
        add("snapshot stream", "", s["snapshot"]["mb_per_s"], "{:.1f} MB/s")
        add("  server RSS at its peak while streaming", "snapshot_peak_rss_mb",
            s["snapshot"]["rss_peak_mb"], "{:,.0f} MB")
        add("  growth over the RSS before streaming", "", s["snapshot"]["rss_growth_mb"],
            "{:,.0f} MB")
    if "sync" in s:
        add("sync into an empty list + first match", "sync_first_match_s",
            s["sync"]["wall_s"], "{:.1f} s")
    if "changes" in s:
        add(f"{s['changes']['changes']:,} changes applied by the lookup index",
            "changes_apply_s", s["changes"]["apply_s"], "{:.2f} s")
        add("  published by the publisher", "", s["changes"]["publish_s"], "{:.2f} s")
    if "submit" in s:
        add(f"submissions (PoW {s['submit']['difficulty']} bits verified)", "cases_per_s",
            s["submit"]["per_s"], "{:,.0f} cases/s")
        add("  p99", "", s["submit"]["p99_ms"], "{:.1f} ms")
    if "bare" in s:
        add("bare FastAPI + Index, single lookups", "", s["bare"]["per_s"], "{:,.0f} /s")
        add("  p99", "", s["bare"]["p99_ms"], "{:.2f} ms")
    if "service" in s:
        v = s["service"]
        add("lookup service alone (no HTTP): load", "", v["load_s"], "{:.1f} s")
        add("  reading the active entries from the DB", "", v["read_s"], "{:.1f} s")
        add(f"  single lookups, {res['args']['clients']} concurrent", "single_lookups_per_s",
            v["single"]["per_s"], "{:,.0f} /s")
        add("    p99", "single_p99_ms", v["single"]["p99_ms"], "{:.2f} ms")
        add("    lookups per batched search", "",
            v["single"]["requests"] / max(v["single"]["searches"], 1), "{:.1f}")
        add(f"  batched ({res['args']['batch']} a search)", "batched_hashes_per_s",
            v["batched_hashes_per_s"], "{:,.0f} hashes/s")
        add(f"  {v['apply_changes']:,} changes applied", "changes_apply_s", v["apply_s"],
            "{:.2f} s")
    return rows


def main(argv: Sequence[str] | None = None, prog: str = "python -m tidehash.bench registry") -> int:
    args = parser(prog).parse_args(argv)
    if args.quick:
        args.entries, args.duration, args.changes = 20_000, 2.0, 2_000
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser(prog).error(f"argument --steps: unknown steps {sorted(unknown)}")
    for extra in ("bare", "service"):
        if getattr(args, extra) and extra not in steps:
            steps.append(extra)
    t_start = time.perf_counter()
    cpu = tidehash.cpu_info()
    res: dict = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(),
                             "isa": cpu["active_isa"], "python": platform.python_version(),
                             "tidehash": tidehash.__version__, "loadavg_start": loadavg()},
                 "args": {k: v for k, v in vars(args).items() if k != "json"},
                 "load_generator": "this process: asyncio streams, keep-alive HTTP/1.1, "
                                   "pre-encoded requests", "steps": {}}
    with scratch_dir(args.db_dir, "tidehash-registry-bench-") as workdir:
        pristine = os.path.join(workdir, f"registry-{args.entries}-{args.seed}.db")
        meta_path = pristine + ".json"
        image = os.path.join(workdir, "listed.jpg")
        listed = photo(image)
        if os.path.exists(meta_path) and os.path.exists(pristine):
            with open(meta_path) as f:
                meta = json.load(f)
            samples = np.load(pristine + ".samples.npy")
            log(f"reusing {pristine}")
        else:
            for p in (pristine, pristine + "-wal", pristine + "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)
            log(f"building a registry of {args.entries:,} entries in {pristine}")
            meta, samples = build_registry(pristine, args.entries, args.seed, listed)
            np.save(pristine + ".samples.npy", samples)
            with open(meta_path, "w") as f:
                json.dump(meta, f)
            res["build_s"] = meta["build_s"]
        if args.build_only:
            return 0
        # every run works on a copy: the changes and submission steps write to it
        db_path = os.path.join(workdir, "run.db")
        for p in (db_path, db_path + "-wal", db_path + "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        shutil.copyfile(pristine, db_path)
        token = meta["token"]
        res["db_bytes"] = os.path.getsize(db_path)
        db_url = f"sqlite:///{db_path}"
        bodies = expect = None
        if "single" in steps or "bare" in steps:
            bodies, expect = query_bodies(samples, 20_000, 1, args.seed)
        if any(step in steps for step in STEPS[:6]):
            with registry_server(db_url, args.pow_difficulty, args.publish_delay) as server:
                log("starting the registry ...")
                res["ready_s"] = server.wait_ready("/readyz", timeout=3600)
                res["server_rss_ready_mb"] = rss_mb(server.pid)
                log(f"  ready in {res['ready_s']:.1f} s, RSS {res['server_rss_ready_mb']:.0f} MB")
                def run(name, label, fn, *fn_args, **kwargs):
                    if name not in steps:
                        return
                    log(label + " ...")
                    t = time.perf_counter()
                    try:
                        res["steps"][name] = fn(*fn_args, **kwargs)
                    except Exception as exc:  # noqa: BLE001 - one step failing is reported
                        res["steps"][name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
                        log(f"  {name} failed: {res['steps'][name]['error']}")
                    log(f"  ({time.perf_counter() - t:.0f} s)")

                if "single" in steps:  # warm-up
                    lookup_load(server.port, token, "/v1/lookup", bodies[:200], None,
                                min(args.clients, 8), 2.0, 1)
                run("single", "single lookups", lookup_load, server.port, token, "/v1/lookup",
                    bodies, expect, args.clients, args.duration, 1)
                if "batched" in steps:
                    b_bodies, b_expect = query_bodies(samples, 40, args.batch, args.seed + 7)
                run("batched", "batched lookups", lookup_load, server.port, token, "/v1/lookup",
                    b_bodies if "batched" in steps else None,
                    b_expect if "batched" in steps else None,
                    args.batch_clients, args.duration, args.batch)
                run("snapshot", "snapshot", step_snapshot, server, token, timeout=1800)
                run("sync", "sync + first match", step_sync, server, token, image, workdir,
                    meta["listed_id"], timeout=1800)
                run("changes", f"{args.changes:,} changes", step_changes, db_path, server, token,
                    args.changes, args.seed, timeout=600)
                run("submit", "submissions", step_submit, server, args.clients,
                    args.pow_difficulty, args.duration)
                res["server_rss_end_mb"] = rss_mb(server.pid)
                res["server_peak_rss_mb"] = rss_mb(server.pid, "VmHWM")
        if "bare" in steps:
            log("bare FastAPI endpoint over an Index ...")
            index_path = os.path.join(workdir, "bare.thi")
            _bare_index(db_path, index_path)
            with bare_server(index_path) as bare:
                res["steps"]["bare_ready_s"] = bare.wait_ready("/healthz", timeout=3600)
                lookup_load(bare.port, None, "/lookup", [b[12:-2] for b in bodies[:200]], None,
                            min(args.clients, 8), 2.0, 1)
                res["steps"]["bare"] = lookup_load(bare.port, None, "/lookup",
                                                   [b[12:-2] for b in bodies], None,
                                                   args.clients, args.duration, 1)
        if "service" in steps:
            log("the lookup service alone ...")
            t = time.perf_counter()
            try:
                res["steps"]["service"] = step_service(pristine, samples, args.clients,
                                                       args.duration, args.batch,
                                                       args.changes, args.seed)
            except Exception as exc:  # noqa: BLE001
                res["steps"]["service"] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            log(f"  ({time.perf_counter() - t:.0f} s)")
    res["seconds"] = time.perf_counter() - t_start
    res["machine"]["loadavg_end"] = loadavg()
    rows = report_rows(res)
    width = max(len(r[0]) for r in rows) + 2
    m = res["machine"]
    print(f"registry of {args.entries:,} PDQ entries, {m['cpu']} ({m['cores']} cores, "
          f"{m['isa']}), load generator on the same machine; {res['seconds']:.0f} s")
    for label, value, target in rows:
        print(f"  {label:<{width}}{value:>18}   {target}")
    for name, st in res["steps"].items():
        if isinstance(st, dict) and "error" in st:
            print(f"  !! {name}: {st['error'][:300]}")
        if isinstance(st, dict) and (st.get("failures") or st.get("wrong_results")):
            print(f"  !! {name}: {st.get('failures')} failed requests "
                  f"({st.get('first_failure')}), {st.get('wrong_results')} wrong results")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


def _bare_index(db_path: str, index_path: str) -> None:
    """The registry's PDQ hashes in an index file (ids: the entry ids)."""
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute("SELECT id, pdq FROM entry WHERE pdq IS NOT NULL "
                            "AND status = 'active'").fetchall()
    finally:
        conn.close()
    ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    codes = np.frombuffer(b"".join(r[1] for r in rows), np.uint8).reshape(-1, 32)
    del rows
    index = tidehash.Index()
    index.add(codes, ids)
    index.save(index_path)


if __name__ == "__main__":
    sys.exit(main())
