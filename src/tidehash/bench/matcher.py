"""A platform's matcher under lookup load: tidehash's (``tidehash serve --role matcher``)
and any other service with a lookup URL (HMA's ``/m/raw_lookup``), the same load on each.

What it does (every step bounded in requests and in time, every process it starts stopped):

1. **bank**: a random PDQ bank of ``--entries`` hashes (fixed ``--seed``) as a ``hex`` list
   file (one hash a line, ids = line numbers), kept in ``--bank-dir`` for the next run and
   for loading the same bank into another system; ``--build-only`` stops here;
2. **queries**: ``--queries`` lookups, a ``--hit-fraction`` of them listed hashes with
   0..``--radius`` bits flipped (each must match, at exactly that distance when the server
   reports distances), the rest random hashes (which match nothing); fixed seed;
3. **tidehash** (unless ``--no-tidehash``): starts the matcher with its default deployment
   (``tidehash serve --role matcher --config FILE --db sqlite:///... --host 127.0.0.1
   --port P``, one bank ``source = "list:BANK"``) and times it until ``/status`` is 200;
   ``--target NAME=URL`` adds other systems, ``{hex}`` in the URL standing for the hash
   (``--header NAME=H: V``, ``--body NAME=JSON`` for a POST route);
4. **ceiling** (``--ceiling``): the same load against a trivial server (a fixed
   ``{"matches": []}`` answer) on the same cores: the most the generator can measure;
5. **load**: for each of ``--concurrency`` (1, 8, 32), each target in turn: a warm-up, then
   at most ``--requests`` lookups or ``--duration`` s: lookups/s, p50 / p90 / p99, errors,
   hits, wrong answers; the server processes' RSS and PSS (``/proc/PID/smaps_rollup``, the
   target's ``--pid`` and their children) after each level;
6. **new entry to first match** (``--adds`` times): a new random hash added (tidehash:
   one line appended to the bank's list file; other targets: ``--add-cmd NAME=CMD``, a
   shell command with ``{hex}``), then the lookup polled (every 10 ms, later every 2 % of
   the time waited) until it matches.

The load generator runs on the same machine as the servers (say so when quoting the
figures): ``--gen-procs`` spawned processes, each an asyncio event loop of keep-alive
HTTP/1.1 connections with pre-encoded requests (``tidehash.bench.loadgen``). ``--json OUT``
writes every figure with the machine (CPU model, SIMD level, cores, load) and versions.

Usage (``benchmarks/bench_matcher.py`` is the same with BLAS / OpenMP pools pinned)::

    python -m tidehash.bench matcher --quick
    python -m tidehash.bench matcher --entries 1000000 --bank-dir /tmp/bank --ceiling \\
        --target "hma=$HMA/m/raw_lookup?signal_type=pdq&signal={hex}&include_distance=true" \\
        --pid hma=GUNICORN_PID --add-cmd "hma=./hma-add-signal.sh {hex}" --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Sequence

import numpy as np

import tidehash

from .args import int_in, int_list, nonnegative_float, positive_float
from .loadgen import Generator, find_matches, judge
from .machine import cpu_model, dist_version, git_commit, loadavg, mem_available, scratch_dir

HOST = "127.0.0.1"
TARGETS = {  # issue 17's, on this machine
    "lookups_ratio_1m": 10.0,  # tidehash / HMA lookups/s at 1M, default deployment
    "lookups_per_s_10m": 2000.0, "p99_ms_10m": 20.0,
    "memory_ratio": 0.25,  # tidehash's per-process memory / HMA's
    "add_to_match_s": 2.0,
}
MIN_FREE = 1 << 30  # a starting server is stopped when less memory than this is left
TIDEHASH_URL = "http://{host}:{port}/m/raw_lookup?signal_type=pdq&signal={hex}&include_distance=true"


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be 0..1, got {text!r}")
    return value


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- the bank
def bank_paths(bank_dir: str, n: int, seed: int) -> tuple[str, str]:
    base = os.path.join(bank_dir, f"bank-{n}-{seed}")
    return base + ".txt", base + ".samples.npy"


def build_bank(path: str, samples_path: str, n: int, seed: int,
               sample_count: int = 100_000) -> np.ndarray:
    """n random PDQ hashes, one lower-case hex line each (ids = line numbers, from 1),
    written atomically; returns (and saves) a sample of them: rows (int64) and codes."""
    rng = np.random.default_rng(seed)
    k = min(n, sample_count)
    rows = np.sort(rng.choice(n, k, replace=False))
    samples = np.empty((k, 32), np.uint8)
    tmp = path + ".tmp"
    chunk = 1 << 20
    t0 = time.perf_counter()
    with open(tmp, "w", encoding="ascii") as f:
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            codes = rng.integers(0, 256, (b - a, 32), dtype=np.uint8)
            codes[:, 0] |= 1  # never the all-zero hash (a bad line in every format)
            at = (rows >= a) & (rows < b)
            samples[at] = codes[rows[at] - a]
            text = codes.tobytes().hex()
            f.write("\n".join(text[64 * i:64 * i + 64] for i in range(b - a)))
            f.write("\n")
            if n > chunk:
                log(f"  bank: {b:,} of {n:,} hashes ({time.perf_counter() - t0:.0f} s)")
    os.replace(tmp, path)
    both = np.concatenate([rows.astype(np.int64).view(np.uint8).reshape(-1, 8), samples], 1)
    np.save(samples_path, both)
    return both


def load_samples(samples_path: str) -> tuple[np.ndarray, np.ndarray]:
    both = np.load(samples_path)
    return both[:, :8].copy().view(np.int64).ravel(), both[:, 8:].copy()


def make_queries(codes: np.ndarray, count: int, hit_fraction: float, radius: int,
                 seed: int) -> tuple[list[str], list[int], list[int]]:
    """(hex hashes, expected distance or -1, sample index or -1) for ``count`` queries."""
    rng = np.random.default_rng(seed + 1)
    hit = rng.random(count) < hit_fraction
    pick = rng.integers(0, len(codes), count)
    dist = rng.integers(0, radius + 1, count)
    out = rng.integers(0, 256, (count, 32), dtype=np.uint8)
    bits = np.unpackbits(codes[pick], axis=1)
    for i in np.flatnonzero(hit):
        row = bits[i]
        row[rng.choice(256, int(dist[i]), replace=False)] ^= 1
    out[hit] = np.packbits(bits[hit], axis=1)
    text = out.tobytes().hex()
    hexes = [text[64 * i:64 * i + 64] for i in range(count)]
    expect = np.where(hit, dist, -1).tolist()
    return hexes, expect, np.where(hit, pick, -1).tolist()


# ----------------------------------------------------------------------------- targets
class Target:
    """A lookup URL template (``{hex}`` = the PDQ hash) and what to know about its server."""

    def __init__(self, name: str, url: str, headers: Sequence[str] = (), body: str | None = None,
                 pids: Sequence[int] = (), add_cmd: str | None = None):
        self.name, self.url, self.body, self.add_cmd = name, url, body, add_cmd
        self.headers = list(headers)
        self.pids = list(pids)
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            raise ValueError(f"{name}: only http:// URLs are driven, got {url!r}")
        self.host, self.port = u.hostname, u.port or 80
        self.path = (u.path or "/") + ("?" + u.query if u.query else "")
        self.add = None  # callable(hex) adding an entry, or None
        if add_cmd:
            self.add = lambda hx, cmd=add_cmd: subprocess.run(
                cmd.replace("{hex}", hx), shell=True, check=True, timeout=60,
                stdout=subprocess.DEVNULL)

    def request(self, hx: str) -> bytes:
        path = self.path.replace("{hex}", hx)
        head = [f"Host: {self.host}:{self.port}"] + self.headers
        if self.body is None:
            return (f"GET {path} HTTP/1.1\r\n" + "\r\n".join(head) + "\r\n\r\n").encode()
        data = self.body.replace("{hex}", hx).encode()
        head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
        return (f"POST {path} HTTP/1.1\r\n" + "\r\n".join(head) + "\r\n\r\n").encode() + data

    def lookup(self, conn: http.client.HTTPConnection, hx: str) -> tuple[int, bytes]:
        path = self.path.replace("{hex}", hx)
        headers = dict(h.split(":", 1) for h in self.headers)
        headers = {k.strip(): v.strip() for k, v in headers.items()}
        if self.body is None:
            conn.request("GET", path, headers=headers)
        else:
            headers["Content-Type"] = "application/json"
            conn.request("POST", path, body=self.body.replace("{hex}", hx), headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Proc:
    """A server subprocess on 127.0.0.1, its stderr kept (last lines) for errors."""

    def __init__(self, argv: list[str], env: dict | None = None, cwd: str | None = None):
        self.proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, cwd=cwd,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self.err: list[bytes] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.err.append(line)
            del self.err[:-60]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self) -> str:
        return b"".join(self.err).decode(errors="replace")[-3000:]

    def wait_ready(self, port: int, path: str, timeout: float) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}): {self.tail()}")
            free = mem_available()
            if free is not None and free < MIN_FREE:  # stop before the machine swaps or OOMs
                raise RuntimeError(f"only {free >> 20} MB of memory left while the server "
                                   "starts: stopped")
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=5)
                try:
                    conn.request("GET", path)
                    if conn.getresponse().status == 200:
                        return time.perf_counter() - t0
                finally:
                    conn.close()
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the server was not ready within {timeout:.0f} s: {self.tail()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def tidehash_matcher(workdir: str, bank: str, port: int) -> Proc:
    """``tidehash serve --role matcher`` with one list-file bank, its defaults otherwise."""
    config = os.path.join(workdir, "matcher.toml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f'[bank.BENCH]\nsource = "list:{bank}"\n')
    db = os.path.join(workdir, "matcher.db")
    for p in (db, db + "-wal", db + "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)
    return Proc([sys.executable, "-m", "tidehash.cli", "serve", "--role", "matcher",
                 "--config", config, "--db", f"sqlite:///{db}", "--host", HOST,
                 "--port", str(port)])


def trivial_server(port: int) -> Proc:
    return Proc([sys.executable, "-c",
                 f"from tidehash.bench.loadgen import serve_trivial; serve_trivial({port})"])


# ----------------------------------------------------------------------------- memory
def _children(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(name))
    return out


def memory(pid: int) -> dict | None:
    """RSS, PSS and peak RSS (MB) of one process, from /proc."""
    fields = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Rss", "Pss"):
                    fields[k.lower() + "_mb"] = int(v.split()[0]) / 1024
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    fields["peak_rss_mb"] = int(line.split()[1]) / 1024
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            fields["cmd"] = f.read().replace(b"\0", b" ").decode(errors="replace")[:120].strip()
    except OSError:
        return None
    return fields


def process_memory(pids: Sequence[int]) -> dict:
    """Each given process and its descendants: {pid: {rss_mb, pss_mb, peak_rss_mb, cmd}}."""
    seen, todo, out = set(), list(pids), {}
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        m = memory(pid)
        if m is not None:
            out[str(pid)] = m
            todo.extend(_children(pid))
    return out


def process_cpu_s(pids: Sequence[int]) -> float | None:
    """CPU seconds (user + system, every thread) used so far by the given processes and
    their descendants, from /proc/PID/stat; None without any."""
    seen, todo, total, found = set(), list(pids), 0.0, False
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        found = True
        todo.extend(_children(pid))
    return total if found else None


def largest_process(mem: dict) -> dict | None:
    """The figure per process quoted: the process with the largest PSS (a server's
    worker; a launcher or gunicorn's arbiter is small)."""
    best = None
    for pid, m in mem.items():
        if "pss_mb" in m and (best is None or m["pss_mb"] > best["pss_mb"]):
            best = {"pid": int(pid), **m}
    return best


# ----------------------------------------------------------------------------- steps
def add_to_first_match(target: Target, count: int,
                       timeout: float, poll: float = 0.01) -> dict:
    """Adds ``count`` new random hashes one by one; seconds from the add starting to the
    first lookup that finds it (one connection; a lookup every ``poll`` s, then every 2 %
    of the time waited so far, so the figure is within 2 % + ``poll``)."""
    delays, add_s, polls = [], [], []
    for _ in range(count):
        code = bytearray(os.urandom(32))  # not seeded: a rerun against the same server
        code[0] |= 1                      # must add a hash it does not hold yet
        hx = code.hex()
        conn = http.client.HTTPConnection(target.host, target.port, timeout=30)
        try:
            status, body = target.lookup(conn, hx)
            if status != 200 or find_matches(json.loads(body)):
                raise RuntimeError(f"{target.name}: the new hash before its add: HTTP "
                                   f"{status} {body[:200]!r}")
            t0 = time.perf_counter()
            target.add(hx)
            add_s.append(time.perf_counter() - t0)
            n = 0
            while True:
                n += 1
                try:
                    status, body = target.lookup(conn, hx)
                except (OSError, http.client.HTTPException):  # a closing server
                    conn.close()
                    conn = http.client.HTTPConnection(target.host, target.port, timeout=30)
                    status, body = 0, b""
                if status == 200 and judge(body, 0) == (True, True):
                    delays.append(time.perf_counter() - t0)
                    break
                waited = time.perf_counter() - t0
                if waited > timeout:
                    raise RuntimeError(f"{target.name}: no match within {timeout:.0f} s")
                # every `poll` s at first, then 2 % of the wait so far (at most 1 s): a
                # slow server's own work is not crowded out by the polling
                time.sleep(min(1.0, max(poll, 0.02 * waited)))
            polls.append(n)
        finally:
            conn.close()
    return {"adds": count, "delays_s": delays, "max_s": max(delays),
            "median_s": float(np.median(delays)), "add_call_s": add_s, "lookups": polls}


def append_line(path: str):
    def add(hx: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, (hx + "\n").encode())
        finally:
            os.close(fd)
    return add


def run_load(gen: Generator, target: Target, hexes: list[str], expect: list[int],
             concurrency: int, requests: int, duration: float, warmup: float) -> dict:
    """One level; with the target's ``--pid``, also the CPU its processes used over the
    measured part (the warm-up excluded): a shared machine's load changes the rates
    more than the CPU a lookup costs."""
    raws = [target.request(h) for h in hexes]
    if warmup > 0:
        gen.run_level(target.host, target.port, raws[-500:], expect[-500:],
                      min(concurrency, 8), 500, warmup)
    cpu0 = process_cpu_s(target.pids) if target.pids else None
    r = gen.run_level(target.host, target.port, raws, expect, concurrency, requests,
                      duration)
    cpu1 = process_cpu_s(target.pids) if cpu0 is not None else None
    if cpu0 is not None and cpu1 is not None:
        r["server_cpu_s"] = cpu1 - cpu0
        r["server_cpu_ms_per_lookup"] = 1e3 * (cpu1 - cpu0) / r["requests"] \
            if r["requests"] else None
    return r


# ----------------------------------------------------------------------------- main
def parser(prog: str = "python -m tidehash.bench matcher") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int_in(1, 10**9), default=1_000_000,
                    help="PDQ hashes in the bank (default 1M; the issue's: 1M and 10M)")
    ap.add_argument("--seed", type=int_in(0, 2**63 - 1), default=1)
    ap.add_argument("--bank-dir", metavar="DIR", help="keep / reuse the bank here")
    ap.add_argument("--build-only", action="store_true", help="write the bank and stop")
    ap.add_argument("--concurrency", type=int_list(1, 1024), default=(1, 8, 32))
    ap.add_argument("--requests", type=int_in(1, 10**8), default=20_000,
                    help="lookups a level at most (each target)")
    ap.add_argument("--duration", type=positive_float(3600.0), default=10.0,
                    help="seconds a level at most (each target)")
    ap.add_argument("--warmup", type=nonnegative_float(600.0), default=1.0,
                    help="seconds of warm-up a level")
    ap.add_argument("--queries", type=int_in(1, 10**7), default=20_000,
                    help="distinct lookups generated (cycled)")
    ap.add_argument("--hit-fraction", type=fraction, default=0.5)
    ap.add_argument("--radius", type=int_in(0, 31), default=31,
                    help="hits are listed hashes with 0..RADIUS bits flipped")
    ap.add_argument("--gen-procs", type=int_in(1, 64), default=1,
                    help="load generator processes (they share the cores with the servers)")
    ap.add_argument("--ceiling", action="store_true",
                    help="also drive a trivial server: the generator's ceiling")
    ap.add_argument("--no-tidehash", action="store_true",
                    help="do not start tidehash's matcher (drive --target URLs only)")
    ap.add_argument("--target", action="append", default=[], metavar="NAME=URL",
                    help="another system's lookup URL, {hex} = the PDQ hash (repeatable)")
    ap.add_argument("--header", action="append", default=[], metavar="NAME=H: V")
    ap.add_argument("--body", action="append", default=[], metavar="NAME=JSON",
                    help="POST this body ({hex} = the hash) instead of a GET")
    ap.add_argument("--pid", action="append", default=[], metavar="NAME=PID",
                    help="a server process of a target (its children are measured too)")
    ap.add_argument("--add-cmd", action="append", default=[], metavar="NAME=CMD",
                    help="shell command adding the hash {hex} to a target's bank")
    ap.add_argument("--info", action="append", default=[], metavar="NAME=KEY=VALUE",
                    help="versions or notes of a target, recorded in the JSON")
    ap.add_argument("--adds", type=int_in(0, 100), default=3,
                    help="new entries timed to their first match (each target)")
    ap.add_argument("--add-timeout", type=positive_float(3600.0), default=300.0)
    ap.add_argument("--ready-timeout", type=positive_float(7200.0), default=1800.0)
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 10,000 entries, 2 s and 2,000 lookups a level")
    ap.add_argument("--json", metavar="OUT")
    return ap


def _named(values: list[str], what: str, ap) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values:
        name, sep, rest = v.partition("=")
        if not sep or not name:
            ap.error(f"argument --{what}: expected NAME=VALUE, got {v!r}")
        out.setdefault(name, []).append(rest)
    return out


def machine_info() -> dict:
    cpu = tidehash.cpu_info()
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "isa": cpu["active_isa"],
            "best_isa": cpu["best_isa"], "python": platform.python_version(),
            "tidehash": tidehash.__version__, "commit": git_commit(),
            "numpy": np.__version__, "uvicorn": dist_version("uvicorn"),
            "fastapi": dist_version("fastapi"), "kernel": platform.release(),
            "loadavg_start": loadavg()}


def main(argv: Sequence[str] | None = None, prog: str = "python -m tidehash.bench matcher") -> int:
    ap = parser(prog)
    args = ap.parse_args(argv)
    if args.quick:
        args.entries, args.duration, args.requests = 10_000, 2.0, 2_000
        args.queries = min(args.queries, 2_000)
    urls = _named(args.target, "target", ap)
    headers = _named(args.header, "header", ap)
    bodies = _named(args.body, "body", ap)
    pids = _named(args.pid, "pid", ap)
    adds = _named(args.add_cmd, "add-cmd", ap)
    infos = _named(args.info, "info", ap)
    if args.no_tidehash and not urls and not args.ceiling and not args.build_only:
        ap.error("--no-tidehash needs a --target (or --ceiling)")
    t_start = time.perf_counter()
    res: dict = {"machine": machine_info(),
                 "args": {k: v for k, v in vars(args).items() if k != "json"},
                 "load_generator": (f"{args.gen_procs} process(es) on the same machine as the "
                                    "servers: asyncio, keep-alive HTTP/1.1, pre-encoded "
                                    "requests"),
                 "targets": {}, "levels": [], "ceiling": []}
    with scratch_dir(args.bank_dir, "tidehash-matcher-bench-") as workdir:
        bank, samples_path = bank_paths(workdir, args.entries, args.seed)
        if os.path.exists(bank) and os.path.exists(samples_path):
            log(f"reusing {bank}")
        else:
            log(f"writing a bank of {args.entries:,} random PDQ hashes to {bank}")
            t = time.perf_counter()
            build_bank(bank, samples_path, args.entries, args.seed)
            res["bank_build_s"] = time.perf_counter() - t
        res["bank"] = {"path": bank, "entries": args.entries, "seed": args.seed,
                       "bytes": os.path.getsize(bank)}
        if args.build_only:
            print(json.dumps(res["bank"]))
            return 0
        rows, codes = load_samples(samples_path)
        hexes, expect, _ = make_queries(codes, args.queries, args.hit_fraction,
                                        args.radius, args.seed)
        res["queries"] = {"count": len(hexes), "hits": sum(e >= 0 for e in expect)}
        targets: list[Target] = []
        for name, (url, *_) in urls.items():
            targets.append(Target(name, url, headers.get(name, ()),
                                  (bodies.get(name) or [None])[0],
                                  [int(p) for p in pids.get(name, ())],
                                  (adds.get(name) or [None])[0]))
        procs: list[Proc] = []
        try:
            live_bank = None
            if not args.no_tidehash:
                # the matcher follows a copy: the adds append to it
                live_bank = os.path.join(workdir, "matcher-bank.txt")
                subprocess.run(["cp", "--reflink=auto", bank, live_bank], check=True)
                port = free_port()
                log("starting tidehash's matcher ...")
                proc = tidehash_matcher(workdir, live_bank, port)
                procs.append(proc)
                ready = proc.wait_ready(port, "/status", args.ready_timeout)
                th = Target("tidehash", TIDEHASH_URL.format(host=HOST, port=port, hex="{hex}"),
                            pids=[proc.pid])
                th.add = append_line(live_bank)
                targets.insert(0, th)
                res["targets"]["tidehash"] = {"ready_s": ready, "url": th.url,
                                              "deployment": "tidehash serve --role matcher "
                                              "(defaults, SQLite), one list-file bank"}
                log(f"  ready in {ready:.1f} s")
            for t in targets:
                entry = res["targets"].setdefault(t.name, {"url": t.url})
                entry["info"] = dict(i.split("=", 1) if "=" in i else (i, "") for i in
                                     infos.get(t.name, ()))
                entry["memory_start"] = process_memory(t.pids) if t.pids else None
            with Generator(args.gen_procs) as gen:
                if args.ceiling:
                    port = free_port()
                    with trivial_server(port) as triv:
                        procs.append(triv)
                        triv.wait_ready(port, "/", 60)
                        tt = Target("trivial", f"http://{HOST}:{port}/m/raw_lookup?"
                                               "signal_type=pdq&signal={hex}")
                        miss = [-1] * len(expect)
                        for c in args.concurrency:
                            log(f"ceiling: trivial server, {c} connections ...")
                            r = run_load(gen, tt, hexes, miss, c, args.requests * 5,
                                         args.duration, args.warmup)
                            res["ceiling"].append(r)
                for c in args.concurrency:
                    for t in targets:
                        log(f"{t.name}: {c} connections ...")
                        r = run_load(gen, t, hexes, expect, c, args.requests, args.duration,
                                     args.warmup)
                        r["target"] = t.name
                        r["loadavg"] = loadavg()
                        if t.pids:
                            r["memory"] = process_memory(t.pids)
                        res["levels"].append(r)
                        log(f"  {r['lookups_per_s']:,.0f}/s p50 {r['p50_ms'] or 0:.2f} ms "
                            f"p99 {r['p99_ms'] or 0:.2f} ms errors {r['errors']} "
                            f"wrong {r['wrong']}")
            for t in targets:
                entry = res["targets"][t.name]
                if t.pids:
                    entry["memory_end"] = process_memory(t.pids)
                    entry["memory_per_process"] = largest_process(entry["memory_end"])
                if args.adds and t.add is not None:
                    log(f"{t.name}: new entry to first match x{args.adds} ...")
                    try:
                        entry["add_to_match"] = add_to_first_match(t, args.adds,
                                                                   args.add_timeout)
                    except Exception as exc:  # noqa: BLE001 - reported, the rest goes on
                        entry["add_to_match"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        finally:
            for p in procs:
                p.stop()
    res["seconds"] = time.perf_counter() - t_start
    res["machine"]["loadavg_end"] = loadavg()
    res["summary"] = summarize(res)
    print_report(res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


def summarize(res: dict) -> dict:
    """Per target and level: lookups/s, p99; ratios of tidehash over each other target."""
    out: dict = {"by_target": {}, "ratios": {}}
    for r in res["levels"]:
        out["by_target"].setdefault(r["target"], {})[str(r["concurrency"])] = {
            "lookups_per_s": r["lookups_per_s"], "p50_ms": r["p50_ms"], "p90_ms": r["p90_ms"],
            "p99_ms": r["p99_ms"], "errors": r["errors"], "wrong": r["wrong"]}
    for name, t in res["targets"].items():
        row = out["by_target"].setdefault(name, {})
        mem = t.get("memory_per_process")
        row["memory_per_process_mb"] = None if mem is None else {
            "rss": mem.get("rss_mb"), "pss": mem.get("pss_mb"), "peak_rss": mem.get("peak_rss_mb")}
        add = t.get("add_to_match") or {}
        row["add_to_match_max_s"] = add.get("max_s")
    th = out["by_target"].get("tidehash")
    if th:
        for name, other in out["by_target"].items():
            if name == "tidehash":
                continue
            ratio = {}
            for c, v in th.items():
                if c.isdigit() and c in other and other[c]["lookups_per_s"]:
                    ratio[f"lookups_x_at_{c}"] = v["lookups_per_s"] / other[c]["lookups_per_s"]
            a, b = th.get("memory_per_process_mb"), other.get("memory_per_process_mb")
            if a and b and b.get("pss"):
                ratio["memory_pss_fraction"] = a["pss"] / b["pss"]
                ratio["memory_rss_fraction"] = a["rss"] / b["rss"]
            if th.get("add_to_match_max_s") and other.get("add_to_match_max_s"):
                ratio["add_to_match_x_faster"] = (other["add_to_match_max_s"]
                                                  / th["add_to_match_max_s"])
            out["ratios"][name] = ratio
    if res.get("ceiling"):
        out["generator_ceiling"] = {str(r["concurrency"]): r["lookups_per_s"]
                                    for r in res["ceiling"]}
    return out


def print_report(res: dict) -> None:
    m = res["machine"]
    print(f"matcher benchmark: {res['bank']['entries']:,} PDQ hashes, {m['cpu']} "
          f"({m['cores']} cores, {m['isa']}), load generator on the same cores "
          f"({res['args']['gen_procs']} process(es)); {res['seconds']:.0f} s")
    if res.get("ceiling"):
        print("  generator ceiling (trivial server): " + ", ".join(
            f"{r['concurrency']}: {r['lookups_per_s']:,.0f}/s" for r in res["ceiling"]))
    print(f"  {'target':<12}{'conc':>5}{'lookups/s':>12}{'p50 ms':>9}{'p90 ms':>9}"
          f"{'p99 ms':>9}{'errors':>8}{'hits':>8}{'wrong':>7}{'cpu ms/lookup':>15}")
    for r in res["levels"]:
        cpu = r.get("server_cpu_ms_per_lookup")
        print(f"  {r['target']:<12}{r['concurrency']:>5}{r['lookups_per_s']:>12,.0f}"
              f"{r['p50_ms'] or 0:>9.2f}{r['p90_ms'] or 0:>9.2f}{r['p99_ms'] or 0:>9.2f}"
              f"{r['errors']:>8}{r['hits']:>8}{r['wrong']:>7}"
              f"{'' if cpu is None else f'{cpu:.3f}':>15}")
    for name, t in res["targets"].items():
        mem = t.get("memory_per_process")
        if mem:
            print(f"  {name}: largest process RSS {mem['rss_mb']:,.0f} MB, PSS "
                  f"{mem['pss_mb']:,.0f} MB, peak RSS {mem.get('peak_rss_mb', 0):,.0f} MB")
        add = t.get("add_to_match")
        if add and "error" in add:
            print(f"  !! {name}: new entry to first match: {add['error']}")
        elif add:
            print(f"  {name}: new entry to first match: " +
                  ", ".join(f"{d:.2f} s" for d in add["delays_s"]))
    for name, ratio in res["summary"]["ratios"].items():
        print(f"  tidehash vs {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in ratio.items()))


if __name__ == "__main__":
    sys.exit(main())
