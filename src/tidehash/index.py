"""tidehash.Index: exact Hamming search over millions of binary hashes.

Exact, never approximate: every hit within the radius is returned, and k-NN
returns the true k nearest. Two strategies give identical results:

* ``flat``: a tiled SIMD scan of every code (csrc/hamming);
* ``mih``: multi-index hashing (csrc/mih), sub-linear for small radii on large N;
* ``auto`` (default) chooses per call from N, the radius and the batch size with a
  cost model, and builds the MIH tables once N makes them worth it.

Consistency: searches never block and never see a half-done change. Each search
works on an immutable snapshot taken when it starts (codes, ids, MIH tables);
``add`` writes only past the end of every published snapshot and ``remove``
builds new arrays, so a search running concurrently with a writer sees the index
either before or after that write, never in between. Writers are serialised.
"""

from __future__ import annotations

import math
import os
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import _native
from ._atomic import atomic_file
from ._checks import positive_count
from .cpu import current_isa
from .errors import TidehashError
from .formats.detect import INDEX_FILE_MAGIC, LIST_FILE, binary_kind
from .hashes import as_hash_array, parse_hex

__all__ = ["Index", "IndexFormatError"]

_MAGIC = INDEX_FILE_MAGIC
_VERSION = 1
# magic, version, bits, n, flags, codes offset, ids offset, payload crc32, header crc32
_HEADER = struct.Struct("<8sIIQQQQII")
_HEADER_SPACE = 64

# cost model (seconds), measured on the development machine (benchmarks/RESULTS.md);
# it only chooses a strategy, results never depend on it
_FLAT_NS_PER_COMPARISON = {1: 0.10, 2: 0.13, 3: 0.21, 4: 0.30}
_MIH_NS_PER_PROBE = 30.0
_MIH_MIN_ROWS = 1 << 16      # below this a flat scan is always cheap enough
_MIH_TAIL_FRACTION = 8       # rebuild MIH once rows added since its build exceed n / 8
_PARALLEL_MIN_WORK = 1 << 20  # row comparisons below which threads cost more than they save
# below this many queries in all, a flat scan beats building MIH tables first (a build
# costs about as much as 2,000 flat single-query scans, at 1M and at 10M hashes alike)
FLAT_UNTIL_QUERIES = 2000


class IndexFormatError(TidehashError, ValueError):
    """An index file (``Index.save``) is truncated, corrupt, or of an unknown version;
    or a list file that Index.load was given is."""


@dataclass(frozen=True)
class _MIH:
    n: int                     # rows [0, n) are in the tables
    starts: list
    lengths: list
    offsets: list
    rows: list

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.offsets) + sum(a.nbytes for a in self.rows)


@dataclass(frozen=True)
class _Snapshot:
    codes: np.ndarray          # (capacity, words) uint64; rows [0, n) are live
    ids: np.ndarray            # (capacity,) int64
    n: int
    mih: _MIH | None


def _filter_words(radius: int, words: int) -> int:
    # mirrors filter_words() in csrc/hamming/hamming_body.h (speed model only)
    for w in range(1, words):
        margin = 32 * w - radius
        if margin > 0 and margin * margin >= 324 * w:
            return w
    return words


_MIH_MAX_SUBSTRING = 24      # 2**24 offsets (64 MB) per table at most
_MIH_MAX_TABLES = 64


def mih_layout(bits: int, n: int) -> tuple[list, list] | None:
    """Substring starts and lengths for n codes: m ~ bits / log2(n) substrings
    (Norouzi et al.), each at most min(24, log2(n) + 2) bits so a table's offsets
    stay within ~4n entries, lengths differing by at most one. None when that
    needs more than 64 tables (very wide codes): such indexes are searched flat."""
    # at most ~4n offsets per table, so tables cost O(n) memory
    max_len = min(_MIH_MAX_SUBSTRING, max(8, math.ceil(math.log2(max(n, 2))) + 2))
    m_min = -(-bits // max_len)
    if m_min > _MIH_MAX_TABLES:
        return None
    m = min(max(round(bits / math.log2(max(n, 2))), m_min), _MIH_MAX_TABLES, bits // 4)
    base, extra = divmod(bits, m)
    lengths = [base + (1 if i < extra else 0) for i in range(m)]
    starts = [sum(lengths[:i]) for i in range(m)]
    return starts, lengths


class Index:
    """Exact Hamming-distance index of ``bits``-bit hashes with int64 ids.

    >>> index = tidehash.Index()
    >>> index.add(hashes, ids)                       # (N, 32) uint8 or hex strings
    >>> lims, ids, dist = index.search_range(queries, 31)
    >>> ids, dist = index.search_knn(queries, k=10)

    Ids are chosen by the caller (int64 >= 0; default: consecutive from 0) and
    need not be unique: one id may label several hashes (a case with several
    images), and ``remove(id)`` removes every row carrying it.

    ``expected_queries``: how many queries the index will answer in all, when the
    caller knows (a command matching a given set of files does). With strategy
    ``auto``, fewer than FLAT_UNTIL_QUERIES (2,000) never build MIH tables: building
    them costs about as much as 2,000 flat scans. None (the default): unknown, a
    long-lived index.
    """

    def __init__(self, bits: int = 256, strategy: str = "auto", *, threads: int = 1,
                 expected_queries: int | None = None):
        if not isinstance(bits, int) or bits < 64 or bits % 64 or bits > 4096:
            raise ValueError(f"bits must be a multiple of 64 in 64..4096, got {bits!r}")
        if strategy not in ("auto", "flat", "mih"):
            raise ValueError(f"strategy must be 'auto', 'flat' or 'mih', got {strategy!r}")
        if expected_queries is not None and (
                isinstance(expected_queries, (bool, np.bool_))
                or not isinstance(expected_queries, (int, np.integer)) or expected_queries < 0):
            raise ValueError("expected_queries must be None or an int >= 0, "
                             f"got {expected_queries!r}")
        self.bits = bits
        self.strategy = strategy
        self.expected_queries = None if expected_queries is None else int(expected_queries)
        # a flat scan for every search: asked for, or too few searches to repay MIH
        self._flat = strategy == "flat" or (
            strategy == "auto" and expected_queries is not None
            and expected_queries < FLAT_UNTIL_QUERIES)
        self.threads = _check_threads(threads)
        self._words = bits // 64
        self._write = threading.Lock()
        self._state = _Snapshot(np.empty((0, self._words), np.uint64), np.empty(0, np.int64),
                                0, None)
        self._next_id = 0

    # ------------------------------------------------------------------ contents
    def __len__(self) -> int:
        return self._state.n

    def __repr__(self) -> str:
        st = self._state
        mih = f", mih m={len(st.mih.lengths)} over {st.mih.n} rows" if st.mih else ""
        return f"Index(bits={self.bits}, n={st.n}, strategy={self.strategy!r}{mih})"

    @property
    def nbytes(self) -> int:
        """Bytes held in memory: codes and ids (allocated capacity) plus MIH tables."""
        st = self._state
        return st.codes.nbytes + st.ids.nbytes + (st.mih.nbytes if st.mih else 0)

    def _codes_of(self, hashes, what: str = "hashes") -> np.ndarray:
        """(k, words) uint64 from an (k, bits/8) uint8 array, hex strings or bytes."""
        nbytes = self.bits // 8
        if isinstance(hashes, (str, bytes, bytearray, memoryview)) or \
                isinstance(getattr(hashes, "bytes", None), bytes):
            hashes = [hashes]  # one hash (hex, bytes or PDQHash)
        if isinstance(hashes, np.ndarray):
            arr = as_hash_array(hashes, nbytes, what)
        else:
            items = list(hashes)
            arr = np.empty((len(items), nbytes), np.uint8)
            for i, h in enumerate(items):
                if isinstance(h, str):
                    b = _parse_hex_bits(h, nbytes)
                elif isinstance(h, (bytes, bytearray, memoryview)):
                    b = bytes(h)
                elif hasattr(h, "bytes") and isinstance(h.bytes, bytes):
                    b = h.bytes
                else:
                    raise TypeError(f"{what}[{i}]: cannot read a hash from {type(h).__name__}")
                if len(b) != nbytes:
                    raise ValueError(f"{what}[{i}]: expected {nbytes} bytes, got {len(b)}")
                arr[i] = np.frombuffer(b, np.uint8)
        codes = np.ascontiguousarray(arr).view("<u8").astype(np.uint64, copy=False)
        if codes.ctypes.data % 8:  # a view at an odd offset: the kernels need aligned words
            codes = codes.copy()
        return codes

    def add(self, hashes, ids=None) -> np.ndarray:
        """Add hashes with their ids; returns the ids used.

        ``hashes``: (N, bits/8) uint8 array, or hex strings / bytes / PDQHash.
        ``ids``: N int64 >= 0 (default: consecutive after the largest id so far)."""
        codes = self._codes_of(hashes)
        k = codes.shape[0]
        with self._write:
            if ids is None:
                ids = np.arange(self._next_id, self._next_id + k, dtype=np.int64)
            else:
                ids = _check_ids(ids, k)
            if k == 0:
                return ids
            st = self._state
            n = st.n
            cap = st.codes.shape[0]
            if n + k > cap or not st.codes.flags.writeable or not st.ids.flags.writeable:
                new_cap = n + k if n == 0 else max(n + k, cap + cap // 4)
                new_codes = np.empty((new_cap, self._words), np.uint64)
                new_ids = np.empty(new_cap, np.int64)
                new_codes[:n] = st.codes[:n]
                new_ids[:n] = st.ids[:n]
            else:  # rows past n are invisible to every published snapshot
                new_codes, new_ids = st.codes, st.ids
            new_codes[n:n + k] = codes
            new_ids[n:n + k] = ids
            self._state = _Snapshot(new_codes, new_ids, n + k, st.mih)
            self._next_id = max(self._next_id, int(ids.max()) + 1)
            return ids

    def remove(self, ids) -> int:
        """Remove every row whose id is in ``ids``; returns how many rows went."""
        ids = np.unique(_check_ids(ids, None))
        with self._write:
            st = self._state
            live = st.ids[:st.n]
            gone = np.isin(live, ids)
            count = int(gone.sum())
            if count == 0:
                return 0
            keep = ~gone
            # new arrays: running searches keep reading the old snapshot
            self._state = _Snapshot(np.ascontiguousarray(st.codes[:st.n][keep]),
                                    np.ascontiguousarray(live[keep]), st.n - count, None)
            return count

    def ids_of(self, hash) -> np.ndarray:
        """Ids of the rows holding exactly this hash (sorted)."""
        _, ids, _ = self.search_range(self._codes_of(hash)[:1].view(np.uint8), 0)
        return np.sort(ids)

    def hashes(self) -> np.ndarray:
        """A copy of all hashes as an (N, bits/8) uint8 array, in row order."""
        st = self._state
        return st.codes[:st.n].astype("<u8").view(np.uint8).reshape(st.n, self.bits // 8).copy()

    def ids(self) -> np.ndarray:
        """A copy of all ids, in row order."""
        st = self._state
        return st.ids[:st.n].copy()

    # ------------------------------------------------------------------ MIH
    def build_mih(self) -> None:
        """Build the multi-index hashing tables now (``auto`` builds them when useful)."""
        with self._write:
            self._build_mih_locked()

    def _build_mih_locked(self) -> None:
        st = self._state
        n = st.n
        if n == 0:
            self._state = _Snapshot(st.codes, st.ids, 0, None)
            return
        layout = mih_layout(self.bits, n)
        if layout is None:
            raise ValueError(f"{self.bits}-bit codes need more than {_MIH_MAX_TABLES} "
                             f"multi-index tables at n={n}; use strategy='flat'")
        starts, lengths = layout
        codes = st.codes[:n]
        offsets = [np.empty((1 << ln) + 1, np.uint32) for ln in lengths]
        rows = [np.empty(n, np.uint32) for _ in lengths]

        def build(i):
            _native.mih_build(codes, starts[i], lengths[i], offsets[i], rows[i])

        if self.threads > 1:  # one table per thread; the kernel releases the GIL
            with ThreadPoolExecutor(self.threads) as ex:
                list(ex.map(build, range(len(lengths))))
        else:
            for i in range(len(lengths)):
                build(i)
        self._state = _Snapshot(st.codes, st.ids, n, _MIH(n, starts, lengths, offsets, rows))

    def _mih_for_search(self, st: _Snapshot, radius: int, nq: int) -> tuple[_Snapshot, bool]:
        """Decide flat or MIH for this call; may build or refresh the tables."""
        if self._flat or st.n == 0:
            return st, False
        stale = st.mih is None or (st.n - st.mih.n) * _MIH_TAIL_FRACTION > st.n
        if self.strategy == "mih":
            if stale:
                with self._write:
                    if self._state is st or self._state.mih is None:
                        self._build_mih_locked()
                    st = self._state
            return st, True
        if st.n < _MIH_MIN_ROWS or not self._mih_cheaper(st.n, radius, nq):
            return st, False
        if stale and self._write.acquire(blocking=False):
            try:  # one searcher builds; the others go on with what they have
                self._build_mih_locked()
                st = self._state
            finally:
                self._write.release()
        return st, st.mih is not None

    def _mih_cheaper(self, n: int, radius: int, nq: int) -> bool:
        layout = mih_layout(self.bits, n)
        if layout is None:
            return False
        _, lengths = layout
        sub = radius // len(lengths)
        probes = sum(_native.mih_probes(ln, sub) for ln in lengths)
        candidates = sum(_native.mih_probes(ln, sub) * n / (1 << ln) for ln in lengths)
        mih = (probes + candidates) * _MIH_NS_PER_PROBE
        flat = n * _FLAT_NS_PER_COMPARISON.get(_filter_words(radius, self._words), 0.3)
        # a single query also pays for streaming the whole table from memory
        flat += 0 if nq > 1 else n * self._words * 8 / 10.0  # ~10 GB/s, in ns
        return mih < flat

    # ------------------------------------------------------------------ search
    def _queries(self, queries, dihedral: bool) -> np.ndarray:
        if dihedral and isinstance(queries, np.ndarray) and queries.ndim == 3:
            if queries.shape[1] != 8:
                raise ValueError(f"dihedral queries have shape (Q, 8, {self.bits // 8}), "
                                 f"got {queries.shape}")
            queries = queries.reshape(-1, queries.shape[2])
        q = self._codes_of(queries, "queries")
        if dihedral and q.shape[0] % 8:
            raise ValueError("dihedral=True needs 8 hashes per query (the 8 PDQ variants, "
                             f"in pdq_hash_dihedral order); got {q.shape[0]} hashes")
        return q

    def _range_rows(self, st: _Snapshot, q: np.ndarray, radius: int):
        """(query, row, distance) of all hits, unordered."""
        st, use_mih = self._mih_for_search(st, radius, q.shape[0])
        isa = current_isa()
        parts = []
        codes = st.codes[:st.n]
        if use_mih:
            mih = st.mih
            parts.append(self._parallel(
                lambda qs: _native.mih_range(mih.starts, mih.lengths, mih.offsets, mih.rows,
                                             codes[:mih.n], qs, radius, isa), q,
                work=q.shape[0] * 1e4))
            lo = mih.n
        else:
            lo = 0
        if lo < st.n:
            tail = codes[lo:]
            if q.shape[0] == 1 and self.threads > 1 and tail.shape[0] >= _PARALLEL_MIN_WORK:
                parts.append(self._parallel_rows(
                    lambda a, b: _native.hamming_range(q, tail[a:b], radius, isa, lo + a),
                    tail.shape[0]))
            else:
                parts.append(self._parallel(
                    lambda qs: _native.hamming_range(qs, tail, radius, isa, lo), q,
                    work=q.shape[0] * tail.shape[0]))
        if not parts:  # empty index
            return st, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int32)
        qi = np.concatenate([p[0] for p in parts])
        rows = np.concatenate([p[1] for p in parts])
        dist = np.concatenate([p[2] for p in parts])
        return st, qi, rows, dist

    def _pool(self) -> ThreadPoolExecutor:
        pool = self.__dict__.get("_executor")
        if pool is None:
            with self._write:
                pool = self.__dict__.get("_executor")
                if pool is None:
                    pool = ThreadPoolExecutor(self.threads, thread_name_prefix="tidehash-index")
                    self._executor = pool
        return pool

    def _parallel(self, fn, q: np.ndarray, work: float = float("inf")):
        """Run fn over chunks of queries on self.threads threads (when the work, in
        row comparisons, is worth it); concatenates and offsets the query indices."""
        if self.threads == 1 or q.shape[0] < 2 or work < _PARALLEL_MIN_WORK:
            return fn(q)
        bounds = np.linspace(0, q.shape[0], min(self.threads, q.shape[0]) + 1).astype(int)
        outs = list(self._pool().map(lambda ab: fn(q[ab[0]:ab[1]]),
                                     zip(bounds[:-1], bounds[1:])))
        return (np.concatenate([o[0] + a for o, a in zip(outs, bounds[:-1])]),
                np.concatenate([o[1] for o in outs]), np.concatenate([o[2] for o in outs]))

    def _parallel_rows(self, fn, n: int):
        bounds = np.linspace(0, n, min(self.threads, n) + 1).astype(int)
        outs = list(self._pool().map(lambda ab: fn(ab[0], ab[1]), zip(bounds[:-1], bounds[1:])))
        return tuple(np.concatenate([o[i] for o in outs]) for i in range(3))

    def search_range(self, queries, radius: int, *, dihedral: bool = False):
        """All hashes within ``radius`` of each query, in faiss's CSR form.

        Returns ``(lims, ids, distances)``: the hits of query i are
        ``ids[lims[i]:lims[i+1]]``, sorted by distance then id. With
        ``dihedral=True`` the queries are 8 hashes each (the PDQ dihedral variants,
        (Q, 8, 32) or (8Q, 32)); a hit is reported once with its best distance over
        the variants and a 4th array ``variants`` gives which variant (0-7)."""
        radius = _check_radius(radius, self.bits)
        q = self._queries(queries, dihedral)
        nq = q.shape[0] // 8 if dihedral else q.shape[0]
        st, qi, rows, dist = self._range_rows(self._state, q, radius)
        variant = None
        if dihedral:
            variant = (qi % 8).astype(np.int8)
            qi = qi // 8
            # best variant per (query, row): smallest distance, then smallest variant
            order = np.lexsort((variant, dist, rows, qi))
            qi, rows, dist, variant = qi[order], rows[order], dist[order], variant[order]
            first = np.ones(qi.shape[0], bool)
            first[1:] = (qi[1:] != qi[:-1]) | (rows[1:] != rows[:-1])
            qi, rows, dist, variant = qi[first], rows[first], dist[first], variant[first]
        ids = st.ids[rows]
        order = np.lexsort((ids, dist, qi))
        qi, ids, dist = qi[order], ids[order], dist[order]
        lims = np.zeros(nq + 1, np.int64)
        np.cumsum(np.bincount(qi, minlength=nq), out=lims[1:])
        if dihedral:
            return lims, ids, dist, variant[order]
        return lims, ids, dist

    def search_knn(self, queries, k: int, *, dihedral: bool = False):
        """The k nearest hashes of each query: ``(ids, distances)``, both
        (Q, min(k, len(index))), ascending by distance (ties: earlier-added row
        first). A k larger than the index returns all its rows, as slicing a sorted
        array would. With ``dihedral=True`` (8 hashes per query) each row counts
        once, at its best distance over the variants."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        q = self._queries(queries, dihedral)
        st = self._state
        # capped at the row count: k = 10**9 must not allocate (Q, 10**9) results
        # whatever the index holds
        k = int(min(int(k), st.n))
        isa = current_isa()
        codes = st.codes[:st.n]
        if q.shape[0] == 0:
            return np.empty((0, k), np.int64), np.empty((0, k), np.int32)
        dist, rows = self._knn_rows(codes, q, k, isa)
        if dihedral:
            dist, rows = _best_over_variants(dist, rows, k)
        ids = st.ids[np.maximum(rows, 0)] if st.n else np.zeros(rows.shape, np.int64)
        return np.where(rows >= 0, ids, -1).astype(np.int64), dist

    def _knn_rows(self, codes, q, k, isa):
        if codes.shape[0] == 0:
            return (np.full((q.shape[0], k), -1, np.int32), np.full((q.shape[0], k), -1, np.int64))
        if self.threads == 1 or q.shape[0] < 2 or \
                q.shape[0] * codes.shape[0] < _PARALLEL_MIN_WORK:
            return _native.hamming_knn(q, codes, k, isa)
        bounds = np.linspace(0, q.shape[0], min(self.threads, q.shape[0]) + 1).astype(int)
        outs = list(self._pool().map(
            lambda ab: _native.hamming_knn(q[ab[0]:ab[1]], codes, k, isa),
            zip(bounds[:-1], bounds[1:])))
        return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])

    # ------------------------------------------------------------------ files
    def save(self, path) -> None:
        """Write the index to one index file, atomically (temp file, fsync, rename);
        ``Index.load`` reads it. (A list file, ``tidehash index build``'s, holds a whole
        hash list; this holds the hash codes and ids only.)

        Layout (little-endian): a 64-byte header (magic, version, bits, n, flags,
        section offsets, CRC-32 of the payload, CRC-32 of the header), the codes
        (n x bits/8 bytes) at offset 64, then the int64 ids, 8-byte aligned.
        MIH tables are not stored; they are rebuilt when needed."""
        st = self._state
        n = st.n
        codes = np.ascontiguousarray(st.codes[:n]).astype("<u8", copy=False)
        ids = np.ascontiguousarray(st.ids[:n]).astype("<i8", copy=False)
        codes_off = _HEADER_SPACE
        ids_off = codes_off + codes.nbytes
        crc = zlib.crc32(ids.data, zlib.crc32(codes.data)) if n else 0
        fields = (_MAGIC, _VERSION, self.bits, n, 0, codes_off, ids_off, crc)
        head = _HEADER.pack(*fields, 0)
        head = _HEADER.pack(*fields, zlib.crc32(head[:-4]))
        with atomic_file(path) as f:
            f.write(head.ljust(_HEADER_SPACE, b"\0"))
            f.write(codes.data)
            f.write(ids.data)

    @classmethod
    def over(cls, hashes: np.ndarray, ids: np.ndarray | None = None, *,
             strategy: str = "auto", threads: int = 1,
             expected_queries: int | None = None) -> Index:
        """An index searching ``hashes`` ((N, bits/8) uint8, C-contiguous, 8-byte
        aligned, e.g. a memory-mapped file's) in place, without copying them; ids
        default to the row numbers. The first add or remove copies them."""
        hashes = np.asarray(hashes)
        if hashes.dtype != np.uint8 or hashes.ndim != 2 or hashes.shape[1] % 8 \
                or not hashes.flags.c_contiguous or hashes.ctypes.data % 8:
            raise ValueError("Index.over needs a C-contiguous, 8-byte aligned (N, bits/8) "
                             f"uint8 array, got {hashes.dtype} {hashes.shape}")
        n = hashes.shape[0]
        index = cls(hashes.shape[1] * 8, strategy, threads=threads,
                    expected_queries=expected_queries)
        ids = np.arange(n, dtype=np.int64) if ids is None else _check_ids(ids, n)
        if n:
            codes = hashes.view("<u8")
            if not np.little_endian:
                codes = codes.astype(np.uint64)
            index._state = _Snapshot(codes, ids, n, None)
            index._next_id = int(ids.max()) + 1
        return index

    @classmethod
    def _from_list_file(cls, path: str, *, mmap: bool, verify: bool, strategy: str,
                        threads: int, expected_queries: int | None) -> Index:
        from .formats.binary import ListFileError, load_list

        try:
            hash_list = load_list(path, mmap=mmap, verify=verify)
        except ListFileError as exc:
            raise IndexFormatError(str(exc)) from None
        return cls.over(hash_list.pdq.hashes, strategy=strategy, threads=threads,
                        expected_queries=expected_queries)

    @classmethod
    def load(cls, path, *, mmap: bool = True, verify: bool = True,
             strategy: str = "auto", threads: int = 1,
             expected_queries: int | None = None) -> Index:
        """Load an index file written by ``save``. With ``mmap=True`` codes and ids are
        memory-mapped read-only (no copy; the first add or remove copies them).
        ``verify`` checks the payload CRC (reads the whole file once). A tidehash
        list file (``tidehash index build``) loads as an index of its PDQ hashes,
        ids = row numbers."""
        path = os.fspath(path)
        if binary_kind(path) == LIST_FILE:
            return cls._from_list_file(path, mmap=mmap, verify=verify, strategy=strategy,
                                       threads=threads, expected_queries=expected_queries)
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(_HEADER_SPACE)
        if len(head) < _HEADER.size:
            raise IndexFormatError(f"{path}: too short to be a tidehash index file ({size} bytes)")
        magic, version, bits, n, flags, codes_off, ids_off, crc, head_crc = \
            _HEADER.unpack_from(head)
        if magic != _MAGIC:
            raise IndexFormatError(f"{path}: not a tidehash index file (Index.save) or list file "
                                   "(tidehash index build): bad magic")
        if zlib.crc32(head[:_HEADER.size - 4]) != head_crc:
            raise IndexFormatError(f"{path}: header is corrupt (checksum mismatch)")
        if version != _VERSION:
            raise IndexFormatError(f"{path}: index format version {version} is not supported "
                                   f"(this tidehash reads version {_VERSION})")
        if any(head[_HEADER.size:_HEADER_SPACE]):
            raise IndexFormatError(f"{path}: header is corrupt (reserved bytes are not zero)")
        if bits < 64 or bits % 64 or bits > 4096 or flags != 0:
            raise IndexFormatError(f"{path}: bad header (bits={bits}, flags={flags})")
        words = bits // 64
        if codes_off != _HEADER_SPACE or ids_off != codes_off + n * words * 8 \
                or size != ids_off + n * 8:
            raise IndexFormatError(
                f"{path}: truncated or malformed: {size} bytes for {n} hashes of {bits} bits")
        index = cls(bits, strategy, threads=threads, expected_queries=expected_queries)
        if n:
            if mmap:
                codes = np.memmap(path, dtype="<u8", mode="r", offset=codes_off,
                                  shape=(n, words))
                ids = np.memmap(path, dtype="<i8", mode="r", offset=ids_off, shape=(n,))
            else:
                with open(path, "rb") as f:
                    f.seek(codes_off)
                    codes = np.fromfile(f, dtype="<u8", count=n * words).reshape(n, words)
                    ids = np.fromfile(f, dtype="<i8", count=n)
            if verify:
                if zlib.crc32(memoryview(ids), zlib.crc32(memoryview(codes))) != crc:
                    raise IndexFormatError(f"{path}: data is corrupt (checksum mismatch)")
                if ids.min() < 0:
                    raise IndexFormatError(f"{path}: negative ids (ids are >= 0)")
            if not np.little_endian:  # the file is little-endian; a big-endian host copies
                codes, ids = codes.astype(np.uint64), ids.astype(np.int64)
            index._state = _Snapshot(codes, ids, n, None)
            index._next_id = int(ids.max()) + 1 if n else 0
        return index


def _parse_hex_bits(text: str, nbytes: int) -> bytes:
    if nbytes == 32:
        return parse_hex(text)
    try:
        b = bytes.fromhex(text)
    except ValueError:
        b = b""
    if len(b) != nbytes or len(text) != 2 * nbytes:
        raise ValueError(f"not a {nbytes * 8}-bit hex hash: {text[:80]!r}")
    return b


def _check_ids(ids, k: int | None) -> np.ndarray:
    if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
        ids = [ids]
    arr = np.asarray(ids)
    if arr.ndim != 1:
        arr = arr.reshape(-1) if arr.ndim == 0 else arr
    if arr.ndim != 1:
        raise ValueError(f"ids must be one-dimensional, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers, not {arr.dtype}")
    if k is not None and arr.shape[0] != k:
        raise ValueError(f"got {arr.shape[0]} ids for {k} hashes")
    too_big = arr.size and arr.dtype.kind == "u" and arr.max() > np.iinfo(np.int64).max
    if arr.size and (arr.min() < 0 or too_big):
        raise ValueError("ids must be in 0 .. 2**63 - 1 (-1 marks 'no result')")
    return arr.astype(np.int64)


def _check_radius(radius, bits: int) -> int:
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)):
        raise TypeError(f"radius must be an int, got {type(radius).__name__}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return int(min(radius, bits))


def _check_threads(threads) -> int:
    if threads is None:
        return os.cpu_count() or 1
    return positive_count("threads", threads)


def _best_over_variants(dist: np.ndarray, rows: np.ndarray, k: int):
    """Per query, k-NN lists of its 8 variants (8k candidates) -> the k best rows,
    each at its smallest distance. Exact: a row in the true top k is in the top k
    of the variant that gives its best distance."""
    nq = dist.shape[0] // 8
    dist = dist.reshape(nq, 8 * k)
    rows = rows.reshape(nq, 8 * k)
    out_d = np.full((nq, k), -1, np.int32)
    out_r = np.full((nq, k), -1, np.int64)
    for i in range(nq):
        valid = rows[i] >= 0
        r, d = rows[i][valid], dist[i][valid]
        order = np.lexsort((d, r))            # by row, then distance
        r, d = r[order], d[order]
        first = np.ones(r.shape[0], bool)
        first[1:] = r[1:] != r[:-1]
        r, d = r[first], d[first]
        order = np.lexsort((r, d))[:k]        # by distance, then row
        out_r[i, :order.shape[0]] = r[order]
        out_d[i, :order.shape[0]] = d[order]
    return out_d, out_r
