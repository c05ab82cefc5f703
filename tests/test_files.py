"""hash_file / hash_files: the ``algorithms`` choice, MD5 / SHA-256 computed in the
read that decodes the image, digests-only files, and the error rule (error set =>
every hash None). The oracle is hashlib over the bytes the test wrote; every file
is made in pytest's tmp_path."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from sources import (  # tests/ helpers (pytest puts tests/ on sys.path)
    DECODE_FORMATS,
    NonSeekable,
    ReadOnly,
    encoded,
    oracle,
    smooth_rgb,
)

import tidehash
from tidehash.digest import CHUNK_SIZE


@pytest.mark.parametrize("fmt", DECODE_FORMATS)
def test_hash_file_digests_in_the_decoding_pass(tmp_path, fmt):
    data, exact = encoded(fmt)
    p = tmp_path / "img.bin"  # the name says nothing: formats are found by content
    p.write_bytes(data)
    want = oracle(data)
    rec = tidehash.hash_file(p, algorithms=("pdq", "md5", "sha256"))
    assert rec.error is None
    assert rec.md5 == want["md5"] and rec.sha256 == want["sha256"]
    assert rec.pdq == tidehash.hash_file(p).pdq  # digests change nothing in the pixels
    if exact is not None:
        assert rec.pdq == tidehash.pdq_hash(exact)
    # every source kind gives the same record
    with open(p, "rb") as f:
        by_file = tidehash.hash_file(f, algorithms=("pdq", "md5", "sha256"))
    others = [tidehash.hash_file(s, algorithms=("md5", "pdq", "sha256"))
              for s in (data, io.BytesIO(data), NonSeekable(data), ReadOnly(data))]
    for other in [by_file, *others]:
        assert (other.pdq, other.md5, other.sha256) == (rec.pdq, rec.md5, rec.sha256)
    d = rec.to_dict()
    assert d["md5"] == want["md5"] and d["sha256"] == want["sha256"] and d["pdq"] == rec.pdq.hex


def test_hash_file_digests_with_dihedral(tmp_path):
    data, _ = encoded("JPEG")
    rec = tidehash.hash_file(data, algorithms=("pdq", "sha256"), dihedral=True)
    assert rec.sha256 == oracle(data)["sha256"] and rec.md5 is None
    assert rec.pdq_dihedral == tidehash.hash_file(data, dihedral=True).pdq_dihedral


def test_image_inside_a_file_object_positioned_mid_file(tmp_path):
    """A file object is the bytes from its current position on, for the digests
    and for the image alike: an image stored after a header is hashed as itself."""
    data, _ = encoded("PNG")
    prefix = b"some container header " * 100
    p = tmp_path / "container.bin"
    p.write_bytes(prefix + data + b"trailer")
    want = tidehash.hash_file(data + b"trailer", algorithms=("pdq", "md5", "sha256"))
    assert want.md5 == oracle(data + b"trailer")["md5"]
    with open(p, "rb") as f:
        f.seek(len(prefix))
        assert tidehash.hash_file(f, algorithms=("pdq", "md5", "sha256")) == \
            replace(want, path=str(p))
        f.seek(len(prefix))
        assert tidehash.hash_file(f).pdq == want.pdq  # without digests too
    stream = NonSeekable(prefix + data + b"trailer", chunk=len(prefix))
    assert len(stream.read(len(prefix))) == len(prefix)
    got = tidehash.hash_file(stream, algorithms=("pdq", "md5", "sha256"))
    assert (got.pdq, got.md5, got.sha256) == (want.pdq, want.md5, want.sha256)


# --------------------------------------------------------------------------- digests only


@pytest.mark.parametrize("n", [0, 1, CHUNK_SIZE, 3 * CHUNK_SIZE + 17])
def test_digests_only_any_file(tmp_path, n):
    data = np.random.default_rng(n).bytes(n)
    p = tmp_path / "notes.txt"
    p.write_bytes(data)
    rec = tidehash.hash_file(p, algorithms=("md5", "sha256"))
    want = oracle(data)
    assert rec.error is None and rec.pdq is None
    assert (rec.md5, rec.sha256) == (want["md5"], want["sha256"])
    assert rec.to_dict() == {"path": str(p), **want}


def test_digests_only_does_not_decode(tmp_path, monkeypatch):
    """A video (or anything else) with only digests requested: Pillow is never asked."""
    from tidehash import image
    data = b"\0\0\0\x18ftypmp42" + np.random.default_rng(1).bytes(100_000)
    p = tmp_path / "clip.mp4"
    p.write_bytes(data)

    def refuse(*a, **k):
        raise AssertionError("decoded although only digests were requested")

    monkeypatch.setattr(image, "load_image", refuse)
    monkeypatch.setattr("tidehash.files.load_image", refuse)
    rec = tidehash.hash_file(p, algorithms="sha256")
    assert rec.sha256 == oracle(data)["sha256"] and rec.md5 is None and rec.pdq is None
    assert tidehash.hash_file(data, algorithms="md5").md5 == oracle(data)["md5"]
    assert tidehash.hash_file(NonSeekable(data), algorithms="md5").md5 == oracle(data)["md5"]
    recs = list(tidehash.hash_files([p, p], algorithms=("md5",), workers=2))
    assert [r.md5 for r in recs] == [oracle(data)["md5"]] * 2


def test_digests_only_bad_paths(tmp_path):
    with pytest.raises(tidehash.DecodeError) as info:
        tidehash.hash_file(tmp_path / "missing", algorithms="md5")
    assert info.value.source == str(tmp_path / "missing")
    with pytest.raises(tidehash.DecodeError):
        tidehash.hash_file(tmp_path, algorithms="md5")


# --------------------------------------------------------------------------- errors keep the rule


BAD_IMAGES = {
    "empty": b"",
    "text": b"this is not an image\n" * 50,
    "truncated-jpeg": None,  # filled below
    "garbage-after-png-magic": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
}


@pytest.mark.parametrize("kind", list(BAD_IMAGES))
def test_undecodable_image_with_digests_requested_is_an_error(tmp_path, kind):
    """error set => every hash None, digests included (hash_file raises)."""
    data = BAD_IMAGES[kind]
    if data is None:
        jpeg, _ = encoded("JPEG")
        data = jpeg[: len(jpeg) // 2]
    p = tmp_path / f"{kind}.jpg"
    p.write_bytes(data)
    with pytest.raises(tidehash.DecodeError):
        tidehash.hash_file(p, algorithms=("pdq", "md5", "sha256"))
    for workers in (1, 2):
        (rec,) = tidehash.hash_files([p], algorithms=("pdq", "md5", "sha256"), workers=workers)
        assert rec.error and rec.path == str(p)
        assert rec.pdq is rec.md5 is rec.sha256 is None
        assert rec.to_dict() == {"path": str(p), "error": rec.error}
    # the same file, digests only, is fine
    rec = tidehash.hash_file(p, algorithms=("md5", "sha256"))
    assert (rec.md5, rec.sha256) == tuple(oracle(data).values())


def test_bomb_with_digests_requested(tmp_path):
    data, _ = encoded("PNG")  # 170 x 120
    with pytest.raises(tidehash.ImageTooLargeError):
        tidehash.hash_file(data, algorithms=("pdq", "md5"), max_pixels=1000)
    assert tidehash.hash_file(data, algorithms=("md5",), max_pixels=1000).md5 == \
        oracle(data)["md5"]  # nothing decoded, no limit to apply


# --------------------------------------------------------------------------- algorithm names


@pytest.mark.parametrize("bad", [("pdq", "sha1"), "PDQ", ("dhash",), (), ["md5", None]])
def test_unknown_algorithm_names(tmp_path, bad):
    for call in (lambda: tidehash.hash_file(b"x", algorithms=bad),
                 lambda: tidehash.hash_files([b"x"], algorithms=bad)):  # at call time
        with pytest.raises(ValueError) as info:
            call()
        for name in tidehash.ALGORITHMS:
            assert name in str(info.value)


def test_every_algorithm_on_an_image():
    import imagehash

    data, _ = encoded("JPEG")
    rec = tidehash.hash_file(data, algorithms=tidehash.ALGORITHMS)
    assert rec.error is None and rec.pdq is not None and rec.md5 == oracle(data)["md5"]
    assert rec.phash == str(imagehash.phash(Image.open(io.BytesIO(data))))
    assert rec.vpdq is None and rec.kind == "image"  # an image has no vPDQ
    only = tidehash.hash_file(data, algorithms=("phash",))
    assert only.pdq is None and only.phash == rec.phash


def test_dihedral_needs_pdq():
    with pytest.raises(ValueError):
        tidehash.hash_file(b"x", algorithms=("md5",), dihedral=True)
    with pytest.raises(ValueError):
        tidehash.hash_files([b"x"], algorithms=("md5",), dihedral=True)


def test_default_is_pdq_only(tmp_path):
    data, _ = encoded("PNG")
    rec = tidehash.hash_file(data)
    assert rec.pdq is not None and rec.md5 is None and rec.sha256 is None
    assert set(rec.to_dict()) == {"path", "kind", "pdq", "quality"}


# --------------------------------------------------------------------------- batches


@pytest.mark.parametrize("workers", [1, 3])
def test_hash_files_digests_keep_order_and_per_file_errors(tmp_path, workers):
    sources, want = [], []
    for i in range(14):
        p = tmp_path / f"{i:02d}.bin"
        if i % 4 == 1:
            data = b"not an image %d" % i
            want.append(None)
        else:
            buf = io.BytesIO()
            Image.fromarray(smooth_rgb(40 + i, 60 + i, 100 + i)).save(buf, "PNG")
            data = buf.getvalue()
            want.append(oracle(data))
        p.write_bytes(data)
        sources.append(p)
    recs = list(tidehash.hash_files(iter(sources), algorithms=("pdq", "md5", "sha256"),
                                    workers=workers))
    assert [r.path for r in recs] == [str(p) for p in sources]
    for rec, w, p in zip(recs, want, sources):
        if w is None:
            assert rec.error and rec.md5 is None and rec.pdq is None
        else:
            assert rec.error is None and rec.md5 == w["md5"] and rec.sha256 == w["sha256"]
            assert rec.pdq == tidehash.hash_file(p).pdq
    digests_only = list(tidehash.hash_files(sources, algorithms=("md5",), workers=workers))
    assert [r.md5 for r in digests_only] == [oracle(p.read_bytes())["md5"] for p in sources]


@pytest.mark.parametrize("mode,fmt", [("RGB", "JPEG"), ("RGB", "PNG"), ("L", "PNG"),
                                      ("P", "PNG"), ("RGBA", "PNG"), ("I;16", "PNG"),
                                      ("CMYK", "JPEG"), ("1", "PNG"), ("LA", "PNG"),
                                      ("RGB", "WEBP"), ("P", "GIF")])
def test_phash_field_equals_imagehash_of_the_opened_file(tmp_path, mode, fmt):
    import imagehash

    rng = np.random.default_rng(len(mode) * 7 + len(fmt))
    base = Image.fromarray(rng.integers(0, 256, (90, 130, 3), dtype=np.uint8)).resize(
        (260, 180), Image.Resampling.BILINEAR)  # smooth enough that no DCT value ties
    im = base.convert(mode) if mode != "I;16" else base.convert("L").convert("I;16")
    path = tmp_path / f"x.{fmt.lower()}"
    im.save(path, format=fmt)
    rec = tidehash.hash_file(path, algorithms=("phash", "pdq"))
    with Image.open(path) as opened:
        assert rec.phash == str(imagehash.phash(opened))
    assert rec.kind == "image" and rec.pdq is not None
    assert tidehash.hash_file(path, algorithms=("phash",), fast=True).phash == rec.phash


def test_count_and_limit_arguments_are_checked_alike(tmp_path):
    """Regression (fixed): max_pixels took True, 0, -1 and 2.0 (each then refusing every
    image with "exceeds the limit of True"), seconds_per_hash took True, and workers
    refused NumPy integers here while vpdq_hash took True. Every entry point now
    checks them the same way; a huge worker count is capped, not a pool that size."""
    from videos import make_video

    data, _ = encoded("png")
    img = tmp_path / "a.png"
    img.write_bytes(data)
    video = make_video(tmp_path / "v.mp4", frames=10)
    want = tidehash.hash_file(img).pdq
    for workers in (np.int64(2), 10**9, 2**63):
        assert [r.pdq for r in tidehash.hash_files([img] * 3, workers=workers)] == [want] * 3
        assert tidehash.vpdq_hash(video, workers=workers) == tidehash.vpdq_hash(video)
    for mp in (np.int64(10**6), 10**9, 2**63, None):
        assert tidehash.hash_file(img, max_pixels=mp).pdq == want
    for bad in (0, -1, True, np.bool_(True), 2.0, "3"):
        with pytest.raises(ValueError):
            list(tidehash.hash_files([img], workers=bad))
        with pytest.raises(ValueError):
            tidehash.vpdq_hash(video, workers=bad)
    for bad, exc in ((0, ValueError), (-1, ValueError), (True, TypeError), (2.0, TypeError),
                     ("3", TypeError)):
        with pytest.raises(exc):
            tidehash.hash_file(img, max_pixels=bad)
        with pytest.raises(exc):
            tidehash.hash_files([img], max_pixels=bad)
        with pytest.raises(exc):
            tidehash.vpdq_hash(video, max_pixels=bad)
    for bad, exc in ((True, TypeError), (float("nan"), ValueError), (float("inf"), ValueError),
                     (-1, ValueError), ("x", TypeError)):
        with pytest.raises(exc):
            tidehash.vpdq_hash(video, bad)
        with pytest.raises(exc):
            tidehash.hash_file(img, seconds_per_hash=bad)


class _Failing(io.RawIOBase):
    """A binary file object whose reads raise ``exc`` after ``after`` good ones."""

    def __init__(self, data: bytes, exc: BaseException, after: int = 0, seekable=True):
        self._b = io.BytesIO(data)
        self._exc, self._after, self._seekable, self._reads = exc, after, seekable, 0

    def readable(self):
        return True

    def seekable(self):
        return self._seekable

    def seek(self, *args):
        return self._b.seek(*args)

    def tell(self):
        return self._b.tell()

    def readinto(self, buf):
        self._reads += 1
        if self._reads > self._after:
            raise self._exc
        data = self._b.read(len(buf))
        buf[:len(data)] = data
        return len(data)


@pytest.mark.parametrize("seekable", [True, False])
@pytest.mark.parametrize("after", [0, 1])
@pytest.mark.parametrize("algorithms", [("pdq",), ("pdq", "md5"), ("md5",), ("vpdq",)])
def test_an_oserror_from_a_file_object_is_a_decode_error(seekable, after, algorithms):
    """Regression (fixed): hash_file(f) let the raw OSError of ``f.read`` through
    (non-seekable objects, digests); it is tidehash's DecodeError, with the reason."""
    data, _ = encoded("png")
    f = _Failing(data, OSError(5, "Input/output error"), after, seekable)
    with pytest.raises(tidehash.DecodeError) as info:
        tidehash.hash_file(f, algorithms=algorithms)
    assert "Input/output error" in info.value.reason


def test_a_batch_goes_past_any_exception_of_a_file_object():
    """Regression (fixed): a file object raising RuntimeError stopped a whole hash_files
    batch; it is that item's error and the rest are hashed."""
    data, _ = encoded("png")
    want = tidehash.hash_file(data).pdq
    for workers in (1, 2):
        recs = list(tidehash.hash_files(
            [data, _Failing(data, RuntimeError("boom")), data,
             _Failing(data, KeyError("k"), after=1, seekable=False), data], workers=workers))
        assert [r.pdq for r in recs] == [want, None, want, None, want]
        assert recs[1].error == "RuntimeError: boom" and recs[3].error.startswith("KeyError")


def _proc_file_with_content():
    """A /proc file whose stat size is 0 although reading it gives bytes."""
    import os
    for path in ("/proc/self/status", "/proc/cpuinfo", "/proc/version"):
        try:
            if os.stat(path).st_size == 0 and open(path, "rb").read():
                return path
        except OSError:
            continue
    return None


def test_size_zero_file_with_content_is_read():
    """Regression (fixed): a regular file whose stat size is 0 but which has content
    (/proc/cpuinfo) was "empty file" for image hashes while its MD5 was right."""
    import hashlib
    import os
    if not os.path.isdir("/proc"):
        pytest.skip("no /proc file system on this platform")
    path = _proc_file_with_content()
    if path is None:
        pytest.skip("no /proc file here has stat size 0 and content")
    with pytest.raises(tidehash.DecodeError) as info:
        tidehash.hash_file(path, algorithms=("pdq", "md5"))
    assert info.value.reason == "not a recognised image or video format"
    rec = next(tidehash.hash_files([path], algorithms=("pdq",), workers=1))
    assert rec.error == "not a recognised image or video format"
    # /proc/version does not change between two reads: its digest is the oracle's
    if os.path.exists("/proc/version") and os.stat("/proc/version").st_size == 0:
        with pytest.raises(tidehash.DecodeError, match="not a recognised"):
            tidehash.hash_file("/proc/version", algorithms=("phash", "md5"))
        assert tidehash.hash_file("/proc/version", algorithms="md5").md5 == \
            hashlib.md5(open("/proc/version", "rb").read()).hexdigest()


def test_size_zero_regular_file_is_empty(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(tidehash.DecodeError) as info:
        tidehash.hash_file(p)
    assert info.value.reason == "empty file"


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_read_once_and_hashed(tmp_path):
    """A FIFO (stat size 0, not seekable) is read once: an image in it hashes with
    its digest; a FIFO whose writer writes nothing is "empty file"."""
    import hashlib
    import os
    import threading
    data, _ = encoded("PNG")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def write(payload):
        with open(fifo, "wb") as fh:
            fh.write(payload)

    for payload in (data, b""):
        writer = threading.Thread(target=write, args=(payload,))
        writer.start()
        try:
            if payload:
                rec = tidehash.hash_file(fifo, algorithms=("pdq", "md5"))
                assert rec.md5 == hashlib.md5(data).hexdigest()
                assert rec.pdq == tidehash.hash_file(data).pdq
            else:
                with pytest.raises(tidehash.DecodeError) as info:
                    tidehash.hash_file(fifo)
                assert info.value.reason == "empty file"
        finally:
            writer.join()
