"""The ``tidehash_pdq`` signal type and its exact index."""

from __future__ import annotations

import typing as t

import numpy as np
from threatexchange.content_type.content_base import ContentType
from threatexchange.content_type.photo import PhotoContent
from threatexchange.signal_type.index import (
    IndexMatchUntyped,
    SignalSimilarityInfoWithIntDistance,
    SignalTypeIndex,
)
from threatexchange.signal_type.pdq.signal import PdqSignal

from ..files import hash_file
from ..index import Index

#: pytx's PDQ_CONFIDENT_MATCH_THRESHOLD: PDQIndex2 returns distances up to this
PDQ_THRESHOLD = 31
#: pytx's PdqSignal.QUALITY_THRESHOLD: below it the hash is "" (not hashable)
QUALITY_THRESHOLD = 50
_BITS = 256

T = t.TypeVar("T")
PDQIndexMatch = IndexMatchUntyped[SignalSimilarityInfoWithIntDistance, T]


class TidehashPDQIndex(SignalTypeIndex[T]):
    """pytx's PDQIndex2 over an exact tidehash Index: for every query the same
    (entry, distance) pairs, every distance 0..``threshold`` (any int >= 0; past
    256 every entry matches). Hashes are deduplicated by their string as PDQIndex2
    does, so one hash added twice returns both entries. Results come sorted by
    distance, then by the order the hashes were first added (PDQIndex2 returns
    faiss's order, which is not sorted); distances are ints (PDQIndex2: float32).

    Pickled (pytx's ``serialize``) as the hash array, the entries and the
    threshold: the Index, with its lock and search tables, is rebuilt on load."""

    def __init__(self, entries: t.Iterable[tuple[str, T]] = (), *,
                 threshold: int = PDQ_THRESHOLD) -> None:
        super().__init__()
        if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) \
                or threshold < 0:
            raise ValueError(f"threshold must be an int >= 0, got {threshold!r}")
        self.threshold = int(threshold)
        self._index = Index(bits=_BITS)
        self._row_of: dict[str, int] = {}
        self._entries: list[list[T]] = []
        self.add_all(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, signal_str: str, entry: T) -> None:
        self.add_all(((signal_str, entry),))

    def add_all(self, entries: t.Iterable[tuple[str, T]]) -> None:
        new: list[str] = []
        pending: dict[str, list[T]] = {}
        for h, entry in entries:
            row = self._row_of.get(h)
            if row is not None:
                self._entries[row].append(entry)
            elif h in pending:
                pending[h].append(entry)
            else:
                new.append(h)
                pending[h] = [entry]
        if not new:
            return
        # one Index.add: a bad hash raises before anything is added
        start = len(self._entries)
        self._index.add(new, ids=np.arange(start, start + len(new), dtype=np.int64))
        for i, h in enumerate(new):
            self._row_of[h] = start + i
            self._entries.append(pending[h])

    def _radius(self) -> int:
        return min(self.threshold, _BITS)

    def query(self, hash: str) -> list[PDQIndexMatch[T]]:
        """Entries within ``threshold`` of the hash."""
        return self.query_batch([hash])[0]

    def query_batch(self, hashes: t.Sequence[str]) -> list[list[PDQIndexMatch[T]]]:
        """``query`` for many hashes in one search (one list per hash, in order)."""
        hashes = list(hashes)
        if not hashes:
            return []
        lims, rows, dist = self._index.search_range(hashes, self._radius())
        out = []
        for i in range(len(hashes)):
            a, b = int(lims[i]), int(lims[i + 1])
            out.append([PDQIndexMatch(SignalSimilarityInfoWithIntDistance(distance=int(d)), e)
                        for r, d in zip(rows[a:b].tolist(), dist[a:b].tolist())
                        for e in self._entries[r]])
        return out

    def __getstate__(self) -> dict:
        return {"threshold": self.threshold, "hashes": self._index.hashes(),
                "signals": list(self._row_of), "entries": self._entries}

    def __setstate__(self, state: dict) -> None:
        self.threshold = state["threshold"]
        self._entries = state["entries"]
        self._row_of = {h: i for i, h in enumerate(state["signals"])}
        self._index = Index(bits=_BITS)
        hashes = np.ascontiguousarray(state["hashes"], dtype=np.uint8).reshape(-1, _BITS // 8)
        if hashes.shape[0] != len(self._entries) or len(self._row_of) != len(self._entries):
            raise ValueError("a corrupt TidehashPDQIndex: hashes, signals and entries differ "
                             "in number")
        self._index.add(hashes, ids=np.arange(hashes.shape[0], dtype=np.int64))


class TidehashPdqSignal(PdqSignal):
    """PDQ of photos computed by tidehash: the same hex as pytx's ``pdq`` on the same
    file ("" below quality 50, as pytx), matched through TidehashPDQIndex. One
    difference from pytx's own hashing: a palette image (PNG/GIF mode P) is hashed
    as its colours, as Meta's C++ tool does, where pytx's Pillow path hashes the
    palette indices."""

    @classmethod
    def get_name(cls) -> str:
        return "tidehash_pdq"

    @classmethod
    def get_content_types(cls) -> list[type[ContentType]]:
        return [PhotoContent]

    @classmethod
    def get_index_cls(cls) -> type[TidehashPDQIndex]:
        return TidehashPDQIndex

    @classmethod
    def hash_from_bytes(cls, bytes_: bytes) -> str:
        pdq = hash_file(bytes(bytes_), algorithms=("pdq",)).pdq
        if pdq is None or pdq.quality < cls.QUALITY_THRESHOLD:
            return ""  # a video, or too flat an image to match on
        return pdq.hex

    @classmethod
    def hash_from_file(cls, file) -> str:
        pdq = hash_file(str(file), algorithms=("pdq",)).pdq
        if pdq is None or pdq.quality < cls.QUALITY_THRESHOLD:
            return ""
        return pdq.hex
