"""Interleaved timing: competitors run round by round on the same input, so a shared
machine's slow moments fall on all of them alike.

Each round runs every competitor once; the competitor that starts rotates from round to
round (A,B,C / B,C,A / C,A,B ...), so none always runs first, right after another's
cache traffic. Times are ``time.perf_counter`` around single calls on this thread, after
a warm-up, with the garbage collector off while timing (collected between rounds).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import tidehash

try:
    import resource  # POSIX only
except ImportError:  # pragma: no cover
    resource = None


@dataclass
class Result:
    name: str
    samples: list[float] = field(default_factory=list)  # seconds
    faults: list[int] = field(default_factory=list)  # minor page faults per call

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def summary(self) -> dict:
        s = sorted(self.samples)
        q = statistics.quantiles(s, n=4) if len(s) >= 2 else [s[0]] * 3
        return {
            "name": self.name, "reps": len(s),
            "median_ms": self.median * 1e3, "min_ms": s[0] * 1e3,
            "p25_ms": q[0] * 1e3, "p75_ms": q[2] * 1e3, "max_ms": s[-1] * 1e3,
            "images_per_s": 1.0 / self.median,
            "minor_faults_median": statistics.median(self.faults) if self.faults else None,
            "samples_ms": [round(t * 1e3, 4) for t in self.samples],
        }


def _minor_faults() -> int:
    """Minor page faults of this process so far (0 where getrusage is unavailable).

    Read outside the timed window: fresh memory (first touch of newly mapped pages)
    is a real cost that a timing alone does not explain."""
    if resource is None:
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def run_interleaved(competitors: Sequence[tuple[str, Callable[[], object]]],
                    policy: tuple[float, int, int], warmup: int,
                    repeats: int | None = None) -> dict[str, Result]:
    """Time competitors round-robin: each round runs every competitor once, the
    starting competitor rotating from round to round (A,B,C / B,C,A / C,A,B ...)."""
    budget, lo, hi = policy
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        # Warm-up (also estimates the cost of one round to size the repetitions).
        slowest = 0.0
        for _ in range(warmup):
            for _name, fn in competitors:
                t0 = time.perf_counter()
                fn()
                slowest = max(slowest, time.perf_counter() - t0)
        if repeats is None:
            repeats = int(min(hi, max(lo, budget / max(slowest, 1e-6))))
        results = {name: Result(name) for name, _ in competitors}
        n = len(competitors)
        for r in range(repeats):
            for k in range(n):
                name, fn = competitors[(r + k) % n]
                f0 = _minor_faults()
                t0 = time.perf_counter()
                fn()
                t1 = time.perf_counter()
                results[name].samples.append(t1 - t0)
                results[name].faults.append(_minor_faults() - f0)
            gc.collect()  # outside any timed call
    finally:
        if gc_was_enabled:
            gc.enable()
    return results


def with_isa(isa: str, fn: Callable[[], object]) -> Callable[[], object]:
    def call():
        with tidehash.use_isa(isa):
            return fn()
    return call

