"""Helpers for the PDQ tests: the "safe palette", and wrappers around the
independent reference (pip ``pdqhash``) and tidehash.

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

import numpy as np
import oracles
import pdqhash

import tidehash

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
