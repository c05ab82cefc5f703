"""tidehash.phash against imagehash.phash (the test-only oracle) and against slow
references of each step (tests/phash_oracles.py).

What is exact, and how it is checked:
* The resized image (Pillow's convert("L") + LANCZOS resize, integer arithmetic)
  is equal to Pillow's own, byte for byte, on every image, for every ISA.
* The hash is equal to imagehash's bit for bit wherever no low-frequency DCT
  coefficient is within TIE_REL of the full scale of the median. Where one is
  (flat images, mirror-symmetric ones: coefficients that are exactly zero or
  exactly equal in exact arithmetic), imagehash's bit is scipy's rounding noise;
  a difference is accepted only at such a coefficient (assert_imagehash_or_tie),
  and the test proves that rule rejects a real discrepancy.
* Bits and bytes are compared with ==; the only tolerances are on the two
  floating-point DCTs (scipy's and ours agree to DCT_REL of full scale).
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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from images import KINDS, make_rgb
from PIL import Image

import tidehash
from tidehash import _native
from tidehash.phash import PHash

# the module (the package's `phash` attribute is the function)
P = importlib.import_module("tidehash.phash")

ISAS = tidehash.available_isas()
LANCZOS = Image.Resampling.LANCZOS
#: A coefficient this close to the median (relative to the DCT's full scale
#: 4 n^2 255) is a tie: the two FFTs' rounding decides its bit.
TIE_REL = 1e-9
#: scipy's DCT and ours differ by rounding only (observed: below 1e-16 of full scale).
DCT_REL = 1e-13
#: Every Pillow mode imagehash accepts (it converts each to "L" first).
MODES = ("L", "RGB", "RGBA", "RGBX", "P", "PA", "1", "LA", "RGBa", "I;16", "I;16L", "I;16B",
         "I;16N", "I", "F", "CMYK", "YCbCr", "HSV")
#: Sizes around the SIMD widths (16 and 32 pixels), the output sizes (32, 64) and beyond.
EDGE_SIZES = (1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 95, 127, 128,
              129, 255, 256, 257, 300)


# ----------------------------------------------------------------------- helpers
def full_scale(hash_size: int) -> float:
    n = 4 * hash_size
    return 4.0 * n * n * 255.0


def debug_hash(image, hash_size: int, isa: str | None = None):
    """(PHash, resized n x n uint8, hs x hs float64 DCT) from the kernel."""
    if isa is None:
        raw, grey, dct = P._phash_raw(image, hash_size, debug=True)
    else:
        with tidehash.use_isa(isa):
            raw, grey, dct = P._phash_raw(image, hash_size, debug=True)
    return PHash(raw, hash_size), grey, dct


def assert_imagehash_or_tie(image: Image.Image, hash_size: int = 8, got=None) -> int:
    """tidehash == imagehash on `image`, except at proven ties; returns the number of
    excused bits. `got` overrides tidehash's hash (to test the rule itself)."""
    n = 4 * hash_size
    ref = imagehash.phash(image, hash_size)
    ref_grey = np.asarray(image.convert("L").resize((n, n), LANCZOS))
    h, grey, dct = debug_hash(image, hash_size)
    assert h == tidehash.phash(image, hash_size)
    assert np.array_equal(grey, ref_grey), "resized image differs from Pillow's"
    block = O.dct_block(ref_grey, hash_size)
    median = np.median(block)
    assert np.array_equal(O.bits_of(block), ref.hash), "the oracle is not imagehash"
    scale = full_scale(hash_size)
    assert np.abs(dct - block).max() <= DCT_REL * scale, "DCT differs from scipy's"
    got = h if got is None else got
    diff = got.bits != ref.hash
    tie = np.abs(block - median) <= TIE_REL * scale
    assert not (diff & ~tie).any(), (
        f"{int((diff & ~tie).sum())} bits differ at coefficients up to "
        f"{np.abs(block - median)[diff].max():.3g} from the median: not a tie, a real "
        f"discrepancy")
    if not diff.any():
        assert got.hex == str(ref)
    return int(diff.sum())


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


@pytest.mark.parametrize("isa", ISAS)
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


@pytest.mark.parametrize("isa", ISAS)
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


@pytest.mark.parametrize("isa", ISAS)
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
                _, got, _ = plan.finish(True)
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
    assert_imagehash_or_tie(photo(kind, *shape, seed=sum(shape)), hash_size)


@pytest.mark.parametrize("hash_size", [8, 16])
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_equals_imagehash(mode, hash_size):
    for h, w in [(1, 1), (23, 41), (160, 120)]:
        im = image_in_mode(mode, h, w, seed=h)
        assert im.mode == mode
        excused = assert_imagehash_or_tie(im, hash_size)
        if (h, w) == (160, 120) and mode not in ("1",):
            assert excused == 0, mode  # photo-like content has no ties


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
    assert assert_imagehash_or_tie(im, hash_size) == 0
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
        assert assert_imagehash_or_tie(im, hs) == 0
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
    assert_imagehash_or_tie(photo(kind, h, w, seed, mode), hash_size)


# ------------------------------------------------------------ ties, made to happen
def test_ties_on_flat_and_symmetric_images():
    """Flat images: every coefficient but the DC one is zero in exact arithmetic, so
    the median is a tie and both hashes are rounding noise there. Mirror-symmetric
    images: the odd horizontal frequencies are zero. The rule accepts them, and
    tidehash's folded DCT makes those coefficients exactly 0.0."""
    excused = 0
    for v in (0, 1, 127, 200, 255):
        excused += assert_imagehash_or_tie(Image.new("L", (50, 40), v))
    half = make_rgb("blobs", 60, 30, seed=5)
    sym = np.concatenate([half, half[:, ::-1]], axis=1)
    for hs in (8, 16):
        excused += assert_imagehash_or_tie(Image.fromarray(sym), hs)
        _, grey, dct = debug_hash(sym, hs)
        assert np.array_equal(grey, grey[:, ::-1])
        assert np.all(dct[:, 1::2] == 0.0)
    # imagehash's noise decides some of those bits one way, ours the other
    assert excused > 0


def test_tie_rule_rejects_a_real_discrepancy():
    im = photo("blobs", 120, 90, seed=2)
    real = tidehash.phash(im)
    assert assert_imagehash_or_tie(im) == 0
    flipped = bytearray(real.bytes)
    flipped[3] ^= 0x10
    with pytest.raises(AssertionError, match="not a tie"):
        assert_imagehash_or_tie(im, 8, got=PHash(bytes(flipped), 8))


# --------------------------------------------------------------- ISAs and inputs
@pytest.mark.parametrize("isa", ISAS)
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
                assert np.array_equal(got[2], want[2])  # the DCT is shared scalar code


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
    # a plan never fed any line hashes black lines, deterministically
    assert _native.PHashPlan(w, h, 8, False, 0).finish() == bytes(8)


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
        raw, grey, _ = plan.finish(True)
    return PHash(raw, hash_size), grey


@pytest.mark.parametrize("isa", ISAS)
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
        assert assert_imagehash_or_tie(im, 8, got=got) == 0


@pytest.mark.parametrize("isa", ISAS)
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
        assert assert_imagehash_or_tie(im, 8, got=got) == 0


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
