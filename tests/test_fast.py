"""Fast mode (``fast=True``): large JPEGs are decoded scaled by 1/2, 1/4 or 1/8 in the
DCT domain (Pillow draft), keeping at least FAST_MIN_SIDE pixels on the short side.

* the hash stays within FAST_BOUND bits of exact mode (the bound measured on the
  photo corpus of benchmarks/RESULTS.md, "Fast mode"), on JPEGs made here;
* everything else (other formats, JPEGs under 2 x FAST_MIN_SIDE) hashes exactly as
  in exact mode, bit for bit;
* the pixel limit still applies to the size the file declares;
* dihedral variants, digests, threads.
"""

from __future__ import annotations

import io
import struct
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

import tidehash
from tidehash.image import FAST_MIN_SIDE, decode

#: Largest fast-vs-exact PDQ distance measured on the real-photo corpus (12 MP,
#: 1/4 scale) in benchmarks/RESULTS.md; test-made images must stay within it.
FAST_BOUND = 16


def photo_like(h: int, w: int, seed: int) -> np.ndarray:
    """A photo-like RGB image: structure laid out relative to the frame (blobs at
    6, 24 and 96 cells across, the same picture at any size, as a scene is) plus
    per-pixel grain (as from a sensor)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w, 3), np.float32)
    for cells, amplitude in ((6, 1.0), (24, 0.5), (96, 0.25)):
        gh = max(2, round(cells * h / max(h, w)))
        gw = max(2, round(cells * w / max(h, w)))
        small = rng.integers(0, 256, (gh, gw, 3), dtype=np.uint8)
        big = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC), np.float32)
        out += amplitude * (big - 128)
    out = out / 1.75 + 128 + rng.normal(0, 3, (h, w, 3)).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def jpeg_bytes(arr: np.ndarray, mode: str = "RGB", fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).convert(mode).save(buf, fmt, quality=90, **kw)
    return buf.getvalue()


def expected_scale(short_side: int) -> int:
    if short_side // FAST_MIN_SIDE < 2:
        return 1
    return next(s for s in (8, 4, 2) if short_side // FAST_MIN_SIDE >= s)


# 1/2, 1/4 and 1/8, and the edges of the rule (2 x FAST_MIN_SIDE - 1 and exactly 2x)
CASES = [(2 * FAST_MIN_SIDE + 300, 2 * FAST_MIN_SIDE + 76, 1),
         (4 * FAST_MIN_SIDE + 600, 4 * FAST_MIN_SIDE + 52, 2),
         (2 * FAST_MIN_SIDE + 9, 2 * FAST_MIN_SIDE, 3)]


@pytest.fixture(scope="module")
def big_jpegs():
    return [(jpeg_bytes(photo_like(h, w, seed)), w, h) for w, h, seed in CASES]


def test_fast_mode_scales_large_jpegs_and_stays_within_the_bound(big_jpegs):
    for data, w, h in big_jpegs:
        s = expected_scale(min(w, h))
        assert s >= 2
        px = decode(data, fast=True)
        assert px.image.size == ((w + s - 1) // s, (h + s - 1) // s)
        assert min(px.image.size) >= FAST_MIN_SIDE
        exact = tidehash.hash_file(data).pdq
        fast = tidehash.hash_file(data, fast=True).pdq
        assert tidehash.hamming(exact, fast) <= FAST_BOUND, (w, h)
        assert fast.quality >= 50


@pytest.mark.slow
def test_fast_mode_one_eighth(tmp_path):
    w, h = 8 * FAST_MIN_SIDE + 100, 8 * FAST_MIN_SIDE
    data = jpeg_bytes(photo_like(h, w, 4))
    assert decode(data, fast=True).image.size == ((w + 7) // 8, h // 8)
    d = tidehash.hamming(tidehash.hash_file(data).pdq, tidehash.hash_file(data, fast=True).pdq)
    assert d <= FAST_BOUND


def test_fast_mode_grey_and_cmyk_jpegs(tmp_path):
    arr = photo_like(2 * FAST_MIN_SIDE + 40, 3 * FAST_MIN_SIDE, 5)
    for mode in ("L", "CMYK"):
        data = jpeg_bytes(arr, mode)
        px = decode(data, fast=True)
        assert px.image.size == (3 * FAST_MIN_SIDE // 2, FAST_MIN_SIDE + 20)
        with Image.open(io.BytesIO(data)) as im:
            im.draft("RGB", (FAST_MIN_SIDE, FAST_MIN_SIDE))
            assert im.mode == mode  # draft("RGB") converts no colours
        d = tidehash.hamming(tidehash.hash_file(data).pdq,
                             tidehash.hash_file(data, fast=True).pdq)
        assert d <= FAST_BOUND, mode


def test_fast_mode_mpo_is_drafted(tmp_path):
    arr = photo_like(2 * FAST_MIN_SIDE + 8, 2 * FAST_MIN_SIDE + 100, 6)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "MPO", save_all=True, quality=90,
                              append_images=[Image.fromarray(arr[::-1])])
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "MPO"
    assert decode(data, fast=True).image.size[1] == FAST_MIN_SIDE + 4
    assert tidehash.hamming(tidehash.hash_file(data).pdq,
                            tidehash.hash_file(data, fast=True).pdq) <= FAST_BOUND


def test_fast_mode_is_exact_mode_for_small_jpegs():
    for w, h in [(2 * FAST_MIN_SIDE - 1, 4 * FAST_MIN_SIDE), (1000, 600), (300, 200),
                 (64, 64), (7, 5)]:
        data = jpeg_bytes(photo_like(h, w, w))
        assert decode(data, fast=True).image.size == (w, h)
        assert tidehash.hash_file(data, fast=True) == tidehash.hash_file(data)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_fast_mode_is_exact_mode_for_other_formats(fmt):
    arr = photo_like(2 * FAST_MIN_SIDE + 50, 2 * FAST_MIN_SIDE + 150, 7)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    data = buf.getvalue()
    assert decode(data, fast=True).image.size == (arr.shape[1], arr.shape[0])
    assert tidehash.hash_file(data, fast=True) == tidehash.hash_file(data)
    assert tidehash.hash_file(data, fast=True, dihedral=True) == \
        tidehash.hash_file(data, dihedral=True)


def test_fast_mode_pixel_limit_applies_to_the_declared_size():
    w, h = 2 * FAST_MIN_SIDE + 100, 2 * FAST_MIN_SIDE
    data = jpeg_bytes(photo_like(h, w, 8))
    # the drafted image (w/2 x h/2) is under the limit, the file's own size is not
    with pytest.raises(tidehash.ImageTooLargeError):
        tidehash.hash_file(data, fast=True, max_pixels=w * h - 1)
    (rec,) = tidehash.hash_files([data], fast=True, max_pixels=w * h - 1, workers=1)
    assert rec.error and rec.pdq is None
    assert tidehash.hash_file(data, fast=True, max_pixels=w * h).pdq is not None


def test_fast_mode_refuses_a_declared_bomb_before_decoding():
    """A JPEG header that declares 60000 x 60000 (the rest is a small image):
    refused from the header alone, fast mode or not."""
    data = bytearray(jpeg_bytes(photo_like(64, 64, 9)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", 60000, 60000)
    for fast in (False, True):
        with pytest.raises(tidehash.ImageTooLargeError):
            tidehash.hash_file(bytes(data), fast=fast)


def test_fast_mode_with_dihedral(big_jpegs):
    data, _, _ = big_jpegs[0]
    exact = tidehash.hash_file(data, dihedral=True).pdq_dihedral
    rec = tidehash.hash_file(data, dihedral=True, fast=True)
    assert len(rec.pdq_dihedral) == 8
    assert rec.pdq == rec.pdq_dihedral[0] == tidehash.hash_file(data, fast=True).pdq
    for e, f in zip(exact, rec.pdq_dihedral):
        assert tidehash.hamming(e, f) <= FAST_BOUND
    # the variants are of the drafted image itself
    assert list(rec.pdq_dihedral) == tidehash.pdq_hash_dihedral(decode(data, fast=True).image)


def test_fast_mode_with_digests_and_every_source_kind(tmp_path, big_jpegs):
    import hashlib
    data, _, _ = big_jpegs[1]
    p = tmp_path / "big.jpg"
    p.write_bytes(data)
    want = tidehash.hash_file(p, fast=True, algorithms=("pdq", "md5", "sha256"))
    assert want.md5 == hashlib.md5(data).hexdigest()
    assert want.sha256 == hashlib.sha256(data).hexdigest()
    with open(p, "rb") as f:
        assert tidehash.hash_file(f, fast=True).pdq == want.pdq
    assert tidehash.hash_file(data, fast=True).pdq == want.pdq
    assert tidehash.hash_file(p, fast=True).pdq == want.pdq


def test_fast_mode_is_not_applied_when_phash_is_requested(big_jpegs):
    """pHash must equal imagehash on the full image, so the file is decoded in full."""
    data, _, _ = big_jpegs[0]
    rec = tidehash.hash_file(data, fast=True, algorithms=("pdq", "phash"))
    assert rec.pdq == tidehash.hash_file(data).pdq


def test_fast_mode_threads(big_jpegs):
    small = [jpeg_bytes(photo_like(300 + 10 * i, 400, 20 + i)) for i in range(4)]
    sources = [d for d, _, _ in big_jpegs] + small
    sources = sources * 3
    fast = [tidehash.hash_file(s, fast=True).pdq for s in sources]
    exact = [tidehash.hash_file(s).pdq for s in sources]
    assert [r.pdq for r in tidehash.hash_files(sources, fast=True, workers=4)] == fast
    # fast and exact calls interleaved on 4 threads: per-thread decode buffers of
    # several sizes must never leak pixels between them
    with ThreadPoolExecutor(4) as pool:
        futs = [(i, k % 2, pool.submit(tidehash.hash_file, s, fast=bool(k % 2)))
                for k, (i, s) in enumerate(list(enumerate(sources)) * 2)]
        for i, is_fast, fut in futs:
            assert fut.result().pdq == (fast[i] if is_fast else exact[i])
