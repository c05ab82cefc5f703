"""Shared helpers for the PDQ tests: the "safe palette", image generators and
wrappers around the independent reference (pip ``pdqhash``) and tidehash.

The safe palette
----------------
The pip ``pdqhash`` binding computes luma as ``(R*0.299 + G*0.587 + B*0.114)`` in
float64 and casts it to float32, whereas Meta's C++ file hasher (and tidehash)
computes ``((0.299f*R) + (0.587f*G)) + (0.114f*B)`` in float32. About 31% of RGB
triples give a different float32 luma, so the two hashers see (very slightly)
different images. A triple is *safe* when both formulas give the same float32;
an image made only of safe triples gives the C++ core exactly the same floats
through both paths, so tidehash must equal pdqhash bit for bit on it.
"""

from __future__ import annotations

import functools
import os
import sys

import numpy as np
import pdqhash

sys.path.insert(0, os.path.dirname(__file__))

import oracles  # noqa: E402

import tidehash  # noqa: E402

F32 = np.float32


# ------------------------------------------------------------------ safe palette
def luma32_of_triples(r, g, b) -> np.ndarray:
    """The reference's float32 luma of RGB triples (arrays of ints)."""
    r = np.asarray(r).astype(F32)
    g = np.asarray(g).astype(F32)
    b = np.asarray(b).astype(F32)
    return ((oracles.W_R * r) + (oracles.W_G * g)) + (oracles.W_B * b)


def luma64_of_triples(r, g, b) -> np.ndarray:
    """pdqhash's luma: float64, then cast to float32."""
    r = np.asarray(r)
    g = np.asarray(g)
    b = np.asarray(b)
    return (r * 0.299 + g * 0.587 + b * 0.114).astype(F32)


@functools.cache
def safe_table() -> np.ndarray:
    """bool[256, 256, 256]: True where both luma formulas give the same float32."""
    v = np.arange(256, dtype=np.int64)
    r = v[:, None, None]
    g = v[None, :, None]
    b = v[None, None, :]
    t = luma32_of_triples(r, g, b) == luma64_of_triples(r, g, b)
    t.setflags(write=False)
    return t


@functools.cache
def safe_triples() -> np.ndarray:
    """(N, 3) uint8: every safe triple."""
    t = np.argwhere(safe_table()).astype(np.uint8)
    t.setflags(write=False)
    return t


@functools.cache
def safe_greys() -> np.ndarray:
    """Grey levels v for which (v, v, v) is safe."""
    v = np.arange(256)
    return v[safe_table()[v, v, v]].astype(np.uint8)


def _offsets(radius: int = 3) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    o = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
    key = (o ** 2).sum(1) * 1000 + np.abs(o).sum(1) * 10  # nearest first, deterministic
    return o[np.argsort(key, kind="stable")]


_OFFSETS = _offsets()


def is_safe_image(a: np.ndarray) -> bool:
    a = np.asarray(a)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1):
        return True  # a grey plane: Y = (float)v on both paths
    key = ((a[..., 0].astype(np.int32) << 16) | (a[..., 1].astype(np.int32) << 8)
           | a[..., 2])
    return bool(safe_table().ravel()[key].all())


def to_safe_rgb(a: np.ndarray) -> np.ndarray:
    """Map every pixel of an (H, W, 3|4) uint8 image to a nearby safe triple
    (itself if safe, else the first safe one in order of Euclidean distance).
    A 4th channel is kept."""
    a = np.asarray(a, dtype=np.uint8)
    flat = safe_table().ravel()
    rgb = a[..., :3].reshape(-1, 3)
    key = (rgb[:, 0].astype(np.int32) << 16) | (rgb[:, 1].astype(np.int32) << 8) | rgb[:, 2]
    bad = np.nonzero(~flat[key])[0]
    fixed = rgb[bad].astype(np.int32)
    out = np.empty_like(fixed)
    todo = np.ones(len(bad), dtype=bool)
    for off in _OFFSETS:
        if not todo.any():
            break
        idx = np.nonzero(todo)[0]
        cand = np.clip(fixed[idx] + off, 0, 255)
        ok = flat[(cand[:, 0] << 16) | (cand[:, 1] << 8) | cand[:, 2]]
        out[idx[ok]] = cand[ok]
        todo[idx[ok]] = False
    assert not todo.any(), "no safe triple within the search radius"
    res = a.copy()
    res_rgb = res.reshape(-1, a.shape[-1])
    res_rgb[bad, :3] = out.astype(np.uint8)
    assert is_safe_image(res)
    return res


def to_safe_grey(g: np.ndarray) -> np.ndarray:
    """Map grey levels to the nearest grey v whose (v, v, v) is safe."""
    sg = safe_greys().astype(np.int64)
    lut = sg[np.abs(np.arange(256)[:, None] - sg[None, :]).argmin(1)].astype(np.uint8)
    return lut[np.asarray(g, dtype=np.uint8)]


# -------------------------------------------------------------- reference / tidehash
def _ref_input(a: np.ndarray) -> np.ndarray:
    """What pdqhash takes: a C-contiguous (H, W, 3) uint8 array."""
    a = np.asarray(a, dtype=np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        a = np.stack([a, a, a], axis=-1)
    return np.ascontiguousarray(a[:, :, :3])


def bits_to_hex(bits) -> str:
    return np.packbits(np.asarray(bits).astype(np.uint8)).tobytes().hex()


def ref_pdqhash(a: np.ndarray):
    """(hex, quality) from pip pdqhash (Meta's C++ core, float64->float32 luma).
    A 2-D grey image is given to it as R = G = B (exact: its float64 luma of a
    grey triple rounds back to the integer)."""
    bits, q = pdqhash.compute(_ref_input(a))
    return bits_to_hex(bits), int(q)


def ref_pdqhash_dihedral(a: np.ndarray):
    """([8 hexes], quality) from pdqhash.compute_dihedral (the dihedral entry point)."""
    hashes, q = pdqhash.compute_dihedral(_ref_input(a))
    return [bits_to_hex(h) for h in hashes], int(q)


def ref_pdqhash_float(a: np.ndarray):
    """(B as 16x16 float32 [i][j], quality) from pdqhash.compute_float (which returns
    the 256 floats in reversed order). No size guard: only for images >= 5x5."""
    flat, q = pdqhash.compute_float(_ref_input(a))
    return np.asarray(flat, dtype=F32)[::-1].reshape(16, 16).copy(), int(q)


def th(a, isa: str | None = None):
    """(hex, quality) from tidehash, optionally with a forced ISA."""
    if isa is None:
        h = tidehash.pdq_hash(a)
    else:
        with tidehash.use_isa(isa):
            h = tidehash.pdq_hash(a)
    assert h.bytes == bytes.fromhex(h.hex)
    return h.hex, h.quality


def th_dihedral(a, isa: str | None = None):
    """([8 hexes], quality) from tidehash.pdq_hash_dihedral."""
    if isa is None:
        hs = tidehash.pdq_hash_dihedral(a)
    else:
        with tidehash.use_isa(isa):
            hs = tidehash.pdq_hash_dihedral(a)
    assert len(hs) == 8
    assert len({h.quality for h in hs}) == 1
    return [h.hex for h in hs], hs[0].quality


# ------------------------------------------------------------------ image generators
KINDS = ("noise", "grad_h", "grad_v", "grad_diag", "flat", "text", "checker", "blobs")


def _colourise(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(H, W) float in [0, 1] -> (H, W, 3) uint8 through a random affine colour ramp."""
    c0 = rng.uniform(0, 255, 3)
    c1 = rng.uniform(0, 255, 3)
    img = c0 + v[..., None] * (c1 - c0)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_rgb(kind: str, h: int, w: int, seed: int = 0) -> np.ndarray:
    """An (H, W, 3) uint8 image of the given kind (unrestricted colours)."""
    rng = np.random.default_rng([seed, h, w, KINDS.index(kind)])
    y = np.linspace(0.0, 1.0, h)[:, None]
    x = np.linspace(0.0, 1.0, w)[None, :]
    if kind == "noise":
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if kind == "grad_h":
        return _colourise(np.broadcast_to(x, (h, w)), rng)
    if kind == "grad_v":
        return _colourise(np.broadcast_to(y, (h, w)), rng)
    if kind == "grad_diag":
        return _colourise((x + y) / 2.0, rng)
    if kind == "flat":
        c = rng.integers(0, 256, 3, dtype=np.uint8)
        return np.broadcast_to(c, (h, w, 3)).copy()
    if kind == "text":
        img = np.full((h, w, 3), 255, dtype=np.uint8)
        n = max(3, (h * w) // 400)
        for _ in range(n):
            y0 = int(rng.integers(0, h))
            x0 = int(rng.integers(0, w))
            if rng.random() < 0.5:  # a horizontal or vertical stroke
                ln = int(rng.integers(1, max(2, w // 3)))
                th_ = int(rng.integers(1, max(2, h // 40 + 2)))
                img[y0:y0 + th_, x0:x0 + ln] = 0
            else:
                ln = int(rng.integers(1, max(2, h // 3)))
                th_ = int(rng.integers(1, max(2, w // 40 + 2)))
                img[y0:y0 + ln, x0:x0 + th_] = 0
        return img
    if kind == "checker":
        cell = int(rng.integers(1, max(2, min(h, w) // 4 + 1)))
        yy = np.arange(h)[:, None] // cell
        xx = np.arange(w)[None, :] // cell
        v = ((yy + xx) % 2).astype(float)
        c0 = rng.integers(0, 256, 3)
        c1 = rng.integers(0, 256, 3)
        return np.where(v[..., None] > 0, c1, c0).astype(np.uint8)
    if kind == "blobs":  # smooth, photo-like: a sum of coloured Gaussian blobs
        img = np.zeros((h, w, 3))
        for _ in range(int(rng.integers(3, 9))):
            cy, cx = rng.uniform(0, 1, 2)
            s = rng.uniform(0.05, 0.4)
            g = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))
            img += g[..., None] * rng.uniform(-120, 200, 3)
        img += rng.uniform(0, 80, 3)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)
    raise ValueError(kind)


def rgb_to_grey(rgb: np.ndarray) -> np.ndarray:
    """A grey (H, W) uint8 plane from an RGB image (any deterministic choice works)."""
    return np.clip(np.rint(rgb.astype(np.float64) @ [0.3, 0.5, 0.2]), 0, 255).astype(np.uint8)


def with_channels(rgb: np.ndarray, channels: int, seed: int = 0) -> np.ndarray:
    """1 -> (H, W) grey, 3 -> the RGB image, 4 -> RGBA with a random alpha channel."""
    if channels == 1:
        return rgb_to_grey(rgb)
    if channels == 3:
        return np.ascontiguousarray(rgb)
    if channels == 4:
        rng = np.random.default_rng([seed, 4, *rgb.shape[:2]])
        alpha = rng.integers(0, 256, rgb.shape[:2] + (1,), dtype=np.uint8)
        return np.ascontiguousarray(np.concatenate([rgb, alpha], axis=-1))
    raise ValueError(channels)


def make_image(kind: str, h: int, w: int, channels: int = 3, seed: int = 0,
               safe: bool = False) -> np.ndarray:
    """An image of `kind`, with `channels` channels; with `safe`, RGB content is
    mapped onto the safe palette (grey planes need no mapping)."""
    rgb = make_rgb(kind, h, w, seed)
    img = with_channels(rgb, channels, seed)
    if safe and channels != 1:
        img = to_safe_rgb(img)
    return img

