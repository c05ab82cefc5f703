"""The decoding policy (DESIGN.md, "Decoding policy"): which pixels hash_file hashes.

Every test builds the array the policy says must be hashed *by hand*, with Pillow
and NumPy only (never with tidehash's decoding code), and checks

    tidehash.hash_file(file) == tidehash.pdq_hash(expected_array)

(PDQHash equality covers the 256 bits and the quality). Where it is cheap, the
test also checks that the obvious *wrong* policy (compositing alpha, clipping
16-bit samples, applying EXIF orientation, ...) gives a different hash, so a
test cannot pass just because the image is too bland to tell them apart.

All files are generated in pytest's tmp_path.
"""

from __future__ import annotations

import io
import pathlib
import warnings

import numpy as np
import pytest
from PIL import Image
from sources import NonSeekable, ReadOnly  # tests/ helpers

import tidehash

# --------------------------------------------------------------------------- helpers


def smooth_rgb(h: int, w: int, seed: int) -> np.ndarray:
    """A structured (non-noise) RGB uint8 image: random blobs upsampled, plus a
    little noise, so PDQ quality is high and hashes are well defined."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR), dtype=np.int16)
    noise = rng.integers(-6, 7, big.shape, dtype=np.int16)
    return np.clip(big + noise, 0, 255).astype(np.uint8)


def smooth_grey(h: int, w: int, seed: int) -> np.ndarray:
    rgb = smooth_rgb(h, w, seed).astype(np.uint16)
    return ((rgb[..., 0] + rgb[..., 1] + rgb[..., 2]) // 3).astype(np.uint8)


def h(arr) -> tidehash.PDQHash:
    """The expected hash of an expected pixel array (plain NumPy -> tidehash.pdq_hash)."""
    arr = np.asarray(arr)
    assert arr.dtype == np.uint8
    return tidehash.pdq_hash(np.ascontiguousarray(arr))


def file_hash(path) -> tidehash.PDQHash:
    rec = tidehash.hash_file(path)
    assert rec.error is None
    assert rec.pdq is not None
    return rec.pdq


def assert_same(got: tidehash.PDQHash, want: tidehash.PDQHash):
    assert got.hex == want.hex, f"hash differs by {tidehash.hamming(got, want)} bits"
    assert got.quality == want.quality
    assert got == want


# --------------------------------------------------------------------------- RGB


def test_png_rgb_hashes_the_rgb_pixels(tmp_path):
    rgb = smooth_rgb(120, 160, 1)
    p = tmp_path / "rgb.png"
    Image.fromarray(rgb, "RGB").save(p)
    # PNG is lossless: the expected pixels are the array written, no decoder involved
    assert_same(file_hash(p), h(rgb))


def test_jpeg_rgb_hashes_the_decoded_rgb_pixels(tmp_path):
    rgb = smooth_rgb(150, 110, 2)
    p = tmp_path / "rgb.jpg"
    Image.fromarray(rgb, "RGB").save(p, quality=90)
    with Image.open(p) as im:
        assert im.mode == "RGB"
        expected = np.asarray(im)  # Pillow's full-resolution decode, no draft/scaling
    assert expected.shape == (150, 110, 3)
    assert_same(file_hash(p), h(expected))


@pytest.mark.parametrize("shape", [(1, 1), (4, 7), (5, 5), (64, 64), (65, 63), (3, 300)])
def test_png_rgb_odd_sizes(tmp_path, shape):
    rgb = smooth_rgb(shape[0], shape[1], 3)
    p = tmp_path / "odd.png"
    Image.fromarray(rgb, "RGB").save(p)
    assert_same(file_hash(p), h(rgb))


# --------------------------------------------------------------------------- alpha


def test_rgba_png_drops_alpha_without_compositing(tmp_path):
    rgb = smooth_rgb(100, 130, 4)
    rng = np.random.default_rng(4)
    alpha = rng.integers(0, 256, rgb.shape[:2], dtype=np.uint8)
    alpha[:, :40] = 0  # fully transparent region: its RGB must still count
    rgba = np.dstack([rgb, alpha])
    p = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(p)
    got = file_hash(p)
    assert_same(got, h(rgb))
    # discriminating: compositing on white or black would hash something else
    a = alpha[..., None].astype(np.float64) / 255
    on_white = np.round(rgb * a + 255 * (1 - a)).astype(np.uint8)
    on_black = np.round(rgb * a).astype(np.uint8)
    assert got != h(on_white)
    assert got != h(on_black)


def test_fully_transparent_pixel_keeps_its_rgb(tmp_path):
    # RGBA (10, 20, 30, 0) everywhere, except a pattern so the hash is not degenerate
    rgb = np.empty((64, 80, 3), np.uint8)
    rgb[...] = (10, 20, 30)
    rgb[10:40, 20:50] = (200, 150, 100)
    rgba = np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])
    p = tmp_path / "transparent.png"
    Image.fromarray(rgba, "RGBA").save(p)
    assert_same(file_hash(p), h(rgb))


def test_la_png_goes_through_pillow_convert_rgb(tmp_path):
    grey = smooth_grey(90, 120, 5)
    alpha = np.random.default_rng(5).integers(0, 256, grey.shape, dtype=np.uint8)
    p = tmp_path / "la.png"
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(p)
    with Image.open(p) as im:
        assert im.mode == "LA"
        expected = np.asarray(im.convert("RGB"))
    # independent of Pillow: LA -> RGB is the grey value replicated, alpha dropped
    assert np.array_equal(expected, np.dstack([grey, grey, grey]))
    assert_same(file_hash(p), h(expected))


# --------------------------------------------------------------------------- palettes


def _palette_image(seed: int, h_: int = 96, w_: int = 128):
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    idx = (smooth_grey(h_, w_, seed).astype(np.uint16) * 31 // 255).astype(np.uint8)
    idx[::7, ::5] = 200  # a few pixels from further up the palette
    im = Image.frombytes("P", (w_, h_), idx.tobytes())
    im.putpalette(palette.tobytes())
    return im, idx, palette


def test_palette_png_expands_the_palette(tmp_path):
    im, idx, palette = _palette_image(6)
    p = tmp_path / "p.png"
    im.save(p)
    with Image.open(p) as check:
        assert check.mode == "P"
    expected = palette[idx]  # expansion by hand
    got = file_hash(p)
    assert_same(got, h(expected))
    assert got != h(idx)  # hashing the indices as grey would be wrong


def test_palette_png_with_single_transparent_index(tmp_path):
    im, idx, palette = _palette_image(7)
    p = tmp_path / "p_trns.png"
    im.save(p, transparency=int(idx[0, 0]))
    with Image.open(p) as check:
        assert check.mode == "P"
        assert "transparency" in check.info
    assert_same(file_hash(p), h(palette[idx]))


def test_palette_png_with_per_entry_alpha(tmp_path):
    im, idx, palette = _palette_image(8)
    alphas = bytes(np.random.default_rng(8).integers(0, 256, 256, dtype=np.uint8))
    p = tmp_path / "p_alpha.png"
    im.save(p, transparency=alphas)
    with Image.open(p) as check:
        assert check.mode == "P"
        assert isinstance(check.info.get("transparency"), bytes)
    assert_same(file_hash(p), h(palette[idx]))


def test_palette_gif(tmp_path):
    im, idx, palette = _palette_image(9)
    p = tmp_path / "p.gif"
    im.save(p)
    with Image.open(p) as check:
        assert check.mode == "P"
        # GIF may reorder/trim the palette: expand with what the file holds
        pal = np.array(check.getpalette("RGB"), np.uint8).reshape(-1, 3)
        got_idx = np.asarray(check)
    assert np.array_equal(pal[got_idx], palette[idx])
    assert_same(file_hash(p), h(palette[idx]))


# --------------------------------------------------------------------------- grey


def test_grey_png_hashes_the_grey_plane(tmp_path):
    grey = smooth_grey(110, 90, 10)
    p = tmp_path / "l.png"
    Image.fromarray(grey, "L").save(p)
    got = file_hash(p)
    assert_same(got, h(grey))  # a 2-D array
    assert_same(got, h(np.dstack([grey, grey, grey])))  # grey == replicated RGB


def test_grey_jpeg(tmp_path):
    grey = smooth_grey(100, 140, 11)
    p = tmp_path / "l.jpg"
    Image.fromarray(grey, "L").save(p, quality=92)
    with Image.open(p) as im:
        assert im.mode == "L"
        expected = np.asarray(im)
    assert expected.ndim == 2
    assert_same(file_hash(p), h(expected))


@pytest.mark.parametrize("fmt", ["png", "tiff", "bmp"])
def test_mode_1_hashes_as_0_or_255(tmp_path, fmt):
    bits = smooth_grey(80, 100, 12) > 128
    p = tmp_path / f"bits.{fmt}"
    Image.fromarray(bits).save(p)
    with Image.open(p) as im:
        assert im.mode == "1"
    expected = bits.astype(np.uint8) * np.uint8(255)
    assert_same(file_hash(p), h(expected))


# --------------------------------------------------------------------------- 16 bit


def _sixteen(seed: int, h_: int = 90, w_: int = 120) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hi = smooth_grey(h_, w_, seed).astype(np.uint16)
    lo = rng.integers(0, 256, (h_, w_), dtype=np.uint16)  # low bytes are noise
    return (hi << 8) | lo


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_16bit_grey_keeps_the_high_byte(tmp_path, fmt):
    a16 = _sixteen(13)
    p = tmp_path / f"g16.{fmt}"
    Image.fromarray(a16).save(p)
    with Image.open(p) as im:
        assert im.mode.startswith("I;16"), im.mode
        assert np.array_equal(np.asarray(im).astype(np.uint16), a16)
    expected = (a16 >> 8).astype(np.uint8)
    got = file_hash(p)
    assert_same(got, h(expected))
    # discriminating: clipping to 255 (what a plain I -> L conversion does) or the
    # low byte would be wrong
    assert got != h(np.minimum(a16, 255).astype(np.uint8))
    assert got != h((a16 & 0xFF).astype(np.uint8))


def test_16bit_big_endian_tiff_keeps_the_high_byte(tmp_path):
    a16 = _sixteen(14)
    im = Image.frombytes("I;16B", (a16.shape[1], a16.shape[0]), a16.astype(">u2").tobytes())
    p = tmp_path / "g16b.tiff"
    im.save(p)
    with Image.open(p) as check:
        assert check.mode in ("I;16B", "I;16"), check.mode
        assert np.array_equal(np.asarray(check).astype(np.uint16), a16)
    assert_same(file_hash(p), h((a16 >> 8).astype(np.uint8)))


def test_16bit_in_memory_pillow_image(tmp_path):
    # pdq_hash on a Pillow image follows the same policy as hash_file
    a16 = _sixteen(15)
    im = Image.fromarray(a16)
    assert im.mode == "I;16"
    assert_same(tidehash.pdq_hash(im), h((a16 >> 8).astype(np.uint8)))


# --------------------------------------------------------------------------- convert('RGB') modes


def test_cmyk_jpeg_uses_pillow_convert_rgb(tmp_path):
    rng = np.random.default_rng(16)
    cmyk = np.dstack([smooth_grey(100, 120, 16 + i) for i in range(3)]
                     + [rng.integers(0, 60, (100, 120), dtype=np.uint8)])
    p = tmp_path / "cmyk.jpg"
    Image.fromarray(cmyk, "CMYK").save(p, quality=92)
    with Image.open(p) as im:
        assert im.mode == "CMYK"
        expected = np.asarray(im.convert("RGB"))
    assert_same(file_hash(p), h(expected))


def test_cmyk_tiff_uses_pillow_convert_rgb(tmp_path):
    cmyk = np.dstack([smooth_grey(70, 90, 20 + i) for i in range(4)])
    p = tmp_path / "cmyk.tiff"
    Image.fromarray(cmyk, "CMYK").save(p)
    with Image.open(p) as im:
        assert im.mode == "CMYK"
        expected = np.asarray(im.convert("RGB"))
    # sanity check of Pillow's CMYK -> RGB by hand: R = (255 - C) * (255 - K) / 255, etc.
    c, m, y, k = (cmyk[..., i].astype(np.int32) for i in range(4))
    by_hand = np.dstack([255 - c, 255 - m, 255 - y]).astype(np.int32) * (255 - k)[..., None]
    by_hand = np.clip((by_hand + 127) // 255, 0, 255).astype(np.uint8)
    assert np.abs(by_hand.astype(int) - expected.astype(int)).max() <= 1
    assert_same(file_hash(p), h(expected))


def test_ycbcr_tiff_uses_pillow_convert_rgb(tmp_path):
    rgb = smooth_rgb(80, 100, 24)
    p = tmp_path / "ycbcr.tiff"
    Image.fromarray(rgb, "RGB").convert("YCbCr").save(p)
    with Image.open(p) as im:
        if im.mode != "YCbCr":
            pytest.skip(f"this Pillow reads the YCbCr TIFF back as {im.mode}")
        expected = np.asarray(im.convert("RGB"))
    assert np.abs(expected.astype(int) - rgb.astype(int)).max() <= 3  # sanity
    got = file_hash(p)
    assert_same(got, h(expected))


def test_ycbcr_in_memory_image_uses_pillow_convert_rgb():
    ycc = Image.fromarray(smooth_rgb(80, 100, 25), "RGB").convert("YCbCr")
    assert_same(tidehash.pdq_hash(ycc), h(np.asarray(ycc.convert("RGB"))))
    # and not the raw Y, Cb, Cr planes
    assert tidehash.pdq_hash(ycc) != h(np.asarray(ycc))


def test_mode_i_tiff_uses_pillow_convert_rgb(tmp_path):
    rng = np.random.default_rng(26)
    ai = smooth_grey(80, 100, 26).astype(np.int32) * 2 - 100  # -100 .. 410: clips both ways
    ai[::9, ::4] = rng.integers(-70000, 70000, ai[::9, ::4].shape)
    p = tmp_path / "i32.tiff"
    Image.fromarray(ai, "I").save(p)
    with Image.open(p) as im:
        assert im.mode == "I"
        expected = np.asarray(im.convert("RGB"))
    assert_same(file_hash(p), h(expected))


def test_mode_f_tiff_uses_pillow_convert_rgb(tmp_path):
    af = smooth_grey(80, 100, 27).astype(np.float32) * 1.3 - 20.25
    p = tmp_path / "f32.tiff"
    Image.fromarray(af, "F").save(p)
    with Image.open(p) as im:
        assert im.mode == "F"
        expected = np.asarray(im.convert("RGB"))
    assert_same(file_hash(p), h(expected))


# --------------------------------------------------------------------------- EXIF orientation


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_not_applied(tmp_path, orientation):
    rgb = smooth_rgb(96, 160, 28)  # not square: a rotation would change the shape
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / f"exif{orientation}.jpg"
    Image.fromarray(rgb, "RGB").save(p, quality=92, exif=exif.tobytes())
    with Image.open(p) as im:
        assert im.getexif().get(0x0112) == orientation
        raw = np.asarray(im.convert("RGB"))  # Pillow does not apply EXIF on its own
    assert raw.shape == (96, 160, 3)
    rotated = {3: np.rot90(raw, 2), 6: np.rot90(raw, -1), 8: np.rot90(raw, 1)}[orientation]
    got = file_hash(p)
    assert_same(got, h(raw))
    assert got != h(rotated)


def test_exif_orientation_png(tmp_path):
    rgb = smooth_rgb(64, 128, 29)
    exif = Image.Exif()
    exif[0x0112] = 6
    p = tmp_path / "exif6.png"
    Image.fromarray(rgb, "RGB").save(p, exif=exif)
    assert_same(file_hash(p), h(rgb))


# --------------------------------------------------------------------------- input kinds



@pytest.fixture(params=["jpg", "png"])
def sample(tmp_path, request):
    rgb = smooth_rgb(90, 130, 30)
    p = tmp_path / f"sample.{request.param}"
    Image.fromarray(rgb, "RGB").save(p)
    with Image.open(p) as im:
        expected = h(np.asarray(im.convert("RGB")))
    return p, expected


def test_path_str_and_pathlib(sample):
    p, expected = sample
    assert isinstance(p, pathlib.Path)
    a = tidehash.hash_file(p)
    b = tidehash.hash_file(str(p))
    assert_same(a.pdq, expected)
    assert_same(b.pdq, expected)
    assert a.path == str(p)
    assert b.path == str(p)


def test_bytes_like_inputs(sample):
    p, expected = sample
    data = p.read_bytes()
    for src in (data, bytearray(data), memoryview(data)):
        assert_same(tidehash.hash_file(src).pdq, expected)


def test_seekable_file_object(sample):
    p, expected = sample
    with open(p, "rb") as f:
        rec = tidehash.hash_file(f)
        assert not f.closed  # the caller's file is not closed behind its back
    assert_same(rec.pdq, expected)
    with io.BytesIO(p.read_bytes()) as bio:
        assert_same(tidehash.hash_file(bio).pdq, expected)


def test_non_seekable_file_objects(sample):
    p, expected = sample
    data = p.read_bytes()
    stream = NonSeekable(data)
    with pytest.raises(OSError):
        stream.seek(0)
    assert_same(tidehash.hash_file(stream).pdq, expected)
    assert_same(tidehash.hash_file(io.BufferedReader(NonSeekable(data))).pdq, expected)
    assert_same(tidehash.hash_file(ReadOnly(data)).pdq, expected)


def test_all_input_kinds_agree_with_dihedral(sample):
    p, _ = sample
    data = p.read_bytes()
    sources = [p, str(p), data, io.BytesIO(data), NonSeekable(data)]
    recs = [tidehash.hash_file(s, dihedral=True) for s in sources]
    first = recs[0].pdq_dihedral
    assert len(first) == 8
    for r in recs[1:]:
        assert r.pdq_dihedral == first
        assert r.pdq == first[0]


# --------------------------------------------------------------------------- large images


@pytest.mark.slow
def test_large_jpeg_several_pillow_blocks(tmp_path):
    # 5000 x 4000 RGB: 80 MB in Pillow's 4-byte layout, > 16 MB, so Pillow's default
    # allocation spreads it over several blocks
    w, h_ = 5000, 4000
    small = smooth_rgb(100, 125, 31)
    big = Image.fromarray(small, "RGB").resize((w, h_), Image.BILINEAR)
    p = tmp_path / "big.jpg"
    big.save(p, quality=85)
    with Image.open(p) as im:
        expected_arr = np.asarray(im.convert("RGB"))
    assert expected_arr.shape == (h_, w, 3)
    expected = h(expected_arr)
    assert_same(file_hash(p), expected)
    assert_same(tidehash.hash_file(p.read_bytes()).pdq, expected)
    with Image.open(p) as im:  # a Pillow image loaded the default way (several blocks)
        assert_same(tidehash.pdq_hash(im), expected)


@pytest.mark.slow
def test_large_grey_jpeg_several_pillow_blocks(tmp_path):
    w, h_ = 5000, 4000  # 20 MB as L
    small = smooth_grey(100, 125, 32)
    p = tmp_path / "big_l.jpg"
    Image.fromarray(small, "L").resize((w, h_), Image.BILINEAR).save(p, quality=85)
    with Image.open(p) as im:
        assert im.mode == "L"
        expected = h(np.asarray(im))
    assert_same(file_hash(p), expected)


@pytest.mark.slow
def test_large_rgba_png(tmp_path):
    w, h_ = 4500, 4000
    rgb = np.asarray(Image.fromarray(smooth_rgb(90, 100, 33), "RGB").resize((w, h_)))
    alpha = np.zeros((h_, w), np.uint8)
    alpha[:, ::2] = 255
    p = tmp_path / "big_rgba.png"
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(p, compress_level=1)
    assert_same(file_hash(p), h(rgb))


# --------------------------------------------------------------------------- other containers


def _bug(*values):
    return pytest.param(*values, id="-".join(map(str, values)) + "-regression")


@pytest.mark.parametrize("fmt,mode", [
    ("BMP", "RGB"), ("BMP", "L"), ("TIFF", "RGB"), ("TIFF", "RGBA"), ("TGA", "RGBA"),
    ("PPM", "RGB"), ("PPM", "L"), ("WEBP", "RGB"), ("WEBP", "RGBA"), ("SGI", "RGB"),
    ("QOI", "RGBA"), ("DDS", "RGBA"),
    _bug("ICO", "RGB"), _bug("ICO", "RGBA"), _bug("ICO", "L"),
])
def test_lossless_containers_hash_the_written_pixels(tmp_path, fmt, mode):
    """Lossless formats: the expected pixels are the array written, no decoder involved.

    Regression, fixed (ICO cases): hash_file on an .ico returns the all-zero hash with
    quality 0 for any icon. tidehash.image._preallocate_single_block() sets
    im.im = Image.core.new_block(mode, size) before im.load(); IcoImageFile.load()
    (like IcnsImageFile.load and GbrImageFile.load) starts with "if self._im is not None
    and self.im.size == self.size: # Already loaded", so it never decodes and the
    blank preallocated block is hashed."""
    Image.init()
    if fmt not in Image.SAVE:
        pytest.skip(f"this Pillow cannot write {fmt}")
    rgb = smooth_rgb(64, 64, 40)
    if mode == "L":
        arr = smooth_grey(64, 64, 40)
        expected = arr
    elif mode == "RGBA":
        arr = np.dstack([rgb, np.full((64, 64), 255, np.uint8)])  # opaque: lossless everywhere
        expected = rgb
    else:
        arr = expected = rgb
    p = tmp_path / f"img.{fmt.lower()}"
    kw = {"lossless": True} if fmt == "WEBP" else {}
    if fmt == "ICO":
        kw = {"sizes": [(64, 64)]}
    Image.fromarray(arr, mode).save(p, fmt, **kw)
    with Image.open(p) as im:  # sanity: the format really is lossless here
        im.load()
        dec = np.asarray(im.convert("RGB") if expected.ndim == 3 else im.convert("L"))
        assert np.array_equal(dec, expected)
    assert_same(file_hash(p), h(expected))


@pytest.mark.parametrize("fmt", [_bug("ICNS")])
def test_icns_hashes_the_decoded_icon(tmp_path, fmt):
    """Regression (fixed): same cause as the ICO cases of
    test_lossless_containers_hash_the_written_pixels (IcnsImageFile.load sees the
    preallocated block and skips decoding): an .icns hashes as all zeros, quality 0."""
    Image.init()
    if fmt not in Image.SAVE:
        pytest.skip(f"this Pillow cannot write {fmt}")
    p = tmp_path / "icon.icns"
    Image.fromarray(smooth_rgb(128, 128, 41), "RGB").save(p, fmt)
    with Image.open(p) as im:
        im.load()
        expected = np.asarray(im.convert("RGB"))
    got = file_hash(p)
    assert got.quality > 0
    assert_same(got, h(expected))


@pytest.mark.slow
def test_large_palette_png(tmp_path):
    # 2600 x 2000 palette image: expanded to RGB(A) it spans several Pillow blocks
    im, _, palette = _palette_image(42, 2600, 2000)
    p = tmp_path / "big_p.png"
    im.save(p, compress_level=1, transparency=3)
    with Image.open(p) as check:
        assert check.mode == "P"
        idx = np.asarray(check)
    assert_same(file_hash(p), h(palette[idx]))


def test_reused_decode_buffer_never_leaks_between_files(tmp_path):
    """hash_file decodes into a per-thread buffer reused for the next file of the
    same mode and size: alternating two different images of one size (and a third
    of another size in between) must give each its own hash every time, and a
    Pixels object from decode() without reuse must stay intact."""
    rng = np.random.default_rng(99)
    arrays, paths = [], []
    for i, shape in enumerate([(300, 200, 3), (300, 200, 3), (120, 90, 3)]):
        a = np.asarray(Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
                       .resize((shape[1], shape[0])))
        p = tmp_path / f"reuse{i}.png"
        Image.fromarray(a).save(p)
        arrays.append(a)
        paths.append(p)
    expected = [tidehash.pdq_hash(a) for a in arrays]
    assert len(set(expected)) == 3
    from tidehash.image import decode
    kept = decode(paths[0])
    for order in ([0, 1, 0, 1], [1, 2, 0, 0, 2, 1]):
        for i in order:
            assert tidehash.hash_file(paths[i]).pdq == expected[i]
    assert tidehash.pdq_hash(kept.image if kept.image is not None else kept.array) == expected[0]


def test_max_pixels_is_the_one_guard_whatever_pillows_limit(monkeypatch):
    """Regression (fixed): an image within max_pixels that Pillow's own bomb check
    refused (PIL.Image.MAX_IMAGE_PIXELS, process-global) raised ImageTooLargeError
    although max_pixels allowed it; max_pixels is now the one guard of the API."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((50, 50, 3), np.uint8)).save(buf, "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw DecompressionBombWarning either
        assert tidehash.hash_file(buf.getvalue(), max_pixels=10**6).pdq is not None
        assert tidehash.hash_file(buf.getvalue(), max_pixels=None).pdq is not None
    with pytest.raises(tidehash.ImageTooLargeError, match="exceeds the limit of 2000"):
        tidehash.hash_file(buf.getvalue(), max_pixels=2000)
    # outside a tidehash decode, Pillow's own check is Pillow's, unchanged
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(buf.getvalue()))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert tidehash.hash_file(buf.getvalue(), max_pixels=10**6).pdq is not None
    with pytest.raises(tidehash.ImageTooLargeError, match="exceeds the limit of 2000"):
        tidehash.hash_file(buf.getvalue(), max_pixels=2000)


@pytest.fixture(scope="module")
def big_pngs(tmp_path_factory):
    """A 100 MP and a 182 MP PNG (one grey level: a few hundred KB each): between
    Pillow's warning and error limits, and above its error limit."""
    d = tmp_path_factory.mktemp("big")
    paths = {}
    for mp, side in ((100, 10_000), (182, 13_500)):
        paths[mp] = d / f"big{mp}.png"
        Image.new("L", (side, side), 7).save(paths[mp])
    return paths


def test_api_prints_no_raw_pillow_bomb_warning(big_pngs):
    """Regression (fixed): hash_file of a 100 MP image printed Pillow's raw
    DecompressionBombWarning (the command line silenced it, the API did not)."""
    assert Image.MAX_IMAGE_PIXELS is not None and 10**8 > Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = tidehash.hash_file(big_pngs[100])
    assert rec.kind == "image" and rec.pdq is not None
    # a flat image: its PDQ is the PDQ of the same grey level at any size
    assert rec.pdq.bytes == tidehash.pdq_hash(np.full((100, 100), 7, np.uint8)).bytes


def test_api_max_pixels_none_is_no_limit(big_pngs):
    """Regression (fixed): max_pixels=None ("no limit") still refused a 182 MP image
    (Pillow's own limit, twice PIL.Image.MAX_IMAGE_PIXELS, applied)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # recognising the image is the step Pillow refused; "vpdq" alone decodes no pixel
        rec = tidehash.hash_file(big_pngs[182], algorithms=("vpdq",), max_pixels=None)
        assert rec.kind == "image"
        assert tidehash.hash_file(big_pngs[182], algorithms=("vpdq",),
                                  max_pixels=182_250_000).kind == "image"
    with pytest.raises(tidehash.ImageTooLargeError, match="exceeds the limit of 182249999"):
        tidehash.hash_file(big_pngs[182], algorithms=("vpdq",), max_pixels=182_249_999)
    with pytest.raises(tidehash.ImageTooLargeError, match="exceeds the limit of 178956970"):
        tidehash.hash_file(big_pngs[182])  # the default limit is Pillow's own
    with pytest.raises(Image.DecompressionBombError):
        Image.open(big_pngs[182])  # Pillow's check outside tidehash is untouched
