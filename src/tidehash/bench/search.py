"""Exact Hamming search benchmark: tidehash vs faiss vs NumPy, side by side in one run.

``python -m tidehash.bench search [--n 1000000,10000000] [--quick] [--threads 1,2] [--json OUT]``

Data, per N (default 1M and 10M 256-bit hashes, uint8 (N, 32), numpy's default_rng):

* ``random``: independent uniform hashes;
* ``clustered``: families of near-duplicates as real hash lists have them: N/20 base hashes,
  each with 20 members at 0-16 distinct random bit flips from the base (rows shuffled).

Queries: even positions are near-duplicates of listed hashes (1-8 bit flips), odd positions
are random, so every prefix of the query set is half and half.

Engines: ``tidehash.Index`` with strategy flat, mih and auto (MIH tables built by
``build_mih()`` during the build, so the build is measured and not the first search);
faiss ``IndexBinaryFlat`` and ``IndexBinaryMultiHash`` (only when ``import faiss`` works;
faiss is never a tidehash dependency); a NumPy baseline (``bitwise_count`` of the XOR, one
query at a time; only for N <= 1M and one thread, on a few queries since it is slow).

Measured, for each thread count (tidehash ``Index(threads=t)``, ``faiss.omp_set_num_threads(t)``):

* range search at r = 16, 31, 52 (hits at distance <= r; faiss's range_search keeps
  distance < radius, so it is called with r + 1), and k-NN for k = 1, 10;
* single-query latency: median and p99 over up to ``--single`` queries, one call per query;
* batched throughput: queries/s for one call on a batch of up to ``--queries`` queries; a
  slow configuration gets fewer queries (a time budget per measurement, ``--budget``), and
  the table says so (``nq`` column, ``*``);
* build time (add, then MIH tables) and bytes per hash in RAM: tidehash ``index.nbytes / N``,
  NumPy the array itself; faiss from the process RSS before and after the build
  (/proc/self/statm, or psutil), after returning freed heap to the OS (malloc_trim), so it
  is an estimate. An index whose estimated size exceeds 80% of MemAvailable is skipped (and
  the table says so): faiss's multi-hash index takes ~600 bytes per hash.

Indexes are built one at a time and freed before the next; 10M hashes peak at ~6.5 GB RSS,
the faiss multi-hash index being most of it.

Every result is checked: each range hit and k-NN neighbour against the distance recomputed
from the data, and every engine, thread count and single/batched call against every other
on the queries they share (range: the same (query, id, distance) sets; k-NN: the same
distances, ids may differ on ties). A disagreement is printed loudly and makes the exit
status 1. faiss's IndexBinaryMultiHash is exact for range search when ``nflip >= r // nhash``
(pigeonhole over its nhash substrings), which is how it is configured here; its k-NN only
looks in buckets within ``nflip`` bits, so it is approximate: it is shown for information,
with the fraction of queries it gets exactly right, and is left out of the ratios.

Ratios: for each row, the best tidehash strategy against the best exact faiss index, as a
speed-up (> 1 means tidehash is faster): faiss latency / tidehash latency, and tidehash
queries/s / faiss queries/s.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np

import tidehash
from tidehash.index import mih_layout

from .machine import cpu_model

BITS = 256
NBYTES = BITS // 8
FAMILY_SIZE = 20          # members per family in the clustered data
FAMILY_MAX_FLIPS = 16     # members are 0..16 bit flips from their base
QUERY_FLIPS = (1, 8)      # near-duplicate queries: 1..8 bit flips from a listed hash
FAISS_MH_KNN_NFLIP = 1    # faiss multi-hash k-NN probes buckets within this many flips
MIN_SINGLE = 10           # single-query latency is over at least this many queries
STRATEGIES = ("flat", "mih", "auto")

DEFAULT_N = (1_000_000, 10_000_000)
QUICK_N = (100_000,)


# --------------------------------------------------------------------------- machine
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int | None:
    """Resident set size of this process, or None if it cannot be read."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
        return int(psutil.Process().memory_info().rss)
    except Exception:
        return None


def peak_rss_bytes() -> int | None:
    try:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak) if sys.platform == "darwin" else int(peak) * 1024
    except Exception:
        return None


try:
    _LIBC = ctypes.CDLL("libc.so.6")
    _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
except (OSError, AttributeError):
    _LIBC = None


def mem_available() -> int | None:
    """Memory available for new allocations without swapping, or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except Exception:
        return None


def release_memory() -> None:
    """Collect garbage and give freed heap back to the OS, so RSS deltas mean something."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _loadavg():
    try:
        return list(os.getloadavg())
    except (OSError, AttributeError):
        return None


def _git_commit() -> str | None:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def import_faiss():
    try:
        import faiss
    except Exception:
        return None
    return faiss


def machine_info(faiss) -> dict:
    info = tidehash.cpu_info()
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    meta = {
        "cpu_model": cpu_model(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "tidehash_version": tidehash.__version__,
        "tidehash_path": os.path.dirname(os.path.abspath(tidehash.__file__)),
        "tidehash_git": _git_commit(),
        "cpu_info": info,
        "active_isa": info.get("active_isa"),
        "python": platform.python_version(),
        "numpy_version": np.__version__,
        "numpy_bitwise_count": hasattr(np, "bitwise_count"),
        "faiss_version": getattr(faiss, "__version__", None) if faiss else None,
        "faiss_compile_options": None,
        "faiss_max_threads": None,
    }
    if faiss is not None:
        try:
            meta["faiss_compile_options"] = faiss.get_compile_options().strip()
        except Exception:
            pass
        try:
            meta["faiss_max_threads"] = faiss.omp_get_max_threads()
        except Exception:
            pass
    try:
        import psutil
        meta["psutil_version"] = psutil.__version__
    except Exception:
        meta["psutil_version"] = None
    return meta


# --------------------------------------------------------------------------- data
_POP8 = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def popcount_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distance between matching rows of two (M, 32) uint8 arrays, as int32."""
    x = np.bitwise_xor(a, b)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(np.ascontiguousarray(x).view(np.uint64)).sum(
            axis=1, dtype=np.int32)
    return _POP8[x].sum(axis=1, dtype=np.int32)


def flip_bits(rng: np.random.Generator, x: np.ndarray, counts: np.ndarray) -> None:
    """Flip exactly counts[i] distinct random bits of row i of x ((M, B) uint8), in place."""
    nbits = x.shape[1] * 8
    mask = np.zeros_like(x)
    for j in range(int(counts.max(initial=0))):
        rows = np.flatnonzero(counts > j)
        pos = rng.integers(0, nbits, rows.size)
        while True:  # redraw positions already flipped in that row
            taken = np.flatnonzero((mask[rows, pos >> 3] >> (pos & 7)) & 1)
            if taken.size == 0:
                break
            pos[taken] = rng.integers(0, nbits, taken.size)
        mask[rows, pos >> 3] |= (1 << (pos & 7)).astype(np.uint8)
    x ^= mask


def make_data(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, n, 0 if kind == "random" else 1])
    if kind == "random":
        return rng.integers(0, 256, (n, NBYTES), dtype=np.uint8)
    if kind != "clustered":
        raise ValueError(f"unknown dataset {kind!r}")
    families = -(-n // FAMILY_SIZE)
    base = rng.integers(0, 256, (families, NBYTES), dtype=np.uint8)
    data = np.repeat(base, FAMILY_SIZE, axis=0)[:n]
    del base
    flip_bits(rng, data, rng.integers(0, FAMILY_MAX_FLIPS + 1, n))
    return data[rng.permutation(n)]


def make_queries(data: np.ndarray, nq: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, data.shape[0], 2])
    q = rng.integers(0, 256, (nq, NBYTES), dtype=np.uint8)
    near = np.arange(0, nq, 2)
    dup = data[rng.integers(0, data.shape[0], near.size)]
    flip_bits(rng, dup, rng.integers(QUERY_FLIPS[0], QUERY_FLIPS[1] + 1, near.size))
    q[near] = dup
    return q


# --------------------------------------------------------------------------- engines
class Engine:
    """One search engine. Results are normalised to range (lims, ids, dist int32) in
    faiss's CSR form and k-NN (ids (Q, k) int64, dist (Q, k) int32)."""

    name = "?"
    family = "?"
    exact_knn = True
    rebuild_per_thread = False   # build a new index for each thread count
    max_threads = None           # None: any
    detail = ""

    def build(self, data: np.ndarray, ids: np.ndarray, threads: int) -> dict:
        raise NotImplementedError

    def estimate_bytes(self, n: int) -> int:
        """Rough size of the index for n hashes (to skip what would not fit in RAM)."""
        return 0

    def set_threads(self, threads: int) -> None:
        pass

    def range(self, q, r):
        raise NotImplementedError

    def knn(self, q, k):
        raise NotImplementedError

    def norm_range(self, out):
        return out

    def norm_knn(self, out):
        return out

    def close(self) -> None:
        self.index = None


class TidehashEngine(Engine):
    family = "tidehash"
    rebuild_per_thread = True

    def __init__(self, strategy: str):
        self.strategy = strategy
        self.name = f"tidehash-{strategy}"
        self.index = None

    def build(self, data, ids, threads):
        t0 = time.perf_counter()
        index = tidehash.Index(BITS, self.strategy, threads=threads)
        index.add(data, ids)
        t1 = time.perf_counter()
        mih_s = None
        if self.strategy != "flat":
            index.build_mih()
            mih_s = time.perf_counter() - t1
        self.index = index
        if mih_s is not None:
            _, lengths = mih_layout(BITS, len(index))
            self.detail = f"m={len(lengths)} x {min(lengths)}-{max(lengths)} bits"
        return {"add_s": t1 - t0, "mih_s": mih_s, "bytes": index.nbytes,
                "bytes_source": "index.nbytes"}

    def estimate_bytes(self, n):
        size = n * (NBYTES + 8)
        if self.strategy != "flat":
            _, lengths = mih_layout(BITS, n)
            size += sum(((1 << ln) + 1) * 4 + 4 * n for ln in lengths)
        return size

    def range(self, q, r):
        return self.index.search_range(q, r)

    def knn(self, q, k):
        return self.index.search_knn(q, k)

    def norm_range(self, out):
        lims, ids, dist = out
        return np.asarray(lims, np.int64), np.asarray(ids, np.int64), np.asarray(dist, np.int32)

    def norm_knn(self, out):
        ids, dist = out
        return np.asarray(ids, np.int64), np.asarray(dist, np.int32)


class _FaissEngine(Engine):
    family = "faiss"

    def __init__(self, faiss):
        self.faiss = faiss
        self.index = None

    def set_threads(self, threads):
        self.faiss.omp_set_num_threads(threads)

    def norm_range(self, out):
        lims, dist, ids = out
        return np.asarray(lims, np.int64), np.asarray(ids, np.int64), dist.astype(np.int32)

    def norm_knn(self, out):
        dist, ids = out
        return np.asarray(ids, np.int64), np.asarray(dist, np.int32)

    def knn(self, q, k):
        return self.index.search(q, k)


class FaissFlatEngine(_FaissEngine):
    name = "faiss-flat"

    def build(self, data, ids, threads):
        t0 = time.perf_counter()
        index = self.faiss.IndexBinaryFlat(BITS)
        index.add(data)
        self.index = index
        return {"add_s": time.perf_counter() - t0, "mih_s": None}

    def estimate_bytes(self, n):
        return n * NBYTES

    def range(self, q, r):
        return self.index.range_search(q, r + 1)   # faiss keeps distance < radius


class FaissMultiHashEngine(_FaissEngine):
    """IndexBinaryMultiHash(d, nhash, b): nhash hash maps on consecutive b-bit substrings."""
    name = "faiss-mh"
    exact_knn = False

    def __init__(self, faiss, n):
        super().__init__(faiss)
        self.nhash = max(1, round(BITS / math.log2(max(n, 2))))
        self.b = min(BITS // self.nhash, 56)  # faiss reads a substring with one 64-bit load
        self.detail = f"nhash={self.nhash} x b={self.b} bits"

    def build(self, data, ids, threads):
        t0 = time.perf_counter()
        index = self.faiss.IndexBinaryMultiHash(BITS, self.nhash, self.b)
        index.add(data)
        self.index = index
        return {"add_s": time.perf_counter() - t0, "mih_s": None}

    def estimate_bytes(self, n):
        # per map, a std::unordered_map<int64, std::vector<int64>>: ~72 bytes per occupied
        # bucket (node, bucket slot, vector buffer) and ~12 per id (with vector slack);
        # distinct keys of random data: 2^b (1 - exp(-n / 2^b))
        keys = (1 << self.b) * -math.expm1(-n / (1 << self.b))
        return int(n * NBYTES + self.nhash * (72 * keys + 12 * n))

    def range(self, q, r):
        # exact: a hit within r (over the nhash*b covered bits too) matches one of the
        # nhash substrings within r // nhash bits (pigeonhole)
        self.index.nflip = r // self.nhash
        return self.index.range_search(q, r + 1)

    def knn(self, q, k):
        self.index.nflip = FAISS_MH_KNN_NFLIP
        return self.index.search(q, k)


class NumpyEngine(Engine):
    """The obvious NumPy code: XOR, popcount, compare; one query at a time."""
    name = "numpy"
    family = "numpy"
    max_threads = 1

    def build(self, data, ids, threads):
        t0 = time.perf_counter()
        self.index = np.ascontiguousarray(data)
        self.words = self.index.view(np.uint64)
        return {"add_s": time.perf_counter() - t0, "mih_s": None, "bytes": self.index.nbytes,
                "bytes_source": "array.nbytes"}

    def _dist(self, qrow):
        if hasattr(np, "bitwise_count"):
            return np.bitwise_count(self.words ^ qrow.view(np.uint64)).sum(axis=1,
                                                                           dtype=np.int32)
        return _POP8[self.index ^ qrow].sum(axis=1, dtype=np.int32)

    def range(self, q, r):
        lims = np.zeros(q.shape[0] + 1, np.int64)
        ids, dists = [], []
        for i in range(q.shape[0]):
            d = self._dist(q[i])
            hit = np.flatnonzero(d <= r)
            ids.append(hit)
            dists.append(d[hit])
            lims[i + 1] = lims[i] + hit.size
        return (lims, np.concatenate(ids).astype(np.int64) if ids else np.empty(0, np.int64),
                np.concatenate(dists) if dists else np.empty(0, np.int32))

    def knn(self, q, k):
        kk = min(k, self.index.shape[0])
        out_i = np.full((q.shape[0], k), -1, np.int64)
        out_d = np.full((q.shape[0], k), -1, np.int32)
        for i in range(q.shape[0]):
            d = self._dist(q[i])
            part = np.argpartition(d, kk - 1)[:kk]
            order = np.lexsort((part, d[part]))
            out_i[i, :kk] = part[order]
            out_d[i, :kk] = d[part[order]]
        return out_i, out_d

    def close(self):
        self.index = self.words = None


# --------------------------------------------------------------------------- timing
def time_single(call, queries, max_n: int, budget: float):
    """Latency of one-query calls over queries[:n], n <= max_n, stopping once the time
    budget is spent (after at least MIN_SINGLE queries). Returns (seconds list, outputs)."""
    call(queries[:1])  # warm-up
    times, outs = [], []
    spent = 0.0
    for i in range(min(max_n, queries.shape[0])):
        t0 = time.perf_counter()
        out = call(queries[i:i + 1])
        dt = time.perf_counter() - t0
        times.append(dt)
        outs.append(out)
        spent += dt
        if spent > budget and i + 1 >= MIN_SINGLE:
            break
    return times, outs


def time_batch(call, queries, max_n: int, budget: float, start: int = 16):
    """Throughput of one call on queries[:n]: n grows from a probe of ``start`` queries to
    max_n or until one call takes about budget / 2. Returns (n, best seconds, runs, output)."""
    max_n = min(max_n, queries.shape[0])
    n = max(1, min(max_n, start))
    while True:
        t0 = time.perf_counter()
        out = call(queries[:n])
        dt = time.perf_counter() - t0
        if n >= max_n or dt >= budget / 4:
            break
        per_query = max(dt, 1e-7) / n
        n = min(max_n, max(2 * n, int(budget / 2 / per_query)))
    best, runs, spent = dt, 1, dt
    while runs < 3 and spent + best < budget / 2 and best < budget / 8:
        t0 = time.perf_counter()
        out = call(queries[:n])
        dt = time.perf_counter() - t0
        best, runs, spent = min(best, dt), runs + 1, spent + dt
    return n, best, runs, out


# --------------------------------------------------------------------------- checks
def merge_range(outs):
    """Concatenate single-query range results (CSR) into one CSR."""
    if not outs:
        return np.zeros(1, np.int64), np.empty(0, np.int64), np.empty(0, np.int32)
    counts = [o[0][-1] - o[0][0] for o in outs]
    lims = np.zeros(len(outs) + 1, np.int64)
    np.cumsum(counts, out=lims[1:])
    return (lims, np.concatenate([o[1] for o in outs]),
            np.concatenate([o[2] for o in outs]).astype(np.int32))


def merge_knn(outs):
    return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])


def canonical_range(res):
    """CSR -> (nq, qi, ids, dist) sorted by (query, id)."""
    lims, ids, dist = res
    nq = lims.shape[0] - 1
    qi = np.repeat(np.arange(nq, dtype=np.int64), np.diff(lims))
    order = np.lexsort((ids, qi))
    return nq, qi[order], ids[order], dist[order]


def verify_range(res, queries, data, r) -> str | None:
    """Every hit must be within r at the distance reported (recomputed from the data)."""
    nq, qi, ids, dist = res
    if ids.size and (ids.min() < 0 or ids.max() >= data.shape[0]):
        return "ids out of range"
    true = popcount_rows(queries[qi], data[ids]) if ids.size else np.empty(0, np.int32)
    bad = np.flatnonzero((true != dist) | (dist > r))
    if bad.size:
        j = bad[0]
        return (f"{bad.size} hits wrong, e.g. query {qi[j]} id {ids[j]}: reported distance "
                f"{dist[j]}, true {true[j]}, radius {r}")
    dup = np.flatnonzero((qi[1:] == qi[:-1]) & (ids[1:] == ids[:-1]))
    if dup.size:
        return f"{dup.size} duplicate hits, e.g. query {qi[dup[0]]} id {ids[dup[0]]}"
    return None


def verify_knn(res, queries, data) -> str | None:
    ids, dist = res
    valid = ids >= 0
    if valid.any() and ids.max() >= data.shape[0]:
        return "ids out of range"
    qi = np.nonzero(valid)[0]
    true = popcount_rows(queries[qi], data[ids[valid]])
    bad = np.flatnonzero(true != dist[valid])
    if bad.size:
        j = bad[0]
        return (f"{bad.size} neighbours wrong, e.g. query {qi[j]} id {ids[valid][j]}: "
                f"reported distance {dist[valid][j]}, true {true[j]}")
    d = np.where(valid, dist, np.iinfo(np.int32).max).astype(np.int64)
    if (np.diff(d, axis=1) < 0).any():
        return "distances not in ascending order"
    return None


_MIX1 = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xC2B2AE3D27D4EB4F)


def query_keys(res, kind) -> np.ndarray:
    """One row per covered query that is equal for two results exactly when they agree on
    that query. Range: (hit count, order-free 64-bit hash of the (id, distance) set);
    k-NN: the k distances (ids may differ on ties)."""
    if kind == "knn":
        return res[1].astype(np.int64)
    nq, qi, ids, dist = res
    h = ids.astype(np.uint64) * _MIX1 ^ dist.astype(np.uint64) * _MIX2
    h ^= h >> np.uint64(31)
    h *= _MIX2
    cs = np.zeros(ids.size + 1, np.uint64)
    np.cumsum(h, out=cs[1:])  # wraps modulo 2**64, which is what we want
    ends = np.searchsorted(qi, np.arange(1, nq + 1))
    starts = np.concatenate([[0], ends[:-1]]).astype(np.intp)
    return np.stack([(ends - starts).astype(np.int64), (cs[ends] - cs[starts]).view(np.int64)],
                    axis=1)


def majority(keys):
    """keys: per entry, an (n_covered, W) array over a prefix of the same queries.
    Returns (wrong, best): wrong[e] = query indices where entry e differs from the answer
    most entries covering that query give; best[q] = an entry giving that answer."""
    cover = max(k.shape[0] for k in keys)
    width = max(k.shape[1] for k in keys)
    e = len(keys)
    allk = np.zeros((e, cover, width), np.int64)
    has = np.zeros((e, cover), bool)
    for i, k in enumerate(keys):
        allk[i, :k.shape[0], :k.shape[1]] = k
        has[i, :k.shape[0]] = True
    same = np.empty((e, e, cover), bool)
    for i in range(e):
        same[i] = (allk[i][None] == allk).all(axis=2) & has[i][None] & has
    support = same.sum(axis=1)            # (e, cover): entries giving entry i's answer
    best = support.argmax(axis=0)         # (cover,)
    agrees = same[best, np.arange(e)[:, None], np.arange(cover)[None]]  # (e, cover)
    return [np.flatnonzero(has[i] & ~agrees[i]) for i in range(e)], best


def describe(kind, a, b, q, la, lb) -> str:
    """What results a and b give for query q."""
    if kind == "knn":
        return f"query {q}: distances {la} {a[1][q].tolist()}, {lb} {b[1][q].tolist()}"

    def hits(res):
        _, qi, ids, dist = res
        lo, hi = np.searchsorted(qi, [q, q + 1])
        return set(zip(ids[lo:hi].tolist(), dist[lo:hi].tolist()))
    ha, hb = hits(a), hits(b)
    return (f"query {q}: (id, distance) only in {la}: {sorted(ha - hb)[:5]}, "
            f"only in {lb}: {sorted(hb - ha)[:5]}")


# --------------------------------------------------------------------------- formatting
def fmt_ms(seconds) -> str:
    if seconds is None:
        return "-"
    v = seconds * 1e3
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    if v >= 0.01:
        return f"{v:.3f}"
    return f"{v:.4f}"


def fmt_rate(v) -> str:
    if v is None:
        return "-"
    suffix = ""
    for scale, name in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            v, suffix = v / scale, name
            break
    return (f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}") + suffix


def fmt_ratio(v) -> str:
    return "-" if v is None else f"{v:.2f}x" if v < 10 else f"{v:.1f}x"


def fmt_n(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def op_label(op) -> str:
    kind, param = op
    return f"range r={param}" if kind == "range" else f"{param}-NN" if param == 1 else \
        f"kNN k={param}"


LOUD = "!" * 100


def shout(out, lines) -> None:
    text = "\n".join([LOUD] + [f"!!! {line}" for line in lines] + [LOUD])
    print(text, file=out, flush=True)
    if out is not sys.stderr:
        print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the run
def _engines(faiss, n, numpy_max_n, use_numpy=True):
    engines = [TidehashEngine(s) for s in STRATEGIES]
    if faiss is not None:
        engines += [FaissFlatEngine(faiss), FaissMultiHashEngine(faiss, n)]
    if use_numpy and n <= numpy_max_n:
        engines.append(NumpyEngine())
    return engines


def _measure_engine(engine, threads, ops, queries, limits, progress, tag):
    """All operations of one engine at one thread count; returns {op: record}."""
    records = {}
    for op in ops:
        kind, param = op
        call = (lambda q, r=param: engine.range(q, r)) if kind == "range" else \
            (lambda q, k=param: engine.knn(q, k))
        max_single, max_batch = limits["single"], limits["batch"]
        if engine.family == "numpy":
            max_single, max_batch = min(max_single, limits["numpy"]), min(max_batch,
                                                                          limits["numpy"])
        t_start = time.perf_counter()
        times, outs = time_single(call, queries, max_single, limits["budget"] / 2)
        # the first batch takes about budget / 4 at the single-query rate (16 at most)
        start = int(min(16, max(1, limits["budget"] / 4 / max(float(np.median(times)), 1e-9))))
        nb, best, runs, out = time_batch(call, queries, max_batch, limits["budget"], start)
        norm = engine.norm_range if kind == "range" else engine.norm_knn
        merge = merge_range if kind == "range" else merge_knn
        single = merge([norm(o) for o in outs])
        batch = norm(out)
        lat = np.asarray(times)
        records[op] = {
            "single": single, "batch": batch,
            "n_single": len(times), "n_batch": nb,
            "p50_s": float(np.median(lat)), "p99_s": float(np.percentile(lat, 99)),
            "mean_s": float(lat.mean()), "min_s": float(lat.min()),
            "batch_s": best, "batch_runs": runs, "qps": nb / best,
            "single_target": max_single, "batch_target": max_batch,
        }
        print(f"  [{tag} t={threads}] {engine.name:<14} {op_label(op):<11} "
              f"p50 {fmt_ms(records[op]['p50_s'])} ms  {fmt_rate(nb / best)} q/s "
              f"(n={len(times)}/{nb}, {time.perf_counter() - t_start:.1f} s)",
              file=progress, flush=True)
    return records


def _check_block(results, queries, data, ops, exact):
    """Verify every result against the data, and every exact result (all engines, thread
    counts, single and batched calls) query by query against the answer most of them give.
    Returns ({(engine, op): status}, {(engine, op): exact fraction}, [problem lines])."""
    problems = []
    status = {}
    recall = {}
    for op in ops:
        kind, param = op
        entries = []   # (label, engine, canonical result)
        for (name, t, o), rec in results.items():
            if o != op:
                continue
            status.setdefault((name, op), "ok")
            for mode in ("batch", "single"):
                res = rec[mode]
                label = f"{name} t={t} {mode}"
                if kind == "range":
                    res = canonical_range(res)
                    err = verify_range(res, queries, data, param)
                else:
                    err = verify_knn(res, queries, data)
                if err:
                    problems.append(f"{op_label(op)}: {label}: {err}")
                    status[(name, op)] = "FAIL"
                entries.append((label, name, res))
        exact_entries = [e for e in entries if exact.get((e[1], kind), True)]
        if not exact_entries:
            continue
        wrong, best = majority([query_keys(e[2], kind) for e in exact_entries])
        for (label, name, res), bad in zip(exact_entries, wrong):
            if bad.size:
                q = int(bad[0])
                lb, _, rb = exact_entries[best[q]]
                problems.append(f"{op_label(op)}: {label} differs from the majority on "
                                f"{bad.size} of {_covered(res, kind)} queries; "
                                + describe(kind, res, rb, q, label, lb))
                status[(name, op)] = "FAIL"
        # approximate k-NN: the fraction of queries with exactly the true distances
        if kind == "knn":
            truth = max(exact_entries, key=lambda e: _covered(e[2], kind))[2][1]
            for _label, name, res in entries:
                if exact.get((name, kind), True):
                    continue
                p = min(truth.shape[0], res[1].shape[0])
                same = float((truth[:p] == res[1][:p]).all(axis=1).mean()) if p else 0.0
                recall[(name, op)] = min(same, recall.get((name, op), 1.0))
    for (name, op), same in recall.items():
        if status.get((name, op)) == "ok":
            status[(name, op)] = f"~{same:.0%}"
    return status, recall, problems


def _covered(res, kind) -> int:
    return res[0] if kind == "range" else res[1].shape[0]


def _ratio(records, better):
    """(tidehash best, faiss best, speed-up) for one metric; better='low' or 'high'."""
    def best(family):
        items = [(v, name) for name, fam, v in records if fam == family and v is not None]
        if not items:
            return None
        return min(items) if better == "low" else max(items)
    th, other = best("tidehash"), best("faiss")
    if th is None or other is None:
        return th, other, None
    speedup = other[0] / th[0] if better == "low" else th[0] / other[0]
    return th, other, speedup


def run(ns=DEFAULT_N, datasets=("random", "clustered"), threads=(1, 2), radii=(16, 31, 52),
        ks=(1, 10), batch_queries=10_000, single_queries=200, numpy_queries=20,
        budget=10.0, seed=0, use_faiss=True, use_numpy=True, numpy_max_n=1_000_000,
        out=None, progress=None) -> dict:
    """Run the benchmark; prints tables to ``out`` and returns the report (JSON-able)."""
    out = sys.stdout if out is None else out
    progress = sys.stderr if progress is None else progress
    faiss = import_faiss() if use_faiss else None
    started = time.time()
    meta = machine_info(faiss)
    meta.update({
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_start": _loadavg(),
        "settings": {
            "n": list(ns), "datasets": list(datasets), "threads": list(threads),
            "radii": list(radii), "k": list(ks), "batch_queries": batch_queries,
            "single_queries": single_queries, "numpy_queries": numpy_queries,
            "budget_s": budget, "seed": seed, "numpy_max_n": numpy_max_n,
            "family_size": FAMILY_SIZE, "family_max_flips": FAMILY_MAX_FLIPS,
            "query_flips": list(QUERY_FLIPS), "faiss_mh_knn_nflip": FAISS_MH_KNN_NFLIP,
            "faiss_range_radius": "r + 1 (faiss keeps distance < radius)",
        },
    })
    limits = {"single": single_queries, "batch": batch_queries, "numpy": numpy_queries,
              "budget": budget}
    ops = [("range", r) for r in radii] + [("knn", k) for k in ks]
    report = {"meta": meta, "blocks": [], "builds": [], "results": [], "ratios": [],
              "disagreements": []}

    print(_header(meta), file=out, flush=True)
    for n in ns:
        for kind in datasets:
            tag = f"{kind} N={fmt_n(n)}"
            block = {"n": n, "dataset": kind, "loadavg_start": _loadavg()}
            t0 = time.perf_counter()
            data = make_data(kind, n, seed)
            queries = make_queries(data, max(batch_queries, single_queries), seed)
            ids = np.arange(n, dtype=np.int64)
            block["data_s"] = time.perf_counter() - t0
            print(f"[{tag}] data ready in {block['data_s']:.1f} s", file=progress, flush=True)
            results, builds = {}, {}
            engines = _engines(faiss, n, numpy_max_n, use_numpy)
            exact = {(e.name, "knn"): e.exact_knn for e in engines}
            for engine in engines:
                ths = [t for t in threads if engine.max_threads is None
                       or t <= engine.max_threads]
                if not ths:
                    continue
                release_memory()
                need, avail = engine.estimate_bytes(n), mem_available()
                if avail is not None and need > 0.8 * avail:
                    note = (f"{engine.name} skipped: needs ~{need / 2**30:.2f} GiB, "
                            f"{avail / 2**30:.2f} GiB available")
                    print(f"  [{tag}] {note}", file=progress, flush=True)
                    block.setdefault("skipped", []).append(note)
                    continue
                groups = [[t] for t in ths] if engine.rebuild_per_thread else [ths]
                for group in groups:
                    release_memory()
                    rss0 = rss_bytes()
                    b = engine.build(data, ids, group[0])
                    release_memory()
                    rss1 = rss_bytes()
                    b["rss_delta"] = rss1 - rss0 if rss0 is not None and rss1 is not None \
                        else None
                    if "bytes" not in b:
                        b["bytes"], b["bytes_source"] = b["rss_delta"], "rss delta"
                    b["detail"] = engine.detail
                    builds[(engine.name, group[0])] = b
                    report["builds"].append({
                        "n": n, "dataset": kind, "engine": engine.name, "threads": group[0],
                        **b, "bytes_per_hash": b["bytes"] / n if b["bytes"] else None})
                    print(f"  [{tag}] built {engine.name} {engine.detail} in "
                          f"{b['add_s'] + (b['mih_s'] or 0):.2f} s", file=progress, flush=True)
                    for t in group:
                        engine.set_threads(t)
                        recs = _measure_engine(engine, t, ops, queries, limits, progress, tag)
                        for op, rec in recs.items():
                            results[(engine.name, t, op)] = rec
                    engine.close()
                    release_memory()
            status, recall, problems = _check_block(results, queries, data, ops, exact)
            if problems:
                shout(out, [f"DISAGREEMENT in {tag} (a bug in one of the engines):"]
                      + problems)
                report["disagreements"] += [f"{tag}: {p}" for p in problems]
            block["loadavg_end"] = _loadavg()
            block["seconds"] = time.perf_counter() - t0
            block["peak_rss_bytes"] = peak_rss_bytes()
            report["blocks"].append(block)
            print(_table(tag, n, engines, ops, threads, results, builds, status, limits,
                         report, kind, block), file=out, flush=True)
            for (name, t, op), rec in results.items():
                report["results"].append({
                    "n": n, "dataset": kind, "engine": name, "threads": t,
                    "op": op[0], "param": op[1], "agree": status.get((name, op)),
                    "exact_fraction": recall.get((name, op)),
                    **{k: v for k, v in rec.items() if k not in ("single", "batch")},
                    "hits_per_query": _hits(rec) if op[0] == "range" else None})
            del data, queries, ids, results, engines
            release_memory()
    meta["loadavg_end"] = _loadavg()
    meta["duration_s"] = time.time() - started
    meta["peak_rss_bytes"] = peak_rss_bytes()
    if report["disagreements"]:
        shout(out, [f"{len(report['disagreements'])} DISAGREEMENTS between engines; "
                    "see above and 'disagreements' in the JSON"])
    else:
        print("All engines agree exactly on every configuration (range: same (query, id, "
              "distance) sets; k-NN: same distances; every hit checked against the data).",
              file=out, flush=True)
    return report


def _hits(rec):
    lims = rec["batch"][0]
    return float(lims[-1] - lims[0]) / max(1, lims.shape[0] - 1)


def _header(meta) -> str:
    faiss = (f"faiss {meta['faiss_version']} ({meta['faiss_compile_options']})"
             if meta["faiss_version"] else "faiss not installed (tidehash and NumPy only)")
    s = meta["settings"]
    return "\n".join([
        f"tidehash {meta['tidehash_version']} search benchmark",
        f"CPU: {meta['cpu_model']} ({meta['cpu_count']} logical CPUs, "
        f"{meta['cpus_usable']} usable); tidehash ISA: {meta['active_isa']}; "
        f"load average at start: {meta['loadavg_start']}",
        f"Python {meta['python']}, NumPy {meta['numpy_version']}, {faiss}",
        f"256-bit hashes; queries: half near-duplicates of listed hashes "
        f"({s['query_flips'][0]}-{s['query_flips'][1]} bit flips), half random; "
        f"clustered data: families of {s['family_size']} at 0-{s['family_max_flips']} flips",
        f"latency: one query per call, median (p50) and p99 over up to {s['single_queries']} "
        f"queries; throughput: one call on a batch of up to {s['batch_queries']} queries; "
        f"time budget {s['budget_s']:g} s per measurement",
    ])


def _table(tag, n, engines, ops, threads, results, builds, status, limits, report,
           kind, block) -> str:
    load = block["loadavg_end"]
    title = f"=== {tag} ({block['seconds']:.0f} s" + (
        f", load average {load[0]:.2f}" if load else "") + ") "
    lines = ["", title + "=" * max(0, 100 - len(title))]
    # builds
    lines.append(f"{'build':<16} {'threads':>7} {'add s':>8} {'MIH s':>8} {'B/hash':>8}  "
                 f"{'(memory from)':<14} layout")
    for (name, t), b in builds.items():
        per = f"{b['bytes'] / n:.1f}" if b.get("bytes") is not None else "-"
        mih = f"{b['mih_s']:.3f}" if b["mih_s"] is not None else "-"
        lines.append(f"{name:<16} {t:>7} {b['add_s']:>8.3f} {mih:>8} {per:>8}  "
                     f"{b['bytes_source']:<14} {b['detail']}")
    lines += [f"!! {note}" for note in block.get("skipped", [])]
    # search
    names = [e.name for e in engines if any((e.name, t) in builds for t in threads)]
    fam = {e.name: e.family for e in engines}
    group_w = 37
    head1 = f"{'':<12} {'engine':<15} {'agree':>6} "
    head2 = f"{'':<12} {'':<15} {'':>6} "
    for t in threads:
        title = f" {t} thread{'s' if t > 1 else ''} "
        head1 += "|" + title.center(group_w, "-")
        head2 += f"|{'p50 ms':>8} {'p99 ms':>8} {'q/s':>7} {'nq':>11}"
    lines += ["", head1, head2]
    short = False
    for op in ops:
        hits = [_hits(results[(nm, t, op)]) for nm in names for t in threads
                if (nm, t, op) in results] if op[0] == "range" else []
        label = op_label(op) + (f"  ({hits[0]:.2f} hits/query)" if hits else "")
        lines.append(label)
        for name in names:
            if not any((name, t, op) in results for t in threads):
                continue
            row = f"{'':<12} {name:<15} {status.get((name, op), '-'):>6} "
            for t in threads:
                rec = results.get((name, t, op))
                if rec is None:
                    row += f"|{'-':>8} {'-':>8} {'-':>7} {'-':>11}"
                    continue
                mark = ""
                if rec["n_single"] < rec["single_target"] or rec["n_batch"] < rec["batch_target"]:
                    mark, short = "*", True
                nq = f"{rec['n_single']}/{rec['n_batch']}{mark}"
                row += (f"|{fmt_ms(rec['p50_s']):>8} {fmt_ms(rec['p99_s']):>8} "
                        f"{fmt_rate(rec['qps']):>7} {nq:>11}")
            lines.append(row)
        if any(f == "faiss" for f in fam.values()):
            row = f"{'':<12} {'tidehash/faiss':<15} {'':>6} "
            for t in threads:
                metrics = {}
                for key, better in (("p50_s", "low"), ("p99_s", "low"), ("qps", "high")):
                    recs = [(nm, fam[nm], results[(nm, t, op)][key]) for nm in names
                            if (nm, t, op) in results
                            and (op[0] == "range" or results_exact(nm, engines))]
                    metrics[key] = _ratio(recs, better)
                report["ratios"].append({
                    "n": n, "dataset": kind, "threads": t, "op": op[0], "param": op[1],
                    **{f"{key}_speedup": m[2] for key, m in metrics.items()},
                    **{f"{key}_tidehash": m[0][1] if m[0] else None
                       for key, m in metrics.items()},
                    **{f"{key}_faiss": m[1][1] if m[1] else None
                       for key, m in metrics.items()}})
                row += (f"|{fmt_ratio(metrics['p50_s'][2]):>8} {fmt_ratio(metrics['p99_s'][2]):>8} "
                        f"{fmt_ratio(metrics['qps'][2]):>7} {'':>11}")
            lines.append(row)
    lines.append("")
    numpy_targets = (f", NumPy {limits['numpy']}/{limits['numpy']}" if "numpy" in names
                     else "")
    lines.append("nq: queries timed one at a time / in the batched call (targets "
                 f"{limits['single']}/{limits['batch']}{numpy_targets})"
                 + ("; * fewer: slow configuration, time budget "
                    f"{limits['budget']:g} s" if short else ""))
    if any(f == "faiss" for f in fam.values()):
        lines.append("tidehash/faiss: best tidehash strategy vs best exact faiss index, as a "
                     "speed-up (> 1: tidehash faster)")
    if "faiss-mh" in names and any(op[0] == "knn" for op in ops):
        lines.append(f"faiss-mh k-NN is approximate (buckets within nflip={FAISS_MH_KNN_NFLIP}); "
                     "agree ~x% = queries with exactly the true distances; not in the ratios")
    return "\n".join(lines)


def results_exact(name, engines) -> bool:
    return next(e.exact_knn for e in engines if e.name == name)


# --------------------------------------------------------------------------- CLI
def _ints(text: str) -> tuple:
    try:
        values = tuple(int(float(v)) for v in text.replace("_", "").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return values


def _names(text: str) -> tuple:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [v for v in values if v not in ("random", "clustered")]
    if bad or not values:
        raise argparse.ArgumentTypeError(f"datasets are random and clustered, got {text!r}")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tidehash.bench search",
        description="Exact Hamming search over 256-bit hashes: tidehash (flat, MIH, auto) vs "
                    "faiss (IndexBinaryFlat, IndexBinaryMultiHash; if installed) vs NumPy. "
                    "Prints tables and writes every figure to a JSON file.")
    p.add_argument("--n", type=_ints, default=None,
                   help="list sizes, comma-separated (default 1000000,10000000; "
                        "--quick: 100000)")
    p.add_argument("--quick", action="store_true",
                   help="small smoke run for CI (N=100k, few queries; under a minute)")
    p.add_argument("--threads", type=_ints, default=(1, 2),
                   help="thread counts, comma-separated (default 1,2)")
    p.add_argument("--datasets", type=_names, default=("random", "clustered"),
                   help="random and/or clustered (default both)")
    p.add_argument("--radii", type=_ints, default=(16, 31, 52), help="default 16,31,52")
    p.add_argument("--k", type=_ints, default=(1, 10), help="k-NN sizes (default 1,10)")
    p.add_argument("--queries", type=int, default=None,
                   help="batch size for throughput (default 10000; --quick 500)")
    p.add_argument("--single", type=int, default=None,
                   help="queries timed one at a time (default 200; --quick 30)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds per measurement before a slow configuration gets fewer "
                        "queries (default 10; --quick 0.5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-faiss", action="store_true", help="skip faiss even if installed")
    p.add_argument("--no-numpy", action="store_true", help="skip the NumPy baseline")
    p.add_argument("--numpy-max-n", type=int, default=1_000_000,
                   help="largest N for the NumPy baseline (default 1000000)")
    p.add_argument("--json", default="bench_search.json", metavar="OUT",
                   help="write the report here (default bench_search.json; '-' for stdout)")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if min(args.threads) < 1:
        parser().error("--threads must be >= 1")
    if min(args.k) < 1:
        parser().error("--k must be >= 1")
    quick = args.quick
    ns = args.n or (QUICK_N if quick else DEFAULT_N)
    if min(ns) < max(args.k):
        parser().error("every N must be at least the largest k")
    batch = args.queries if args.queries is not None else (500 if quick else 10_000)
    single = args.single if args.single is not None else (30 if quick else 200)
    budget = args.budget if args.budget is not None else (0.5 if quick else 10.0)
    report = run(ns=ns, datasets=args.datasets, threads=args.threads, radii=args.radii,
                 ks=args.k, batch_queries=max(1, batch), single_queries=max(1, single),
                 numpy_queries=10 if quick else 20, budget=budget, seed=args.seed,
                 use_faiss=not args.no_faiss, use_numpy=not args.no_numpy,
                 numpy_max_n=args.numpy_max_n)
    report["meta"]["argv"] = list(sys.argv[1:] if argv is None else argv)
    report["meta"]["quick"] = quick
    text = json.dumps(report, indent=1, default=_json_default)
    if args.json == "-":
        print(text)
    elif args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(f"JSON report: {os.path.abspath(args.json)}", file=sys.stderr)
    return 1 if report["disagreements"] else 0


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
