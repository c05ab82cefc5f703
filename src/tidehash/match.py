"""Matching rules.

Video (python-threatexchange's vPDQ rule, thresholds as parameters):

1. drop repeated hashes, keeping the first frame with each hash;
2. keep frames of quality >= ``quality_threshold`` (50);
3. a frame matches when some frame of the other video is within
   ``distance_threshold`` (31, inclusive);
4. ``query_match_percent`` = matched query frames * 100 / query frames,
   ``compared_match_percent`` likewise for the other video; the videos match when
   the query percent is >= ``query_match_threshold`` (80).

Where python-threatexchange divides by zero (no frame survives steps 1-2), tidehash
reports 0 %: a video with no usable frame matches nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ._checks import int_in_range, percentage
from .hashes import hashes_to_array, hex_to_array
from .index import Index

VPDQ_QUALITY_THRESHOLD = 50
VPDQ_DISTANCE_THRESHOLD = 31
VPDQ_QUERY_MATCH_THRESHOLD = 80.0
VPDQ_COMPARED_MATCH_THRESHOLD = 0.0


@dataclass(frozen=True)
class VPDQMatchResult:
    query_match_percent: float
    compared_match_percent: float

    def is_match(self, query_match_threshold: float = VPDQ_QUERY_MATCH_THRESHOLD,
                 compared_match_threshold: float = VPDQ_COMPARED_MATCH_THRESHOLD) -> bool:
        query_match_threshold, compared_match_threshold = _check_percentages(
            query_match_threshold, compared_match_threshold)
        return (self.query_match_percent >= query_match_threshold
                and self.compared_match_percent >= compared_match_threshold)


@dataclass(frozen=True)
class VPDQVideoMatch:
    """A listed video that a query video matches, with both percentages."""

    video_id: int
    query_match_percent: float
    compared_match_percent: float


def _check_thresholds(quality_threshold, distance_threshold, *,
                      quality_name: str = "quality_threshold",
                      distance_name: str = "distance_threshold") -> tuple[int, int]:
    """The frame quality and Hamming distance thresholds, each checked under the
    name of the parameter the caller passed."""
    return (int_in_range(quality_name, quality_threshold, 0, 101),
            int_in_range(distance_name, distance_threshold, 0, 256))


def _check_percentages(query_match_threshold, compared_match_threshold, *,
                       query_name: str = "query_match_threshold",
                       compared_name: str = "compared_match_threshold") -> tuple[float, float]:
    return (percentage(query_name, query_match_threshold),
            percentage(compared_name, compared_match_threshold))


def prepare_vpdq(features: Iterable, quality_threshold: int = VPDQ_QUALITY_THRESHOLD) -> list:
    """Steps 1 and 2 of the rule, in python-threatexchange's order (dedup first)."""
    seen: set[str] = set()
    unique = []
    for f in features:
        key = f.hex.lower()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return [f for f in unique if f.quality >= quality_threshold]


def _hash_array(features: Sequence) -> np.ndarray:
    return hex_to_array([f.hex for f in features])


def vpdq_match(query: Iterable, compared: Iterable, *,
               quality_threshold: int = VPDQ_QUALITY_THRESHOLD,
               distance_threshold: int = VPDQ_DISTANCE_THRESHOLD) -> VPDQMatchResult:
    """Compare two videos' features (VPDQFeature or anything with ``.hex`` and
    ``.quality``) with python-threatexchange's rule; exact (every pair is compared)."""
    _check_thresholds(quality_threshold, distance_threshold)
    q = prepare_vpdq(query, quality_threshold)
    c = prepare_vpdq(compared, quality_threshold)
    if not q or not c:
        return VPDQMatchResult(0.0, 0.0)
    index = Index(bits=256, strategy="flat")
    index.add(_hash_array(c), ids=np.arange(len(c), dtype=np.int64))
    lims, ids, _ = index.search_range(_hash_array(q), distance_threshold)
    query_hits = int(np.count_nonzero(np.diff(lims)))
    compared_hits = int(np.unique(ids).size)
    return VPDQMatchResult(query_hits * 100 / len(q), compared_hits * 100 / len(c))


class VPDQIndex:
    """Many listed videos, searched with the video rule through one exact Index over
    all their (deduplicated, quality-filtered) frames. Thread-safe: searches run
    concurrently, additions and removals are serialised."""

    def __init__(self, *, quality_threshold: int = VPDQ_QUALITY_THRESHOLD,
                 distance_threshold: int = VPDQ_DISTANCE_THRESHOLD):
        _check_thresholds(quality_threshold, distance_threshold)
        self.quality_threshold = quality_threshold
        self.distance_threshold = distance_threshold
        self._index = Index(bits=256)
        self._lock = threading.Lock()
        self._next_row = 0
        self._video_of_row = np.zeros(0, dtype=np.int64)  # indexed by row id; capacity
        self._rows: dict[int, np.ndarray] = {}  # video id -> its row ids

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def frames(self) -> int:
        return len(self._index)

    def add(self, video_id: int, features: Iterable) -> int:
        """Add (or replace) a video's frames; returns how many frames it keeps after
        dedup and the quality filter (a video keeping none can never match)."""
        video_id = int(video_id)
        kept = prepare_vpdq(features, self.quality_threshold)
        with self._lock:
            if video_id in self._rows:
                self._remove_locked(video_id)
            start = self._next_row
            rows = np.arange(start, start + len(kept), dtype=np.int64)
            if start + len(kept) > self._video_of_row.size:  # grow geometrically
                grown = np.full(max(start + len(kept), 2 * self._video_of_row.size), -1,
                                dtype=np.int64)
                grown[:start] = self._video_of_row[:start]
                self._video_of_row = grown
            # rows past _next_row are invisible to searches, so they are written in place
            self._video_of_row[start:start + len(kept)] = video_id
            if kept:
                self._index.add(_hash_array(kept), ids=rows)
            self._next_row = start + len(kept)
            self._rows[video_id] = rows
        return len(kept)

    def remove(self, video_id: int) -> bool:
        with self._lock:
            if int(video_id) not in self._rows:
                return False
            self._remove_locked(int(video_id))
            return True

    def _remove_locked(self, video_id: int) -> None:
        rows = self._rows.pop(video_id)
        if rows.size:
            self._index.remove(rows)

    def search(self, features: Iterable, *,
               query_match_threshold: float = VPDQ_QUERY_MATCH_THRESHOLD,
               compared_match_threshold: float = VPDQ_COMPARED_MATCH_THRESHOLD,
               ) -> list[VPDQVideoMatch]:
        """Listed videos the query matches, best query percent first (then id).
        Identical to calling vpdq_match against every listed video. The thresholds
        are percentages (0..100); anything else is a ValueError."""
        query_match_threshold, compared_match_threshold = _check_percentages(
            query_match_threshold, compared_match_threshold)
        q = prepare_vpdq(features, self.quality_threshold)
        if not q:
            return []
        with self._lock:
            video_of_row = self._video_of_row[:self._next_row]
            rows_of = dict(self._rows)
        lims, rows, _ = self._index.search_range(_hash_array(q), self.distance_threshold)
        query_of_hit = np.repeat(np.arange(len(q), dtype=np.int64), np.diff(lims))
        known = rows < video_of_row.size  # rows added after the snapshot are not ours
        rows, query_of_hit = rows[known], query_of_hit[known]
        if rows.size == 0:
            return []
        video_of_hit = video_of_row[rows]
        out = []
        for video in np.unique(video_of_hit):
            mine = video_of_hit == video
            n_listed = rows_of.get(int(video))
            if n_listed is None or n_listed.size == 0:
                continue  # removed while we searched
            result = VPDQMatchResult(
                np.unique(query_of_hit[mine]).size * 100 / len(q),
                np.unique(rows[mine]).size * 100 / n_listed.size)
            if (result.query_match_percent >= query_match_threshold
                    and result.compared_match_percent >= compared_match_threshold):
                out.append(VPDQVideoMatch(int(video), result.query_match_percent,
                                          result.compared_match_percent))
        out.sort(key=lambda m: (-m.query_match_percent, m.video_id))
        return out


# ----------------------------------------------------------------------------- a list
PDQ_MATCH_RADIUS = 31
PDQ_WEAK_QUALITY = 50


@dataclass(frozen=True)
class Match:
    """One listed hash a query matches, with every list entry that carries it.

    ``distance`` is the PDQ Hamming distance (0 for an exact MD5 / SHA-256 match,
    None for a video); ``weak`` flags a PDQ query of quality below the weak
    threshold; ``variant`` is the dihedral variant that matched (0..7, see
    DIHEDRAL_NAMES) with dihedral matching; the percentages are the video rule's."""

    signal: str
    row: int
    entries: tuple
    distance: int | None = None
    weak: bool = False
    variant: int | None = None
    query_match_percent: float | None = None
    compared_match_percent: float | None = None


class Matcher:
    """The matching rules (DESIGN.md) over a hash list (``tidehash.read_list``):

    * PDQ: a listed hash matches within ``radius`` (31) bits; queries of quality
      below ``weak_quality`` (50) are flagged weak, and left out entirely below
      ``min_quality`` when that is set; ``dihedral=True`` also searches the 8
      rotations / mirrors of a file's hash (exact search, tidehash.Index);
    * MD5 / SHA-256: exact equality (binary search over the list's sorted digests);
    * video: python-threatexchange's rule (``video_quality``, ``video_distance``,
      ``video_match`` percent of the query's frames), through a VPDQIndex.

    ``strategy``, ``threads`` and ``expected_queries`` (how many PDQ queries it will
    answer in all, when known: few never repay building MIH tables) are the PDQ
    Index's. A list that is a memory-mapped
    tidehash list file (``Matcher.load``) is searched in place, without a copy.
    Thread-safe for concurrent matching once built."""

    def __init__(self, hash_list, *, radius: int = PDQ_MATCH_RADIUS,
                 weak_quality: int = PDQ_WEAK_QUALITY, min_quality: int | None = None,
                 dihedral: bool = False, video_quality: int = VPDQ_QUALITY_THRESHOLD,
                 video_distance: int = VPDQ_DISTANCE_THRESHOLD,
                 video_match: float = VPDQ_QUERY_MATCH_THRESHOLD,
                 strategy: str = "auto", threads: int = 1,
                 expected_queries: int | None = None):
        _check_thresholds(weak_quality, radius, quality_name="weak_quality",
                          distance_name="radius")
        if min_quality is not None:
            int_in_range("min_quality", min_quality, 0, 101)
        _check_thresholds(video_quality, video_distance, quality_name="video_quality",
                          distance_name="video_distance")
        percentage("video_match", video_match)
        self.hash_list = hash_list
        self.radius = radius
        self.weak_quality = weak_quality
        self.min_quality = min_quality
        self.dihedral = dihedral
        self.video_match = float(video_match)
        pdq = hash_list["pdq"].hashes
        try:  # a list file's hashes are searched where they lie
            self._pdq = Index.over(pdq, strategy=strategy, threads=threads,
                                   expected_queries=expected_queries)
        except ValueError:  # not aligned or not contiguous: copied
            self._pdq = Index(bits=256, strategy=strategy, threads=threads,
                              expected_queries=expected_queries)
            if len(pdq):
                self._pdq.add(pdq, ids=np.arange(len(pdq), dtype=np.int64))
        self._videos = VPDQIndex(quality_threshold=video_quality,
                                 distance_threshold=video_distance)
        for row, feats in enumerate(hash_list["vpdq"].features or ()):
            self._videos.add(row, feats)

    @classmethod
    def load(cls, path, *, mmap: bool = True, **options) -> Matcher:
        """A Matcher over a list file (``tidehash index build``: loaded by memory map),
        an index file (``Index.save``: its ids are the entries' ids) or any text list
        ``read_list`` reads. ``options`` as for Matcher()."""
        from .formats import read_list
        from .formats.binary import load_list
        from .formats.detect import INDEX_FILE, LIST_FILE, binary_kind

        kind = binary_kind(path)
        if kind == LIST_FILE:
            return cls(load_list(path, mmap=mmap), **options)
        if kind == INDEX_FILE:
            return cls(_index_as_list(Index.load(path, mmap=mmap), os.fspath(path)),
                       **options)
        return cls(read_list(path), **options)

    @property
    def index(self) -> Index:
        """The PDQ Index (row numbers of ``hash_list.pdq`` as ids)."""
        return self._pdq

    def _entries(self, signal: str, row: int) -> tuple:
        return tuple(self.hash_list[signal].records(row))

    def _pdq_query(self, quality) -> tuple[bool, bool]:
        """(searched, weak) for a PDQ query of this quality."""
        if quality is not None and self.min_quality is not None and quality < self.min_quality:
            return False, False
        return True, quality is not None and quality < self.weak_quality

    def match_pdq(self, query, quality: int | None = None) -> list[Match]:
        """Listed PDQ hashes within ``radius`` of ``query`` (a hash: hex, 32 bytes or
        PDQHash; or the 8 dihedral variants of one, as pdq_hash_dihedral gives them,
        to search them all). Closest first."""
        if quality is None:
            quality = getattr(query, "quality", None)
        variants = isinstance(query, (list, tuple)) and len(query) == 8
        codes = hashes_to_array(query if variants else [query])
        return self.match_pdq_batch(codes[None] if variants else codes, [quality])[0]

    def match_pdq_batch(self, hashes, qualities=None) -> list[list[Match]]:
        """``match_pdq`` for many queries in one search: ``hashes`` (Q, 32) uint8, or
        (Q, 8, 32) for the dihedral variants of each; ``qualities`` one int or None
        per query (None: unknown, never weak, never left out)."""
        codes = np.asarray(hashes)
        dihedral = codes.ndim == 3
        nq = codes.shape[0]
        qualities = [None] * nq if qualities is None else list(qualities)
        if len(qualities) != nq:
            raise ValueError(f"got {len(qualities)} qualities for {nq} queries")
        out: list[list[Match]] = [[] for _ in range(nq)]
        kept = []
        weak = []
        for i, q in enumerate(qualities):
            searched, w = self._pdq_query(q)
            if searched:
                kept.append(i)
                weak.append(w)
        if not kept or len(self._pdq) == 0:
            return out
        kept_codes = codes[kept]
        if dihedral:
            lims, rows, dist, which = self._pdq.search_range(kept_codes, self.radius,
                                                             dihedral=True)
        else:
            lims, rows, dist = self._pdq.search_range(kept_codes, self.radius)
            which = None
        rows_l, dist_l = rows.tolist(), dist.tolist()
        which_l = None if which is None else which.tolist()
        bounds = lims.tolist()
        for j, i in enumerate(kept):
            out[i] = [Match("pdq", rows_l[k], self._entries("pdq", rows_l[k]), dist_l[k],
                            weak[j], None if which_l is None else which_l[k])
                      for k in range(bounds[j], bounds[j + 1])]
        return out

    def match_digest(self, signal: str, value: str) -> list[Match]:
        """The listed MD5 / SHA-256 equal to ``value`` (hex, any case)."""
        return self.match_digest_batch(signal, [value])[0]

    def match_digest_batch(self, signal: str, values) -> list[list[Match]]:
        """``match_digest`` for many values (hex strings) in one lookup."""
        if signal not in ("md5", "sha256"):
            raise ValueError(f"signal must be 'md5' or 'sha256', got {signal!r}")
        values = [str(v).strip().lower() for v in values]
        width = 16 if signal == "md5" else 32
        group = self.hash_list[signal]
        raw = np.zeros((len(values), width), np.uint8)
        valid = np.zeros(len(values), bool)
        for i, v in enumerate(values):
            if len(v) == 2 * width:
                try:
                    raw[i] = np.frombuffer(bytes.fromhex(v), np.uint8)
                    valid[i] = True
                except ValueError:
                    pass
        rows = group.find(raw) if len(group) else np.full(len(values), -1, np.int64)
        return [[Match(signal, int(r), self._entries(signal, int(r)), 0)]
                if ok and r >= 0 else [] for ok, r in zip(valid.tolist(), rows.tolist())]

    def match_video(self, features) -> list[Match]:
        """Listed videos matching by the video rule, best query percent first."""
        return [Match("vpdq", m.video_id, self._entries("vpdq", m.video_id), None,
                      query_match_percent=m.query_match_percent,
                      compared_match_percent=m.compared_match_percent)
                for m in self._videos.search(features, query_match_threshold=self.video_match)]

    @property
    def wanted_algorithms(self) -> tuple[str, ...]:
        """What to hash a file with to match it: PDQ (vPDQ for videos), and MD5 /
        SHA-256 when the list holds some."""
        return ("pdq",) + tuple(s for s in ("md5", "sha256") if len(self.hash_list[s]))

    def match_file(self, source, **hash_options) -> list[Match]:
        """Hash a file (image or video, told apart by content) and match it: PDQ (with
        its dihedral variants when ``dihedral``), MD5 / SHA-256 where the list holds
        them, vPDQ for a video. Raises DecodeError for a file that cannot be hashed."""
        from .files import hash_file

        rec = hash_file(source, algorithms=self.wanted_algorithms, dihedral=self.dihedral,
                        **hash_options)
        return self.match_record(rec)

    def match_record(self, rec) -> list[Match]:
        """Match the hashes of a FileHashes record (from hash_file / hash_files)."""
        return self.match_records([rec])[0]

    def match_records(self, records) -> list[list[Match]]:
        """``match_record`` for many records, with one PDQ search and one lookup per
        digest type for all of them (much faster than one at a time against a large
        list). Records with an ``error`` match nothing. Per record: digests first,
        then PDQ (closest first), then videos."""
        records = list(records)
        out: list[list[Match]] = [[] for _ in records]
        for signal in ("md5", "sha256"):
            at = [i for i, r in enumerate(records) if getattr(r, signal, None) is not None]
            if at and len(self.hash_list[signal]):
                found = self.match_digest_batch(signal, [getattr(records[i], signal)
                                                         for i in at])
                for i, ms in zip(at, found):
                    out[i] += ms
        at = [i for i, r in enumerate(records) if getattr(r, "pdq", None) is not None]
        # with dihedral matching, records that carry their 8 variants search them all; the
        # others (hashed without dihedral=True) search their one hash
        turned = [i for i in at if self.dihedral and getattr(records[i], "pdq_dihedral", None)]
        turned_set = set(turned)
        plain = [i for i in at if i not in turned_set]
        for rows, variants in ((turned, True), (plain, False)):
            if not rows:
                continue
            if variants:
                codes = np.stack([hashes_to_array(list(records[i].pdq_dihedral))
                                  for i in rows])
            else:
                codes = hashes_to_array([records[i].pdq for i in rows])
            found = self.match_pdq_batch(codes, [records[i].pdq.quality for i in rows])
            for i, ms in zip(rows, found):
                out[i] += ms
        for i, r in enumerate(records):
            if getattr(r, "vpdq", None) is not None:
                out[i] += self.match_video(r.vpdq)
        return out


def _index_as_list(index: Index, name: str):
    """A HashList of an Index's hashes, each entry's id the index id."""
    from .formats.model import ListBuilder

    builder = ListBuilder(name)
    if len(index):
        builder.add_arrays("pdq", index.hashes(), index.ids(),
                           source_code=builder.source_code(name))
    return builder.finish(format="tidehash-index")
