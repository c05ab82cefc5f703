"""formats.detect.binary_kind: the one place that tells a list file (save_list,
`tidehash index build`) and an index file (Index.save) from everything else, and the
readers that ask it."""

from __future__ import annotations

import ast
import io
import os
import pathlib

import numpy as np
import pytest

import tidehash
from tidehash.errors import HashFormatError
from tidehash.formats import HashList, HashRecord, detect_format, read_list, save_list
from tidehash.formats.detect import INDEX_FILE, LIST_FILE, binary_kind
from tidehash.match import Matcher

HEX = "ab" * 32


@pytest.fixture()
def files(tmp_path):
    hl = HashList.from_records([HashRecord("pdq", HEX, 7, 90, "a label")], source="s")
    save_list(hl, tmp_path / "l.thl")
    index = tidehash.Index()
    index.add([HEX], [7])
    index.save(tmp_path / "i.tidx")
    (tmp_path / "t.txt").write_text(f"pdq {HEX}\n")
    (tmp_path / "short").write_bytes(b"TIDE")
    (tmp_path / "empty").write_bytes(b"")
    return tmp_path


def test_paths(files):
    assert binary_kind(files / "l.thl") == LIST_FILE == "list"
    assert binary_kind(str(files / "i.tidx")) == INDEX_FILE == "index"
    for name in ("t.txt", "short", "empty", "missing"):
        assert binary_kind(files / name) is None, name
    assert binary_kind(files) is None  # a folder


def test_bytes_and_file_objects(files):
    for name, kind in (("l.thl", LIST_FILE), ("i.tidx", INDEX_FILE), ("t.txt", None)):
        data = (files / name).read_bytes()
        assert binary_kind(data) == kind
        assert binary_kind(bytearray(data)) == kind
        assert binary_kind(memoryview(data)) == kind
        f = io.BytesIO(b"xyz" + data)
        f.seek(3)
        assert binary_kind(f) == kind
        assert f.tell() == 3  # put back where it was
        with open(files / name, "rb") as f:
            assert binary_kind(f) == kind and f.tell() == 0
    assert binary_kind(io.StringIO("TIDELST\0")) is None  # text is never a binary file
    with open(files / "l.thl", encoding="latin-1") as f:
        assert binary_kind(f) is None


class _Pipe(io.RawIOBase):
    """A binary stream that cannot seek, counting what was read from it."""

    def __init__(self, data: bytes):
        self.data, self.taken = data, 0

    def readable(self):
        return True

    def seekable(self):
        return False

    def readinto(self, b):
        n = min(len(b), len(self.data) - self.taken)
        b[:n] = self.data[self.taken:self.taken + n]
        self.taken += n
        return n


def test_a_stream_that_cannot_seek_is_not_read(files):
    pipe = _Pipe((files / "l.thl").read_bytes())
    assert binary_kind(pipe) is None
    assert pipe.taken == 0


def test_a_named_pipe_is_never_opened(tmp_path):
    """Bytes waiting in a FIFO are still there after binary_kind: it did not read."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # both ends: nothing blocks
    try:
        os.write(fd, b"TIDELST\0")
        assert binary_kind(fifo) is None
        assert os.read(fd, 64) == b"TIDELST\0"
    finally:
        os.close(fd)


def test_every_reader_asks_the_same_question(files):
    """Index.load, Matcher.load, read_list and detect_format agree on what a file is."""
    assert np.array_equal(tidehash.Index.load(files / "l.thl").hashes(),
                          tidehash.Index.load(files / "i.tidx").hashes())
    for name in ("l.thl", "i.tidx", "t.txt"):
        assert [m.distance for m in Matcher.load(files / name).match_pdq(HEX)] == [0]
    assert detect_format(files / "l.thl") == "tidehash"
    assert detect_format(io.BytesIO((files / "l.thl").read_bytes())) == "tidehash"
    assert detect_format(files / "t.txt") == "pytx"
    assert [r.hash for r in read_list(io.BytesIO((files / "l.thl").read_bytes())).records()] \
        == [HEX]


def test_an_index_file_is_not_read_as_a_hash_list(files):
    for source in (files / "i.tidx", (files / "i.tidx").read_bytes()):
        with pytest.raises(HashFormatError, match="an index file .*Index.load"):
            read_list(source)
        with pytest.raises(HashFormatError, match="an index file"):
            detect_format(source)


def test_magic_numbers_live_in_one_module():
    """No other module holds the two magics to compare file prefixes by hand."""
    src = pathlib.Path(tidehash.__file__).parent
    holders = sorted(
        str(p.relative_to(src)) for p in src.rglob("*.py")
        if any(isinstance(node, ast.Constant) and isinstance(node.value, bytes)
               and node.value.startswith((b"TIDELST", b"TIDEIDX"))
               for node in ast.walk(ast.parse(p.read_text()))))
    assert holders == [os.path.join("formats", "detect.py")]
