"""The lookup service: the active, published entries in memory, kept current by
tailing the change log, and concurrent lookups searched together.

``LookupState`` holds what a lookup needs, compactly enough for 10M entries:

* every entry version gets a dense **key** (0, 1, 2, ...), and three arrays indexed by
  key hold its entry id (int64), its PDQ quality (uint8, 255 when it has no PDQ) and
  whether it is alive; a delete only clears ``alive`` (a tombstone), so no change ever
  copies a large array;
* PDQ: one ``tidehash.Index`` whose ids are the keys. Hits of dead keys are filtered
  out; once dead rows pass an eighth of the index it is rebuilt in bulk, off to the
  side, and swapped in (``Index.remove`` copies the whole array and drops the MIH
  tables, so it is never called per change). The MIH tables are built at load and
  refreshed by the writer when the rows added since pass a sixteenth, so that no
  search ever builds them inline;
* MD5 / SHA-256: a sorted NumPy array of digests (``S16`` / ``S32``) with the keys,
  plus a small dict of the digests added since, merged in bulk when it grows;
* entry id -> key (needed only by the writer for deletes): a sorted array plus a dict;
* videos: a ``tidehash.match.VPDQIndex`` whose video ids are keys (each video's result
  depends only on its own frames, so filtering dead ones out is exact), rebuilt from
  the kept frames when dead frames pass an eighth.

A search reads each shared structure once, at its start, and never takes a lock: the
writer (one thread: load / apply) publishes new arrays by swapping references, and
writes in place only to positions no published view can reach, or to ``alive``.

``LookupService`` loads the state from ``Changelog.active_entries`` in a thread, then
tails ``Changelog.changes``; ``await service.lookup(queries)`` queues the request for
a micro-batcher: one worker takes every request waiting (up to a cap) and runs one
batched search for all of them in a thread, so N waiting requests cost one scan.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ...hashes import VPDQFeature
from ...index import Index
from ...match import PDQ_MATCH_RADIUS, PDQ_WEAK_QUALITY, VPDQIndex, prepare_vpdq
from ...pdq import DIHEDRAL_NAMES
from .db import Unavailable
from .store import BadRequest

__all__ = ["LookupService", "LookupState", "NotReady", "QueryError", "trim_heap"]

log = logging.getLogger("tidehash.registry.lookup")

NO_PDQ = 255                 # quality of a key whose entry has no PDQ hash
MIH_MIN_ROWS = 1 << 16       # below this the Index scans flat and needs no tables
COMPACT_MIN = 1 << 16        # dead rows (or frames) tolerated whatever the size
MERGE_MIN = 1 << 16          # dict entries tolerated before a merge into the arrays
BATCH_QUERIES = 4096         # queries the batcher puts into one search at most
_LOAD_CHUNK = 1 << 16
_DIGEST_BYTES = {"md5": 16, "sha256": 32}
_MAX_RADIUS = 256


try:
    _LIBC = ctypes.CDLL("libc.so.6")
    _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
except (OSError, AttributeError):  # not glibc: nothing to trim
    _LIBC = None


def trim_heap() -> None:
    """Give the heap freed by a load back to the OS (glibc keeps it otherwise: at 1M
    entries some 70 MB of a load's transient strings and chunks stay resident)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class NotReady(Unavailable):
    """A lookup before the index has loaded: like an unreachable database, a 503."""


class QueryError(BadRequest, ValueError):
    """A lookup query the service cannot read; ``loc`` names it (``queries[2].pdq``),
    as the store's BadRequest does (a 400)."""


# ----------------------------------------------------------------------------- structures
@dataclass(frozen=True)
class _Keys:
    """Per key (capacity >= n): entry id, PDQ quality, alive. Keys >= n are not
    published yet: a search ignores them."""

    entry: np.ndarray
    quality: np.ndarray
    alive: np.ndarray
    n: int

    @classmethod
    def empty(cls, capacity: int = 0) -> _Keys:
        return cls(np.zeros(capacity, np.int64), np.full(capacity, NO_PDQ, np.uint8),
                   np.zeros(capacity, bool), 0)

    def grown(self, capacity: int) -> _Keys:
        out = _Keys.empty(capacity)
        out.entry[:self.n] = self.entry[:self.n]
        out.quality[:self.n] = self.quality[:self.n]
        out.alive[:self.n] = self.alive[:self.n]
        return _Keys(out.entry, out.quality, out.alive, self.n)


@dataclass(frozen=True)
class _Digests:
    """Digests -> keys: ``base`` sorted (ties in key order) with ``keys``, and
    ``delta`` (digest bytes -> list of keys) for those added since the base was built.
    The writer appends to ``delta`` in place; a merge publishes a new _Digests."""

    base: np.ndarray
    keys: np.ndarray
    delta: dict

    @classmethod
    def empty(cls, width: int) -> _Digests:
        return cls(np.empty(0, f"S{width}"), np.empty(0, np.int64), {})

    def find(self, values: list[bytes]) -> list[list[int]]:
        if not values:
            return []
        q = np.array(values, dtype=self.base.dtype)
        lo = np.searchsorted(self.base, q, "left").tolist()
        hi = np.searchsorted(self.base, q, "right").tolist()
        out = []
        for v, a, b in zip(values, lo, hi):
            found = self.keys[a:b].tolist() if b > a else []
            more = self.delta.get(v)
            out.append(found + more if more else found)
        return out

    def delta_size(self) -> int:
        return sum(len(v) for v in self.delta.values())

    def merged(self, alive: np.ndarray) -> _Digests:
        """Base and delta in one sorted array, dead keys dropped."""
        live = alive[self.keys]
        base, keys = self.base[live], self.keys[live]
        if self.delta:
            add_v = [v for v, ks in self.delta.items() for _ in ks]
            add_k = np.array([k for ks in self.delta.values() for k in ks], np.int64)
            add_v = np.array(add_v, dtype=base.dtype)
            ok = alive[add_k]
            add_v, add_k = add_v[ok], add_k[ok]
            order = np.lexsort((add_k, add_v))
            add_v, add_k = add_v[order], add_k[order]
            # new keys are larger than every base key: after the equal digests of the base
            pos = np.searchsorted(base, add_v, "right")
            base = np.insert(base, pos, add_v)
            keys = np.insert(keys, pos, add_k)
        return _Digests(base, keys, {})


class _IdMap:
    """Entry id -> key of its live version; the writer's alone. A sorted array plus a
    dict of later ones; an id whose key is dead is absent."""

    def __init__(self, ids: np.ndarray | None = None, keys: np.ndarray | None = None):
        self.ids = np.empty(0, np.int64) if ids is None else ids
        self.keys = np.empty(0, np.int64) if keys is None else keys
        self.delta: dict[int, int] = {}

    def get(self, entry_id: int, alive: np.ndarray) -> int:
        key = self.delta.get(entry_id)
        if key is not None:
            return key
        i = int(np.searchsorted(self.ids, entry_id))
        if i < self.ids.size and self.ids[i] == entry_id:
            key = int(self.keys[i])
            if alive[key]:
                return key
        return -1

    def merge(self, alive: np.ndarray) -> None:
        live = alive[self.keys]
        ids, keys = self.ids[live], self.keys[live]
        if self.delta:
            add_i = np.fromiter(self.delta.keys(), np.int64, len(self.delta))
            add_k = np.fromiter(self.delta.values(), np.int64, len(self.delta))
            order = np.argsort(add_i)
            add_i, add_k = add_i[order], add_k[order]
            pos = np.searchsorted(ids, add_i)
            ids, keys = np.insert(ids, pos, add_i), np.insert(keys, pos, add_k)
        self.ids, self.keys, self.delta = ids, keys, {}


# ----------------------------------------------------------------------------- queries
def _hex_bytes(text, nbytes: int, loc: str) -> bytes:
    if not isinstance(text, str) or len(text) != 2 * nbytes:
        raise QueryError(loc, f"expected {2 * nbytes} hex digits")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != nbytes:
        raise QueryError(loc, f"expected {2 * nbytes} hex digits")
    return raw


def _frames(frames, loc: str) -> list[VPDQFeature]:
    if not isinstance(frames, list):
        raise QueryError(loc, "expected a list of frames")
    out = []
    for j, f in enumerate(frames):
        where = f"{loc}[{j}]"
        if not isinstance(f, dict):
            raise QueryError(where, "expected a frame object")
        quality = f.get("quality")
        if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
            raise QueryError(f"{where}.quality", "expected an int in 0..100")
        raw = _hex_bytes(f.get("pdq"), 32, f"{where}.pdq")
        out.append(VPDQFeature(int(f.get("frame") or 0), quality, raw.hex(),
                               float(f.get("timestamp") or 0.0)))
    return out


def parse_queries(queries) -> list[tuple]:
    """Wire queries -> internal tuples (QueryError naming the query otherwise):
    ("pdq", 32 bytes, quality|None, radius), ("pdq8", 256 bytes: the 8 dihedral
    variants, quality|None, radius), ("md5"|"sha256", digest bytes), ("vpdq", frames)."""
    if not isinstance(queries, list):
        raise QueryError("queries", "expected a list")
    out = []
    for i, q in enumerate(queries):
        loc = f"queries[{i}]"
        if not isinstance(q, dict):
            raise QueryError(loc, "expected an object")
        signals = [s for s in ("pdq", "md5", "sha256", "vpdq") if q.get(s) is not None]
        if len(signals) != 1:
            raise QueryError(loc, "expected exactly one of pdq, md5, sha256, vpdq")
        signal = signals[0]
        if signal == "pdq":
            quality = q.get("quality")
            if quality is not None and (isinstance(quality, bool) or not isinstance(quality, int)
                                        or not 0 <= quality <= 100):
                raise QueryError(f"{loc}.quality", "expected an int in 0..100")
            radius = q.get("radius")
            radius = PDQ_MATCH_RADIUS if radius is None else radius
            if isinstance(radius, bool) or not isinstance(radius, int) \
                    or not 0 <= radius <= _MAX_RADIUS:
                raise QueryError(f"{loc}.radius", f"expected an int in 0..{_MAX_RADIUS}")
            value = q["pdq"]
            if q.get("dihedral"):
                if not isinstance(value, list) or len(value) != 8:
                    raise QueryError(f"{loc}.pdq", "with dihedral, expected the 8 variant "
                                     "hashes (pdq_hash_dihedral order)")
                raw = b"".join(_hex_bytes(v, 32, f"{loc}.pdq[{j}]") for j, v in enumerate(value))
                out.append(("pdq8", raw, quality, radius))
            else:
                out.append(("pdq", _hex_bytes(value, 32, f"{loc}.pdq"), quality, radius))
        elif signal == "vpdq":
            out.append(("vpdq", _frames(q["vpdq"], f"{loc}.vpdq")))
        else:
            out.append((signal, _hex_bytes(q[signal], _DIGEST_BYTES[signal], f"{loc}.{signal}")))
    return out


def _hex16(values: list[int]) -> list[str]:
    return [f"{v:016x}" for v in values]


# ----------------------------------------------------------------------------- state
class LookupState:
    """The active entries, searchable; see the module docstring. One writer at a time
    (``load``, ``apply``: serialised by a lock); any number of concurrent searches."""

    def __init__(self, *, threads: int = 1, compact_min: int = COMPACT_MIN,
                 merge_min: int = MERGE_MIN, mih_min_rows: int = MIH_MIN_ROWS):
        self.threads = threads
        self.compact_min = compact_min
        self.merge_min = merge_min
        self.mih_min_rows = mih_min_rows
        self._write = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._keys = _Keys.empty()
        self._index = Index(bits=256, threads=self.threads)
        self._digests = {s: _Digests.empty(w) for s, w in _DIGEST_BYTES.items()}
        self._videos = VPDQIndex()
        self._video_frames: dict[int, list] = {}  # live video key -> kept frames
        self._ids = _IdMap()
        self._dead_pdq = 0       # dead rows still in the Index
        self._dead_frames = 0    # dead frames still in the VPDQIndex
        self._live_frames = 0
        self._mih_rows: int | None = None  # Index rows when its MIH tables were built
        self._partner: set[int] = set()  # entry ids of partners' entries (trust tier)
        self.compactions = 0

    # ------------------------------------------------------------------ contents
    def __len__(self) -> int:
        """Active entries."""
        k = self._keys
        return int(np.count_nonzero(k.alive[:k.n]))

    def signal_counts(self) -> dict[str, int]:
        """Active entries holding each signal (``pdq``, ``md5``, ``sha256``): what a status
        route reports as an index's size. Reads a published snapshot of the keys, as a
        search does (keys a writer has not published yet are not counted)."""
        k = self._keys
        alive = k.alive[:k.n]
        out = {"pdq": int(np.count_nonzero(alive & (k.quality[:k.n] != NO_PDQ)))}
        for signal, table in self._digests.items():
            added = [key for keys in list(table.delta.values()) for key in keys]
            keys = np.concatenate([table.keys, np.array(added, np.int64)])
            out[signal] = int(np.count_nonzero(alive[keys[keys < k.n]]))  # one digest a key
        return out

    @property
    def pdq_rows(self) -> int:
        """Rows in the PDQ Index, dead ones included (until the next compaction)."""
        return len(self._index)

    def active_ids(self) -> list[str]:
        """The active entries' ids (16 hex), sorted: for tests and checks."""
        k = self._keys
        return _hex16(sorted(k.entry[:k.n][k.alive[:k.n]].tolist()))

    # ------------------------------------------------------------------ load
    def load(self, entries) -> int:
        """Replace the contents with ``entries`` (entry wire dicts, any iterable);
        returns how many were loaded. Built in chunks of arrays, then one Index.add."""
        chunks: dict[str, list] = defaultdict(list)
        videos: list[tuple[int, list]] = []
        n = 0

        def flush(ids_hex, pdq_hex, pdq_keys, pdq_quality, digests):
            if ids_hex:
                chunks["ids"].append(_hex_array(ids_hex, 8).view(">u8").astype(np.int64))
            if pdq_hex:
                chunks["pdq"].append(_hex_array(pdq_hex, 32).reshape(-1, 32))
                chunks["pdq_keys"].append(np.array(pdq_keys, np.int64))
                chunks["pdq_quality"].append(np.array(pdq_quality, np.uint8))
            for signal, (hexes, keys) in digests.items():
                if hexes:
                    width = _DIGEST_BYTES[signal]
                    chunks[signal].append(_hex_array(hexes, width).view(f"S{width}"))
                    chunks[signal + "_keys"].append(np.array(keys, np.int64))

        def fresh():
            return [], [], [], [], {"md5": ([], []), "sha256": ([], [])}

        ids_hex, pdq_hex, pdq_keys, pdq_quality, digests = fresh()
        md5_hex, md5_keys = digests["md5"]
        sha_hex, sha_keys = digests["sha256"]
        partner = set()
        for e in entries:
            ids_hex.append(e["id"])
            if e.get("tier") == "partner":
                partner.add(int(e["id"], 16))
            p = e.get("pdq")
            if p is not None:
                pdq_hex.append(p)
                pdq_keys.append(n)
                pdq_quality.append(e["quality"])
            d = e.get("md5")
            if d is not None:
                md5_hex.append(d)
                md5_keys.append(n)
            d = e.get("sha256")
            if d is not None:
                sha_hex.append(d)
                sha_keys.append(n)
            v = e.get("vpdq")
            if v:
                videos.append((n, v))
            n += 1
            if len(ids_hex) == _LOAD_CHUNK:
                flush(ids_hex, pdq_hex, pdq_keys, pdq_quality, digests)
                ids_hex, pdq_hex, pdq_keys, pdq_quality, digests = fresh()
                md5_hex, md5_keys = digests["md5"]
                sha_hex, sha_keys = digests["sha256"]
        flush(ids_hex, pdq_hex, pdq_keys, pdq_quality, digests)

        def cat(name, empty):
            parts = chunks.get(name)
            return np.concatenate(parts) if parts else empty

        ids = cat("ids", np.empty(0, np.int64))
        keys = _Keys.empty(n)
        keys.entry[:] = ids
        keys.alive[:] = True
        pdq_keys_a = cat("pdq_keys", np.empty(0, np.int64))
        keys.quality[pdq_keys_a] = cat("pdq_quality", np.empty(0, np.uint8))
        # entry id -> key; a repeated id keeps its last version
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
        keys.alive[order[dup]] = False
        keep = np.ones(n, bool)
        keep[dup] = False
        id_map = _IdMap(sorted_ids[keep], order[keep].astype(np.int64))

        index = Index(bits=256, threads=self.threads)
        codes = cat("pdq", np.empty((0, 32), np.uint8))
        if len(dup):
            live = keys.alive[pdq_keys_a]
            codes, pdq_keys_a = codes[live], pdq_keys_a[live]
        if pdq_keys_a.size:
            index.add(codes, pdq_keys_a)
        del codes
        mih_rows = None
        if len(index) >= self.mih_min_rows:
            index.build_mih()
            mih_rows = len(index)

        digest_tables = {}
        for signal, width in _DIGEST_BYTES.items():
            values = cat(signal, np.empty(0, f"S{width}"))
            dkeys = cat(signal + "_keys", np.empty(0, np.int64))
            live = keys.alive[dkeys]
            values, dkeys = values[live], dkeys[live]
            order = np.argsort(values, kind="stable")
            digest_tables[signal] = _Digests(values[order], dkeys[order], {})

        vindex = VPDQIndex()
        frames: dict[int, list] = {}
        live_frames = 0
        for key, wire_frames in videos:
            if keys.alive[key]:
                kept = prepare_vpdq(_frames(wire_frames, f"entries[{key}].vpdq"))
                vindex.add(key, kept)
                frames[key] = kept
                live_frames += len(kept)

        with self._write:
            self._keys = _Keys(keys.entry, keys.quality, keys.alive, n)
            self._index = index
            self._digests = digest_tables
            self._videos = vindex
            self._video_frames = frames
            self._ids = id_map
            self._dead_pdq = 0
            self._dead_frames = 0
            self._live_frames = live_frames
            self._mih_rows = mih_rows
            self._partner = partner
        return n

    # ------------------------------------------------------------------ apply
    def apply(self, changes) -> None:
        """Apply change wire dicts in order: upserts (a new version of an id replaces
        the old one) and deletes (an unknown id is ignored)."""
        changes = list(changes)
        if not changes:
            return
        with self._write:
            self._apply_locked(changes)
            self._maintain_locked()

    def _apply_locked(self, changes: list) -> None:
        upserts = sum(1 for c in changes if c["op"] == "upsert")
        keys = self._keys
        n = keys.n
        if n + upserts > keys.entry.size:
            keys = keys.grown(max(n + upserts, keys.entry.size + keys.entry.size // 4, 1024))
        entry, quality, alive = keys.entry, keys.quality, keys.alive
        ids = self._ids
        new_pdq: list[tuple[int, str]] = []
        new_digests = {"md5": [], "sha256": []}
        new_videos: list[tuple[int, list]] = []
        next_key = n

        def kill(key: int) -> None:
            alive[key] = False
            if key < n:  # published: its rows are in the indexes
                if quality[key] != NO_PDQ:
                    self._dead_pdq += 1
                kept = self._video_frames.pop(key, None)
                if kept is not None:
                    self._dead_frames += len(kept)
                    self._live_frames -= len(kept)

        for c in changes:
            op = c["op"]
            if op == "upsert":
                e = c["entry"]
                entry_id = int(e["id"], 16)
                old = ids.get(entry_id, alive)
                if old >= 0:
                    kill(old)
                key = next_key
                next_key += 1
                entry[key] = entry_id
                alive[key] = True
                p = e.get("pdq")
                if p is not None:
                    quality[key] = e["quality"]
                    new_pdq.append((key, p))
                else:
                    quality[key] = NO_PDQ
                for signal in ("md5", "sha256"):
                    d = e.get(signal)
                    if d is not None:
                        new_digests[signal].append((key, bytes.fromhex(d)))
                if e.get("vpdq"):
                    new_videos.append((key, e["vpdq"]))
                ids.delta[entry_id] = key
                if e.get("tier") == "partner":
                    self._partner.add(entry_id)
                else:
                    self._partner.discard(entry_id)
            elif op == "delete":
                entry_id = int(c["id"], 16)
                self._partner.discard(entry_id)
                old = ids.get(entry_id, alive)
                if old >= 0:
                    kill(old)
                ids.delta.pop(entry_id, None)
            else:
                raise ValueError(f"change {c.get('seq')}: unknown op {op!r}")

        # publish: the keys first (searches ignore keys >= n), then the rows naming them
        self._keys = _Keys(entry, quality, alive, next_key)
        new_pdq = [(k, p) for k, p in new_pdq if alive[k]]
        if new_pdq:
            self._index.add(_hex_array([p for _, p in new_pdq], 32).reshape(-1, 32),
                            np.array([k for k, _ in new_pdq], np.int64))
        for signal, items in new_digests.items():
            delta = self._digests[signal].delta
            for k, d in items:
                if alive[k]:
                    delta.setdefault(d, []).append(k)
        for k, wire_frames in new_videos:
            if alive[k]:
                kept = prepare_vpdq(_frames(wire_frames, f"entry {entry[k]:016x} vpdq"))
                self._videos.add(k, kept)
                self._video_frames[k] = kept
                self._live_frames += len(kept)

    def _maintain_locked(self) -> None:
        alive = self._keys.alive
        live_rows = len(self._index) - self._dead_pdq
        if self._dead_pdq > max(self.compact_min, live_rows // 8):
            self._compact_pdq_locked()
        elif len(self._index) >= self.mih_min_rows and (
                self._mih_rows is None
                or (len(self._index) - self._mih_rows) * 16 > len(self._index)):
            self._index.build_mih()  # searches go on with the old tables meanwhile
            self._mih_rows = len(self._index)
        if self._dead_frames > max(self.compact_min, self._live_frames // 8):
            self._compact_videos_locked()
        n_base = self._ids.ids.size
        if len(self._ids.delta) > max(self.merge_min, n_base // 32):
            self._ids.merge(alive)
        for signal, table in self._digests.items():
            if table.delta_size() > max(self.merge_min, table.base.size // 32):
                self._digests[signal] = table.merged(alive)

    def _compact_pdq_locked(self) -> None:
        old = self._index
        keys = old.ids()
        live = self._keys.alive[keys]
        index = Index(bits=256, threads=self.threads)
        if live.any():
            index.add(old.hashes()[live], keys[live])
        if len(index) >= self.mih_min_rows:
            index.build_mih()
            self._mih_rows = len(index)
        else:
            self._mih_rows = None
        self._index = index  # searches still running keep the old one
        self._dead_pdq = 0
        self.compactions += 1

    def _compact_videos_locked(self) -> None:
        vindex = VPDQIndex()
        for key, kept in self._video_frames.items():
            vindex.add(key, kept)
        self._videos = vindex
        self._dead_frames = 0

    # ------------------------------------------------------------------ search
    def search(self, queries) -> list[dict]:
        """Wire queries -> wire results ``[{"query": i, "matches": [...]}]``."""
        return [{"query": i, "matches": m}
                for i, m in enumerate(self.match_parsed(parse_queries(queries)))]

    def match_parsed(self, parsed: list[tuple]) -> list[list[dict]]:
        """The matches of each parsed query (parse_queries), in one search per
        (radius, dihedral) group and one lookup per digest type."""
        keys = self._keys          # read once: the view this search answers from
        index = self._index
        out: list[list[dict]] = [[] for _ in parsed]
        groups: dict[tuple, list[int]] = defaultdict(list)
        digests: dict[str, list[int]] = defaultdict(list)
        for pos, p in enumerate(parsed):
            kind = p[0]
            if kind in ("pdq", "pdq8"):
                groups[(kind, p[3])].append(pos)
            elif kind == "vpdq":
                out[pos] = self._match_video(keys, p[1])
            else:
                digests[kind].append(pos)
        for (kind, radius), positions in groups.items():
            self._match_pdq(keys, index, kind == "pdq8", radius,
                            [parsed[pos] for pos in positions], positions, out)
        for signal, positions in digests.items():
            found = self._digests[signal].find([parsed[pos][1] for pos in positions])
            for pos, ks in zip(positions, found):
                live = sorted(keys.entry[k] for k in ks if k < keys.n and keys.alive[k])
                out[pos] = [{"id": f"{e:016x}", "signal": signal} for e in live]
        partner = self._partner
        if partner:  # a partner's entry says so (a person's, the most, carry no tier)
            for matches in out:
                for m in matches:
                    if int(m["id"], 16) in partner:
                        m["tier"] = "partner"
        return out

    def _match_pdq(self, keys: _Keys, index: Index, dihedral: bool, radius: int,
                   queries: list[tuple], positions: list[int], out: list) -> None:
        nq = len(queries)
        raw = np.frombuffer(b"".join(q[1] for q in queries), np.uint8)
        query_weak = np.array([q[2] is not None and q[2] < PDQ_WEAK_QUALITY for q in queries])
        if dihedral:
            lims, hit, dist, variant = index.search_range(raw.reshape(nq, 8, 32), radius,
                                                          dihedral=True)
        else:
            lims, hit, dist = index.search_range(raw.reshape(nq, 32), radius)
            variant = None
        qi = np.repeat(np.arange(nq), np.diff(lims))
        ok = hit < keys.n
        ok[ok] = keys.alive[hit[ok]]
        qi, hit, dist = qi[ok], hit[ok], dist[ok]
        if hit.size == 0:
            return
        entry = keys.entry[hit]
        weak = (keys.quality[hit] < PDQ_WEAK_QUALITY) | query_weak[qi]
        order = np.lexsort((entry, dist, qi))
        qi_l = qi[order].tolist()
        ids_l = _hex16(entry[order].tolist())
        dist_l = dist[order].tolist()
        weak_l = weak[order].tolist()
        if variant is None:
            for q, e, d, w in zip(qi_l, ids_l, dist_l, weak_l):
                out[positions[q]].append({"id": e, "signal": "pdq", "distance": d, "weak": w})
        else:
            var_l = variant[ok][order].tolist()
            for q, e, d, w, v in zip(qi_l, ids_l, dist_l, weak_l, var_l):
                out[positions[q]].append({"id": e, "signal": "pdq", "distance": d, "weak": w,
                                          "variant": DIHEDRAL_NAMES[v]})

    def _match_video(self, keys: _Keys, frames: list) -> list[dict]:
        found = [(m.query_match_percent, keys.entry[m.video_id], m.compared_match_percent)
                 for m in self._videos.search(frames)
                 if m.video_id < keys.n and keys.alive[m.video_id]]
        found.sort(key=lambda t: (-t[0], t[1]))
        return [{"id": f"{e:016x}", "signal": "vpdq", "query_match": q, "compared_match": c}
                for q, e, c in found]


_encode_json = json.JSONEncoder(separators=(",", ":")).encode


def _encode(value) -> bytes:
    return _encode_json(value).encode()


def _hex_array(hexes: list[str], nbytes: int) -> np.ndarray:
    """Equal-length hex strings -> (len * nbytes,) uint8, in one bytes.fromhex."""
    text = "".join(hexes)
    if len(text) != 2 * nbytes * len(hexes):
        raise ValueError(f"expected hex strings of {2 * nbytes} digits")
    raw = bytes.fromhex(text)
    if len(raw) != nbytes * len(hexes):
        raise ValueError(f"expected hex strings of {2 * nbytes} digits")
    return np.frombuffer(raw, np.uint8)


# ----------------------------------------------------------------------------- batcher
class Batcher:
    """Concurrent lookups searched together: ``await batcher.lookup(queries)`` queues
    the request; one worker task takes every request waiting (up to ``cap`` queries in
    all, at least one request), searches them with one ``match_parsed`` call in a
    thread, and resolves each request's future. While a search runs, new requests
    wait for the next one: N waiting requests cost one scan, not N.

    Bound to the event loop of its first lookup (a new loop gets a new queue and
    worker, as the test client makes one loop per use)."""

    def __init__(self, state_of, *, cap: int = BATCH_QUERIES):
        self._state_of = state_of       # () -> LookupState (raises NotReady)
        self.cap = cap
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="tidehash-lookup")
        self._loop = None
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self.searches = 0               # batched searches run (for tests and the benchmark)
        self.requests = 0

    async def lookup(self, queries: list[dict], *, encoded: bool = False):
        """The wire results of ``queries``; with ``encoded`` the whole response body
        ``{"results": [...]}`` as JSON bytes, encoded in the search thread."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._worker is None or self._worker.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run())
        future = loop.create_future()
        self._queue.put_nowait((queries, future, encoded))
        return await future

    async def _run(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        carry = None  # the request that did not fit in the last batch: first of the next

        def size_of(item) -> int:
            return len(item[0]) if isinstance(item[0], list) else 1

        while True:
            batch = [carry if carry is not None else await queue.get()]
            carry = None
            size = size_of(batch[0])
            while not queue.empty():
                item = queue.get_nowait()
                if size + size_of(item) > self.cap:
                    carry = item
                    break
                batch.append(item)
                size += size_of(item)
            batch = [item for item in batch if not item[1].done()]  # cancelled meanwhile
            if not batch:
                continue
            try:
                outcomes = await loop.run_in_executor(
                    self._executor, self._search, [(q, enc) for q, _, enc in batch])
            except Exception as exc:  # noqa: BLE001 - every waiting request gets it
                outcomes = [exc] * len(batch)
            for (_, future, _), outcome in zip(batch, outcomes):
                if future.done():
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _search(self, requests: list) -> list:
        """In the search thread: parse each request (a bad one fails alone), one
        search for all of them, the results split back per request."""
        state = self._state_of()
        outcomes: list = []
        parsed: list[tuple] = []
        spans = []
        for queries, _ in requests:
            try:
                p = parse_queries(queries)
            except QueryError as exc:
                outcomes.append(exc)
                spans.append(None)
                continue
            spans.append((len(parsed), len(parsed) + len(p)))
            parsed.extend(p)
            outcomes.append(None)
        matches = state.match_parsed(parsed) if parsed else []
        self.searches += 1
        self.requests += len(requests)
        for i, span in enumerate(spans):
            if span is not None:
                a, b = span
                results = [{"query": j, "matches": m} for j, m in enumerate(matches[a:b])]
                outcomes[i] = _encode({"results": results}) if requests[i][1] else results
        return outcomes

    def close(self) -> None:
        worker, loop = self._worker, self._loop
        if worker is not None and loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(worker.cancel)
            except RuntimeError:  # the loop closed meanwhile
                pass
        self._executor.shutdown(wait=False)


# ----------------------------------------------------------------------------- service
class LookupService:
    """The lookup index of one server process, following the change log.

    ``start()`` loads ``changelog.active_entries()`` in a background thread, then
    tails ``changelog.changes(seq, page, None)`` every ``settings.poll_interval``
    seconds (continuing at once while pages come back full). A database error is
    logged in one line and retried with backoff; the thread never dies of it. A
    cursor below the compaction floor reloads from the active entries. ``ready`` is
    True once loaded; ``await lookup(queries)`` answers through the batcher (NotReady
    before).

    A page that does not start right after the last seq applied (or no page while the
    head is ahead) means the changes in between were compacted away: the state is
    reloaded from the active entries and swapped in (lookups go on meanwhile)."""

    PAGE = 10_000
    MAX_BACKOFF = 10.0

    def __init__(self, changelog, settings, *, threads: int | None = None):
        self.changelog = changelog
        self.settings = settings
        # the Index splits a large batch over this many threads
        self.threads = threads if threads is not None else max(1, min(os.cpu_count() or 1, 4))
        self.state: LookupState | None = None
        self.seq = 0                      # the last change applied
        self._stop = threading.Event()
        self._loaded = threading.Event()
        self._thread: threading.Thread | None = None
        self.batcher = Batcher(self._state)

    @property
    def ready(self) -> bool:
        return self._loaded.is_set()

    def _state(self) -> LookupState:
        state = self.state
        if state is None or not self._loaded.is_set():
            raise NotReady("the lookup index is still loading")
        return state

    async def lookup(self, queries: list[dict]) -> list[dict]:
        """Wire queries -> wire results, searched together with concurrent lookups.
        Raises NotReady before the index has loaded and QueryError for a query it
        cannot read (the route's validation normally catches those first)."""
        self._state()
        return await self.batcher.lookup(queries)

    async def lookup_body(self, queries: list[dict]) -> bytes:
        """``lookup``'s answer as the JSON response body ``{"results": [...]}``,
        encoded in the search thread (a route returns it as it is, instead of
        having a framework walk 1,000 results to encode them on the event loop)."""
        self._state()
        return await self.batcher.lookup(queries, encoded=True)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="tidehash-lookup-tail",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.batcher.close()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)

    # ------------------------------------------------------------------ the tailer
    def _run(self) -> None:
        delay = 0.0
        need_load = self.state is None
        while not self._stop.is_set():
            try:
                if need_load:
                    self._load()
                    need_load = False
                more = self._tail_once()
                delay = 0.0
                if more:
                    continue
                wait = self.settings.poll_interval
            except _Compacted:
                log.warning("lookup: the change log was compacted past seq %d; "
                            "reloading the active entries", self.seq)
                need_load = True
                continue
            except Exception as exc:  # noqa: BLE001 - the tailer must outlive any fault
                delay = min(max(2 * delay, self.settings.poll_interval, 0.1), self.MAX_BACKOFF)
                log.warning("lookup: cannot read the change log (%s: %s); retrying in %.1f s",
                            type(exc).__name__, _one_line(exc), delay)
                wait = delay
            self._stop.wait(wait)

    def _load(self) -> None:
        seq, entries = self.changelog.active_entries(None)
        state = LookupState(threads=self.threads)
        count = state.load(entries)
        self.state, self.seq = state, int(seq)
        self._loaded.set()
        trim_heap()  # the load's transient strings and chunks, and any old state
        log.info("lookup: loaded %d active entries at seq %d", count, self.seq)

    def _tail_once(self) -> bool:
        """Apply one page of changes; True when more are waiting."""
        changes, head = self.changelog.changes(self.seq, self.PAGE, None)
        if (changes and int(changes[0]["seq"]) != self.seq + 1) or \
                (not changes and int(head) > self.seq):
            raise _Compacted
        if changes:
            self.state.apply(changes)
            self.seq = int(changes[-1]["seq"])
        return bool(changes) and self.seq < int(head)


class _Compacted(Exception):
    """The changes after the last seq applied are gone (compacted)."""


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:200]
