"""Checking the search benchmark's results: every hit against the data, and every
engine, thread count and single / batched call against the answer most of them give."""

from __future__ import annotations

import numpy as np

from .data import popcount_rows
from .report import op_label


def merge_range(outs):
    """Concatenate single-query range results (CSR) into one CSR."""
    if not outs:
        return np.zeros(1, np.int64), np.empty(0, np.int64), np.empty(0, np.int32)
    counts = [o[0][-1] - o[0][0] for o in outs]
    lims = np.zeros(len(outs) + 1, np.int64)
    np.cumsum(counts, out=lims[1:])
    return (lims, np.concatenate([o[1] for o in outs]),
            np.concatenate([o[2] for o in outs]).astype(np.int32))


def merge_knn(outs):
    return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])


def canonical_range(res):
    """CSR -> (nq, qi, ids, dist) sorted by (query, id)."""
    lims, ids, dist = res
    nq = lims.shape[0] - 1
    qi = np.repeat(np.arange(nq, dtype=np.int64), np.diff(lims))
    order = np.lexsort((ids, qi))
    return nq, qi[order], ids[order], dist[order]


def verify_range(res, queries, data, r) -> str | None:
    """Every hit must be within r at the distance reported (recomputed from the data)."""
    nq, qi, ids, dist = res
    if ids.size and (ids.min() < 0 or ids.max() >= data.shape[0]):
        return "ids out of range"
    true = popcount_rows(queries[qi], data[ids]) if ids.size else np.empty(0, np.int32)
    bad = np.flatnonzero((true != dist) | (dist > r))
    if bad.size:
        j = bad[0]
        return (f"{bad.size} hits wrong, e.g. query {qi[j]} id {ids[j]}: reported distance "
                f"{dist[j]}, true {true[j]}, radius {r}")
    dup = np.flatnonzero((qi[1:] == qi[:-1]) & (ids[1:] == ids[:-1]))
    if dup.size:
        return f"{dup.size} duplicate hits, e.g. query {qi[dup[0]]} id {ids[dup[0]]}"
    return None


def verify_knn(res, queries, data) -> str | None:
    ids, dist = res
    valid = ids >= 0
    if valid.any() and ids.max() >= data.shape[0]:
        return "ids out of range"
    qi = np.nonzero(valid)[0]
    true = popcount_rows(queries[qi], data[ids[valid]])
    bad = np.flatnonzero(true != dist[valid])
    if bad.size:
        j = bad[0]
        return (f"{bad.size} neighbours wrong, e.g. query {qi[j]} id {ids[valid][j]}: "
                f"reported distance {dist[valid][j]}, true {true[j]}")
    d = np.where(valid, dist, np.iinfo(np.int32).max).astype(np.int64)
    if (np.diff(d, axis=1) < 0).any():
        return "distances not in ascending order"
    return None


_MIX1 = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xC2B2AE3D27D4EB4F)


def query_keys(res, kind) -> np.ndarray:
    """One row per covered query that is equal for two results exactly when they agree on
    that query. Range: (hit count, order-free 64-bit hash of the (id, distance) set);
    k-NN: the k distances (ids may differ on ties)."""
    if kind == "knn":
        return res[1].astype(np.int64)
    nq, qi, ids, dist = res
    h = ids.astype(np.uint64) * _MIX1 ^ dist.astype(np.uint64) * _MIX2
    h ^= h >> np.uint64(31)
    h *= _MIX2
    cs = np.zeros(ids.size + 1, np.uint64)
    np.cumsum(h, out=cs[1:])  # wraps modulo 2**64, which is what we want
    ends = np.searchsorted(qi, np.arange(1, nq + 1))
    starts = np.concatenate([[0], ends[:-1]]).astype(np.intp)
    return np.stack([(ends - starts).astype(np.int64), (cs[ends] - cs[starts]).view(np.int64)],
                    axis=1)


def majority(keys):
    """keys: per entry, an (n_covered, W) array over a prefix of the same queries.
    Returns (wrong, best): wrong[e] = query indices where entry e differs from the answer
    most entries covering that query give; best[q] = an entry giving that answer."""
    cover = max(k.shape[0] for k in keys)
    width = max(k.shape[1] for k in keys)
    e = len(keys)
    allk = np.zeros((e, cover, width), np.int64)
    has = np.zeros((e, cover), bool)
    for i, k in enumerate(keys):
        allk[i, :k.shape[0], :k.shape[1]] = k
        has[i, :k.shape[0]] = True
    same = np.empty((e, e, cover), bool)
    for i in range(e):
        same[i] = (allk[i][None] == allk).all(axis=2) & has[i][None] & has
    support = same.sum(axis=1)            # (e, cover): entries giving entry i's answer
    best = support.argmax(axis=0)         # (cover,)
    agrees = same[best, np.arange(e)[:, None], np.arange(cover)[None]]  # (e, cover)
    return [np.flatnonzero(has[i] & ~agrees[i]) for i in range(e)], best


def describe(kind, a, b, q, la, lb) -> str:
    """What results a and b give for query q."""
    if kind == "knn":
        return f"query {q}: distances {la} {a[1][q].tolist()}, {lb} {b[1][q].tolist()}"

    def hits(res):
        _, qi, ids, dist = res
        lo, hi = np.searchsorted(qi, [q, q + 1])
        return set(zip(ids[lo:hi].tolist(), dist[lo:hi].tolist()))
    ha, hb = hits(a), hits(b)
    return (f"query {q}: (id, distance) only in {la}: {sorted(ha - hb)[:5]}, "
            f"only in {lb}: {sorted(hb - ha)[:5]}")


def check_block(results, queries, data, ops, exact):
    """Verify every result against the data, and every exact result (all engines, thread
    counts, single and batched calls) query by query against the answer most of them give.
    Returns ({(engine, op): status}, {(engine, op): exact fraction}, [problem lines])."""
    problems = []
    status = {}
    recall = {}
    for op in ops:
        kind, param = op
        entries = []   # (label, engine, canonical result)
        for (name, t, o), rec in results.items():
            if o != op:
                continue
            status.setdefault((name, op), "ok")
            for mode in ("batch", "single"):
                res = rec[mode]
                label = f"{name} t={t} {mode}"
                if kind == "range":
                    res = canonical_range(res)
                    err = verify_range(res, queries, data, param)
                else:
                    err = verify_knn(res, queries, data)
                if err:
                    problems.append(f"{op_label(op)}: {label}: {err}")
                    status[(name, op)] = "FAIL"
                entries.append((label, name, res))
        exact_entries = [e for e in entries if exact.get((e[1], kind), True)]
        if not exact_entries:
            continue
        wrong, best = majority([query_keys(e[2], kind) for e in exact_entries])
        for (label, name, res), bad in zip(exact_entries, wrong):
            if bad.size:
                q = int(bad[0])
                lb, _, rb = exact_entries[best[q]]
                problems.append(f"{op_label(op)}: {label} differs from the majority on "
                                f"{bad.size} of {_covered(res, kind)} queries; "
                                + describe(kind, res, rb, q, label, lb))
                status[(name, op)] = "FAIL"
        # approximate k-NN: the fraction of queries with exactly the true distances
        if kind == "knn":
            truth = max(exact_entries, key=lambda e: _covered(e[2], kind))[2][1]
            for _label, name, res in entries:
                if exact.get((name, kind), True):
                    continue
                p = min(truth.shape[0], res[1].shape[0])
                same = float((truth[:p] == res[1][:p]).all(axis=1).mean()) if p else 0.0
                recall[(name, op)] = min(same, recall.get((name, op), 1.0))
    for (name, op), same in recall.items():
        if status.get((name, op)) == "ok":
            status[(name, op)] = f"~{same:.0%}"
    return status, recall, problems


def _covered(res, kind) -> int:
    return res[0] if kind == "range" else res[1].shape[0]
