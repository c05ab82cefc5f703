"""Matching a scan's stored hashes against a list, without decoding anything again.

The workers get the path of a list file and map it (a list file from ``tidehash
index build`` or an index file is used as it is; a text list, or the new entries
of ``since``, is written once as a list file into the scan's folder). The rules
are the engine's Matcher: PDQ within ``radius`` (the 8 dihedral variants with
``dihedral``, which needs a scan hashed with ``dihedral=True``), ``min_quality``,
MD5 / SHA-256 exact, and the video rule."""

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
    matching failed (shard path -> why)."""

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
    """(a list file or index file the workers can map, its entry count, the bad
    lines of the lists read, whether it is a temporary file of ours)."""
    from ..formats.binary import save_list
    from ..formats.detect import INDEX_FILE, LIST_FILE, binary_kind

    kind = binary_kind(list_path)
    if since is None and kind in (LIST_FILE, INDEX_FILE):
        return list_path, load_list(list_path).n_entries, 0, False
    hl = load_list(list_path)
    bad = hl.error_count
    if since is not None:
        old = load_list(since)
        bad += old.error_count
        hl = new_entries(hl, old)
    tmp = os.path.join(folder, f".match-list-{secrets.token_hex(6)}.thl")
    save_list(hl, tmp)
    return tmp, hl.n_entries, bad, True


def match_hashes(scan, list_path, out, *, radius: int = 31, dihedral: bool = False,
                 min_quality: int | None = None, video_quality: int = 50,
                 video_distance: int = 31, video_match: float = 80.0,
                 since=None, executor: Executor | None = None,
                 workers: int | None = None) -> MatchReport:
    """Match the hashes stored in the scan folder ``scan`` against the list at
    ``list_path`` and write every match to the Parquet file ``out`` (atomically),
    sorted by key, signal, row and id. ``since``: the list as it was when the scan
    was last matched; only the entries added since (hashes not in it) are matched,
    against every stored hash. Options as for tidehash.Matcher; ``executor`` and
    ``workers`` as for hash_corpus."""
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
    worker_list, report.list_entries, report.list_bad_lines, ours = _list_for_workers(
        folder, list_path, None if since is None else os.fspath(since))
    rows: list[dict] = []

    def done(i: int, summary: dict) -> None:
        report.hashes += summary["hashes"]
        report.worker_pids.add(summary["pid"])
        rows.extend(summary["rows"])

    try:
        tasks = [Task(i, (path, os.path.abspath(worker_list), options))
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
