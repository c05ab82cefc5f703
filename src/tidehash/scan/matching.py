"""Matching a scan's stored hashes against a list, without decoding anything again.

The workers get the path of a list file and map it (a list file from ``tidehash
index build`` or an index file is used as it is; a text list, or the new entries
of ``since``, is written once as a list file into the scan's folder). The rules
are the engine's Matcher: PDQ within ``radius`` (the 8 dihedral variants with
``dihedral``, which needs a scan hashed with ``dihedral=True``), ``min_quality``,
MD5 / SHA-256 exact, and the video rule. Either side's PDQ hashes may be indexed
(``index``): the list's, every stored hash a query, or each shard's own (all their
variants with ``dihedral``), every listed hash a query; the matches are the same."""

from __future__ import annotations

import os
import secrets
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from .plan import ScanError, read_plan
from .run import Task, in_flight_limit, local_pool, run_tasks
from .shards import finished, match_schema, write_table_atomically
from .work import match_shard


def _order(row: dict) -> tuple:
    """A match file's order: key, signal, row, id (entries without an id first)."""
    return (row["key"], row["signal"], row["row"],
            -1 if row.get("id") is None else row["id"])


@dataclass
class MatchReport:
    """What ``match_hashes`` did: ``hashes`` stored rows searched (of ``shards``),
    ``matches`` rows written (one per listed entry behind a match), ``keys``
    files with at least one match, ``list_entries`` the entries matched against
    (only the new ones with ``since``), ``list_bad_lines`` lines of a text list that
    could not be read (skipped), ``missing_shards`` shards of the scan not
    finished (not searched: resume the scan), ``failed_shards`` those whose
    matching failed (shard path -> why). ``indexed`` is the side whose PDQ hashes
    were indexed, "list" or "stored" (each shard's own), chosen from ``stored_pdq``
    (the PDQ hashes of the finished shards, from their Parquet metadata) and
    ``list_pdq`` (the distinct PDQ hashes matched against)."""

    out: str
    shards: int = 0
    hashes: int = 0
    matches: int = 0
    keys: int = 0
    list_entries: int = 0
    list_bad_lines: int = 0
    missing_shards: list[int] = field(default_factory=list)
    failed_shards: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    worker_pids: set[int] = field(default_factory=set)
    indexed: str = "list"
    stored_pdq: int = 0
    list_pdq: int = 0

    @property
    def complete(self) -> bool:
        return not self.failed_shards and not self.missing_shards

    @property
    def hashes_per_second(self) -> float:
        return self.hashes / self.seconds if self.seconds > 0 else 0.0


def load_list(path: str):
    """Any list the engine reads (a list file, an index file, a text list) as a
    HashList."""
    from ..match import Matcher

    return Matcher.load(path, strategy="flat").hash_list


def new_entries(new, old):
    """The entries of HashList ``new`` whose hash (per signal type; a video's
    frames for vPDQ) is not in HashList ``old``."""
    from ..formats import HashList

    records = []
    for signal in new.signals:
        group = new[signal]
        if not len(group):
            continue
        if signal == "vpdq":
            seen = {_frames(r) for r in old["vpdq"].records()} if len(old["vpdq"]) else set()
            records += [r for r in group.records() if _frames(r) not in seen]
            continue
        if len(old[signal]):
            rows = np.flatnonzero(old[signal].find(np.asarray(group.hashes)) < 0)
        else:
            rows = np.arange(len(group))
        for row in rows.tolist():
            records += list(group.records(row))
    return HashList.from_records(records)


def _frames(rec) -> tuple:
    return tuple((f.hex.lower(), f.quality) for f in rec.features or ())


def _list_for_workers(folder: str, list_path: str, since: str | None):
    """(a list file or index file the workers can map, its entry count, its PDQ
    hash count, the bad lines of the lists read, whether it is a temporary file of
    ours). A list or index file is mapped, not read: its counts are its header's."""
    from ..formats.binary import save_list
    from ..formats.detect import INDEX_FILE, LIST_FILE, binary_kind

    kind = binary_kind(list_path)
    if since is None and kind in (LIST_FILE, INDEX_FILE):
        hl = load_list(list_path)
        return list_path, hl.n_entries, len(hl["pdq"]), 0, False
    hl = load_list(list_path)
    bad = hl.error_count
    if since is not None:
        old = load_list(since)
        bad += old.error_count
        hl = new_entries(hl, old)
    tmp = os.path.join(folder, f".match-list-{secrets.token_hex(6)}.thl")
    save_list(hl, tmp)
    return tmp, hl.n_entries, len(hl["pdq"]), bad, True


def stored_pdq_count(shard_paths) -> int:
    """The PDQ hashes stored in these shards, from their Parquet metadata alone (the
    rows less the pdq column's nulls; the rows where a shard has no statistics)."""
    import pyarrow.parquet as pq

    total = 0
    for path in shard_paths:
        meta = pq.ParquetFile(path).metadata
        at = meta.schema.names.index("pdq")
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            stats = group.column(at).statistics
            nulls = stats.null_count if stats is not None and stats.has_null_count else 0
            total += group.num_rows - nulls
    return total


#: ``index="auto"`` indexes the stored side only when its indexed rows (8 a hash with
#: dihedral) are at least this many times fewer than the list's PDQ hashes. Both ways
#: compare every pair (exact flat scans), and the engine's scan runs faster with the
#: bigger side as its table: measured (benchmarks/RESULTS.md, back-scan), 10,000
#: stored against 1M listed took 1.15-1.5x as long with the stored side indexed,
#: 1,000 against 1M the same either way, 100 against 1M a little less.
STORED_SIDE_FACTOR = 1000


def choose_side(index: str, stored_pdq: int, list_pdq: int, dihedral: bool) -> str:
    """Which side's PDQ hashes to index: ``index`` ("auto", "list", "stored");
    "auto" indexes the stored hashes when they are the smaller side by
    STORED_SIDE_FACTOR (counting 8 a hash with dihedral: all their variants are
    indexed), else the list."""
    if index not in ("auto", "list", "stored"):
        raise ValueError(f"index must be 'auto', 'list' or 'stored', got {index!r}")
    if index != "auto":
        return index
    rows = stored_pdq * (8 if dihedral else 1)
    return "stored" if rows * STORED_SIDE_FACTOR <= list_pdq else "list"


def match_hashes(scan, list_path, out, *, radius: int = 31, dihedral: bool = False,
                 min_quality: int | None = None, video_quality: int = 50,
                 video_distance: int = 31, video_match: float = 80.0,
                 since=None, executor: Executor | None = None,
                 workers: int | None = None, index: str = "auto") -> MatchReport:
    """Match the hashes stored in the scan folder ``scan`` against the list at
    ``list_path`` and write every match to the Parquet file ``out`` (atomically),
    sorted by key, signal, row and id. ``since``: the list as it was when the scan
    was last matched; only the entries added since (hashes not in it) are matched,
    against every stored hash. Options as for tidehash.Matcher; ``executor`` and
    ``workers`` as for hash_corpus. ``index``: which side's PDQ hashes are indexed
    while the other side's stream past them: "list", "stored" (each shard's own,
    every listed hash a query) or "auto", the smaller (choose_side, from counts the
    list's header and the shards' metadata give); the matches are the same."""
    import pyarrow as pa

    from ..match import Matcher

    folder = os.fspath(scan)
    plan = read_plan(folder)
    if plan is None:
        raise ScanError(f"{folder}: no scan here (tidehash scan hash SOURCE --out {folder})")
    list_path = os.fspath(list_path)
    options = {"radius": radius, "dihedral": bool(dihedral), "min_quality": min_quality,
               "video_quality": video_quality, "video_distance": video_distance,
               "video_match": video_match,
               # every stored hash is a query: the Index may build its MIH tables
               "expected_queries": plan.files * (8 if dihedral else 1)}
    choose_side(index, 0, 0, False)  # checked before any work
    # the options checked here, before any work, by the Matcher the workers will make
    Matcher(_empty_list(), **{k: v for k, v in options.items() if k != "expected_queries"})
    if dihedral and not plan.options.get("dihedral"):
        raise ScanError(f"{folder}: hashed without dihedral variants "
                        "(scan hash --dihedral): cannot match with dihedral")
    report = MatchReport(os.fspath(out))
    shards = []
    for shard, rows in enumerate(plan.rows):
        path = plan.shard_path(shard)
        if finished(path, shard, rows):
            shards.append(path)
        else:
            report.missing_shards.append(shard)
    report.shards = len(shards)
    start = time.perf_counter()
    report.stored_pdq = stored_pdq_count(shards)
    (worker_list, report.list_entries, report.list_pdq, report.list_bad_lines,
     ours) = _list_for_workers(folder, list_path, None if since is None else os.fspath(since))
    report.indexed = choose_side(index, report.stored_pdq, report.list_pdq, bool(dihedral))
    rows: list[dict] = []

    def done(i: int, summary: dict) -> None:
        report.hashes += summary["hashes"]
        report.worker_pids.add(summary["pid"])
        rows.extend(summary["rows"])

    try:
        tasks = [Task(i, (path, os.path.abspath(worker_list), options, None, report.indexed))
                 for i, path in enumerate(shards)]
        if tasks:
            own = executor is None
            ex = local_pool(workers) if own else executor
            try:
                failed = run_tasks(match_shard, tasks, ex,
                                   (lambda: local_pool(workers)) if own else None,
                                   in_flight_limit(ex, workers), done)
            finally:
                if own:
                    ex.shutdown(wait=True, cancel_futures=True)
            report.failed_shards = {shards[i]: why for i, why in failed.items()}
    finally:
        if ours:
            os.unlink(worker_list)
    rows.sort(key=_order)
    write_table_atomically(pa.Table.from_pylist(rows, schema=match_schema()), report.out)
    report.matches = len(rows)
    report.keys = len({r["key"] for r in rows})
    report.seconds = time.perf_counter() - start
    return report


def _empty_list():
    from ..formats import HashList

    return HashList()
