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

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .hashes import hex_to_array
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
        return (self.query_match_percent >= query_match_threshold
                and self.compared_match_percent >= compared_match_threshold)


@dataclass(frozen=True)
class VPDQVideoMatch:
    """A listed video that a query video matches, with both percentages."""

    video_id: int
    query_match_percent: float
    compared_match_percent: float


def _check_thresholds(quality_threshold, distance_threshold) -> None:
    if isinstance(quality_threshold, bool) or not isinstance(quality_threshold, int) \
            or not 0 <= quality_threshold <= 101:
        raise ValueError(f"quality_threshold must be an int in 0..101, got {quality_threshold!r}")
    if isinstance(distance_threshold, bool) or not isinstance(distance_threshold, int) \
            or not 0 <= distance_threshold <= 256:
        raise ValueError(f"distance_threshold must be an int in 0..256, got {distance_threshold!r}")


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
        self._video_of_row = np.zeros(0, dtype=np.int64)  # indexed by row id
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
            rows = np.arange(self._next_row, self._next_row + len(kept), dtype=np.int64)
            self._next_row += len(kept)
            grown = np.full(self._next_row, -1, dtype=np.int64)
            grown[:self._video_of_row.size] = self._video_of_row
            grown[rows] = video_id
            if kept:
                self._index.add(_hash_array(kept), ids=rows)
            self._video_of_row = grown
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
        Identical to calling vpdq_match against every listed video."""
        q = prepare_vpdq(features, self.quality_threshold)
        if not q:
            return []
        with self._lock:
            video_of_row = self._video_of_row
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
            if result.is_match(query_match_threshold, compared_match_threshold):
                out.append(VPDQVideoMatch(int(video), result.query_match_percent,
                                          result.compared_match_percent))
        out.sort(key=lambda m: (-m.query_match_percent, m.video_id))
        return out
