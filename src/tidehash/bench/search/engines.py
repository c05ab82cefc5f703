"""The engines the search benchmark times, behind one interface: tidehash.Index (flat,
MIH, auto), faiss's IndexBinaryFlat and IndexBinaryMultiHash (when installed) and a
NumPy baseline."""

from __future__ import annotations

import math
import time

import numpy as np

import tidehash
from tidehash.index import mih_layout

from .data import BITS, NBYTES, POPCOUNT8

FAISS_MH_KNN_NFLIP = 1    # faiss multi-hash k-NN probes buckets within this many flips
STRATEGIES = ("flat", "mih", "auto")


def import_faiss():
    try:
        import faiss
    except Exception:
        return None
    return faiss


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
        return POPCOUNT8[self.index ^ qrow].sum(axis=1, dtype=np.int32)

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


def engines_for(faiss, n, numpy_max_n, use_numpy=True):
    engines = [TidehashEngine(s) for s in STRATEGIES]
    if faiss is not None:
        engines += [FaissFlatEngine(faiss), FaissMultiHashEngine(faiss, n)]
    if use_numpy and n <= numpy_max_n:
        engines.append(NumpyEngine())
    return engines


def results_exact(name, engines) -> bool:
    return next(e.exact_knn for e in engines if e.name == name)
