"""The ``tidehash_vpdq`` signal type and its index: pytx's vPDQ, without pip vpdq."""

from __future__ import annotations

import pathlib
import typing as t
from dataclasses import dataclass

from threatexchange.content_type.content_base import ContentType
from threatexchange.content_type.video import VideoContent
from threatexchange.signal_type import signal_base
from threatexchange.signal_type.index import IndexMatch, SignalSimilarityInfo, SignalTypeIndex

from ..formats.vpdq import vpdq_from_json, vpdq_to_json
from ..match import (
    VPDQ_COMPARED_MATCH_THRESHOLD,
    VPDQ_DISTANCE_THRESHOLD,
    VPDQ_QUALITY_THRESHOLD,
    VPDQ_QUERY_MATCH_THRESHOLD,
    VPDQIndex,
    prepare_vpdq,
    vpdq_match,
)
from ..video import vpdq_hash

T = t.TypeVar("T")


@dataclass
class VPDQSimilarityInfo(SignalSimilarityInfo):
    """pytx's VPDQSimilarityInfo (its module imports pip vpdq, so it is restated)."""

    query_match_percent: float
    compared_match_percent: float

    def pretty_str(self) -> str:
        return f"{self.query_match_percent:.0f}%[{self.compared_match_percent:.0f}%]"


class TidehashVPDQIndex(SignalTypeIndex[T]):
    """pytx's VPDQIndex over tidehash's exact VPDQIndex: a listed video matches when
    at least ``query_match_threshold_pct`` of the query's distinct good frames are
    within 31 of one of its frames and ``index_match_threshold_pct`` of its own are
    hit. Pickles as the signals and entries; the index is rebuilt on load."""

    def __init__(self, quality_threshold: int = VPDQ_QUALITY_THRESHOLD,
                 query_match_threshold_pct: float = VPDQ_QUERY_MATCH_THRESHOLD,
                 index_match_threshold_pct: float = VPDQ_COMPARED_MATCH_THRESHOLD) -> None:
        super().__init__()
        self.quality_threshold = quality_threshold
        self.query_match_threshold_pct = query_match_threshold_pct
        self.index_match_threshold_pct = index_match_threshold_pct
        self._index = VPDQIndex(quality_threshold=quality_threshold)
        self._items: list[tuple[str, T]] = []

    @classmethod
    def build(cls, entries: t.Iterable[tuple[str, T]], *args, **kwargs):
        ret = cls(*args, **kwargs)
        ret.add_all(entries)
        return ret

    def __len__(self) -> int:
        return len(self._items)

    def add(self, signal_str: str, entry: T) -> None:
        features = prepare_vpdq(vpdq_from_json(signal_str), self.quality_threshold)
        if not features:  # as pytx: such a video could never match
            raise ValueError("Empty video after deduping/filtering should not be indexed")
        self._index.add(len(self._items), features)
        self._items.append((signal_str, entry))

    def query(self, query_hash: str) -> list[IndexMatch[T]]:
        found = self._index.search(vpdq_from_json(query_hash),
                                   query_match_threshold=self.query_match_threshold_pct,
                                   compared_match_threshold=self.index_match_threshold_pct)
        return [IndexMatch(VPDQSimilarityInfo(m.query_match_percent, m.compared_match_percent),
                           self._items[m.video_id][1]) for m in found]

    def __getstate__(self) -> dict:
        return {"quality_threshold": self.quality_threshold,
                "query_match_threshold_pct": self.query_match_threshold_pct,
                "index_match_threshold_pct": self.index_match_threshold_pct,
                "items": self._items}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["quality_threshold"], state["query_match_threshold_pct"],
                      state["index_match_threshold_pct"])
        self.add_all(state["items"])


class TidehashVpdqSignal(signal_base.SimpleSignalType, signal_base.FileHasher):
    """vPDQ of videos computed by tidehash (equal frame by frame to Meta's vpdq), in
    pytx's vPDQ JSON (a list of ``"hex,quality,timestamp"``), matched as pytx's
    ``vpdq`` signal type matches."""

    @classmethod
    def get_name(cls) -> str:
        return "tidehash_vpdq"

    @classmethod
    def get_content_types(cls) -> list[type[ContentType]]:
        return [VideoContent]

    @classmethod
    def get_index_cls(cls) -> type[TidehashVPDQIndex]:
        return TidehashVPDQIndex

    @classmethod
    def validate_signal_str(cls, signal_str: str) -> str:
        vpdq_from_json(signal_str)  # HashFormatError (a ValueError) when malformed
        return signal_str

    @classmethod
    def hash_from_file(cls, path: pathlib.Path, seconds_per_hash: float = 1) -> str:
        return vpdq_to_json(vpdq_hash(str(path), seconds_per_hash))

    @classmethod
    def compare_hash(cls, hash1: str, hash2: str,
                     query_match_pct_thresh: float = VPDQ_QUERY_MATCH_THRESHOLD,
                     compare_match_pct_thresh: float = VPDQ_COMPARED_MATCH_THRESHOLD,
                     ) -> signal_base.SignalComparisonResult:
        result = vpdq_match(vpdq_from_json(hash1), vpdq_from_json(hash2),
                            quality_threshold=VPDQ_QUALITY_THRESHOLD,
                            distance_threshold=VPDQ_DISTANCE_THRESHOLD)
        return signal_base.SignalComparisonResult(
            result.query_match_percent >= query_match_pct_thresh
            and result.compared_match_percent >= compare_match_pct_thresh,
            VPDQSimilarityInfo(result.query_match_percent, result.compared_match_percent))

    @staticmethod
    def get_examples() -> list[str]:
        from .pdq import TidehashPdqSignal
        return ['[' + ", ".join(f'"{h},100,{float(i):.3}"' for i, h in
                                enumerate(TidehashPdqSignal.get_examples())) + ']']
