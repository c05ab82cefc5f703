"""The arithmetic of the robustness benchmark, on plain integer distance arrays.

A *genuine* distance is between a listed image's hash and the hash of an altered copy
of it; an *impostor* distance is between a listed image's hash and the hash of an
image that is not a copy of it. A pair matches when its distance is <= the threshold
(the match rule of ``tidehash.Matcher`` and of Meta's PDQ tools).

* recall at t: the fraction of genuine distances <= t;
* false positives at t: the number of impostor distances <= t, out of N pairs;
* the false-positive rate's upper confidence bound (one-sided, Clopper-Pearson):
  the largest rate p for which seeing k or fewer false positives in N pairs still has
  probability >= 1 - confidence, i.e. the ``confidence`` quantile of Beta(k + 1, N - k).
  With k = 0 it is 1 - (1 - confidence) ** (1 / N): at 95 % about 3 / N, the "rule of
  three";
* the threshold for a target false-positive rate: the largest t whose upper bound is at
  most the target, so the rate is met with that confidence (None when even t = 0 cannot
  show it with N pairs: fewer than about 3 / target pairs). The *observed* threshold
  (largest t with k / N <= target) is also given, as a point estimate.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import betaincinv

CONFIDENCE = 0.95


def as_distances(values) -> np.ndarray:
    d = np.asarray(values)
    if d.ndim != 1 or (d.size and (not np.issubdtype(d.dtype, np.integer) or d.min() < 0)):
        raise ValueError("distances are a 1-D array of non-negative integers")
    return d.astype(np.int64, copy=False)


def cumulative_counts(distances, bits: int) -> np.ndarray:
    """counts[t] = how many distances are <= t, for t = 0..bits."""
    d = as_distances(distances)
    if d.size and d.max() > bits:
        raise ValueError(f"a distance above {bits} bits")
    return np.cumsum(np.bincount(d, minlength=bits + 1))


def recall_at(distances, threshold: int) -> float:
    d = as_distances(distances)
    return float(np.count_nonzero(d <= threshold)) / d.size if d.size else math.nan


def recall_curve(distances, bits: int) -> np.ndarray:
    """recall at t for t = 0..bits (float64)."""
    d = as_distances(distances)
    if not d.size:
        return np.full(bits + 1, np.nan)
    return cumulative_counts(d, bits) / d.size


def false_positives(distances, threshold: int) -> int:
    return int(np.count_nonzero(as_distances(distances) <= threshold))


def fpr_upper_bound(k: int, n: int, confidence: float = CONFIDENCE) -> float:
    """One-sided Clopper-Pearson upper bound on a rate, k events seen in n trials."""
    if n <= 0:
        return 1.0
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if k == n:
        return 1.0
    return float(betaincinv(k + 1, n - k, confidence))


def fpr_figures(impostors, threshold: int, confidence: float = CONFIDENCE) -> dict:
    d = as_distances(impostors)
    k = false_positives(d, threshold)
    return {"threshold": int(threshold), "false_positives": k, "pairs": int(d.size),
            "rate": k / d.size if d.size else math.nan,
            "upper_bound": fpr_upper_bound(k, int(d.size), confidence)}


def threshold_for_fpr(impostors, target: float, bits: int,
                      confidence: float = CONFIDENCE) -> dict:
    """The largest threshold whose false-positive rate is at most ``target`` with
    ``confidence`` (Clopper-Pearson), and the largest whose observed rate is."""
    d = as_distances(impostors)
    n = int(d.size)
    counts = cumulative_counts(d, bits)
    bounded = None
    observed = None
    for t in range(bits + 1 if n else 0):
        k = int(counts[t])
        if k / n > target:  # the bound is never below k / n: no larger t can do
            break
        observed = t
        if fpr_upper_bound(k, n, confidence) <= target:
            bounded = t
    out = {"target_fpr": target, "confidence": confidence, "pairs": n,
           "threshold": bounded, "observed_threshold": observed,
           "pairs_needed": pairs_needed(target, confidence)}
    if bounded is not None:
        k = int(counts[bounded])
        out.update(false_positives=k, upper_bound=fpr_upper_bound(k, n, confidence))
    return out


def pairs_needed(target: float, confidence: float = CONFIDENCE) -> int:
    """The fewest unrelated pairs, with no false positive among them, that show a rate
    below ``target``: ceil(log(1 - confidence) / log(1 - target)) (about 3 / target)."""
    return math.ceil(math.log(1 - confidence) / math.log1p(-target))


def summary(distances) -> dict:
    """min, median, p90, p99, max and mean of a distance set (numpy's linear percentiles)."""
    d = as_distances(distances)
    if not d.size:
        return {"n": 0, "min": None, "median": None, "p90": None, "p99": None, "max": None,
                "mean": None}
    p50, p90, p99 = np.percentile(d, [50, 90, 99])
    return {"n": int(d.size), "min": int(d.min()), "median": float(p50), "p90": float(p90),
            "p99": float(p99), "max": int(d.max()), "mean": float(d.mean())}
