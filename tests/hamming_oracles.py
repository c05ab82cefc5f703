"""Plain NumPy / Python oracles for the Hamming-search tests (no tidehash code).

Everything here is deliberately simple and slow-but-obvious: popcount of XOR
summed over words, full sorts, dict models."""

from __future__ import annotations

import numpy as np

if hasattr(np, "bitwise_count"):  # NumPy >= 2.0

    def popcount(a: np.ndarray) -> np.ndarray:
        return np.bitwise_count(a)

else:  # NumPy 1.x: byte lookup table
    _LUT = np.array([bin(i).count("1") for i in range(256)], np.uint8)

    def popcount(a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a)
        b = a.view(np.uint8).reshape(a.shape + (a.dtype.itemsize,))
        return _LUT[b].sum(-1, dtype=np.uint8)


def distances(q: np.ndarray, db: np.ndarray, chunk_elems: int = 1 << 22) -> np.ndarray:
    """(nq, n) int32 Hamming distances between (nq, W) and (n, W) uint64 codes."""
    q = np.asarray(q, np.uint64)
    db = np.asarray(db, np.uint64)
    nq, n = q.shape[0], db.shape[0]
    out = np.empty((nq, n), np.int32)
    if nq == 0 or n == 0:
        return out
    step = max(1, chunk_elems // max(1, n * q.shape[1]))
    for a in range(0, nq, step):
        x = q[a:a + step, None, :] ^ db[None, :, :]
        out[a:a + step] = popcount(x).sum(-1, dtype=np.int32)
    return out


def range_set(q, db, radius, row_base=0):
    """Sorted list of (query, row + row_base, distance) with distance <= radius."""
    d = distances(q, db)
    qi, rows = np.nonzero(d <= radius)
    return sorted(zip(qi.tolist(), (rows + row_base).tolist(), d[qi, rows].tolist()))


def as_triples(qidx, rows, dist):
    return sorted(zip(np.asarray(qidx).tolist(), np.asarray(rows).tolist(),
                      np.asarray(dist).tolist()))


def knn(q, db, k, row_base=0):
    """(dist (nq, k) int32, rows (nq, k) int64) ascending by (distance, row), -1 padded."""
    d = distances(q, db)
    nq, n = d.shape
    dist = np.full((nq, k), -1, np.int32)
    rows = np.full((nq, k), -1, np.int64)
    if n == 0:
        return dist, rows
    for i in range(nq):
        order = np.lexsort((np.arange(n), d[i]))[:k]
        dist[i, :order.size] = d[i, order]
        rows[i, :order.size] = order + row_base
    return dist, rows


# ------------------------------------------------------------------ data
def random_codes(rng: np.random.Generator, n: int, words: int) -> np.ndarray:
    return rng.integers(0, 2**64, size=(n, words), dtype=np.uint64, endpoint=False)


def clustered_codes(rng: np.random.Generator, n: int, words: int, family: int = 8,
                    max_flips: int | None = None) -> np.ndarray:
    """n codes in families of ~`family` near-duplicates of a random base code, each
    with a few random bit flips (0 .. max_flips, default ~ bits / 8), shuffled.
    Vectorised: flips are drawn as random bit positions (collisions just cancel)."""
    bits = 64 * words
    if max_flips is None:
        max_flips = max(1, bits // 8)
    nbase = max(1, -(-n // family))
    base = random_codes(rng, nbase, words)
    codes = base[rng.integers(0, nbase, n)] if n else np.empty((0, words), np.uint64)
    codes = codes.copy()
    nfl = rng.integers(0, max_flips + 1, n)
    total = int(nfl.sum())
    if total:
        row = np.repeat(np.arange(n), nfl)
        pos = rng.integers(0, bits, total)
        mask = np.zeros((n, words), np.uint64)
        # xor-accumulate (np.bitwise_xor.at handles repeated indices)
        np.bitwise_xor.at(mask, (row, pos // 64), np.uint64(1) << (pos % 64).astype(np.uint64))
        codes ^= mask
    return codes


def near_queries(rng, db, nq, max_flips):
    """Queries that are perturbed copies of random database rows (so hits exist)."""
    if db.shape[0] == 0:
        return random_codes(rng, nq, db.shape[1])
    pick = db[rng.integers(0, db.shape[0], nq)]
    return clustered_codes_from(rng, pick, max_flips)


def clustered_codes_from(rng, codes, max_flips):
    codes = np.array(codes, np.uint64, copy=True)
    n, words = codes.shape
    nfl = rng.integers(0, max_flips + 1, n)
    total = int(nfl.sum())
    if total:
        row = np.repeat(np.arange(n), nfl)
        pos = rng.integers(0, 64 * words, total)
        mask = np.zeros((n, words), np.uint64)
        np.bitwise_xor.at(mask, (row, pos // 64), np.uint64(1) << (pos % 64).astype(np.uint64))
        codes ^= mask
    return codes


def codes_to_bytes(codes: np.ndarray) -> np.ndarray:
    """(n, W) uint64 -> (n, 8W) uint8 (little-endian words, as a PDQ hash)."""
    codes = np.ascontiguousarray(codes, dtype="<u8")
    return codes.view(np.uint8).reshape(codes.shape[0], codes.shape[1] * 8)


def bytes_to_codes(b: np.ndarray) -> np.ndarray:
    b = np.ascontiguousarray(b, np.uint8)
    return b.view("<u8").astype(np.uint64).reshape(b.shape[0], b.shape[1] // 8)


# ------------------------------------------------------------------ index-level oracles
def index_range(qbytes, hashes, ids, radius):
    """Oracle for Index.search_range: (lims, ids, dist) with hits sorted by (dist, id)."""
    q = bytes_to_codes(qbytes)
    db = bytes_to_codes(hashes) if len(hashes) else np.empty((0, q.shape[1]), np.uint64)
    ids = np.asarray(ids, np.int64)
    d = distances(q, db)
    lims = [0]
    out_ids, out_d = [], []
    for i in range(q.shape[0]):
        hit = np.nonzero(d[i] <= radius)[0]
        order = np.lexsort((ids[hit], d[i, hit]))
        out_ids.extend(ids[hit][order].tolist())
        out_d.extend(d[i, hit][order].tolist())
        lims.append(len(out_ids))
    return (np.array(lims, np.int64), np.array(out_ids, np.int64), np.array(out_d, np.int32))


def index_knn(qbytes, hashes, ids, k):
    """Oracle for Index.search_knn: ties broken by row (insertion) order; k capped
    at the number of rows."""
    q = bytes_to_codes(qbytes)
    db = bytes_to_codes(hashes) if len(hashes) else np.empty((0, q.shape[1]), np.uint64)
    dist, rows = knn(q, db, min(k, db.shape[0]))
    ids = np.asarray(ids, np.int64)
    out = np.where(rows >= 0, ids[np.maximum(rows, 0)] if len(ids) else 0, -1)
    return out.astype(np.int64), dist


def index_range_dihedral(qbytes8, hashes, ids, radius):
    """Oracle for dihedral search_range: qbytes8 is (Q, 8, nbytes). Each (query, row)
    once at its min distance over the 8 variants, variant = smallest such index;
    sorted by (dist, id) -- rows with equal (dist, id) keep row order."""
    Q = qbytes8.shape[0]
    nbytes = qbytes8.shape[2]
    q = bytes_to_codes(qbytes8.reshape(Q * 8, nbytes))
    words = q.shape[1]
    db = bytes_to_codes(hashes) if len(hashes) else np.empty((0, words), np.uint64)
    ids = np.asarray(ids, np.int64)
    d = distances(q, db).reshape(Q, 8, db.shape[0])
    best = d.min(1) if db.shape[0] else np.empty((Q, 0), np.int32)
    var = d.argmin(1) if db.shape[0] else np.empty((Q, 0), np.int64)
    lims = [0]
    oi, od, ov = [], [], []
    for i in range(Q):
        hit = np.nonzero(best[i] <= radius)[0]
        order = np.lexsort((ids[hit], best[i, hit]))
        oi.extend(ids[hit][order].tolist())
        od.extend(best[i, hit][order].tolist())
        ov.extend(var[i, hit][order].tolist())
        lims.append(len(oi))
    return (np.array(lims, np.int64), np.array(oi, np.int64), np.array(od, np.int32),
            np.array(ov, np.int8))


def index_knn_dihedral(qbytes8, hashes, ids, k):
    Q = qbytes8.shape[0]
    nbytes = qbytes8.shape[2]
    q = bytes_to_codes(qbytes8.reshape(Q * 8, nbytes))
    words = q.shape[1]
    db = bytes_to_codes(hashes) if len(hashes) else np.empty((0, words), np.uint64)
    ids = np.asarray(ids, np.int64)
    n = db.shape[0]
    k = min(k, n)  # search_knn caps k at the index size
    out_ids = np.full((Q, k), -1, np.int64)
    out_d = np.full((Q, k), -1, np.int32)
    if n == 0:
        return out_ids, out_d
    best = distances(q, db).reshape(Q, 8, n).min(1)
    for i in range(Q):
        order = np.lexsort((np.arange(n), best[i]))[:k]
        out_ids[i, :order.size] = ids[order]
        out_d[i, :order.size] = best[i, order]
    return out_ids, out_d
