"""tidehash.phash against imagehash.phash (the test-only oracle) and against slow
references of each step (tests/phash_oracles.py).

What is exact, and how it is checked:
* The resized image (Pillow's convert("L") + LANCZOS resize, integer arithmetic)
  is equal to Pillow's own, byte for byte, on every image, for every ISA.
* The hash is equal to imagehash's, hex for hex, on every image: photo-like and
  random ones, and the degenerate ones where the DCT has exact zeros and ties at
  the median (flat, ramps, checkerboards, 1 x N, N x 1, 1 x 1, mirror-symmetric),
  at hash sizes odd, even and not powers of two (assert_imagehash).
* imagehash's own pHash checks pass with tidehash.phash swapped in, and a PHash
  and an imagehash.ImageHash of the same bits are interchangeable.
"""

from __future__ import annotations

import importlib
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import imagehash
import numpy as np
import phash_oracles as O
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from images import KINDS, make_rgb
from PIL import Image

import tidehash
from tidehash import _native
from tidehash.phash import PHash

# the module (the package's `phash` attribute is the function)
P = importlib.import_module("tidehash.phash")

LANCZOS = Image.Resampling.LANCZOS
#: Every Pillow mode imagehash accepts (it converts each to "L" first).
MODES = ("L", "RGB", "RGBA", "RGBX", "P", "PA", "1", "LA", "RGBa", "I;16", "I;16L", "I;16B",
         "I;16N", "I", "F", "CMYK", "YCbCr", "HSV")
#: Sizes around the SIMD widths (16 and 32 pixels), the output sizes (32, 64) and beyond.
EDGE_SIZES = (1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 95, 127, 128,
              129, 255, 256, 257, 300)


# ----------------------------------------------------------------------- helpers
def debug_hash(image, hash_size: int, isa: str | None = None):
    """(PHash, resized n x n uint8, hs x hs float64 DCT) as tidehash computes them."""
    if isa is None:
        raw, grey, dct = P._phash_raw(image, hash_size, debug=True)
    else:
        with tidehash.use_isa(isa):
            raw, grey, dct = P._phash_raw(image, hash_size, debug=True)
    return PHash(raw, hash_size), grey, dct


def assert_imagehash(image, hash_size: int = 8, got=None) -> None:
    """tidehash.phash(image) is imagehash.phash(image), hex for hex, and so are its
    steps: the resized image is Pillow's, the DCT block is scipy's value for value.
    An array is compared with imagehash on the Pillow image of its contiguous copy.
    `got` overrides tidehash's hash (to test this check itself)."""
    im = image if isinstance(image, Image.Image) else Image.fromarray(
        np.ascontiguousarray(image))
    n = 4 * hash_size
    ref = imagehash.phash(im, hash_size)
    h, grey, dct = debug_hash(image, hash_size)
    assert h == tidehash.phash(image, hash_size)
    ref_grey = np.asarray(im.convert("L").resize((n, n), LANCZOS))
    assert np.array_equal(grey, ref_grey), "resized image differs from Pillow's"
    block = O.dct_block(ref_grey, hash_size)
    assert np.array_equal(O.bits_of(block), ref.hash), "the oracle is not imagehash"
    assert np.array_equal(dct, block), "DCT differs from scipy's"
    got = h if got is None else got
    assert got.hex == str(ref), (
        f"{int((got.bits != ref.hash).sum())} bits differ from imagehash: {got.hex} {ref}")
    assert np.array_equal(got.hash, ref.hash)


def photo(kind: str, h: int, w: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    im = Image.fromarray(make_rgb(kind, h, w, seed), "RGB")
    return im if mode == "RGB" else im.convert(mode)


def image_in_mode(mode: str, h: int, w: int, seed: int = 0) -> Image.Image:
    """A photo-like image in `mode`. Wide modes (I;16*, I, F) hold values around
    0..255 with some outside it: Pillow's convert("L") clips them, and a mostly
    clipped (flat) image would only test ties."""
    rgb = make_rgb("blobs", h, w, seed)
    rng = np.random.default_rng([seed, h, w])
    if mode.startswith("I;16"):
        v = rgb[..., 0].astype(np.uint16) + (rng.random((h, w)) < 0.05) * np.uint16(3000)
        order = {"I;16B": ">u2", "I;16N": "=u2"}.get(mode, "<u2")
        return Image.frombytes(mode, (w, h), v.astype(order).tobytes())
    im = Image.fromarray(rgb, "RGB")
    if mode == "RGBA":
        return Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (h, w), np.uint8)]), "RGBA")
    if mode == "PA":
        return im.convert("P").convert("PA")
    if mode == "I":
        return Image.fromarray(rgb[..., 0].astype(np.int32) * 2 - 60, "I")
    if mode == "F":
        return Image.fromarray(rgb[..., 1].astype(np.float32) * 1.1 - 10.25, "F")
    return im.convert(mode)


# ------------------------------------------------------------ coefficient tables
@pytest.mark.parametrize("n", [8, 32, 64])
@pytest.mark.parametrize("in_size", [1, 2, 3, 5, 7, 31, 32, 33, 64, 100, 255, 1000, 4000])
def test_coefficient_table_equals_oracle(in_size, n):
    table = _native.phash_table(in_size, n)
    assert table.dtype == np.int32 and not table.flags.writeable
    assert np.array_equal(table, O.table(in_size, n))
    bounds, kk = O.coeffs(in_size, n)
    assert np.abs(kk).sum(axis=1).max() <= 1 << 23  # the kernel's no-overflow invariant


def test_coefficient_table_rejects_bad_sizes():
    for in_size, n in [(0, 32), (-1, 32), (5, 0), (1 << 31, 32)]:
        with pytest.raises(ValueError):
            _native.phash_table(in_size, n)


# ------------------------------------------------ the resize, against Pillow itself
RESIZE_SHAPES = [(h, w) for h in EDGE_SIZES[::3] for w in EDGE_SIZES[1::3]] + [
    (700, 1000), (1000, 700), (250, 20), (20, 250), (97, 32), (33, 400), (64, 40), (40, 64)]


@pytest.mark.parametrize("hash_size", [8, 16])
def test_oracle_resize_equals_pillow(hash_size):
    """The slow oracle (and the pass-order rule) reproduce the installed Pillow."""
    n = 4 * hash_size
    for i, (h, w) in enumerate(RESIZE_SHAPES[::4]):
        grey = O.luma(make_rgb("noise", h, w, seed=i))
        ref = np.asarray(Image.fromarray(grey, "L").resize((n, n), LANCZOS))
        got = O.resize(grey, n, P.vertical_first(w, h, n))
        assert np.array_equal(got, ref), (h, w)


@pytest.mark.parametrize("hash_size", [8, 16])
def test_resized_image_equals_pillow(isa, hash_size):
    n = 4 * hash_size
    for i, (h, w) in enumerate(RESIZE_SHAPES):
        im = photo(KINDS[i % len(KINDS)], h, w, seed=i)
        ref = np.asarray(im.convert("L").resize((n, n), LANCZOS))
        _, grey, _ = debug_hash(im, hash_size, isa)
        assert np.array_equal(grey, ref), (isa, h, w)


def test_luma_formula_equals_pillow_on_every_rgb_triple():
    """All 2^24 colours, in 16 images of 1024 x 1024: Pillow's convert("L") is the
    integer formula the kernels implement."""
    v = np.arange(256, dtype=np.uint8)
    for r0 in range(0, 256, 16):
        rgb = np.empty((16, 256, 256, 3), dtype=np.uint8)
        rgb[..., 0] = (r0 + np.arange(16, dtype=np.uint8))[:, None, None]
        rgb[..., 1] = v[None, :, None]
        rgb[..., 2] = v[None, None, :]
        rgb = rgb.reshape(1024, 1024, 3)
        assert np.array_equal(np.asarray(Image.fromarray(rgb, "RGB").convert("L")), O.luma(rgb))


def test_kernel_luma_equals_pillow(isa):
    """The kernels' luma, every channel layout: a 256 x 256 image at hash_size 64 is
    not resized (n = 256), so the resized image is the luma itself. Green and blue
    take every value, red 16 of them."""
    v = np.arange(256, dtype=np.uint8)
    rgb = np.empty((256, 256, 3), dtype=np.uint8)
    rgb[..., 1] = v[:, None]
    rgb[..., 2] = v[None, :]
    for r in range(0, 256, 17):
        rgb[..., 0] = r
        ref = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
        rgba = np.dstack([rgb, np.full((256, 256), r ^ 0xA5, np.uint8)])
        for image in (rgb, rgba, Image.fromarray(rgb, "RGB"), Image.fromarray(rgba, "RGBA")):
            _, grey, _ = debug_hash(image, 64, isa)
            assert np.array_equal(grey, ref), (isa, r)


def test_first_pass_orders_both_ways(isa):
    """Both pass orders against the oracle, whatever the installed Pillow does."""
    n = 32
    for h, w in [(300, 40), (200, 120), (97, 33), (40, 300), (64, 20), (33, 1), (500, 32)]:
        rgb = make_rgb("blobs", h, w, seed=h + w)
        grey = O.luma(rgb)
        lines = np.ascontiguousarray(rgb).reshape(h, w * 3)
        for vf in (False, True):
            with tidehash.use_isa(isa):
                plan = _native.PHashPlan(w, h, 8, vf, tidehash.cpu.current_isa())
                plan.rows_lines(lines, 3, 0)
                got = plan.finish()
            assert np.array_equal(got, O.resize(grey, n, vf)), (h, w, vf)


@pytest.mark.parametrize("version, expected", [
    ((11, 2), [False, False, False, False]),
    ((12, 1), [False, False, False, False]),
    ((12, 2), [False, False, True, False]),
    ((12, 3), [False, False, True, False]),
    ((13, 0), [False, True, True, False]),
    ((14, 1), [False, True, True, False]),
])
def test_pass_order_rule_by_pillow_version(version, expected):
    # (width, height) with n = 32: landscape, 2x taller, 101x taller, same height
    cases = [(4000, 3000), (100, 400), (3, 3200), (400, 32)]
    assert [P.vertical_first(w, h, 32, version) for w, h in cases] == expected


@pytest.mark.parametrize("hash_size", [8, 16])
def test_pass_order_boundary_matches_installed_pillow(hash_size):
    """Around Pillow 13's switch, (H - n) == 2 (W - n): the orders round differently
    somewhere on these images, and the kernel must pick Pillow's."""
    n = 4 * hash_size
    for w in (n + 5, n + 40, 3 * n):
        for h in (n + 2 * (w - n) - 1, n + 2 * (w - n), n + 2 * (w - n) + 1):
            im = photo("noise", h, w, seed=w * h)
            ref = np.asarray(im.convert("L").resize((n, n), LANCZOS))
            _, grey, _ = debug_hash(im, hash_size)
            assert np.array_equal(grey, ref), (w, h)


# ------------------------------------------------------- the hash, against imagehash
@pytest.mark.parametrize("hash_size", [8, 16])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (7, 3), (31, 31), (32, 32), (33, 33),
                                   (64, 64), (255, 255), (700, 1000), (129, 47)])
def test_equals_imagehash(shape, kind, hash_size):
    assert_imagehash(photo(kind, *shape, seed=sum(shape)), hash_size)


@pytest.mark.parametrize("hash_size", [8, 16])
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_equals_imagehash(mode, hash_size):
    for h, w in [(1, 1), (23, 41), (160, 120)]:
        im = image_in_mode(mode, h, w, seed=h)
        assert im.mode == mode
        assert_imagehash(im, hash_size)


@pytest.mark.parametrize("mode", ["La", "LAB"])
def test_modes_imagehash_rejects_are_rejected(mode):
    im = Image.new(mode, (20, 10))
    with pytest.raises(ValueError):
        imagehash.phash(im)
    with pytest.raises(ValueError, match="convert"):
        tidehash.phash(im)


@pytest.mark.parametrize("hash_size", [2, 3, 5, 7, 8, 11, 16, 32, 64])
def test_other_hash_sizes(hash_size):
    im = photo("blobs", 300, 200, seed=hash_size)
    assert_imagehash(im, hash_size)
    h = tidehash.phash(im, hash_size)
    assert len(h.hex) == (hash_size * hash_size + 3) // 4  # imagehash's width
    assert h.bits.shape == (hash_size, hash_size)


@pytest.mark.slow
def test_12_megapixels():
    """One camera-sized image: Pillow holds it in several memory blocks, so it is
    read in strips; also as one block (as tidehash.image.decode allocates) and as
    an array."""
    small = make_rgb("blobs", 75, 100, seed=12)
    big = np.asarray(Image.fromarray(small).resize((4000, 3000), Image.Resampling.BILINEAR))
    rng = np.random.default_rng(12)
    big = np.clip(big.astype(np.int16) + rng.integers(-6, 7, big.shape), 0, 255).astype(np.uint8)
    im = Image.fromarray(big, "RGB")
    assert _arrow(im) is None  # several blocks
    single = Image.core.new_block("RGB", im.size)
    one = Image.new("RGB", im.size)
    one.im = single
    one.paste(im)
    assert _arrow(one) is not None
    for hs in (8, 16):
        assert_imagehash(im, hs)
        assert tidehash.phash(one, hs) == tidehash.phash(im, hs) == tidehash.phash(big, hs)


def _arrow(im):
    from tidehash.image import arrow_capsules
    return arrow_capsules(im)


_hyp = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_hyp
@given(h=st.integers(1, 90), w=st.integers(1, 90), mode=st.sampled_from(["L", "RGB", "RGBA"]),
       kind=st.sampled_from(KINDS), seed=st.integers(0, 2**16),
       hash_size=st.sampled_from([2, 3, 8, 16]))
def test_hypothesis_equals_imagehash(h, w, mode, kind, seed, hash_size):
    assert_imagehash(photo(kind, h, w, seed, mode), hash_size)


# ------------------------------------------- degenerate images: ties and exact zeros
#: Hash sizes odd and even, powers of two and not (n = 4 hs: 8 .. 256).
DEGENERATE_HASH_SIZES = (2, 3, 5, 6, 7, 8, 9, 12, 16, 17, 31, 64)


def _ramp(h: int, w: int, dy: int, dx: int, channels: int = 0) -> np.ndarray:
    """Values dy * y + dx * x (mod 256), grey or the same in every channel."""
    v = ((np.arange(h)[:, None] * dy + np.arange(w)[None, :] * dx) % 256).astype(np.uint8)
    return np.repeat(v[..., None], channels, axis=2) if channels else v


def _mirrored(a: np.ndarray, axes: str) -> np.ndarray:
    if "h" in axes:
        a = np.concatenate([a, a[:, ::-1]], axis=1)
    if "v" in axes:
        a = np.concatenate([a, a[::-1]], axis=0)
    return a


def degenerate_images():
    """(name, image): images whose DCT has exact zeros, or coefficients equal in
    exact arithmetic, at the median."""
    out = []
    for v in (0, 1, 2, 127, 128, 200, 254, 255):
        out.append((f"flat L {v}", Image.new("L", (64, 48), v)))
    for rgb in ((0, 0, 0), (255, 255, 255), (10, 200, 30), (128, 128, 128)):
        out.append((f"flat RGB {rgb}", Image.new("RGB", (50, 70), rgb)))
    out.append(("flat 256x256 grey", Image.new("L", (256, 256), 128)))  # the example
    for h, w in ((1, 1), (1, 2), (2, 1), (1, 5), (5, 1), (1, 31), (31, 1), (1, 300), (300, 1),
                 (2, 2), (3, 3)):
        for v in (0, 77, 255):
            out.append((f"flat {h}x{w} {v}", Image.new("L", (w, h), v)))
        out.append((f"noise {h}x{w}", Image.fromarray(make_rgb("noise", h, w, seed=h * w))))
    for name, (dy, dx) in {"horizontal": (0, 3), "vertical": (3, 0), "diagonal": (2, 2),
                           "anti-diagonal": (2, -2), "steep": (5, 1)}.items():
        for h, w in ((64, 64), (40, 90), (90, 40), (256, 256)):
            out.append((f"ramp {name} {h}x{w}", Image.fromarray(_ramp(h, w, dy, dx))))
        out.append((f"ramp {name} RGB", Image.fromarray(_ramp(50, 50, dy, dx, 3))))
    for cell in (1, 2, 4, 8):
        yy, xx = np.mgrid[0:64, 0:64] // cell
        board = (((yy + xx) % 2) * 255).astype(np.uint8)
        out.append((f"checkerboard {cell}", Image.fromarray(board)))
        out.append((f"checkerboard {cell} 33x47", Image.fromarray(board[:33, :47])))
    half = make_rgb("blobs", 60, 30, seed=5)
    for axes in ("h", "v", "hv"):
        out.append((f"mirror {axes}", Image.fromarray(_mirrored(half, axes))))
        out.append((f"mirror {axes} grey", Image.fromarray(_mirrored(O.luma(half), axes))))
    out.append(("mirror h 32x32", Image.fromarray(_mirrored(make_rgb("noise", 32, 16), "h"))))
    out.append(("two halves", Image.fromarray(np.repeat(np.array([[0, 255]], np.uint8), 20, 0)
                                              .repeat(20, 1))))
    return out


@pytest.mark.parametrize("hash_size", DEGENERATE_HASH_SIZES)
def test_degenerate_images_equal_imagehash(hash_size):
    """The issue's example: a uniform grey 256x256 image is 8000000000000000 in
    imagehash, and was 8800000080000000 in tidehash's own DCT's rounding."""
    for name, im in degenerate_images():
        try:
            assert_imagehash(im, hash_size)
        except AssertionError as exc:
            raise AssertionError(f"{name}, hash_size {hash_size}: {exc}") from None
    assert tidehash.phash(Image.new("L", (256, 256), 128)).hex == "8000000000000000"


def test_degenerate_arrays_equal_imagehash():
    for name, im in degenerate_images()[::3]:
        arr = np.asarray(im)
        for hs in (3, 8, 16):
            assert tidehash.phash(arr, hs).hex == str(imagehash.phash(im, hs)), (name, hs)


@st.composite
def structured_images(draw):
    """Random images and degenerate ones: flat, ramps, checkerboards, mirrored,
    few-valued, in grey, RGB or RGBA."""
    h, w = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    kind = draw(st.sampled_from(["flat", "ramp", "checker", "mirror", "levels", "noise"]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if kind == "flat":
        g = np.full((h, w), draw(st.integers(0, 255)), np.uint8)
    elif kind == "ramp":
        g = _ramp(h, w, draw(st.integers(-9, 9)), draw(st.integers(-9, 9)))
    elif kind == "checker":
        cell = draw(st.integers(1, 9))
        yy, xx = np.mgrid[0:h, 0:w] // cell
        lo, hi = draw(st.integers(0, 255)), draw(st.integers(0, 255))
        g = np.where((yy + xx) % 2 == 1, hi, lo).astype(np.uint8)
    elif kind == "mirror":
        half = rng.integers(0, 256, ((h + 1) // 2, (w + 1) // 2), dtype=np.uint8)
        g = _mirrored(half, draw(st.sampled_from(["h", "v", "hv"])))
    elif kind == "levels":  # two or three grey levels in blocks: many equal coefficients
        g = rng.choice(np.array([0, 128, 255], np.uint8)[:draw(st.integers(2, 3))],
                       size=(max(1, h // 8), max(1, w // 8))).repeat(8, 0).repeat(8, 1)
    else:
        g = rng.integers(0, 256, (h, w), dtype=np.uint8)
    mode = draw(st.sampled_from(["L", "RGB", "RGBA"]))
    if mode == "L":
        return Image.fromarray(g, "L")
    arr = np.repeat(g[..., None], len(mode), axis=2)
    if draw(st.booleans()):  # colour in each channel, the structure kept
        arr = (arr.astype(np.int32) * rng.integers(1, 4, len(mode))).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(arr), mode)


@_hyp
@given(im=structured_images(), hash_size=st.sampled_from([2, 3, 5, 8, 11, 16]))
def test_hypothesis_structured_images_equal_imagehash(im, hash_size):
    assert_imagehash(im, hash_size)


def test_the_check_rejects_a_single_bit():
    im = photo("blobs", 120, 90, seed=2)
    real = tidehash.phash(im)
    assert_imagehash(im)
    flipped = bytearray(real.bytes)
    flipped[3] ^= 0x10
    with pytest.raises(AssertionError, match="1 bits differ"):
        assert_imagehash(im, 8, got=PHash(bytes(flipped), 8))


# --------------------------------------------------------------- ISAs and inputs
def test_every_isa_equals_scalar(isa):
    shapes = [(h, w) for h in (1, 9, 40, 130) for w in range(1, 70, 3)] + [
        (33, 257), (700, 45), (45, 700), (64, 64), (32, 300), (300, 32)]
    for i, (h, w) in enumerate(shapes):
        rgb = make_rgb(KINDS[i % len(KINDS)], h, w, seed=i)
        for arr in (rgb, O.luma(rgb), np.dstack([rgb, rgb[..., :1]])):
            for hs in (8, 16):
                want = debug_hash(arr, hs, "scalar")
                got = debug_hash(arr, hs, isa)
                assert got[0] == want[0] and np.array_equal(got[1], want[1]), (isa, h, w, hs)
                assert np.array_equal(got[2], want[2])


VIEWS = {
    "contiguous": lambda a: a,
    "rows reversed": lambda a: a[::-1],
    "columns reversed": lambda a: a[:, ::-1],
    "every other row and third column": lambda a: a[::2, ::3],
    "channels reversed (BGR view)": lambda a: a[..., ::-1] if a.ndim == 3 else a,
    "fortran order": np.asfortranarray,
    "sub-window": lambda a: a[7:-5, 3:-9],
    "read-only": lambda a: _readonly(a),
}


def _readonly(a):
    a = a.copy()
    a.setflags(write=False)
    return a


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_array_input_equals_pil_input(view, channels):
    rgb = make_rgb("blobs", 150, 110, seed=channels)
    base = {1: O.luma(rgb), 3: rgb, 4: np.dstack([rgb, rgb[..., 2:3] ^ 0x5a])}[channels]
    arr = VIEWS[view](base)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    im = Image.fromarray(np.ascontiguousarray(arr), mode)
    for hs in (8, 16):
        assert tidehash.phash(arr, hs) == tidehash.phash(im, hs)
    assert tidehash.phash(arr).hex == str(imagehash.phash(im))


def _as_strided(a, shape, strides):
    return np.lib.stride_tricks.as_strided(a, shape=shape, strides=strides, writeable=False)


def _layouts(rgb: np.ndarray) -> dict:
    """Legal NumPy layouts of (H, W, C) uint8 pixels, all read-only views."""
    h, w, _ = rgb.shape
    grey = O.luma(rgb)
    # as_strided checks no bounds: room for h lines 3 bytes apart, then a line
    pixels = np.resize(np.ascontiguousarray(rgb).ravel(), 3 * (h + w))
    return {
        # line stride 0: every line the same (the issue's example)
        "rows broadcast": np.broadcast_to(rgb[0], (h, w, 3)),
        "rows broadcast, grey": np.broadcast_to(grey[0], (h, w)),
        "rows broadcast, RGBA": np.broadcast_to(np.dstack([rgb, grey])[0], (h, w, 4)),
        "columns broadcast": np.broadcast_to(rgb[:, :1], (h, w, 3)),
        "channels broadcast": np.broadcast_to(grey[..., None], (h, w, 3)),
        "one pixel broadcast": np.broadcast_to(rgb[h // 2, w // 2], (h, w, 3)),
        "one grey broadcast": np.broadcast_to(grey[h // 2, w // 2], (h, w)),
        # lines one pixel apart: each line the previous one shifted (they overlap)
        "overlapping lines": _as_strided(pixels, (h, w, 3), (3, 3, 1)),
        "overlapping lines, bottom-up": _as_strided(pixels[3 * (h - 1):], (h, w, 3), (-3, 3, 1)),
        "rows reversed": rgb[::-1],
        "columns reversed": rgb[:, ::-1],
        "both reversed": rgb[::-1, ::-1],
        "channels reversed": rgb[..., ::-1],
        "RGB of RGBA": np.dstack([rgb, grey])[..., :3],
        "every other line, broadcast": np.broadcast_to(rgb[::2][:1], (h, w, 3)),
        "fortran order": np.asfortranarray(rgb),
        "channel-planar": np.moveaxis(np.ascontiguousarray(np.moveaxis(rgb, 2, 0)), 0, 2),
    }


@pytest.mark.parametrize("layout", _layouts(make_rgb("blobs", 6, 6)).keys())
@pytest.mark.parametrize("shape", [(512, 512), (40, 70), (1, 9), (9, 1)])
def test_every_numpy_layout_equals_its_contiguous_copy(layout, shape):
    """Any legal strides hash as the contiguous copy does; a line stride of 0
    (np.broadcast_to of one line) used to be "kernel rejected its arguments"
    for pHash while pdq_hash took it."""
    arr = _layouts(make_rgb("blobs", *shape, seed=shape[0]))[layout]
    copy = np.ascontiguousarray(arr)
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[copy.shape[2] if copy.ndim == 3 else 2]
    for hs in (8, 5):
        got = tidehash.phash(arr, hs)
        assert got == tidehash.phash(copy, hs)
        assert got.hex == str(imagehash.phash(Image.fromarray(copy, mode), hs))


def test_native_plan_reads_overlapping_lines(isa):
    """The kernel only reads the pixels: lines 0 bytes apart, or closer than a
    line, are legal, forward and backward, fed in any blocks."""
    w, h = 37, 90
    for stride in (0, 3, 6, -3, -6, w * 3 - 1):
        # as_strided checks no bounds: room for h lines |stride| apart
        pixels = make_rgb("noise", 1, abs(stride) * h + 3 * w, seed=4).reshape(-1)
        start = -stride * (h - 1) if stride < 0 else 0
        lines = _as_strided(pixels[start:], (h, w * 3), (stride, 1))
        want = np.ascontiguousarray(lines)
        with tidehash.use_isa(isa):
            plans = [_native.PHashPlan(w, h, 8, vf, tidehash.cpu.current_isa())
                     for vf in (False, True)]
            for plan in plans:
                plan.rows_lines(lines[:50], 3, 0)
                plan.rows_lines(lines[50:], 3, 50)
            got = [plan.finish() for plan in plans]
        for vf, grey in zip((False, True), got):
            assert np.array_equal(grey, O.resize(O.luma(want.reshape(h, w, 3)), 32, vf)), (
                stride, vf)


def test_single_channel_array_is_grey():
    g = O.luma(make_rgb("blobs", 50, 70))
    assert tidehash.phash(g[:, :, None]) == tidehash.phash(g) == tidehash.phash(
        Image.fromarray(g))


def test_images_in_several_memory_blocks(monkeypatch):
    """Images Pillow holds in several blocks (no Arrow export) are read in strips,
    also when a strip cannot be exported either (then it is copied)."""
    block = Image.core.get_block_size()
    try:
        Image.core.set_block_size(4096)  # a few lines per block
        ims = [photo("blobs", 300, 200, seed=1, mode=m) for m in ("RGB", "L", "RGBA")]
        ims += [photo("blobs", 500, 40, seed=3)]  # vertical pass first (Pillow 13)
        assert all(_arrow(im) is None for im in ims)
        got = [tidehash.phash(im, 16) for im in ims]
        monkeypatch.setattr(P, "_STRIP_BYTES", 3000)
        assert [tidehash.phash(im, 16) for im in ims] == got
        monkeypatch.setattr(P, "_arrow", lambda im: None)
        assert [tidehash.phash(im, 16) for im in ims] == got
    finally:
        Image.core.set_block_size(block)
    for im, h in zip(ims, got):
        assert h.hex == str(imagehash.phash(im, 16))
        assert h == tidehash.phash(np.asarray(im), 16)


def test_lazy_image_is_loaded(tmp_path):
    p = tmp_path / "a.png"
    photo("blobs", 90, 60).save(p)
    with Image.open(p) as im:
        assert tidehash.phash(im).hex == str(imagehash.phash(Image.open(p)))


def test_threads_agree_with_serial():
    images = [photo(KINDS[i % len(KINDS)], 50 + 37 * i, 400 - 23 * i, seed=i) for i in range(16)]
    serial = [tidehash.phash(im, hs) for im in images for hs in (8, 16)]
    barrier = threading.Barrier(4)

    def work(k):
        barrier.wait()
        return [tidehash.phash(im, hs) for im in images[k:] + images[:k] for hs in (8, 16)]

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(work, range(4)))
    for k, res in enumerate(results):
        m = 2 * k
        assert res == serial[m:] + serial[:m]


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("hash_size", [1, 0, -3, 65, 10**9])
def test_hash_size_out_of_range(hash_size):
    with pytest.raises(ValueError, match="hash_size"):
        tidehash.phash(np.zeros((10, 10), np.uint8), hash_size)


@pytest.mark.parametrize("hash_size", [8.0, "8", None, True, np.float64(8)])
def test_hash_size_not_an_int(hash_size):
    with pytest.raises(TypeError, match="hash_size"):
        tidehash.phash(np.zeros((10, 10), np.uint8), hash_size)


def test_hash_size_numpy_int_is_accepted():
    a = make_rgb("blobs", 40, 40)
    assert tidehash.phash(a, np.int64(16)) == tidehash.phash(a, 16)


@pytest.mark.parametrize("dtype", [np.uint16, np.int8, np.float32, np.float64, np.int64, bool])
def test_array_wrong_dtype(dtype):
    with pytest.raises(TypeError, match="uint8"):
        tidehash.phash(np.zeros((10, 10, 3), dtype))


@pytest.mark.parametrize("shape", [(5,), (4, 5, 2), (4, 5, 5), (2, 3, 4, 3), ()])
def test_array_wrong_shape(shape):
    with pytest.raises(ValueError, match="shape"):
        tidehash.phash(np.zeros(shape, np.uint8))


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0), (0, 4, 3), (3, 0, 4)])
def test_array_without_pixels(shape):
    with pytest.raises(ValueError, match="no pixels"):
        tidehash.phash(np.zeros(shape, np.uint8))


@pytest.mark.parametrize("size", [(0, 5), (5, 0), (0, 0)])
def test_pil_image_without_pixels(size):
    with pytest.raises(ValueError, match="no pixels"):
        tidehash.phash(Image.new("RGB", size))


@pytest.mark.parametrize("obj", [None, "image.jpg", object(), [[1, 2], [3, 4]], 3.5])
def test_not_an_image(obj):
    with pytest.raises((TypeError, ValueError)):
        tidehash.phash(obj)


def test_truncated_file(tmp_path):
    p = tmp_path / "t.png"
    photo("noise", 200, 200).save(p)
    p.write_bytes(p.read_bytes()[:3000])
    with Image.open(p) as im, pytest.raises(ValueError, match="load"):
        tidehash.phash(im)


def test_native_plan_rejects_bad_arguments():
    w, h = 50, 40
    with pytest.raises(ValueError):
        _native.PHashPlan(0, h, 8, False, 0)
    with pytest.raises(ValueError):
        _native.PHashPlan(w, h, 1, False, 0)
    with pytest.raises(ValueError, match="table"):  # the wrong length
        _native.PHashPlan(w, h, 8, False, 0, _native.phash_table(w + 40, 32))
    with pytest.raises(ValueError):  # the right length, a window past the edge
        _native.PHashPlan(w, h, 8, False, 0, _native.phash_table(w + 1, 32))
    bad = _native.phash_table(w, 32).copy()
    bad[0] = -1  # a window starting before the image
    with pytest.raises(ValueError):
        _native.PHashPlan(w, h, 8, False, 0, bad)
    bad = _native.phash_table(w, 32).copy()
    bad[2 * 32 + 3] = 1 << 30  # weights whose sums could overflow
    with pytest.raises(ValueError):
        _native.PHashPlan(w, h, 8, False, 0, bad)
    plan = _native.PHashPlan(w, h, 8, False, 0)
    lines = np.zeros((h, w * 3), np.uint8)
    with pytest.raises(ValueError):
        plan.rows_lines(lines[:, :-3], 3, 0)  # a line one pixel short
    with pytest.raises(ValueError):
        plan.rows_lines(lines, 2, 0)
    with pytest.raises(ValueError):
        plan.rows_lines(lines[:5], 3, h - 4)  # past the last line
    with pytest.raises(ValueError):
        plan.rows_lines(lines[:5], 3, -1)
    with pytest.raises(RuntimeError):
        _native.PHashPlan(w, h, 8, False, _native.ISA_COUNT + 3).rows_lines(lines, 3, 0)
    # a plan never fed any line resizes black lines, deterministically
    grey = _native.PHashPlan(w, h, 8, False, 0).finish()
    assert grey.shape == (32, 32) and not grey.any()


def test_native_plan_rejects_lines_past_the_address_space():
    """numpy's as_strided can describe lines that cannot exist. Those whose offsets
    would overflow are refused, not followed: -2^63 could not be negated (undefined
    behaviour in the check itself), and 2^63 - 1 took the kernel past the address
    space (found by tests/fuzz/fuzz_phash.c)."""
    w, h = 50, 40
    base = np.zeros((1, w * 3), np.uint8)
    plan = _native.PHashPlan(w, h, 8, False, 0)
    for stride in (-(1 << 63), (1 << 63) - 1, -((1 << 63) - 1)):
        lines = np.lib.stride_tricks.as_strided(base, shape=(2, w * 3), strides=(stride, 1))
        with pytest.raises(ValueError):
            plan.rows_lines(lines, 3, 0)
    # a single line's stride is never used
    one = np.lib.stride_tricks.as_strided(base, shape=(1, w * 3), strides=(-(1 << 63), 1))
    plan.rows_lines(one, 3, 0)


def _plan_hash(im: Image.Image, hash_size: int, isa: str, h_table=None, v_table=None):
    """(PHash, resized image) of an RGB image through a plan given these tables."""
    rgb = np.asarray(im.convert("RGB"))
    h, w = rgb.shape[:2]
    vf = P.vertical_first(w, h, 4 * hash_size)
    with tidehash.use_isa(isa):
        plan = _native.PHashPlan(w, h, hash_size, vf, tidehash.cpu.current_isa(), h_table,
                                 v_table)
        plan.rows_lines(rgb.reshape(h, w * 3), 3, 0)
        grey = plan.finish()
    return PHash(P._pack(P._dct_bits(grey, hash_size)[0]), hash_size), grey


def test_table_weights_after_a_window_are_unused(isa):
    """Output i of a table reads bounds[2 i + 1] weights; what follows them (zeros
    in Pillow's tables) is never read by Pillow's loop, and a table passed in may
    hold anything there. The SIMD horizontal passes, which load whole vectors past
    a window's end, used to add it in (found by tests/fuzz/fuzz_phash.c)."""
    n = 32
    # 2000 / 32: windows of 377 taps, over PHASH_ALIGN_MIN_KSIZE (aligned loads)
    for h, w in [(19, 47), (40, 300), (30, 2000), (300, 40)]:
        im = photo("noise", h, w, seed=w)
        tables = []
        for size in (w, h):
            t = _native.phash_table(size, n).copy()
            bounds, kk = t[:2 * n].reshape(n, 2), t[2 * n:].reshape(n, -1)
            for o, (_, count) in enumerate(bounds):
                if count < kk.shape[1]:  # sum |k| stays under 2^23 (about 1.2 * 2^22 + 2^20)
                    kk[o, count] = (1 << 20) - o
            tables.append(t)
        got, grey = _plan_hash(im, 8, isa, *tables)
        assert np.array_equal(grey, np.asarray(im.convert("L").resize((n, n), LANCZOS))), (h, w)
        assert_imagehash(im, 8, got=got)


def test_height_not_resized_reads_every_line(isa):
    """When the height is already n, the vertical pass is skipped and the first
    pass's n lines are the result. A vertical table passed in whose windows leave
    out the last line used to leave that line of the result unwritten (stale
    workspace memory; found by tests/fuzz/fuzz_phash.c): all n lines are read."""
    n = 32
    for w in (20, 50, 300):
        im = photo("noise", n, w, seed=w)
        v = _native.phash_table(n, n).copy()
        bounds = v[:2 * n].reshape(n, 2)
        bounds[bounds[:, 0] + bounds[:, 1] == n, 1] -= 1
        got, grey = _plan_hash(im, 8, isa, None, v)
        assert np.array_equal(grey, np.asarray(im.convert("L").resize((n, n), LANCZOS))), w
        assert_imagehash(im, 8, got=got)


# ------------------------------------------------------------------ the PHash type
def test_phash_type_matches_imagehash():
    a, b = photo("blobs", 200, 150, seed=1), photo("blobs", 200, 150, seed=2)
    for hs in (8, 16, 5):
        ha, hb = tidehash.phash(a, hs), tidehash.phash(b, hs)
        ra, rb = imagehash.phash(a, hs), imagehash.phash(b, hs)
        assert str(ha) == ha.hex == str(ra)
        assert np.array_equal(ha.bits, ra.hash) and ha.bits.dtype == bool
        assert ha.hash_size == hs
        assert ha - hb == ha.distance(hb) == hb.distance(ha) == ra - rb
        assert ha.distance(hb.hex) == ha - hb
        assert ha - ha == 0
        assert PHash.from_hex(ha.hex) == ha == PHash.from_hex(ha.hex.upper(), hs)
        assert np.array_equal(imagehash.hex_to_hash(ha.hex).hash, ha.bits)
        assert int.from_bytes(ha.bytes, "big") == int(ha.hex, 16)
        assert len(ha.bytes) == (hs * hs + 7) // 8
        assert pickle.loads(pickle.dumps(ha)) == ha
        assert eval(repr(ha), {"PHash": PHash}) == ha
    h8 = tidehash.phash(a)
    assert h8.bytes == bytes.fromhex(h8.hex)
    assert len({h8, PHash(h8.bytes, 8), tidehash.phash(a, 16)}) == 2


def test_phash_type_is_immutable():
    h = tidehash.phash(photo("blobs", 40, 40))
    with pytest.raises(AttributeError):
        h.hash_size = 16
    with pytest.raises(AttributeError):
        del h._bytes
    bits = h.bits
    bits[:] = True
    assert h.bits.sum() < 64  # a copy was handed out


def test_phash_type_errors():
    h8 = tidehash.phash(photo("blobs", 40, 40))
    h16 = tidehash.phash(photo("blobs", 40, 40), 16)
    with pytest.raises(TypeError):
        h8 - h16
    with pytest.raises(TypeError):
        h8 - None
    with pytest.raises(TypeError):
        h8.distance(3)
    assert h8 != h8.hex and h8 != h16
    with pytest.raises(ValueError):
        PHash(bytes(7), 8)
    with pytest.raises(ValueError, match="pad"):
        PHash(b"\xff\xff", 3)  # 9 bits in 2 bytes: the top 7 must be zero
    with pytest.raises(TypeError):
        PHash("00" * 8, 8)
    for bad in ["", "xyz0000000000000", "0" * 15, "0" * 17, "1ff0"]:
        with pytest.raises(ValueError):
            PHash.from_hex(bad, 8 if len(bad) != 4 else 3)
    with pytest.raises(TypeError):
        PHash.from_hex(b"00" * 8)
    assert PHash.from_hex("1ff").bits.all()  # 3x3, imagehash's 3 digits


def test_exported():
    assert tidehash.phash is P.phash and tidehash.PHash is PHash
    assert {"phash", "PHash"} <= set(tidehash.__all__)


# ------------------------------------------------ a drop-in for imagehash.phash
def _photo_for_imagehash_checks() -> Image.Image:
    """A photo-like RGB image with detail at every scale (imagehash's own checks
    use a photograph)."""
    rgb = make_rgb("blobs", 240, 320, seed=7).astype(np.int16)
    rgb += make_rgb("text", 240, 320, seed=7).astype(np.int16) // 4 - 32
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


@pytest.mark.parametrize("phash", [imagehash.phash, tidehash.phash], ids=["imagehash", "tidehash"])
def test_imagehash_own_checks_pass(phash):
    """imagehash's pHash test suite, with either function: slightly rotated images
    hash alike, a quarter turn does not; hash_size 2..20 gives hs^2 bits; str()
    read back by imagehash.hex_to_hash is == and at distance 0; hash sizes below 2
    are a ValueError. Run with imagehash.phash too, so the checks are the real ones."""
    im = _photo_for_imagehash_checks()
    original = phash(im)
    slightly = phash(im.rotate(-1))
    assert original - slightly <= 8
    turned = phash(im.rotate(-90))
    assert original != turned and not (original == turned)
    assert original - turned > 10
    for hs in range(2, 21):
        h = phash(im, hash_size=hs)
        assert h.hash.size == hs * hs
        stored = imagehash.hex_to_hash(str(h))
        assert h == stored and stored == h
        assert not (h != stored) and not (stored != h)
        assert h - stored == 0 == stored - h
        assert str(h) == str(imagehash.phash(im, hs))
    for hs in (-1, 0, 1):
        with pytest.raises(ValueError):
            phash(im, hs)


def test_phash_and_imagehash_interchange():
    a, b = photo("blobs", 200, 150, seed=1), photo("blobs", 200, 150, seed=2)
    for hs in (8, 16, 5, 3):
        ta, tb = tidehash.phash(a, hs), tidehash.phash(b, hs)
        ra, rb = imagehash.phash(a, hs), imagehash.phash(b, hs)
        assert ta.hash.shape == (hs, hs) and ta.hash.dtype == bool
        assert np.array_equal(ta.hash, ra.hash)
        # == and != both ways, through PHash's and through ImageHash's operators
        assert ta == ra and ra == ta and not (ta != ra) and not (ra != ta)
        assert ta != rb and rb != ta and not (ta == rb) and not (rb == ta)
        # - both ways
        assert ta - rb == rb - ta == ra - rb == ta - tb == ta.distance(rb) > 0
        assert ta - ra == ra - ta == 0
        assert ta in [rb, ra] and ra in [tb, ta]
        assert len(ta) == len(ra) == hs * hs
        # imagehash's hash and string of the same bits
        assert str(imagehash.ImageHash(ta.hash)) == str(ta)
    t8, t16 = tidehash.phash(a), tidehash.phash(a, 16)
    r16 = imagehash.phash(a, 16)
    assert t8 != r16 and r16 != t8
    with pytest.raises(TypeError):
        t8 - r16
    with pytest.raises(TypeError):
        r16 - t8
    assert t16 == r16


def test_phash_hash_spreads_like_its_bytes():
    """hash() is as strong as the bytes' (imagehash's own gives ~1,500 values, so a
    set of a million pHashes would be quadratic): equal pHashes hash alike, 20,000
    random ones (sizes 8 and 16) land on as many distinct values as their bytes."""
    rng = np.random.default_rng(3)
    for hs in (8, 16):
        raws = {bytes(r) for r in rng.integers(0, 256, (20000, hs * hs // 8), dtype=np.uint8)}
        hashes = [PHash(r, hs) for r in raws]
        assert len({hash(h) for h in hashes}) == len(raws)
        assert len(set(hashes)) == len(raws)
        again = PHash(next(iter(raws)), hs)
        assert hash(again) == hash(PHash(again.bytes, hs)) and again in set(hashes)


def test_phash_compares_only_with_hash_arrays():
    h = tidehash.phash(photo("blobs", 40, 40))

    class Named:
        hash = "not an array"

    for other in (None, 0, h.hex, Named(), object()):
        assert not (h == other) and h != other
    with pytest.raises(TypeError):
        h - Named()
    with pytest.raises(TypeError):
        h - None


def test_scipy_is_imported_only_for_phash():
    """scipy takes a good part of a second to import: `import tidehash` leaves it
    alone, the first pHash brings it in."""
    import subprocess
    import sys
    code = ("import sys, numpy as np, tidehash; a = 'scipy' in sys.modules; "
            "tidehash.pdq_hash(np.zeros((8, 8), np.uint8)); b = 'scipy' in sys.modules; "
            "tidehash.phash(np.zeros((8, 8), np.uint8)); print(a, b, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False", "True"]


@_hyp
@given(values=st.lists(st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, 1e-17, -1e-17, 3e5])
                       | st.floats(-1e7, 1e7, allow_nan=False), min_size=4, max_size=4096),
       side=st.integers(2, 64))
def test_median_is_numpys(values, side):
    """tidehash.phash's median (a sort) against numpy.median, on values full of
    ties and signed zeros, odd and even counts: the same value, the same bits."""
    a = np.resize(np.array(values), side * side).reshape(side, side)
    for block in (a, a[: side // 2 + 1, : side // 2 + 1]):
        want, got = np.median(block), P._median(block)
        assert got == want and np.array_equal(block > got, block > want)
        assert type(got) is np.float64


# ------------------------------------------------- the fast path and its fallback
# csrc computes the low DCT block, median and bits itself, and keeps them only
# when every coefficient (an odd count's median element aside) is further than
# tol = 2^-30 * 4 * sum(grey) from the median; otherwise scipy decides (see
# csrc/phash/README.md, "The fast path", for why that makes the bits scipy's).
ALL_HASH_SIZES = tuple(range(P.MIN_HASH_SIZE, P.MAX_HASH_SIZE + 1))


def _slow_paths(grey: np.ndarray, hash_size: int):
    """(bits, margin, tol) of a block by the definition, on csrc's own block:
    numpy's median, `c > median`, and the smallest |c - median| leaving out,
    for an odd count, one element equal to the median."""
    fast_raw, decided, margin, tol, median, low = _native.phash_bits_of(grey, hash_size)
    want_median = np.median(low)
    dist = np.abs(low.ravel() - want_median)
    if dist.size % 2:
        dist = np.delete(dist, np.flatnonzero(dist == 0)[0])
    assert median == want_median
    assert margin == dist.min()
    assert tol == 2.0**-30 * 4 * int(grey.astype(np.int64).sum())
    assert decided == (margin > tol)
    assert fast_raw == P._pack(low > want_median)
    return fast_raw, decided, margin, tol, low


def test_fast_block_margin_and_bits_are_the_definitions():
    for hs in ALL_HASH_SIZES:
        n = 4 * hs
        rng = np.random.default_rng(hs)
        for grey in (rng.integers(0, 256, (n, n), dtype=np.uint8),
                     np.full((n, n), 7, np.uint8), _ramp(n, n, 0, 5),
                     _mirrored(rng.integers(0, 256, (n, n // 2), dtype=np.uint8), "h")):
            _slow_paths(grey, hs)


def test_tolerance_covers_both_dcts_many_times_over():
    """csrc's block and scipy's differ by rounding only: measured here at under
    2^-12 of the tolerance (2^-21 is typical) on every hash size, pocketfft's
    generic-radix and Bluestein lengths included (n = 4 hs up to 256)."""
    fftpack = P._scipy_fftpack()
    for hs in ALL_HASH_SIZES:
        n = 4 * hs
        rng = np.random.default_rng(100 + hs)
        for grey in (rng.integers(0, 256, (n, n), dtype=np.uint8),
                     ((rng.random((n, n)) < 0.02) * 255).astype(np.uint8),
                     np.full((n, n), 255, np.uint8), _ramp(n, n, 3, 7)):
            _, _, _, tol, low = _slow_paths(grey, hs)
            ref = fftpack.dct(fftpack.dct(grey, axis=0), axis=1)[:hs, :hs]
            assert np.abs(low - ref).max() <= tol * 2.0**-12, hs


@_hyp
@given(im=st.one_of(structured_images(), st.builds(
           photo, st.sampled_from(KINDS), st.integers(1, 90), st.integers(1, 90),
           st.integers(0, 2**16), st.sampled_from(["L", "RGB", "RGBA"]))),
       hash_size=st.integers(P.MIN_HASH_SIZE, P.MAX_HASH_SIZE),
       isa=st.sampled_from(tidehash.available_isas()))
def test_hypothesis_fast_path_equals_scipy_path_and_imagehash(im, hash_size, isa):
    with tidehash.use_isa(isa):
        paths = P._both_paths(im, hash_size)
        got = tidehash.phash(im, hash_size)
    ref = imagehash.phash(im, hash_size)
    assert paths.scipy_raw == got.bytes and got.hex == str(ref)
    event("fast path" if paths.decided else "scipy path")
    if paths.decided:
        assert paths.fast_raw == paths.scipy_raw
    assert paths.margin > 0 or not paths.decided


def _takes_fallback(im, hash_size: int) -> bool:
    before = dict(P._path_counts)
    h = tidehash.phash(im, hash_size)
    ref_im = im if isinstance(im, Image.Image) else Image.fromarray(im)
    assert h.hex == str(imagehash.phash(ref_im, hash_size))
    taken = {k: P._path_counts[k] - before[k] for k in before}
    assert sum(taken.values()) == 1
    return taken["scipy"] == 1


def tied_images():
    """Images whose DCT block has coefficients equal in exact arithmetic at the
    median for every hash size >= 3 (more than half of them 0, or zeros in
    antisymmetric pairs next to the median)."""
    out = [(name, im) for name, im in degenerate_images()
           if name.startswith(("flat", "mirror"))
           or any(name.startswith(f"ramp {d}") for d in ("horizontal", "vertical"))
           or name.startswith("noise 1x") or (name.startswith("noise") and "x1" in name[6:])
           or name in ("checkerboard 1", "checkerboard 2", "checkerboard 4", "checkerboard 8")]
    assert len(out) > 40
    return out


@pytest.mark.parametrize("hash_size", DEGENERATE_HASH_SIZES)
def test_tied_images_take_the_scipy_path(hash_size):
    for name, im in tied_images():
        if hash_size == 2 and not name.startswith("flat"):
            continue  # 4 coefficients: a few zeros need not reach the median
        assert _takes_fallback(im, hash_size), (name, hash_size)


def test_common_images_take_the_fast_path():
    """The speed-up is real: photo-like images are decided in C."""
    for hs in (8, 16):
        for kind in ("noise", "text", "blobs"):
            for seed in range(3):
                assert not _takes_fallback(photo(kind, 64, 64, seed), hs), (kind, seed, hs)
                assert not _takes_fallback(photo(kind, 300, 200, seed), hs), (kind, seed, hs)


def _near_tie(hash_size: int = 8) -> np.ndarray:
    """An n x n image (resized to itself) whose two middle DCT coefficients
    differ by less than the tolerance but are not equal: a random image with
    +-1 on 16 pixels chosen (meet in the middle over 3^8 x 3^8 choices) to
    cancel the gap between them."""
    import itertools
    n, nb = 4 * hash_size, hash_size * hash_size
    fftpack = P._scipy_fftpack()
    d = 2 * np.cos(np.pi * np.outer(np.arange(hash_size), 2 * np.arange(n) + 1) / (2 * n))
    combos = np.array(list(itertools.product((-1, 0, 1), repeat=8)))
    for seed in range(50):
        rng = np.random.default_rng(seed)
        x = rng.integers(60, 196, (n, n))
        block = fftpack.dct(fftpack.dct(x.astype(float), axis=0), axis=1)[:hash_size, :hash_size]
        order = np.argsort(block, axis=None)
        lo, hi = order[nb // 2 - 1], order[nb // 2]
        gap = block.flat[hi] - block.flat[lo]
        grad = (np.outer(d[hi // hash_size], d[hi % hash_size])
                - np.outer(d[lo // hash_size], d[lo % hash_size]))
        pix = rng.choice(n * n, 16, replace=False)
        a, b = combos @ grad.flat[pix[:8]], combos @ grad.flat[pix[8:]]
        ob = np.argsort(b)
        target = -gap - a
        pos = np.clip(np.searchsorted(b[ob], target), 1, len(b) - 1)
        for ia in np.argsort(np.abs(b[ob][pos] - target))[:200]:
            for p in (pos[ia] - 1, pos[ia]):
                y = x.ravel().copy()
                y[pix] += np.concatenate([combos[ia], combos[ob[p]]])
                y = y.reshape(n, n).astype(np.uint8)
                s = np.sort(fftpack.dct(fftpack.dct(y, axis=0), axis=1)[:hash_size, :hash_size],
                            axis=None)
                tol = 2.0**-30 * 4 * int(y.astype(np.int64).sum())
                if 1e-9 < s[nb // 2] - s[nb // 2 - 1] < tol:
                    return y
    raise AssertionError("no near tie found")


def test_near_tie_takes_the_scipy_path():
    grey = _near_tie(8)
    paths = P._both_paths(grey, 8)
    assert np.array_equal(paths.grey, grey)  # 32 x 32 is not resampled
    s = np.sort(paths.scipy_low, axis=None)
    assert 0 < s[32] - s[31] < paths.tol  # within the tolerance, not a tie
    assert not paths.decided and 0 < paths.margin <= paths.tol
    assert _takes_fallback(Image.fromarray(grey), 8)
    assert _takes_fallback(grey, 8)


def test_debug_hash_reports_scipys_block_on_both_paths():
    for im in (photo("blobs", 64, 64, 1), Image.new("L", (64, 64), 9)):
        raw, grey, dct = P._phash_raw(im, 8, debug=True)
        paths = P._both_paths(im, 8)
        assert raw == paths.scipy_raw and np.array_equal(dct, paths.scipy_low)
        assert np.array_equal(grey, paths.grey)


def test_native_bits_reject_bad_arguments():
    with pytest.raises(ValueError):
        _native.phash_bits_of(np.zeros((32, 32), np.uint8), 7)
    with pytest.raises(ValueError):
        _native.phash_bits_of(np.zeros((4, 4), np.uint8), 1)
    with pytest.raises(ValueError):
        _native.phash_bits_of(np.zeros((260, 260), np.uint8), 65)
