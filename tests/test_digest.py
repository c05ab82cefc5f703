"""MD5 / SHA-256 of file bytes (tidehash.digest): file_digests, and the reader
that hashes what a decoder reads, in any access pattern and under Pillow.

The oracle is always hashlib over the bytes the test wrote. Every file is made
in pytest's tmp_path."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sources import (  # tests/ helpers (pytest puts tests/ on sys.path)
    DECODE_FORMATS,
    Counting,
    NonSeekable,
    ReadOnly,
    encoded,
    oracle,
)

from tidehash.digest import CHUNK_SIZE, DigestingReader, file_digests, new_hashers

SIZES = [0, 1, 2, 63, 64, 65, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE,
         3 * CHUNK_SIZE + 17]


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(7)
    return {n: rng.bytes(n) for n in SIZES}


# --------------------------------------------------------------------------- file_digests


@pytest.mark.parametrize("n", SIZES)
def test_file_digests_every_source_kind(tmp_path, blobs, n):
    data = blobs[n]
    want = oracle(data)
    p = tmp_path / f"blob{n}.bin"
    p.write_bytes(data)
    assert file_digests(p) == want
    assert file_digests(str(p)) == want
    for src in (data, bytearray(data), memoryview(data)):
        assert file_digests(src) == want
    with open(p, "rb") as f:
        assert file_digests(f) == want
    with open(p, "rb", buffering=0) as f:
        assert file_digests(f) == want
    assert file_digests(io.BytesIO(data)) == want
    assert file_digests(NonSeekable(data)) == want
    assert file_digests(io.BufferedReader(NonSeekable(data, 4096))) == want
    assert file_digests(ReadOnly(data)) == want
    assert file_digests(Counting(data, short=999)) == want


def test_file_digests_empty_file_is_fine(tmp_path):
    p = tmp_path / "empty"
    p.write_bytes(b"")
    assert file_digests(p) == {"md5": "d41d8cd98f00b204e9800998ecf8427e",
                               "sha256": "e3b0c44298fc1c149afbf4c8996fb924"
                                         "27ae41e4649b934ca495991b7852b855"}


@pytest.mark.slow
def test_file_digests_50_mb(tmp_path):
    data = np.random.default_rng(50).bytes(50 * 1000 * 1000 + 3)
    p = tmp_path / "big.bin"
    p.write_bytes(data)
    assert file_digests(p) == oracle(data)
    with open(p, "rb") as f:
        r = DigestingReader(f, new_hashers(("md5", "sha256")))
        assert r.read(1000) == data[:1000]
        r.seek(len(data) - 10)
        assert r.read() == data[-10:]
        assert r.finish() == oracle(data)


def test_file_digests_algorithm_choice(blobs):
    data = blobs[65]
    want = oracle(data)
    assert file_digests(data, ("md5",)) == {"md5": want["md5"]}
    assert file_digests(data, "sha256") == {"sha256": want["sha256"]}
    assert file_digests(data, ["sha256", "md5", "md5"]) == want
    assert list(file_digests(data, ("sha256", "md5"))) == ["md5", "sha256"]


@pytest.mark.parametrize("bad", [("md5", "sha1"), "crc32", (), ("MD5",)])
def test_file_digests_unknown_names(bad):
    with pytest.raises(ValueError) as info:
        file_digests(b"x", bad)
    assert "md5" in str(info.value) and "sha256" in str(info.value)  # lists the valid ones


def test_file_digests_file_object_from_its_current_position(blobs):
    data = blobs[CHUNK_SIZE + 1]
    for start in (1, 100, CHUNK_SIZE, len(data)):
        f = io.BytesIO(data)
        f.seek(start)
        assert file_digests(f) == oracle(data[start:])
        ns = NonSeekable(data, chunk=start or 1)  # one read() consumes the prefix
        assert len(ns.read(start)) == start
        assert file_digests(ns) == oracle(data[start:])


def test_file_digests_bad_sources(tmp_path):
    with pytest.raises(FileNotFoundError):
        file_digests(tmp_path / "missing")
    with pytest.raises(OSError):
        file_digests(tmp_path)
    for bad in (None, 12, ["a"]):
        with pytest.raises(TypeError):
            file_digests(bad)
    with pytest.raises(TypeError):
        file_digests(io.StringIO("text"))


# --------------------------------------------------------------------------- DigestingReader


def digesting(data: bytes, *, start: int = 0, short: int | None = None):
    raw = Counting(data, short=short)
    raw.seek(start)
    return raw, DigestingReader(raw, new_hashers(("md5", "sha256")))


def test_reader_sequential_reads_each_byte_once(blobs):
    data = blobs[3 * CHUNK_SIZE + 17]
    raw, r = digesting(data)
    got = b"".join(iter(lambda: r.read(65536), b""))
    assert got == data
    assert r.finish() == oracle(data)
    assert raw.bytes_read == len(data)  # the tail drain read nothing more


def test_reader_unread_tail_is_drained(blobs):
    data = blobs[2 * CHUNK_SIZE]
    raw, r = digesting(data)
    assert r.read(10) == data[:10]
    assert r.finish() == oracle(data)
    assert raw.bytes_read == len(data)


def test_reader_forward_seek_hashes_the_gap_and_backward_seek_does_not_rehash(blobs):
    data = blobs[3 * CHUNK_SIZE + 17]
    raw, r = digesting(data)
    assert r.read(16) == data[:16]
    r.seek(0)  # Pillow reads a prefix and seeks back
    assert r.read(100) == data[:100]
    r.seek(2 * CHUNK_SIZE)  # forward past the hashed region (a TIFF IFD at the end)
    assert r.read(50) == data[2 * CHUNK_SIZE: 2 * CHUNK_SIZE + 50]
    r.seek(1000)  # back into the hashed region
    assert r.read(5000) == data[1000:6000]
    r.seek(-7, io.SEEK_END)
    assert r.read() == data[-7:]
    assert r.finish() == oracle(data)


def test_reader_seek_to_end_and_back_reads_nothing_extra(blobs):
    data = blobs[2 * CHUNK_SIZE]
    raw, r = digesting(data)
    assert r.seek(0, io.SEEK_END) == len(data)
    assert r.tell() == len(data)
    r.seek(0)
    assert r.read() == data
    assert raw.bytes_read == len(data)
    assert r.finish() == oracle(data)


def test_reader_seek_past_the_end(blobs):
    data = blobs[65]
    raw, r = digesting(data)
    r.seek(1000)
    assert r.read(10) == b""
    assert r.tell() == 1000
    r.seek(3)
    assert r.read(2) == data[3:5]
    assert r.finish() == oracle(data)


def test_reader_file_growing_behind_a_gap_is_an_error(blobs):
    """A file that grows between the end found while hashing a gap and the read
    behind it cannot be hashed in file order any more: an error, not a wrong digest."""

    class GrowsAtItsEnd(Counting):
        grown = False

        def readinto(self, b):
            n = super().readinto(b)
            if n == 0 and not self.grown:  # append right after the end was seen
                self.grown = True
                pos = self._buf.tell()
                self._buf.seek(0, io.SEEK_END)
                self._buf.write(b"x" * 200)
                self._buf.seek(pos)
            return n

    raw = GrowsAtItsEnd(blobs[65])
    r = DigestingReader(raw, new_hashers(("md5",)))
    r.seek(100)  # the gap [0, 100) ends at the end of the file (65) ...
    with pytest.raises(OSError):
        r.read(10)  # ... but bytes 100-110 exist now


def test_reader_short_reads_are_not_the_end(blobs):
    """A raw stream may return fewer bytes than asked before its end: the gap and
    the tail must still be hashed in full."""
    data = blobs[CHUNK_SIZE + 1]
    raw, r = digesting(data, short=777)
    assert len(r.read(5000)) == 777
    r.seek(CHUNK_SIZE // 2)
    r.read(3)
    assert r.finish() == oracle(data)


def test_reader_view_starts_at_the_current_position(blobs):
    data = blobs[CHUNK_SIZE + 1]
    start = 12345
    raw, r = digesting(data, start=start)
    assert r.tell() == 0
    assert r.read(10) == data[start:start + 10]
    assert r.seek(0, io.SEEK_END) == len(data) - start
    r.seek(0)
    assert r.read(3) == data[start:start + 3]
    assert r.finish() == oracle(data[start:])


def test_reader_readinto_readline_and_no_fileno(blobs):
    data = b"line one\nline two\n" + blobs[CHUNK_SIZE + 1]
    _, r = digesting(data)
    assert r.readline() == b"line one\n"
    buf = bytearray(9)
    assert r.readinto(buf) == 9 and bytes(buf) == b"line two\n"
    with pytest.raises(OSError):
        r.fileno()  # so libtiff cannot read the file behind the hashers' back
    assert not hasattr(r, "name")  # so Pillow cannot mmap the file by name
    assert r.finish() == oracle(data)


def test_reader_never_closes_the_stream(blobs):
    raw, r = digesting(blobs[64])
    r.close()
    del r
    assert not raw.closed


_ops = st.lists(st.one_of(
    st.tuples(st.just("read"), st.integers(-1, 3 * 4096)),
    st.tuples(st.just("readinto"), st.integers(0, 5000)),
    st.tuples(st.just("seek_set"), st.integers(0, 5 * 4096)),
    st.tuples(st.just("seek_cur"), st.integers(-5000, 5000)),
    st.tuples(st.just("seek_end"), st.integers(-5000, 100)),
), max_size=25)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 4 * 4096), start=st.integers(0, 3000), ops=_ops,
       short=st.sampled_from([None, 1, 1000]))
def test_reader_any_access_pattern(n, start, ops, short):
    """Whatever a decoder does, the reader behaves like the file (same bytes,
    same positions as a BytesIO of the view) and the digests are hashlib's."""
    data = np.random.default_rng(n).bytes(n)
    start = min(start, n)
    _, r = digesting(data, start=start, short=short)
    ref = io.BytesIO(data[start:])
    for op, arg in ops:
        if op == "read":
            if short is None or arg < 0:
                assert r.read(arg) == ref.read(arg)
            else:  # a short raw read is passed on as such, as a raw stream would
                got = r.read(arg)
                assert got == ref.read(len(got))
        elif op == "readinto":
            b = bytearray(arg)
            k = r.readinto(b)
            assert bytes(b[:k]) == ref.read(k)
        else:
            whence = {"seek_set": io.SEEK_SET, "seek_cur": io.SEEK_CUR,
                      "seek_end": io.SEEK_END}[op]
            target = {io.SEEK_SET: arg, io.SEEK_CUR: ref.tell() + arg,
                      io.SEEK_END: len(data) - start + arg}[whence]
            if target < 0:
                with pytest.raises(OSError):
                    r.seek(arg, whence)
                continue
            assert r.seek(arg, whence) == ref.seek(arg, whence)
        assert r.tell() == ref.tell()
    assert r.finish() == oracle(data[start:])


# ------------------------------------------------------------------ Pillow through the reader


@pytest.mark.parametrize("fmt", DECODE_FORMATS)
def test_pillow_decoding_through_the_reader(fmt):
    """Pillow opens and decodes from the reader; the digests are hashlib's and
    the raw stream is read about once (Pillow's own re-reads aside)."""
    data, _ = encoded(fmt)
    raw, r = digesting(data)
    with Image.open(r) as im:
        im.load()
        got = np.asarray(im.convert("RGB"))
    assert r.finish() == oracle(data)
    with Image.open(io.BytesIO(data)) as im:
        assert np.array_equal(got, np.asarray(im.convert("RGB")))
    # every byte was hashed once; bytes read twice are the decoder's own re-reads:
    # a TIFF whose IFD is at the end makes it read the strips again, and Pillow's
    # libtiff path (compressed TIFF) re-reads the whole file from its start
    twice = fmt in ("TIFF-ifd-at-end", "TIFF-multistrip-lzw")
    limit = 2 * len(data) + 4096 if twice else len(data) + 64 * 1024
    assert raw.bytes_read <= limit
