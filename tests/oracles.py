"""A slow, literal NumPy float32 implementation of PDQ (see /work/shared/PDQ.md).

It is the independent oracle the C kernels are checked against: every step follows
the reference's arithmetic in the same order, with each operation rounded to float32.

* luma: ``((0.299f*R) + (0.587f*G)) + (0.114f*B)``, grey: ``(float)v``;
* Jarosz filter: two passes of (rows, then columns), each a 1-D box filter written
  exactly as the reference's ``box1DFloat`` (phase 1: h-1 adds; phase 2: w-h+1 times
  add, write; phase 3: n-w times add, subtract, write; phase 4: h-1 times subtract,
  write), vectorised across lines but sequential along each line;
* decimation with the index computed in double and truncated;
* quality: ``(int)((u - v) * 100 / 255)`` in float32, summed as |d|, ``min(100, sum/90)``;
* DCT: ``T = D A``, ``B = T D^T`` with one float32 accumulator per output, summed
  over k = 0..63 in order (vectorised across outputs, never across k);
* threshold against the lower median (128th smallest), strictly greater -> 1;
* hex: the 256-bit number sum(bit_k 2^k), big-endian;
* dihedral variants from B, each against its own median.

Nothing here uses numpy's transcendental functions (their SIMD versions are not
correctly rounded); the DCT matrix uses math.cos, i.e. the C library's cos.
"""

from __future__ import annotations

import math

import numpy as np

F32 = np.float32
W_R = F32(0.299)  # == 0.299f (the double literal rounded to float)
W_G = F32(0.587)
W_B = F32(0.114)
MIN_DIM = 5
ZERO_HEX = "0" * 64


# ----------------------------------------------------------------------------- luma
def luma_f32(img) -> np.ndarray:
    """Float32 luma exactly as the C++ reference computes it."""
    a = np.asarray(img)
    assert a.dtype == np.uint8, a.dtype
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return a.astype(F32)
    assert a.ndim == 3 and a.shape[2] in (3, 4), a.shape
    r = a[:, :, 0].astype(F32)
    g = a[:, :, 1].astype(F32)
    b = a[:, :, 2].astype(F32)
    return ((W_R * r) + (W_G * g)) + (W_B * b)


def luma_pdqhash(img) -> np.ndarray:
    """The luma the pip ``pdqhash`` binding feeds the C++ core: float64, cast to float32."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.dstack([a, a, a])
    a = a[:, :, :3]
    return (a[:, :, 0] * 0.299 + a[:, :, 1] * 0.587 + a[:, :, 2] * 0.114).astype(F32)


# ------------------------------------------------------------------- Jarosz filter
def window_size(n: int) -> int:
    """computeJaroszFilterWindowSize(n, 64) == (n + 2*64 - 1) / (2*64)."""
    return (n + 127) // 128


def box1d_axis0(x: np.ndarray, w: int) -> np.ndarray:
    """box1DFloat along axis 0 of a 2-D float32 array, for every column at once.

    Each column is one independent line; along the line the running sum is updated
    sequentially in the reference's phase order."""
    x = np.ascontiguousarray(x, dtype=F32)
    n = x.shape[0]
    assert 1 <= w <= n
    h = (w + 2) // 2
    sums = np.empty_like(x)  # sums[o] = the running sum when output o is written
    counts = np.empty(n, dtype=F32)  # the window size it is divided by
    s = np.zeros(x.shape[1:], dtype=F32)
    ri = li = oi = 0
    cnt = 0
    for _ in range(h - 1):  # phase 1: accumulate, no writes
        np.add(s, x[ri], out=s)
        ri += 1
        cnt += 1
    for _ in range(w - h + 1):  # phase 2: add, write (growing window)
        np.add(s, x[ri], out=s)
        ri += 1
        cnt += 1
        sums[oi] = s
        counts[oi] = cnt
        oi += 1
    for _ in range(n - w):  # phase 3: add entering, subtract leaving, write
        np.add(s, x[ri], out=s)
        np.subtract(s, x[li], out=s)
        ri += 1
        li += 1
        sums[oi] = s
        counts[oi] = cnt
        oi += 1
    for _ in range(h - 1):  # phase 4: subtract, write (shrinking window)
        np.subtract(s, x[li], out=s)
        li += 1
        cnt -= 1
        sums[oi] = s
        counts[oi] = cnt
        oi += 1
    assert oi == n and cnt >= 1
    # float32 / float32, one rounding, the same as `sum / current_window_size`
    return sums / counts.reshape((n,) + (1,) * (x.ndim - 1))


def box_along_rows(y: np.ndarray, w: int) -> np.ndarray:
    """boxAlongRowsFloat: a 1-D filter along every row (lines are rows)."""
    return np.ascontiguousarray(box1d_axis0(np.ascontiguousarray(y.T), w).T)


def box_along_cols(y: np.ndarray, w: int) -> np.ndarray:
    """boxAlongColsFloat: a 1-D filter along every column."""
    return box1d_axis0(y, w)


def jarosz_filter(y: np.ndarray, passes: int = 2) -> np.ndarray:
    rows, cols = y.shape
    w_rows = window_size(cols)  # window along a row
    w_cols = window_size(rows)  # window along a column
    for _ in range(passes):
        y = box_along_rows(y, w_rows)
        y = box_along_cols(y, w_cols)
    return y


def decimation_indices(n: int) -> np.ndarray:
    return np.array([int(((i + 0.5) * n) / 64) for i in range(64)], dtype=np.intp)


def decimate(y: np.ndarray) -> np.ndarray:
    rows, cols = y.shape
    return np.ascontiguousarray(y[np.ix_(decimation_indices(rows), decimation_indices(cols))])


def downscale(y: np.ndarray, fast_path: bool = True) -> np.ndarray:
    """The 64x64 buffer: unfiltered for an exactly 64x64 image when ``fast_path``
    (pdqHash256FromFloatLuma), filtered + decimated otherwise."""
    y = np.asarray(y, dtype=F32)
    if fast_path and y.shape == (64, 64):
        return y.copy()
    return decimate(jarosz_filter(y))


# ------------------------------------------------------------------------ quality
def quality_terms(a: np.ndarray):
    """The float32 values ``(u - v) * 100 / 255`` before truncation (vertical, horizontal)."""
    a = np.asarray(a, dtype=F32)
    vert = ((a[:-1, :] - a[1:, :]) * F32(100)) / F32(255)
    horiz = ((a[:, :-1] - a[:, 1:]) * F32(100)) / F32(255)
    return vert, horiz


def gradient_sum(a: np.ndarray) -> int:
    vert, horiz = quality_terms(a)
    # astype(int) truncates toward zero, like the C (int) cast
    return int(np.abs(vert.astype(np.int64)).sum() + np.abs(horiz.astype(np.int64)).sum())


def quality(a: np.ndarray) -> int:
    return min(100, gradient_sum(a) // 90)


# ---------------------------------------------------------------------------- DCT
def _dct_matrix() -> np.ndarray:
    s = float(F32(math.sqrt(2.0 / 64.0)))  # the scale is rounded to float
    d = np.empty((16, 64), dtype=F32)
    for i in range(16):
        for j in range(64):
            # ((pi / 2 / 64) * (i + 1)) * (2j + 1) in double, cos in double,
            # product with the float scale in double, stored as float
            d[i, j] = F32(s * math.cos((math.pi / 2 / 64.0) * (i + 1) * (2 * j + 1)))
    return d


DCT_MATRIX = _dct_matrix()


def dct64_to_16(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=F32)
    d = DCT_MATRIX
    t = np.zeros((16, 64), dtype=F32)
    for k in range(64):  # T[i][j] += D[i][k] * A[k][j], k in order
        t += d[:, k:k + 1] * a[k:k + 1, :]
    b = np.zeros((16, 16), dtype=F32)
    for k in range(64):  # B[i][j] += T[i][k] * D[j][k], k in order
        b += t[:, k:k + 1] * d[:, k][None, :]
    return b


# ---------------------------------------------------------------- bits, hex, median
def lower_median(b: np.ndarray) -> np.float32:
    return np.sort(np.asarray(b, dtype=F32).ravel())[127]


def hash_bits(b: np.ndarray) -> np.ndarray:
    """256 bits, bit k = 16*i + j set iff B[i][j] > median (strictly)."""
    flat = np.asarray(b, dtype=F32).ravel()
    return (flat > lower_median(flat)).astype(np.uint8)


def bits_to_hex(bits: np.ndarray) -> str:
    """sum(bit_k 2^k) as 64 big-endian hex digits (words 15..0 as %04x)."""
    bits = np.asarray(bits, dtype=np.uint8)
    assert bits.shape == (256,)
    return np.packbits(bits[::-1]).tobytes().hex()


def hex_to_bits(hx: str) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(hx), dtype=np.uint8))[::-1].copy()


def dct_to_hex(b: np.ndarray) -> str:
    return bits_to_hex(hash_bits(b))


def dihedral_dcts(b: np.ndarray) -> list:
    """The 8 variants of B (original, rot90, rot180, rot270, flipx, flipy, flipp, flipm)."""
    b = np.asarray(b, dtype=F32)
    i = np.arange(16)[:, None]
    j = np.arange(16)[None, :]
    odd_i = (i % 2 == 1)
    odd_j = (j % 2 == 1)
    odd_ij = ((i + j) % 2 == 1)
    rot90 = np.where(odd_j, b, -b).T      # B'[j][i] = odd(j) ? B[i][j] : -B[i][j]
    rot180 = np.where(odd_ij, -b, b)      # B'[i][j] = odd(i+j) ? -B : B
    rot270 = np.where(odd_i, b, -b).T     # B'[j][i] = odd(i) ? B : -B
    flipx = np.where(odd_i, b, -b)        # B'[i][j] = odd(i) ? B : -B
    flipy = np.where(odd_j, b, -b)        # B'[i][j] = odd(j) ? B : -B
    flipp = b.T.copy()                    # B'[j][i] = B[i][j]
    flipm = np.where(odd_ij, -b, b).T     # B'[j][i] = odd(i+j) ? -B : B
    return [np.ascontiguousarray(v, dtype=F32)
            for v in (b, rot90, rot180, rot270, flipx, flipy, flipp, flipm)]


# --------------------------------------------------------------------- entry points
def pdq_dct_from_luma(y: np.ndarray, fast_path: bool = True):
    """(B 16x16 float32, quality, A 64x64) for a float32 luma plane of at least 5x5."""
    a = downscale(y, fast_path=fast_path)
    return dct64_to_16(a), quality(a), a


def pdq_from_luma(y: np.ndarray, dihedral: bool = False):
    """Hex (or a list of 8 hexes) and quality, as the reference's float-luma entry points."""
    rows, cols = y.shape
    if rows < MIN_DIM or cols < MIN_DIM:
        return ([ZERO_HEX] * 8 if dihedral else ZERO_HEX), 0
    # the dihedral entry point has no 64x64 fast path
    b, q, _ = pdq_dct_from_luma(y, fast_path=not dihedral)
    if dihedral:
        return [dct_to_hex(v) for v in dihedral_dcts(b)], q
    return dct_to_hex(b), q


def pdq(img, dihedral: bool = False):
    """The oracle PDQ of a uint8 image (H,W), (H,W,1), (H,W,3) or (H,W,4)."""
    return pdq_from_luma(luma_f32(img), dihedral=dihedral)


def pdq_hex(img) -> str:
    return pdq(img)[0]
