"""Bad input never crashes the process and gets a clear, typed error.

* files: tidehash.hash_file raises tidehash.DecodeError (a ValueError) whose message
  names the file; ImageTooLargeError (a DecodeError) for decompression bombs and over
  ``max_pixels``; tidehash.hash_files carries the error in the record instead.
* arrays: tidehash.pdq_hash raises TypeError for a wrong dtype / non-array object and
  ValueError for a wrong shape; any strided, reversed, transposed, Fortran-ordered or
  misaligned view hashes exactly like np.ascontiguousarray(view).
* hashes: PDQHash / from_hex / hex_to_array / hamming reject malformed input with
  HashFormatError (a ValueError) and round-trip good input.

Tests whose docstring starts with "Regression" pin a defect found (and fixed) while writing
them; they fail until the library is fixed.
"""

from __future__ import annotations

import copy
import io
import pickle
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import tidehash

# --------------------------------------------------------------------------- helpers


def smooth_rgb(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR), dtype=np.int16)
    noise = rng.integers(-6, 7, big.shape, dtype=np.int16)
    return np.clip(big + noise, 0, 255).astype(np.uint8)


def encode(arr: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


def write(tmp_path, name: str, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit grey PNG of width x height black pixels: tiny on disk, huge decoded."""
    row = b"\x00" + bytes((width + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row * 1000) for _ in range(height // 1000))
    body += comp.compress(row * (height % 1000)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", body)
            + png_chunk(b"IEND", b""))


def assert_decode_error(source, name: str, exc_type=tidehash.DecodeError, **kw):
    """hash_file(source) raises exc_type, a DecodeError/ValueError naming the file."""
    with pytest.raises(exc_type) as info:
        tidehash.hash_file(source, **kw)
    exc = info.value
    assert isinstance(exc, tidehash.DecodeError)
    assert isinstance(exc, ValueError)
    assert isinstance(exc, tidehash.TidehashError)
    assert exc.source == name
    assert name in str(exc)
    assert exc.reason and exc.reason in str(exc)
    return exc


@pytest.fixture(scope="module")
def good_rgb():
    return smooth_rgb(100, 100, 1)


@pytest.fixture(scope="module")
def jpeg_bytes(good_rgb):
    return encode(good_rgb, "JPEG", quality=90)


@pytest.fixture(scope="module")
def png_bytes(good_rgb):
    return encode(good_rgb, "PNG")


# --------------------------------------------------------------------------- exception types


def test_exception_hierarchy():
    assert issubclass(tidehash.DecodeError, ValueError)
    assert issubclass(tidehash.DecodeError, tidehash.TidehashError)
    assert issubclass(tidehash.ImageTooLargeError, tidehash.DecodeError)
    assert issubclass(tidehash.HashFormatError, ValueError)
    assert issubclass(tidehash.HashFormatError, tidehash.TidehashError)


# --------------------------------------------------------------------------- hash_file: bad files


def test_empty_file(tmp_path):
    p = write(tmp_path, "empty.jpg", b"")
    exc = assert_decode_error(p, str(p))
    assert "empty" in exc.reason
    assert_decode_error(str(p), str(p))
    assert_decode_error(b"", "<bytes>")
    assert_decode_error(io.BytesIO(b""), "<file>")


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_truncated_in_half(tmp_path, fmt, jpeg_bytes, png_bytes):
    data = jpeg_bytes if fmt == "jpeg" else png_bytes
    p = write(tmp_path, f"half.{fmt}", data[: len(data) // 2])
    assert_decode_error(p, str(p))
    assert_decode_error(data[: len(data) // 2], "<bytes>")


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
@pytest.mark.parametrize("keep", [0.25, 0.75, 0.99])
def test_truncated_in_the_body(tmp_path, fmt, keep, jpeg_bytes, png_bytes):
    data = jpeg_bytes if fmt == "jpeg" else png_bytes
    p = write(tmp_path, f"cut.{fmt}", data[: int(len(data) * keep)])
    assert_decode_error(p, str(p))


@pytest.mark.parametrize("cut", [2, 4])
@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_truncated_in_the_signature(tmp_path, fmt, cut, jpeg_bytes, png_bytes):
    data = jpeg_bytes if fmt == "jpeg" else png_bytes
    p = write(tmp_path, f"sig.{fmt}", data[:cut])
    assert_decode_error(p, str(p))


def _bug(*values):
    return pytest.param(*values, id="-".join(map(str, values)) + "-regression")


@pytest.mark.parametrize("fmt,cut", [
    _bug("JPEG", 8), _bug("JPEG", 16), _bug("JPEG", 30), _bug("JPEG", 100), _bug("JPEG", 300),
    ("PNG", 8), _bug("PNG", 16), _bug("PNG", 20), ("PNG", 30),
    _bug("WEBP", 30), _bug("WEBP", 0.5), _bug("BMP", 30), ("GIF", 10), ("TIFF", 30),
])
def test_truncated_in_the_header(tmp_path, good_rgb, fmt, cut):
    """Regression, fixed (cases with "regression" in their id): a file cut inside its header
    (a JPEG's first 8-300 bytes, a PNG inside IHDR, any truncated WebP, a BMP cut in
    its info header) makes Image.open() itself raise OSError ('Truncated File Read',
    'could not create decoder object', ...). tidehash.image.decode() only catches
    UnidentifiedImageError and DecompressionBombError around Image.open(), so
    hash_file raises a bare OSError instead of DecodeError, and the message does not
    name the file."""
    if fmt == "WEBP" and ".webp" not in Image.registered_extensions():
        pytest.skip("no WebP support in this Pillow")
    data = encode(good_rgb, fmt)
    n = int(len(data) * cut) if isinstance(cut, float) else cut
    p = write(tmp_path, f"trunc.{fmt.lower()}", data[:n])
    assert_decode_error(p, str(p))


@pytest.mark.parametrize("prefix", [
    b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x10\x00\x00WEBP",
    b"II*\x00", pytest.param(b"BM", id="BM-regression")])
def test_random_garbage(tmp_path, prefix):
    """Random bytes behind a format's magic number. The BM case hits the OSError
    Regression of test_truncated_in_the_header (Image.open raises 'Unsupported BMP
    header type' / 'Truncated File Read' as a bare OSError)."""
    data = prefix + np.random.default_rng(len(prefix)).bytes(4096)
    p = write(tmp_path, "garbage.bin", data)
    assert_decode_error(p, str(p))


def test_jpeg_with_its_middle_overwritten(tmp_path):
    """Random bytes over the middle of the entropy-coded data. libjpeg conceals some
    such damage (Pillow then returns a damaged picture and no error), so each case
    must give either DecodeError naming the file or a well-formed hash, never another
    exception; and some of them must be detected."""
    rng = np.random.default_rng(2)
    data = encode(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8), "JPEG", quality=90)
    errors = 0
    for seed in range(10):
        d = bytearray(data)
        mid = len(d) // 2
        d[mid - 1000: mid + 1000] = np.random.default_rng(seed).bytes(2000)
        p = write(tmp_path, f"overwritten{seed}.jpg", bytes(d))
        try:
            rec = tidehash.hash_file(p)
        except tidehash.DecodeError as exc:
            assert exc.source == str(p) and str(p) in str(exc)
            errors += 1
        else:
            assert rec.error is None and len(rec.pdq.hex) == 64
    assert errors >= 1


def test_jpeg_with_its_middle_overwritten_by_ff(tmp_path, jpeg_bytes):
    d = bytearray(jpeg_bytes)
    mid = len(d) // 2
    d[mid - 300: mid + 300] = b"\xff" * 600
    p = write(tmp_path, "ff.jpg", bytes(d))
    assert_decode_error(p, str(p))


def test_png_with_corrupt_idat(tmp_path, png_bytes):
    data = bytearray(png_bytes)
    start = data.index(b"IDAT") + 4
    data[start + 100: start + 600] = np.random.default_rng(3).bytes(500)
    p = write(tmp_path, "corrupt_idat.png", bytes(data))
    assert_decode_error(p, str(p))


def test_text_file(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("this is not an image\n" * 20)
    assert_decode_error(p, str(p))


def test_directory(tmp_path):
    d = tmp_path / "a_directory.jpg"
    d.mkdir()
    exc = assert_decode_error(d, str(d))
    assert "directory" in exc.reason


def test_nonexistent_path(tmp_path):
    p = tmp_path / "does_not_exist.png"
    assert_decode_error(p, str(p))  # the reason is the OS's (locale-dependent) strerror
    assert_decode_error(str(p), str(p))


def test_not_a_source_object():
    for bad in (123, None, 4.5, ["a.png"], object()):
        with pytest.raises((TypeError, ValueError)):
            tidehash.hash_file(bad)


# --------------------------------------------------------------------------- decompression bombs


def test_decompression_bomb_default_limit(tmp_path):
    data = bomb_png(20000, 20000)  # 400 M pixels
    assert len(data) < 200_000
    p = write(tmp_path, "bomb.png", data)
    exc = assert_decode_error(p, str(p), tidehash.ImageTooLargeError)
    assert "20000" in str(exc) or "pixels" in str(exc)
    assert_decode_error(data, "<bytes>", tidehash.ImageTooLargeError)


def test_bomb_below_pillows_threshold_but_over_max_pixels(tmp_path):
    # 6000 x 6000 = 36 M pixels: Pillow would decode it; tidehash must refuse it
    # before decoding when asked to
    data = bomb_png(6000, 6000)
    p = write(tmp_path, "bomb36m.png", data)
    exc = assert_decode_error(p, str(p), tidehash.ImageTooLargeError, max_pixels=10_000_000)
    assert "36000000" in str(exc)


def test_max_pixels_on_a_normal_image(tmp_path, png_bytes):
    p = write(tmp_path, "normal.png", png_bytes)  # 100 x 100
    exc = assert_decode_error(p, str(p), tidehash.ImageTooLargeError, max_pixels=1000)
    assert "10000" in str(exc) and "1000" in str(exc)
    assert_decode_error(p, str(p), tidehash.ImageTooLargeError, max_pixels=9999)
    assert tidehash.hash_file(p, max_pixels=10_000).pdq is not None  # the limit is inclusive
    assert tidehash.hash_file(p, max_pixels=None).pdq is not None


def test_default_limit_is_exported():
    assert isinstance(tidehash.DEFAULT_MAX_PIXELS, int)
    assert 10_000_000 < tidehash.DEFAULT_MAX_PIXELS < 20000 * 20000


# --------------------------------------------------------------------------- hash_files


@pytest.fixture
def mixed_batch(tmp_path, good_rgb, jpeg_bytes, png_bytes):
    """(sources, expected) where expected[i] is a PDQHash or None for a bad input."""
    sources, expected = [], []

    def good(name, data):
        p = write(tmp_path, name, data)
        sources.append(p)
        expected.append(tidehash.hash_file(p).pdq)

    def bad(name, data):
        p = write(tmp_path, name, data)
        sources.append(p)
        expected.append(None)

    for i in range(6):
        rgb = smooth_rgb(60 + 7 * i, 80 + 5 * i, 100 + i)
        good(f"g{i}.png", encode(rgb, "PNG"))
        if i == 0:
            bad("empty.png", b"")
        if i == 1:
            bad("half.jpg", jpeg_bytes[: len(jpeg_bytes) // 2])
        if i == 2:
            bad("text.txt", b"hello world\n")
            sources.append(tmp_path / "missing.png")
            expected.append(None)
        if i == 3:
            d = tmp_path / "dir"
            d.mkdir()
            sources.append(d)
            expected.append(None)
        if i == 4:
            bad("bomb.png", bomb_png(20000, 20000))
            bad("garbage.jpg", b"\xff\xd8\xff" + bytes(range(256)) * 10)
    sources.append(png_bytes)  # bytes are a source too
    expected.append(tidehash.pdq_hash(good_rgb))
    sources.append(str(tmp_path / "also_missing.jpg"))  # str path
    expected.append(None)
    return sources, expected


@pytest.mark.parametrize("workers", [1, 4])
def test_hash_files_mixed_batch(mixed_batch, workers):
    sources, expected = mixed_batch
    recs = list(tidehash.hash_files(iter(sources), workers=workers))
    assert len(recs) == len(sources)
    for src, want, rec in zip(sources, expected, recs):
        assert isinstance(rec, tidehash.FileHashes)
        name = "<bytes>" if isinstance(src, bytes) else str(src)
        assert rec.path == name
        if want is None:
            assert rec.error, f"{name}: expected an error"
            assert not rec.ok
            assert rec.pdq is None
            assert rec.to_dict() == {"path": name, "error": rec.error}
        else:
            assert rec.error is None, rec.error
            assert rec.ok
            assert rec.pdq == want


def test_hash_files_long_lazy_batch_keeps_order(tmp_path):
    paths, want = [], []
    for i in range(24):
        p = tmp_path / f"{i:02d}.png"
        if i % 5 == 3:
            p.write_bytes(b"not an image")
            want.append(None)
        else:
            rgb = smooth_rgb(40 + i, 50 + 2 * i, 200 + i)
            Image.fromarray(rgb).save(p)
            want.append(tidehash.pdq_hash(rgb))
        paths.append(p)
    got = list(tidehash.hash_files((p for p in paths), workers=4))
    assert [r.path for r in got] == [str(p) for p in paths]
    assert [r.pdq for r in got] == want
    assert [r.error is not None for r in got] == [w is None for w in want]


def test_hash_files_header_truncated_jpeg_is_a_record_not_an_exception(tmp_path, jpeg_bytes):
    # even the inputs that escape hash_file as OSError (see the regression tests)
    # must not stop a batch
    p = write(tmp_path, "hdr.jpg", jpeg_bytes[:100])
    for workers in (1, 2):
        (rec,) = tidehash.hash_files([p], workers=workers)
        assert rec.path == str(p)
        assert rec.error
        assert rec.pdq is None


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "4"])
def test_hash_files_bad_workers(workers, tmp_path):
    with pytest.raises((ValueError, TypeError)):
        list(tidehash.hash_files([tmp_path / "x.png"], workers=workers))


def test_hash_files_max_pixels(tmp_path, png_bytes):
    p = write(tmp_path, "n.png", png_bytes)
    (rec,) = tidehash.hash_files([p], workers=1, max_pixels=1000)
    assert rec.error and rec.pdq is None and rec.path == str(p)
    assert "1000" in rec.error


# --------------------------------------------------------------------------- pdq_hash arrays


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16, np.int8, np.int64, bool])
def test_array_wrong_dtype(dtype):
    a = np.zeros((32, 32, 3), dtype=dtype)
    with pytest.raises(TypeError):
        tidehash.pdq_hash(a)
    with pytest.raises(TypeError):
        tidehash.pdq_hash_dihedral(a)


@pytest.mark.parametrize("shape", [(100,), (2, 10, 10, 3), (1, 1, 1, 1), (20, 20, 2),
                                   (20, 20, 5), (20, 20, 0), ()])
def test_array_wrong_shape(shape):
    a = np.zeros(shape, dtype=np.uint8)
    with pytest.raises(ValueError):
        tidehash.pdq_hash(a)
    with pytest.raises(ValueError):
        tidehash.pdq_hash_dihedral(a)


@pytest.mark.parametrize("shape", [(0, 10), (10, 0), (0, 0), (0, 0, 3), (0, 10, 3),
                                   (10, 0, 4), (0, 5, 1)])
def test_array_zero_size(shape):
    a = np.zeros(shape, dtype=np.uint8)
    with pytest.raises(ValueError):
        tidehash.pdq_hash(a)
    with pytest.raises(ValueError):
        tidehash.pdq_hash_dihedral(a)


@pytest.mark.parametrize("obj", [
    [[1, 2], [3, 4]],
    [[[1, 2, 3]] * 10] * 10,
    "not an image",
    None,
    object(),
    {"a": 1},
    3,
])
def test_array_non_array_objects(obj):
    with pytest.raises((TypeError, ValueError)):
        tidehash.pdq_hash(obj)


@pytest.fixture(scope="module")
def base_image():
    return smooth_rgb(97, 131, 5)


def _views(base):
    wide = np.ascontiguousarray(np.concatenate([base, base[:, ::-1]], axis=1))
    buf = bytes(1) + base.tobytes() + bytes(7)
    misaligned = np.frombuffer(buf, dtype=np.uint8, count=base.size, offset=1).reshape(base.shape)
    writable = bytearray(3) + bytearray(base.tobytes())
    misaligned_rw = np.frombuffer(writable, dtype=np.uint8, offset=3).reshape(base.shape)
    padded = np.zeros((base.shape[0], base.shape[1] + 3, 3), np.uint8)
    padded[:, :base.shape[1]] = base
    return {
        "every_other_column": wide[:, ::2],
        "every_other_row": np.concatenate([base, base])[::2],
        "reversed_rows": base[::-1],
        "reversed_columns": base[:, ::-1],
        "reversed_channels": base[:, :, ::-1],
        "transposed": base.transpose(1, 0, 2),
        "fortran": np.asfortranarray(base),
        "misaligned_readonly": misaligned,
        "misaligned_writable": misaligned_rw,
        "row_padding": padded[:, :base.shape[1]],
        "grey_strided": base[:, :, 1],
        "grey_transposed": base[:, :, 0].T,
        "grey_misaligned": np.frombuffer(bytes(1) + base[:, :, 2].tobytes(), np.uint8,
                                         offset=1).reshape(base.shape[:2]),
        "rgba_strided": np.dstack([base, base[:, :, :1]])[:, ::-1],
    }


@pytest.mark.parametrize("which", list(_views(np.zeros((4, 4, 3), np.uint8))))
def test_array_views_hash_like_their_contiguous_copy(base_image, which):
    view = _views(base_image)[which]
    copy_ = np.ascontiguousarray(view)
    for isa in tidehash.available_isas():
        with tidehash.use_isa(isa):
            assert tidehash.pdq_hash(view) == tidehash.pdq_hash(copy_), isa
            assert tidehash.pdq_hash_dihedral(view) == tidehash.pdq_hash_dihedral(copy_), isa


def test_array_views_are_not_modified(base_image):
    view = base_image[::-1, ::2]
    before = view.copy()
    tidehash.pdq_hash(view)
    assert np.array_equal(view, before)


def test_single_channel_equals_grey(base_image):
    grey = np.ascontiguousarray(base_image[:, :, 1])
    assert tidehash.pdq_hash(grey[:, :, None]) == tidehash.pdq_hash(grey)
    assert tidehash.pdq_hash_dihedral(grey[:, :, None]) == tidehash.pdq_hash_dihedral(grey)


def test_rgba_equals_its_rgb_part(base_image):
    rng = np.random.default_rng(6)
    for alpha in (np.zeros(base_image.shape[:2], np.uint8),
                  rng.integers(0, 256, base_image.shape[:2], dtype=np.uint8)):
        rgba = np.dstack([base_image, alpha])
        assert tidehash.pdq_hash(rgba) == tidehash.pdq_hash(base_image)
        assert tidehash.pdq_hash_dihedral(rgba) == tidehash.pdq_hash_dihedral(base_image)


def test_pillow_image_inputs_bad(tmp_path, jpeg_bytes):
    im = Image.open(io.BytesIO(jpeg_bytes[: len(jpeg_bytes) // 2]))
    with pytest.raises(ValueError):
        tidehash.pdq_hash(im)


# --------------------------------------------------------------------------- hashes


def random_hex(rng) -> str:
    return rng.bytes(32).hex()


def test_pdqhash_constructor_errors():
    with pytest.raises((TypeError, ValueError)):
        tidehash.PDQHash("short")
    with pytest.raises(tidehash.HashFormatError):
        tidehash.PDQHash(b"short")
    with pytest.raises(tidehash.HashFormatError):
        tidehash.PDQHash(bytes(31))
    with pytest.raises(tidehash.HashFormatError):
        tidehash.PDQHash(bytes(33))
    with pytest.raises(TypeError):
        tidehash.PDQHash(None)
    with pytest.raises(ValueError):
        tidehash.PDQHash(bytes(32), quality=101)
    with pytest.raises(ValueError):
        tidehash.PDQHash(bytes(32), quality=-1)
    with pytest.raises(TypeError):
        tidehash.PDQHash(bytes(32), quality=True)
    with pytest.raises(TypeError):
        tidehash.PDQHash(bytes(32), quality=50.0)
    assert tidehash.PDQHash(bytes(32), quality=np.int64(50)).quality == 50


@pytest.mark.parametrize("text", [
    "a" * 63, "a" * 65, "", "g" * 64, "0x" + "a" * 62, "a" * 63 + "z",
    " " + "a" * 64, "a" * 64 + " ", "a" * 64 + "\n", "a" * 32 + " " + "a" * 31,
    "a" * 32 + "\t" + "a" * 32, "a" * 60 + "-abc", "\u0661" * 64,  # Arabic-Indic digit one
])
def test_from_hex_rejects(text):
    with pytest.raises(tidehash.HashFormatError):
        tidehash.PDQHash.from_hex(text)


def test_from_hex_accepts_either_case():
    rng = np.random.default_rng(7)
    hx = random_hex(rng)
    a = tidehash.PDQHash.from_hex(hx.upper(), 80)
    b = tidehash.PDQHash.from_hex(hx, 80)
    assert a == b
    assert a.hex == hx  # always lower case out
    assert a.bytes == bytes.fromhex(hx)
    assert np.array_equal(a.to_array(), np.frombuffer(bytes.fromhex(hx), np.uint8))


def test_from_hex_non_string():
    with pytest.raises((TypeError, tidehash.HashFormatError)):
        tidehash.PDQHash.from_hex(b"a" * 64)


@pytest.mark.parametrize("bad_index", [0, 3, 9])
@pytest.mark.parametrize("bad", ["zz" * 32, "a" * 63, "a" * 66, "", " " * 64, "A" * 62 + " \n"])
def test_hex_to_array_names_the_bad_index(bad_index, bad):
    rng = np.random.default_rng(8)
    values = [random_hex(rng) for _ in range(10)]
    values[bad_index] = bad
    with pytest.raises(tidehash.HashFormatError, match=rf"\b{bad_index}\b"):
        tidehash.hex_to_array(values)
    with pytest.raises(tidehash.HashFormatError, match=rf"\b{bad_index}\b"):
        tidehash.hashes_to_array(values)


@pytest.mark.parametrize("bad", [None, 12, b"a" * 64])
def test_hex_to_array_non_string_entry(bad):
    # a non-str entry is a TypeError or HashFormatError, and the message names its index
    rng = np.random.default_rng(8)
    values = [random_hex(rng) for _ in range(6)]
    values[4] = bad
    with pytest.raises((TypeError, tidehash.HashFormatError), match=r"\b4\b"):
        tidehash.hex_to_array(values)


def test_hex_to_array_length_errors_that_cancel_out_regression():
    """Regression (fixed): hex_to_array(["0"*63, "0"*65]) returns a (2, 32) array instead of
    raising. It joins all strings and only checks the *total* length and that the
    concatenation is valid hex, so a 63-digit and a 65-digit hash next to each other
    pass, and the digits are silently shifted between the two hashes. hashes_to_array
    of strings goes through the same code."""
    rng = np.random.default_rng(9)
    a, b = random_hex(rng), random_hex(rng)
    for values in ([a[:63], b + "0"], [a + "f", b[1:]], [a, a[:60], b + "abcd"]):
        with pytest.raises(tidehash.HashFormatError, match=r"hash [01]"):
            tidehash.hex_to_array(values)
        with pytest.raises(tidehash.HashFormatError):
            tidehash.hashes_to_array(values)


def test_hex_to_array_empty_list():
    out = tidehash.hex_to_array([])
    assert out.shape == (0, 32) and out.dtype == np.uint8


def test_round_trips():
    rng = np.random.default_rng(10)
    hexes = [random_hex(rng) for _ in range(50)]
    arr = tidehash.hex_to_array(hexes)
    assert arr.shape == (50, 32) and arr.dtype == np.uint8 and arr.flags.c_contiguous
    assert np.array_equal(arr, np.array([list(bytes.fromhex(x)) for x in hexes], np.uint8))
    assert tidehash.array_to_hex(arr) == hexes
    assert tidehash.array_to_hex(tidehash.hex_to_array([x.upper() for x in hexes])) == hexes
    objs = [tidehash.PDQHash.from_hex(x, 90) for x in hexes]
    assert np.array_equal(tidehash.hashes_to_array(objs), arr)
    assert np.array_equal(tidehash.hashes_to_array(hexes), arr)
    assert np.array_equal(tidehash.hashes_to_array([o.bytes for o in objs]), arr)
    mixed = [hexes[0], objs[1], objs[2].bytes, bytearray(objs[3].bytes)]
    assert np.array_equal(tidehash.hashes_to_array(mixed), arr[:4])
    assert np.array_equal(tidehash.hashes_to_array(arr), arr)
    assert tidehash.array_to_hex(arr[0]) == hexes[:1]  # a (32,) array is one hash
    assert [tidehash.PDQHash(bytes(row)).hex for row in arr] == hexes
    # a strided view converts like its copy
    assert tidehash.array_to_hex(arr[::-2]) == hexes[::-2]


def test_array_to_hex_rejects():
    with pytest.raises(TypeError):
        tidehash.array_to_hex(np.zeros((2, 32), np.int64))
    with pytest.raises(tidehash.HashFormatError):
        tidehash.array_to_hex(np.zeros((2, 31), np.uint8))
    with pytest.raises(tidehash.HashFormatError):
        tidehash.array_to_hex(np.zeros((2, 2, 32), np.uint8))


def test_hamming_matches_an_independent_count():
    rng = np.random.default_rng(11)
    for _ in range(200):
        a, b = random_hex(rng), random_hex(rng)
        want = bin(int(a, 16) ^ int(b, 16)).count("1")
        ha, hb = tidehash.PDQHash.from_hex(a), tidehash.PDQHash.from_hex(b, 10)
        assert tidehash.hamming(a, b) == want
        assert tidehash.hamming(a.upper(), b) == want
        assert tidehash.hamming(ha, hb) == want
        assert tidehash.hamming(ha.bytes, hb) == want
        assert ha.distance(b) == want
        assert tidehash.hamming(a, a) == 0
    assert tidehash.hamming("0" * 64, "f" * 64) == 256


def test_hamming_arrays():
    rng = np.random.default_rng(12)
    xs = [random_hex(rng) for _ in range(40)]
    ys = [random_hex(rng) for _ in range(40)]
    want = np.array([bin(int(x, 16) ^ int(y, 16)).count("1") for x, y in zip(xs, ys)])
    X, Y = tidehash.hex_to_array(xs), tidehash.hex_to_array(ys)
    assert np.array_equal(tidehash.hamming(X, Y), want)
    # one against many, both ways, as hex, PDQHash, (32,) or (1, 32)
    one = xs[0]
    want1 = np.array([bin(int(one, 16) ^ int(y, 16)).count("1") for y in ys])
    for q in (one, tidehash.PDQHash.from_hex(one), X[0], X[:1]):
        assert np.array_equal(tidehash.hamming(q, Y), want1)
        assert np.array_equal(tidehash.hamming(Y, q), want1)


def test_hamming_mismatched_lengths():
    rng = np.random.default_rng(13)
    X = tidehash.hex_to_array([random_hex(rng) for _ in range(3)])
    Y = tidehash.hex_to_array([random_hex(rng) for _ in range(5)])
    with pytest.raises(ValueError):
        tidehash.hamming(X, Y)
    with pytest.raises(ValueError):
        tidehash.hamming(X, np.zeros((3, 31), np.uint8))
    with pytest.raises(ValueError):
        tidehash.hamming("a" * 64, "a" * 63)
    with pytest.raises(ValueError):
        tidehash.hamming(bytes(32), bytes(31))
    with pytest.raises(TypeError):
        tidehash.hamming(X.astype(np.int64), Y)
    with pytest.raises(TypeError):
        tidehash.hamming(12, "a" * 64)


def test_pdqhash_is_immutable():
    h = tidehash.PDQHash(bytes(range(32)), 77)
    for name, value in (("hex", "0" * 64), ("quality", 1), ("bytes", bytes(32)),
                        ("_bytes", bytes(32)), ("_quality", 1), ("new_attribute", 1)):
        with pytest.raises(AttributeError):
            setattr(h, name, value)
    for name in ("_bytes", "_quality", "hex"):
        with pytest.raises(AttributeError):
            delattr(h, name)
    assert h.bytes == bytes(range(32)) and h.quality == 77


def test_pdqhash_to_array_is_a_copy():
    h = tidehash.PDQHash(bytes(range(32)), 77)
    arr = h.to_array()
    arr[:] = 0
    assert h.bytes == bytes(range(32))


def test_pdqhash_equality_and_hashing():
    raw = bytes(range(32))
    a = tidehash.PDQHash(raw, 77)
    b = tidehash.PDQHash(bytearray(raw), 77)
    c = tidehash.PDQHash(raw, 76)
    d = tidehash.PDQHash(raw, None)
    e = tidehash.PDQHash(raw[:-1] + b"\x00", 77)
    assert a == b and hash(a) == hash(b)
    assert a != c and a != d and a != e
    assert len({a, b, c, d, e}) == 4
    assert a != raw and a != raw.hex()  # not equal to other types
    assert {a: 1}[b] == 1


def test_pdqhash_pickles_and_copies():
    for q in (0, 55, 100, None):
        a = tidehash.PDQHash(bytes(range(32)), q)
        for proto in range(pickle.HIGHEST_PROTOCOL + 1):
            b = pickle.loads(pickle.dumps(a, protocol=proto))
            assert b == a and b.quality == q and isinstance(b, tidehash.PDQHash)
        assert copy.copy(a) == a
        assert copy.deepcopy(a) == a
    assert str(a) == a.hex
    assert a.hex in repr(a)


def test_file_hashes_pickles(tmp_path, png_bytes):
    rec = tidehash.hash_file(write(tmp_path, "p.png", png_bytes), dihedral=True)
    back = pickle.loads(pickle.dumps(rec))
    assert back == rec
