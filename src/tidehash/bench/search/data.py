"""The search benchmark's data: random hashes, and clustered families of near-duplicates
as real hash lists have them; queries half near-duplicates of listed hashes, half random."""

from __future__ import annotations

import numpy as np

BITS = 256
NBYTES = BITS // 8
FAMILY_SIZE = 20          # members per family in the clustered data
FAMILY_MAX_FLIPS = 16     # members are 0..16 bit flips from their base
QUERY_FLIPS = (1, 8)      # near-duplicate queries: 1..8 bit flips from a listed hash


POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def popcount_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distance between matching rows of two (M, 32) uint8 arrays, as int32."""
    x = np.bitwise_xor(a, b)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(np.ascontiguousarray(x).view(np.uint64)).sum(
            axis=1, dtype=np.int32)
    return POPCOUNT8[x].sum(axis=1, dtype=np.int32)


def flip_bits(rng: np.random.Generator, x: np.ndarray, counts: np.ndarray) -> None:
    """Flip exactly counts[i] distinct random bits of row i of x ((M, B) uint8), in place."""
    nbits = x.shape[1] * 8
    mask = np.zeros_like(x)
    for j in range(int(counts.max(initial=0))):
        rows = np.flatnonzero(counts > j)
        pos = rng.integers(0, nbits, rows.size)
        while True:  # redraw positions already flipped in that row
            taken = np.flatnonzero((mask[rows, pos >> 3] >> (pos & 7)) & 1)
            if taken.size == 0:
                break
            pos[taken] = rng.integers(0, nbits, taken.size)
        mask[rows, pos >> 3] |= (1 << (pos & 7)).astype(np.uint8)
    x ^= mask


def make_data(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, n, 0 if kind == "random" else 1])
    if kind == "random":
        return rng.integers(0, 256, (n, NBYTES), dtype=np.uint8)
    if kind != "clustered":
        raise ValueError(f"unknown dataset {kind!r}")
    families = -(-n // FAMILY_SIZE)
    base = rng.integers(0, 256, (families, NBYTES), dtype=np.uint8)
    data = np.repeat(base, FAMILY_SIZE, axis=0)[:n]
    del base
    flip_bits(rng, data, rng.integers(0, FAMILY_MAX_FLIPS + 1, n))
    return data[rng.permutation(n)]


def make_queries(data: np.ndarray, nq: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, data.shape[0], 2])
    q = rng.integers(0, 256, (nq, NBYTES), dtype=np.uint8)
    near = np.arange(0, nq, 2)
    dup = data[rng.integers(0, data.shape[0], near.size)]
    flip_bits(rng, dup, rng.integers(QUERY_FLIPS[0], QUERY_FLIPS[1] + 1, near.size))
    q[near] = dup
    return q
