"""Slow, independent references for pHash: Pillow's integer luma and LANCZOS
resize written out in Python/NumPy from Pillow's C source (Convert.c rgb2l,
Resample.c precompute_coeffs / normalize_coeffs_8bpc / *_8bpc), and
imagehash's DCT step (scipy.fftpack) with its median.

Used to check the C kernel piece by piece (coefficient tables, each resize
pass order) and Pillow itself (the oracle must equal Pillow's own resize)."""

from __future__ import annotations

import math

import numpy as np
import scipy.fftpack

PRECISION_BITS = 32 - 8 - 2


def luma(rgb: np.ndarray) -> np.ndarray:
    """Pillow's RGB -> L: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16."""
    c = rgb.astype(np.int64)
    return ((c[..., 0] * 19595 + c[..., 1] * 38470 + c[..., 2] * 7471 + 0x8000) >> 16).astype(
        np.uint8)


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


def _lanczos(x: float) -> float:
    return _sinc(x) * _sinc(x / 3) if -3.0 <= x < 3.0 else 0.0


def coeffs(in_size: int, out_size: int) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Pillow's (bounds [(xmin, count)], int32 weights (out_size, ksize)) for LANCZOS.
    Python floats are C doubles and math.sin is the C library's sin, so every
    operation rounds as in Pillow."""
    scale = float(np.float32(in_size) - np.float32(0.0)) / out_size
    filterscale = max(scale, 1.0)
    support = 3.0 * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    inv = 1.0 / filterscale
    bounds = []
    kk = np.zeros((out_size, ksize), dtype=np.int64)
    for xx in range(out_size):
        center = 0.0 + (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        w = [_lanczos((x + xmin - center + 0.5) * inv) for x in range(xmax)]
        ww = 0.0
        for v in w:
            ww += v
        if ww != 0.0:
            w = [v / ww for v in w]
        for x, v in enumerate(w):
            if v < 0:
                kk[xx, x] = int(-0.5 + v * (1 << PRECISION_BITS))
            else:
                kk[xx, x] = int(0.5 + v * (1 << PRECISION_BITS))
        bounds.append((xmin, xmax))
    return bounds, kk


def table(in_size: int, out_size: int) -> np.ndarray:
    """The same coefficients in the kernel's table layout (bounds, then weights)."""
    bounds, kk = coeffs(in_size, out_size)
    return np.concatenate([np.asarray(bounds, dtype=np.int64).ravel(), kk.ravel()]).astype(
        np.int32)


def _pass(lines: np.ndarray, bounds, kk) -> np.ndarray:
    """One pass along axis 1: out[:, i] = clip8(2^21 + sum lines[:, xmin..] * k)."""
    out = np.empty((lines.shape[0], len(bounds)), dtype=np.uint8)
    for i, (xmin, count) in enumerate(bounds):
        s = (1 << (PRECISION_BITS - 1)) + lines[:, xmin:xmin + count].astype(np.int64) @ \
            kk[i, :count]
        out[:, i] = np.clip(s >> PRECISION_BITS, 0, 255)
    return out


def resize(grey: np.ndarray, n: int, vertical_first: bool) -> np.ndarray:
    """Pillow's 8-bit LANCZOS resize of an (H, W) L image to n x n (ImagingResampleInner:
    an axis whose size does not change is skipped; horizontal-first reads only the
    lines the vertical pass needs)."""
    h, w = grey.shape
    need_h, need_v = w != n, h != n
    if not need_h and not need_v:
        return grey.copy()
    bv, kv = coeffs(h, n)
    bh, kh = coeffs(w, n) if need_h else (None, None)
    if vertical_first and need_v:
        t = _pass(grey.T, bv, kv).T
        return _pass(t, bh, kh) if need_h else t
    first, last = bv[0][0], bv[-1][0] + bv[-1][1]
    if need_h:
        t = _pass(grey[first:last], bh, kh)
        bv = [(a - first, c) for a, c in bv]
    else:
        t = grey
    return _pass(t.T, bv, kv).T if need_v else t


def dct_block(grey: np.ndarray, hash_size: int) -> np.ndarray:
    """imagehash's low-frequency DCT block (scipy.fftpack, columns then rows)."""
    return scipy.fftpack.dct(scipy.fftpack.dct(grey, axis=0), axis=1)[:hash_size, :hash_size]


def bits_of(block: np.ndarray) -> np.ndarray:
    return block > np.median(block)
