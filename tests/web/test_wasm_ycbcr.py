"""The page's JPEG colour step (web/wasm/jpeg_yuv.c, th_ycbcr_to_rgbx) against a NumPy
oracle written from libjpeg's definitions: the h2v1 / h2v2 "fancy" upsampling (rounding
biases alternating, the context row above the first and below the last chroma row
being that row) and jdcolor.c's fixed-point YCbCr -> RGB tables with the clamp to 0..255,
on random planes (every value, odd sizes), in both wasm builds (the SIMD128 one computes
the tables' values and the upsampling in vector lanes); and th_pdq_ycbcr, the same
conversion a line at a time as the PDQ kernel reads it, against the native PDQ of the
oracle's RGB. The browser tests check the same code against Pillow on real JPEGs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from isas import NATIVE_ISAS

from tidehash import _native

from .wasm_runner import VARIANTS, runner

NOT_HERE = -101  # th_pdq_ycbcr: the caller converts the whole image instead


def fix(x: float) -> int:
    return int(x * 65536 + 0.5)


def oracle_tables():
    x = np.arange(256, dtype=np.int64) - 128
    cr_r = (fix(1.40200) * x + 32768) >> 16
    cb_b = (fix(1.77200) * x + 32768) >> 16
    cr_g = -fix(0.71414) * x
    cb_g = -fix(0.34414) * x + 32768
    return cr_r, cb_b, cr_g, cb_g


def up_h2v1(row: np.ndarray) -> np.ndarray:
    a = row.astype(np.int64)
    n = len(a)
    out = np.empty(2 * n, np.int64)
    out[0] = a[0]
    out[1] = (a[0] * 3 + a[1] + 2) >> 2
    for j in range(1, n - 1):
        out[2 * j] = (a[j] * 3 + a[j - 1] + 1) >> 2
        out[2 * j + 1] = (a[j] * 3 + a[j + 1] + 2) >> 2
    out[2 * n - 2] = (a[n - 1] * 3 + a[n - 2] + 1) >> 2
    out[2 * n - 1] = a[n - 1]
    return out


def up_h2v2(near: np.ndarray, far: np.ndarray) -> np.ndarray:
    s = near.astype(np.int64) * 3 + far.astype(np.int64)
    n = len(s)
    out = np.empty(2 * n, np.int64)
    out[0] = (s[0] * 4 + 8) >> 4
    out[1] = (s[0] * 3 + s[1] + 7) >> 4
    for j in range(1, n - 1):
        out[2 * j] = (s[j] * 3 + s[j - 1] + 8) >> 4
        out[2 * j + 1] = (s[j] * 3 + s[j + 1] + 7) >> 4
    out[2 * n - 2] = (s[n - 1] * 3 + s[n - 2] + 8) >> 4
    out[2 * n - 1] = (s[n - 1] * 4 + 7) >> 4
    return out


def oracle(y, cb, cr, hsub, vsub) -> np.ndarray:
    h, w = y.shape
    ch = cb.shape[0]
    cr_r, cb_b, cr_g, cb_g = oracle_tables()
    out = np.empty((h, w, 4), np.uint8)
    for r in range(h):
        planes = []
        for plane in (cb, cr):
            if vsub == 1:
                row = plane[r].astype(np.int64)
                planes.append(up_h2v1(row)[:w] if hsub == 2 else row)
            else:
                c = r // 2
                other = min(max(c + 1 if r % 2 else c - 1, 0), ch - 1)
                planes.append(up_h2v2(plane[c], plane[other])[:w])
        b, c = planes
        yy = y[r].astype(np.int64)
        out[r, :, 0] = np.clip(yy + cr_r[c], 0, 255)
        out[r, :, 1] = np.clip(yy + ((cb_g[b] + cr_g[c]) >> 16), 0, 255)
        out[r, :, 2] = np.clip(yy + cb_b[b], 0, 255)
        out[r, :, 3] = 255
    return out


def run(variant: str, y, cb, cr, hsub, vsub) -> tuple[int, np.ndarray]:
    r = runner(variant)
    h, w = y.shape
    ptrs = [r._write(np.ascontiguousarray(p).tobytes()) for p in (y, cb, cr)]
    out = r._alloc(r.store, w * h * 4)
    try:
        rc = r.ycbcr_to_rgbx(ptrs[0], w, ptrs[1], cb.shape[1], ptrs[2], cr.shape[1], w, h,
                             hsub, vsub, out)
        got = np.frombuffer(r._read(out, w * h * 4), np.uint8).reshape(h, w, 4)
    finally:
        for p in (*ptrs, out):
            r._free(r.store, p)
    return rc, got


LAYOUTS = [(1, 1), (2, 1), (2, 2)]  # 4:4:4, 4:2:2, 4:2:0


@pytest.mark.parametrize("variant", VARIANTS)
@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(5, 70), layout=st.sampled_from(LAYOUTS),
       seed=st.integers(0, 2**16), extreme=st.booleans())
def test_equals_the_oracle(variant, h, w, layout, seed, extreme):
    hsub, vsub = layout
    rng = np.random.default_rng(seed)
    cw, ch = -(-w // hsub), -(-h // vsub)
    values = np.array([0, 1, 127, 128, 254, 255], np.uint8) if extreme else np.arange(256)
    y = rng.choice(values, (h, w)).astype(np.uint8)
    cb = rng.choice(values, (ch, cw)).astype(np.uint8)
    cr = rng.choice(values, (ch, cw)).astype(np.uint8)
    rc, got = run(variant, y, cb, cr, hsub, vsub)
    assert rc == 0
    np.testing.assert_array_equal(got, oracle(y, cb, cr, hsub, vsub))


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_colour_through_the_tables(variant):
    """All 256 x 256 (Cb, Cr) pairs with Y at 0, 128 and 255, 4:4:4 (no upsampling)."""
    cb, cr = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8))
    for level in (0, 128, 255):
        y = np.full((256, 256), level, np.uint8)
        rc, got = run(variant, y, cb, cr, 1, 1)
        assert rc == 0
        np.testing.assert_array_equal(got, oracle(y, cb, cr, 1, 1))


@pytest.mark.parametrize("variant", VARIANTS)
def test_layouts_libjpeg_would_not_upsample_so_are_refused(variant):
    y = np.zeros((4, 4), np.uint8)
    c = np.zeros((2, 2), np.uint8)
    assert run(variant, y, c, c, 2, 2)[0] == -1    # chroma 2 wide: libjpeg replicates
    assert run(variant, y, y, y, 1, 2)[0] == -1    # 4:4:0: not taken
    assert run(variant, y, y, y, 3, 1)[0] == -1


def planes_of(rng, h, w, hsub, vsub):
    cw, ch = -(-w // hsub), -(-h // vsub)
    # smooth planes plus noise, so that the hash has structure to get wrong
    yy, xx = np.mgrid[0:h, 0:w]
    y = np.clip(xx * 255 // w + rng.integers(-40, 40, (h, w)), 0, 255).astype(np.uint8)
    cb = rng.integers(0, 256, (ch, cw)).astype(np.uint8)
    cr = np.clip(np.mgrid[0:ch, 0:cw][0] * 255 // ch + rng.integers(-60, 60, (ch, cw)),
                 0, 255).astype(np.uint8)
    return y, cb, cr


@pytest.mark.parametrize("variant", VARIANTS)
@settings(max_examples=40, deadline=None)
@given(h=st.integers(5, 300), w=st.integers(5, 300), layout=st.sampled_from(LAYOUTS),
       seed=st.integers(0, 2**16), dihedral=st.booleans())
def test_pdq_of_the_planes_equals_native_pdq_of_the_oracle(variant, h, w, layout, seed, dihedral):
    hsub, vsub = layout
    if hsub == 2 and -(-w // 2) <= 2:
        w = 6
    y, cb, cr = planes_of(np.random.default_rng(seed), h, w, hsub, vsub)
    rgb = np.ascontiguousarray(oracle(y, cb, cr, hsub, vsub)[:, :, :3])
    raw, quality, rc = runner(variant).pdq_ycbcr([y, cb, cr], hsub, vsub, dihedral)
    if (h, w) == (64, 64) and not dihedral:
        assert rc == NOT_HERE
        return
    assert rc == 0
    for isa in NATIVE_ISAS:
        want = _native.pdq_hash_lines(rgb.reshape(h, w * 3), 3, isa, dihedral)
        assert (raw.hex(), quality) == (want[0].hex(), want[1]), (h, w, layout, isa)


@pytest.mark.parametrize("variant", VARIANTS)
def test_pdq_of_the_planes_at_12_mp_and_around_64(variant):
    """A photo's size (4000 x 3000, 4:2:0) and the sizes next to the 64x64 single-hash case."""
    rng = np.random.default_rng(7)
    for (h, w), layout in [((3000, 4000), (2, 2)), ((64, 64), (2, 2)), ((64, 65), (2, 1)),
                           ((63, 64), (1, 1)), ((65, 64), (2, 2))]:
        y, cb, cr = planes_of(rng, h, w, *layout)
        r = runner(variant)
        raw, quality, rc = r.pdq_ycbcr([y, cb, cr], *layout, False)
        if (h, w) == (64, 64):
            assert rc == NOT_HERE
            assert r.pdq_ycbcr([y, cb, cr], *layout, True)[2] == 0
            continue
        assert rc == 0
        if h * w > 10**6:
            rgb = planes_rgb_via_wasm(r, y, cb, cr, *layout)
        else:
            rgb = np.ascontiguousarray(oracle(y, cb, cr, *layout)[:, :, :3])
        want = _native.pdq_hash_lines(rgb.reshape(h, w * 3), 3, NATIVE_ISAS[0], False)
        assert (raw.hex(), quality) == (want[0].hex(), want[1]), (h, w, layout)


def planes_rgb_via_wasm(r, y, cb, cr, hsub, vsub) -> np.ndarray:
    """th_ycbcr_to_rgbx's RGB (the oracle, a Python loop per line, is too slow at 12 MP;
    the tests above hold th_ycbcr_to_rgbx to it)."""
    rc, got = run(r.variant, y, cb, cr, hsub, vsub)
    assert rc == 0
    return np.ascontiguousarray(got[:, :, :3])


@pytest.mark.parametrize("variant", VARIANTS)
def test_pdq_of_planes_libjpeg_would_not_upsample_is_not_here(variant):
    y = np.zeros((8, 4), np.uint8)
    c = np.zeros((4, 2), np.uint8)
    assert runner(variant).pdq_ycbcr([y, c, c], 2, 2, False)[2] == NOT_HERE
    assert runner(variant).pdq_ycbcr([y, y, y], 1, 2, False)[2] == NOT_HERE
