"""The driver: shards handed to an executor, results gathered, reports made.

Any concurrent.futures.Executor runs the shards. When a worker process dies (a
process pool's BrokenProcessPool), only the shard it was on is lost: the pool is
made anew (when the scan made it) and the shards that were in flight with it are
run again one at a time, so the one that kills its worker is found and given up,
and the others complete. A Dask cluster does the same itself (the scheduler
reschedules a dead worker's task, and gives it up as KilledWorker after
``distributed.scheduler.allowed-failures`` deaths)."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, wait
from dataclasses import dataclass, field

from ..image import DEFAULT_MAX_PIXELS
from .plan import DEFAULT_SHARD_SIZE, Plan, ScanError, read_plan, source_items, write_plan
from .shards import REASONS, finished, stray_temporaries
from .work import hash_shard


@dataclass
class Task:
    tag: int
    args: tuple
    alone: bool = False  # run again on its own after its pool broke


def run_tasks(fn: Callable, tasks: list[Task], executor: Executor | None,
              new_executor: Callable[[], Executor] | None, in_flight: int,
              on_result: Callable[[int, object], None]) -> dict[int, str]:
    """Run ``fn(*task.args)`` for every task, at most ``in_flight`` at a time; calls
    ``on_result(tag, result)`` in this thread as each completes. Returns the tasks
    that failed, tag -> why. ``new_executor`` (when the caller owns the executor)
    replaces a broken one; ``executor`` is shut down when it is replaced."""
    pending = deque(tasks)
    again: deque[Task] = deque()  # in flight when a pool broke: each run alone
    running: dict = {}
    failed: dict[int, str] = {}
    ex = executor
    try:
        while pending or again or running:
            while True:
                if again:
                    if running:
                        break
                    task = again.popleft()
                elif pending and len(running) < in_flight:
                    task = pending.popleft()
                else:
                    break
                try:
                    running[ex.submit(fn, *task.args)] = (task, ex)
                except (BrokenExecutor, RuntimeError) as exc:  # broken, or shut down
                    if new_executor is None or task.alone:
                        failed[task.tag] = _why(exc)
                        continue
                    ex = _replace(ex, new_executor)
                    again.append(Task(task.tag, task.args, alone=True))
            if not running:
                continue
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                task, owner = running.pop(future)
                try:
                    result = future.result()
                except BrokenExecutor as exc:
                    if new_executor is None or task.alone:
                        failed[task.tag] = _why(exc)
                    else:
                        again.append(Task(task.tag, task.args, alone=True))
                    if new_executor is not None and owner is ex:
                        ex = _replace(ex, new_executor)
                except Exception as exc:  # noqa: BLE001 -- one shard's failure, reported
                    failed[task.tag] = _why(exc)
                else:
                    on_result(task.tag, result)
    finally:
        if new_executor is not None and ex is not executor:
            ex.shutdown(wait=True, cancel_futures=True)
    return failed


def _replace(ex: Executor, new_executor: Callable[[], Executor]) -> Executor:
    ex.shutdown(wait=False, cancel_futures=True)
    return new_executor()


def _why(exc: BaseException) -> str:
    if isinstance(exc, BrokenExecutor):
        return "the worker process died"
    name = type(exc).__name__
    if name == "KilledWorker":  # distributed's: the task's workers died, every try
        return "the worker process died (Dask gave the task up)"
    return f"{name}: {exc}"


def local_pool(workers: int | None = None) -> Executor:
    """The default executor: a pool of ``workers`` processes (default: the CPUs),
    started by spawning (never forking a process that may hold threads)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1,
                               mp_context=multiprocessing.get_context("spawn"))


def in_flight_limit(executor: Executor | None, workers: int | None) -> int:
    n = workers or getattr(executor, "_max_workers", None)
    if n is None and hasattr(executor, "_client"):  # Dask's ClientExecutor
        n = sum(executor._client.nthreads().values())
    return max(1, n or os.cpu_count() or 1)


# ----------------------------------------------------------------------------- hashing
@dataclass
class HashReport:
    """What ``hash_corpus`` did. ``errors`` counts the error rows of every finished
    shard by reason; ``failed_shards`` are those not written (shard -> why): run
    again with ``resume=True`` to do them."""

    folder: str
    files: int
    shards: int
    shards_hashed: int = 0
    shards_skipped: int = 0
    files_hashed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    failed_shards: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0
    worker_pids: set[int] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        return not self.failed_shards

    @property
    def files_per_second(self) -> float:
        return self.files_hashed / self.seconds if self.seconds > 0 else 0.0

    def shard_paths(self) -> list[str]:
        from .plan import shard_name

        return [os.path.join(self.folder, shard_name(i)) for i in range(self.shards)
                if i not in self.failed_shards]


def _options(dihedral: bool, seconds_per_hash: float, max_pixels) -> dict:
    from .._checks import max_pixels_limit
    from ..video import check_seconds_per_hash

    return {"dihedral": bool(dihedral),
            "seconds_per_hash": check_seconds_per_hash(seconds_per_hash),
            "max_pixels": max_pixels_limit(max_pixels)}


def _open_plan(source: str, folder: str, resume: bool, shard_size: int,
               options: dict) -> Plan:
    source = os.fspath(source)
    plan = read_plan(folder)
    if plan is not None:
        if not resume:
            raise ScanError(f"{folder} already holds a scan (of {plan.source}): "
                            "resume it, or give another folder")
        if plan.source != source or plan.options != options:
            raise ScanError(f"{folder} holds a scan of {plan.source} with {plan.options}, "
                            f"not of {source} with {options}: resume it as it was started")
        return plan
    if os.path.isdir(folder) and any(n.endswith(".parquet") for n in os.listdir(folder)):
        raise ScanError(f"{folder}: holds Parquet files but no scan plan")
    items = source_items(source)  # ScanError for a SOURCE that is not there
    os.makedirs(folder, exist_ok=True)
    return write_plan(folder, source, items, shard_size, options)


def _error_counts(path: str) -> dict[str, int]:
    import pyarrow.parquet as pq

    reasons = pq.read_table(path, columns=["reason"]).column("reason").to_pylist()
    out: dict[str, int] = {}
    for r in reasons:
        if r is not None:
            out[r] = out.get(r, 0) + 1
    return out


def hash_corpus(source, out, *, executor: Executor | None = None, workers: int | None = None,
                resume: bool = False, shard_size: int = DEFAULT_SHARD_SIZE,
                dihedral: bool = False, seconds_per_hash: float = 1.0,
                max_pixels: int | None = DEFAULT_MAX_PIXELS,
                on_plan: Callable[[int], None] | None = None,
                on_shard: Callable[[dict], None] | None = None) -> HashReport:
    """Hash every file of ``source`` (a folder, an fsspec URL of a folder, or a
    manifest: tidehash.scan.plan) into Parquet shards under the folder ``out``.

    ``executor``: any concurrent.futures.Executor (default: a pool of ``workers``
    processes, made and shut down here). ``resume=True`` goes on with the scan in
    ``out`` (same source and options): finished shards are kept, partial ones and
    stray temporary files redone. A bad file is an error row, never a stop; a
    shard whose worker died is reported in ``failed_shards`` and left for a resume.
    ``on_plan(files)`` is called with the number of files to hash once they are
    known, ``on_shard(summary)`` as each shard is written (both in this thread)."""
    if shard_size is None or int(shard_size) < 1:
        raise ValueError(f"shard_size must be at least 1, got {shard_size!r}")
    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}")
    folder = os.fspath(out)
    options = _options(dihedral, seconds_per_hash, max_pixels)
    plan = _open_plan(source, folder, resume, int(shard_size), options)
    for tmp in stray_temporaries(folder):  # a killed writer's, never a finished shard
        os.unlink(tmp)
    report = HashReport(folder, plan.files, len(plan.rows))
    tasks = []
    for shard, rows in enumerate(plan.rows):
        path = plan.shard_path(shard)
        if resume and finished(path, shard, rows):
            report.shards_skipped += 1
            for reason, n in _error_counts(path).items():
                report.errors[reason] = report.errors.get(reason, 0) + n
            continue
        tasks.append(Task(shard, (plan.path, shard, path, options)))

    def done(shard: int, summary: dict) -> None:
        report.shards_hashed += 1
        report.files_hashed += summary["files"]
        report.worker_pids.add(summary["pid"])
        for reason, n in summary["errors"].items():
            report.errors[reason] = report.errors.get(reason, 0) + n
        if on_shard is not None:
            on_shard(summary)

    if on_plan is not None:
        on_plan(sum(plan.rows[t.tag] for t in tasks))
    start = time.perf_counter()
    if tasks:
        own = executor is None
        ex = local_pool(workers) if own else executor
        try:
            report.failed_shards = run_tasks(
                hash_shard, tasks, ex, (lambda: local_pool(workers)) if own else None,
                in_flight_limit(ex, workers), done)
        finally:
            if own:
                ex.shutdown(wait=True, cancel_futures=True)
    report.seconds = time.perf_counter() - start
    report.errors = {r: report.errors[r] for r in REASONS if r in report.errors}
    return report
