"""tidehash list files (formats.binary): round trips, memory mapping, exact lookups,
and refusal of every damaged or hostile file."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_formats import record_lists  # tests/ is on sys.path (conftest)

import tidehash
from tidehash.formats import HashList, HashRecord, ListFileError, load_list, read_list, save_list
from tidehash.match import Matcher

SIGNALS = ("pdq", "md5", "sha256", "phash")


def _dicts(hl: HashList) -> list[dict]:
    return [r.to_dict() for r in hl.records()]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=record_lists(signals=SIGNALS, videos=True), mmap=st.booleans())
def test_round_trip_keeps_every_entry(recs, mmap, tmp_path):
    hl = HashList.from_records(recs, source="src")
    path = tmp_path / "l.thl"
    save_list(hl, path, extra={"lists": ["x"]})
    back = load_list(path, mmap=mmap)
    assert _dicts(back) == _dicts(hl)  # ids, labels, keys, sources, quality, frames
    assert back.signals == hl.signals and back.sources == hl.sources
    assert back.extra == {"lists": ["x"]}
    for s in SIGNALS:
        assert np.array_equal(back[s].hashes, hl[s].hashes)
        assert np.array_equal(back[s].entry_row, hl[s].entry_row)
    assert back.vpdq.features == hl.vpdq.features
    assert _dicts(load_list(path.read_bytes())) == _dicts(hl)  # from bytes
    assert _dicts(read_list(str(path))) == _dicts(hl)  # read_list tells it by content


def test_loaded_by_memory_map_without_copy(tmp_path):
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    hl = HashList.from_records(HashRecord("pdq", h.tobytes().hex(), id=i)
                               for i, h in enumerate(hashes))
    path = tmp_path / "l.thl"
    save_list(hl, path)
    back = load_list(path)
    base = back.pdq.hashes
    while base.base is not None and not isinstance(base, np.memmap):
        base = base.base
    assert isinstance(base, np.memmap)
    assert not back.pdq.hashes.flags.writeable
    matcher = Matcher(back)
    assert np.shares_memory(matcher.index._state.codes, back.pdq.hashes)  # searched in place
    # an Index loaded from the list file searches the same hashes, ids = rows
    index = tidehash.Index.load(path)
    q = hashes[[3, 4000]]
    lims, ids, dist = index.search_range(q, 40)
    want = [np.flatnonzero(np.bitwise_count(hashes ^ x).sum(axis=1) <= 40) for x in q]
    assert [ids[lims[i]:lims[i + 1]].tolist() for i in range(2)] == [w.tolist() for w in want]


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.binary(min_size=16, max_size=16), max_size=60),
       queries=st.lists(st.binary(min_size=16, max_size=16), max_size=10),
       data=st.data())
def test_find_is_exact(rows, queries, data):
    hl = HashList.from_records(HashRecord("md5", r.hex(), id=i) for i, r in enumerate(rows))
    if rows:  # some queries that are listed
        queries = queries + data.draw(st.lists(st.sampled_from(rows), max_size=5))
    q = np.frombuffer(b"".join(queries), np.uint8).reshape(-1, 16)
    got = hl.md5.find(q)
    listed = [hl.md5.hex(r) for r in range(len(hl.md5))]
    assert got.tolist() == [listed.index(x.hex()) if x.hex() in listed else -1 for x in queries]


# ----------------------------------------------------------------------------- damage
@pytest.fixture
def small_file(tmp_path):
    recs = [HashRecord("pdq", "ab" * 32, id=1, label="x", quality=90),
            HashRecord("pdq", "ab" * 32, id=2, source="other"),
            HashRecord("md5", "cd" * 16, id=3, key="k"),
            HashRecord("vpdq", None, id=4, features=tuple(
                tidehash.parse_vpdq("0,100," + "ef" * 32 + ",0.000\n1,90," + "12" * 32
                                    + ",1.000")))]
    path = tmp_path / "small.thl"
    save_list(HashList.from_records(recs, source="s"), path)
    return path


def test_every_changed_byte_is_refused(small_file):
    data = small_file.read_bytes()
    assert len(data) < 8192
    for at in range(len(data)):
        bad = data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1:]
        with pytest.raises(ListFileError):
            load_list(bad)


def test_every_truncation_is_refused(small_file):
    data = small_file.read_bytes()
    for cut in range(len(data)):
        with pytest.raises(ListFileError):
            load_list(data[:cut])
    small_file.write_bytes(b"")
    with pytest.raises(ListFileError):
        load_list(small_file)


def _rewrite(data: bytes, edit) -> bytes:
    """The file with its directory edited and its checksum fixed (a hostile file)."""
    length = struct.unpack_from("<I", data, 12)[0]
    directory = json.loads(data[24:24 + length])
    edit(directory)
    text = json.dumps(directory, separators=(",", ":")).encode()
    assert len(text) <= length, "edits must not grow the directory"
    text = text.ljust(length)  # JSON allows trailing spaces
    return data[:12] + struct.pack("<II", length, zlib.crc32(text)) + data[20:24] + text + \
        data[24 + length:]


def _arrays(d, signal):
    return d["groups"][signal]["arrays"]


HOSTILE = {
    "offset past the end": lambda d: _arrays(d, "pdq")["hashes"].update(offset=1 << 40),
    "unaligned offset": lambda d: _arrays(d, "pdq")["hashes"].update(
        offset=_arrays(d, "pdq")["hashes"]["offset"] + 8),
    "wrong dtype": lambda d: _arrays(d, "pdq")["ids"].update(dtype="<f8"),
    "huge shape": lambda d: _arrays(d, "pdq")["hashes"].update(shape=[1 << 40, 32]),
    "negative shape": lambda d: _arrays(d, "pdq")["ids"].update(shape=[-1]),
    "overflowing shape": lambda d: _arrays(d, "pdq")["hashes"].update(shape=[1 << 62, 1 << 62]),
    "negative offset": lambda d: _arrays(d, "pdq")["hashes"].update(offset=-64),
    "offset not a number": lambda d: _arrays(d, "pdq")["hashes"].update(offset="x"),
    "dtype not known": lambda d: _arrays(d, "pdq")["hashes"].update(dtype="bogus"),
    "wrong width": lambda d: _arrays(d, "md5")["hashes"].update(shape=[2, 8]),
    "rows disagree": lambda d: d["groups"]["pdq"].update(rows=5),
    "unknown signal": lambda d: d["groups"].update(sha1=d["groups"].pop("md5")),
    "unknown array": lambda d: _arrays(d, "pdq").update(x=_arrays(d, "pdq")["ids"]),
    "overlap": lambda d: _arrays(d, "pdq")["ids"].update(
        offset=_arrays(d, "pdq")["hashes"]["offset"], crc32=_arrays(d, "pdq")["hashes"]["crc32"]),
    "no groups": lambda d: d.update(groups=[]),
    "arrays not a mapping": lambda d: d["groups"]["pdq"].update(arrays=[1, 2]),
    "array spec not a mapping": lambda d: _arrays(d, "pdq").update(ids=7),
    "skipped not a mapping": lambda d: d.update(skipped=[1]),
    "directory not a mapping": lambda d: d.clear() or d.update({"0": 0}),
    "no sources for the entries": lambda d: d.update(sources=[]),
    "extra not a mapping": lambda d: d.update(extra=[1]),
    "format not a string": lambda d: d.update(format=5),
    "rows a float": lambda d: d["groups"]["pdq"].update(rows=1.0),
    "offset a bool": lambda d: _arrays(d, "pdq")["hashes"].update(offset=True),
    "error line a string": lambda d: d.update(errors=[["a", "1", "r", "t"]]),
    "error of 3 fields": lambda d: d.update(errors=[["a", 1, "r"]]),
    "sources not a list": lambda d: d.pop("sources"),
}


@pytest.mark.parametrize("text", [
    b'"Infinity"', b"Infinity", b"-Infinity", b"NaN", b"1e999", b"[" * 100_000])
@pytest.mark.parametrize("field", ["offset", "rows", "error_count", "crc32", "skipped"])
def test_non_numbers_and_deep_nesting_are_refused(small_file, field, text):
    """JSON constants Python accepts (Infinity, NaN, 1e999) and nesting deep enough to
    exhaust the recursion limit: ListFileError, not OverflowError / RecursionError."""
    data = small_file.read_bytes()
    length = struct.unpack_from("<I", data, 12)[0]
    directory = json.loads(data[24:24 + length])
    marker = 987654321
    if field == "offset":
        _arrays(directory, "pdq")["hashes"]["offset"] = marker
    elif field == "rows":
        directory["groups"]["pdq"]["rows"] = marker
    elif field == "crc32":
        _arrays(directory, "md5")["hashes"]["crc32"] = marker
    elif field == "skipped":
        directory["skipped"] = {"x": marker}
    else:
        directory[field] = marker
    body = json.dumps(directory, separators=(",", ":")).encode().replace(
        str(marker).encode(), text)
    head = data[:12] + struct.pack("<II", len(body), zlib.crc32(body)) + data[20:24]
    first = struct.calcsize("<8sIIII") + length
    # the arrays stay where they were: the new directory is padded (or, if longer, the
    # file is rebuilt with the arrays moved - which the offsets would not match: refused)
    bad = head + body.ljust(length) + data[first:] if len(body) <= length else head + body
    for verify in (True, False):
        with pytest.raises(ListFileError):
            load_list(bad, verify=verify)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_directory_is_refused(small_file, name):
    data = _rewrite(small_file.read_bytes(), HOSTILE[name])
    with pytest.raises(ListFileError):
        load_list(data)
    with pytest.raises(ListFileError):
        load_list(data, verify=False)


def _poke(data: bytes, signal: str, array: str, index: int, value: int) -> bytes:
    """The file with one element of an array changed, its checksum fixed: bad content
    that only the content checks can catch."""
    length = struct.unpack_from("<I", data, 12)[0]
    meta = json.loads(data[24:24 + length])["groups"][signal]["arrays"][array]
    arr = np.frombuffer(data, np.dtype(meta["dtype"]), count=int(np.prod(meta["shape"])),
                        offset=meta["offset"]).copy()
    arr.reshape(-1)[index] = value
    out = bytearray(data)
    out[meta["offset"]:meta["offset"] + arr.nbytes] = arr.tobytes()
    crc = zlib.crc32(arr.tobytes())
    return _rewrite(bytes(out), lambda d: d["groups"][signal]["arrays"][array].update(crc32=crc))


@pytest.mark.parametrize("signal,array,index,value", [
    ("pdq", "entry_row", 0, 7), ("pdq", "order", 1, -1), ("pdq", "offsets", 1, 5),
    ("pdq", "order", 1, 0),  # not a permutation: an entry shown twice, another hidden
    ("pdq", "offsets", 1, 0),
    ("pdq", "source_codes", 0, 99), ("pdq", "quality", 0, 300),
    ("pdq", "labels.ends", 0, 1 << 40), ("md5", "sorted", 0, 3),
    ("vpdq", "frames", 1, 9), ("vpdq", "frame_quality", 0, -5),
])
def test_out_of_range_content_is_refused(small_file, signal, array, index, value):
    data = _poke(small_file.read_bytes(), signal, array, index, value)
    with pytest.raises(ListFileError):
        load_list(data)


def test_tables_that_hide_or_repeat_entries_are_refused(tmp_path):
    """Index tables that are in range but inconsistent would hide listed hashes or show
    entries twice: a digest order that is not a permutation, an entry moved to another
    row's CSR slice."""
    recs = [HashRecord("md5", "11" * 16, id=1), HashRecord("md5", "22" * 16, id=2),
            HashRecord("pdq", "ab" * 32, id=3), HashRecord("pdq", "cd" * 32, id=4),
            HashRecord("pdq", "ab" * 32, id=5)]
    path = tmp_path / "t.thl"
    save_list(HashList.from_records(recs), path)
    data = path.read_bytes()
    assert load_list(data).md5.find(np.full((1, 16), 0x22, np.uint8)).tolist() == [1]
    for signal, array, index, value in (("md5", "sorted", 1, 0),      # [0, 0]
                                        ("pdq", "entry_row", 1, 0),   # entry 1 claims row 0
                                        ("pdq", "order", 0, 1)):      # [1, 1, 2]
        with pytest.raises(ListFileError):
            load_list(_poke(data, signal, array, index, value))


def test_bad_lines_survive_the_round_trip(tmp_path):
    hl = read_list(b"pdq " + b"ab" * 32 + b"\nbad\npdq zz\n")
    assert hl.error_count == 2
    save_list(hl, tmp_path / "e.thl")
    back = load_list(tmp_path / "e.thl")
    assert back.errors == hl.errors and back.error_count == 2


def test_index_load_reports_a_damaged_list_file(small_file):
    data = small_file.read_bytes()
    small_file.write_bytes(data[:-10])
    with pytest.raises(tidehash.IndexFormatError):
        tidehash.Index.load(small_file)


# ----------------------------------------------------------------------------- Matcher
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=record_lists(signals=("pdq", "md5", "sha256")), seed=st.integers(0, 2**32 - 1))
def test_matcher_over_a_list_file_equals_the_list(recs, seed, tmp_path):
    """Batched matching over a loaded list file == one query at a time over the list."""
    hl = HashList.from_records(recs)
    path = tmp_path / "m.thl"
    save_list(hl, path)
    rng = np.random.default_rng(seed)
    listed = {s: [hl[s].hex(r) for r in range(len(hl[s]))] for s in ("pdq", "md5", "sha256")}

    class Rec:  # what hash_files yields, as far as matching reads it
        def __init__(self, pdq, md5, sha256, quality):
            self.pdq = tidehash.PDQHash.from_hex(pdq, quality) if pdq else None
            self.pdq_dihedral = None
            self.md5, self.sha256, self.vpdq = md5, sha256, None

    def pick(signal, width):
        if listed[signal] and rng.random() < 0.6:
            return listed[signal][int(rng.integers(len(listed[signal])))]
        return rng.integers(0, 256, width, dtype=np.uint8).tobytes().hex()

    queries = [Rec(pick("pdq", 32) if rng.random() < 0.8 else None, pick("md5", 16),
                   pick("sha256", 32), int(rng.integers(0, 101))) for _ in range(8)]
    a, b = Matcher(hl, radius=60, min_quality=20), Matcher.load(path, radius=60, min_quality=20)
    key = [[(m.signal, m.row, m.distance, m.weak, tuple(e.id for e in m.entries)) for m in ms]
           for ms in (a.match_record(q) for q in queries)]
    got = [[(m.signal, m.row, m.distance, m.weak, tuple(e.id for e in m.entries)) for m in ms]
           for ms in b.match_records(queries)]
    assert got == key


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=5)
                     | st.floats(allow_nan=False),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_directory_edit_is_refused_or_loads(data):
    """Whatever a hostile directory holds (checksum fixed), loading either works or
    raises ListFileError: never another exception."""
    base = _SMALL
    length = struct.unpack_from("<I", base, 12)[0]
    paths = list(_paths(json.loads(base[24:24 + length])))
    where = data.draw(st.sampled_from(paths[1:]))
    value = data.draw(_JSON)

    def edit(d):
        for k in where[:-1]:
            d = d[k]
        d[where[-1]] = value

    try:
        bad = _rewrite(base, edit)
    except AssertionError:
        return  # the edit does not fit in the directory's space
    for verify in (True, False):
        try:
            load_list(bad, verify=verify)
        except ListFileError:
            pass


def _small_bytes() -> bytes:
    import tempfile

    recs = [HashRecord("pdq", "ab" * 32, id=1, label="x", quality=90),
            HashRecord("pdq", "ab" * 32, id=2, source="other"),
            HashRecord("md5", "cd" * 16, id=3, key="k"),
            HashRecord("vpdq", None, id=4, features=tuple(
                tidehash.parse_vpdq("0,100," + "ef" * 32 + ",0.000")))]
    with tempfile.TemporaryDirectory() as d:
        save_list(HashList.from_records(recs, source="s"), f"{d}/x.thl")
        with open(f"{d}/x.thl", "rb") as f:
            return f.read()


_SMALL = _small_bytes()


def test_a_pipe_is_read_once(tmp_path):
    """A named pipe (as `<(zcat list.gz)` gives) is not peeked at for the list-file
    magic: its bytes could not be read a second time."""
    import os
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    line = b"pdq " + b"ab" * 32 + b"\n"

    def write():
        with open(fifo, "wb") as f:
            f.write(line)

    result = {}

    def read():
        result["hl"] = read_list(str(fifo))

    writer = threading.Thread(target=write, daemon=True)
    reader = threading.Thread(target=read, daemon=True)
    writer.start()
    reader.start()
    reader.join(20)
    if reader.is_alive():  # unblock the reader's second open before failing
        with open(fifo, "wb"):
            pass
        reader.join(5)
        pytest.fail("read_list of a pipe hung: the pipe was opened twice")
    assert [r.hash for r in result["hl"].records()] == ["ab" * 32]


def _padded_file(tmp_path):
    """A list file whose last array does not end on the 64-byte alignment, so it ends
    in padding (the bytes a cut or an append used to slip through)."""
    records = [HashRecord("pdq", f"{i + 1:064x}", id=i, label="x" * (i % 5)) for i in range(3)]
    path = tmp_path / "padded.list"
    save_list(HashList.from_records(records), path)
    return path


@pytest.mark.parametrize("mmap", [True, False])
def test_every_cut_says_truncated_and_appended_bytes_are_refused(tmp_path, mmap):
    """Regression (fixed): a list file cut by 1-8 bytes, or with 1 or 64 zero bytes
    appended, was accepted (padding), and a cut in the middle said "arrays overlap".
    The size must be what the directory says: every cut is "truncated", every append
    refused."""
    path = _padded_file(tmp_path)
    data = path.read_bytes()
    length = struct.unpack_from("<I", data, 12)[0]
    # the last array does end before the file does: the case that was accepted
    directory = json.loads(data[24:24 + length])
    ends = [m["offset"] + int(np.prod(m["shape"])) * np.dtype(m["dtype"]).itemsize
            for g in directory["groups"].values() for m in g["arrays"].values()]
    assert max(ends) < len(data)
    load_list(path, mmap=mmap)
    bad = tmp_path / "bad.list"
    for cut in range(1, len(data)):
        bad.write_bytes(data[:cut])
        with pytest.raises(ListFileError, match="truncated" if cut >= 8 else "."):
            load_list(bad, mmap=mmap)
        with pytest.raises(ListFileError, match="truncated" if cut >= 8 else "."):
            load_list(data[:cut])
    for extra in (b"\0", b"\0" * 8, b"\0" * 63, b"\0" * 64, b"\0" * 4096, b"x"):
        bad.write_bytes(data + extra)
        with pytest.raises(ListFileError, match="bytes after the end"):
            load_list(bad, mmap=mmap)
        with pytest.raises(ListFileError, match="bytes after the end"):
            load_list(data + extra)
    empty = save_list(HashList.from_records([]), tmp_path / "empty.list")
    data = (tmp_path / "empty.list").read_bytes()
    assert len(data) == empty
    for cut in range(8, len(data)):
        with pytest.raises(ListFileError, match="truncated"):
            load_list(data[:cut])
    with pytest.raises(ListFileError, match="bytes after the end"):
        load_list(data + b"\0" * 64)


# ----------------------------------------------------------------------------- from a pipe
class _Fifo:
    """A FIFO at ``path`` fed ``data`` by a thread (a pipe with a name, as
    ``<(cat list.thl)`` gives)."""

    def __init__(self, path, data: bytes):
        import os
        import threading
        os.mkfifo(path)
        self.path = str(path)
        self._writer = threading.Thread(target=self._write, args=(data,))
        self._writer.start()

    def _write(self, data):
        try:
            with open(self.path, "wb") as fh:
                fh.write(data)
        except BrokenPipeError:
            pass

    def join(self):
        self._writer.join(timeout=30)


def _pipe_list(tmp_path):
    recs = [HashRecord("pdq", "ab" * 32, id=1, label="a", quality=90),
            HashRecord("md5", "0" * 32, id=2, label="b"),
            HashRecord("pdq", "cd" * 32, id=3, label="c", quality=40)]
    hl = HashList.from_records(recs, source="s")
    path = tmp_path / "l.thl"
    save_list(hl, path, extra={"lists": ["x"]})
    return hl, path.read_bytes()


needs_fifo = pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"),
                                reason="no FIFOs on this platform")


@needs_fifo
@pytest.mark.parametrize("reader", ["load_list", "read_list", "read_list_tidehash",
                                    "iter_records", "Matcher.load", "file_object"])
def test_list_file_from_a_pipe_is_read_once(tmp_path, reader):
    """Regression (fixed): a list file read through a pipe (<(cat l.thl)) was "cannot
    tell the list's format" (read_list, match --against) or "bad magic" (index
    info); a pipe is read once into memory and loaded from the bytes."""
    hl, data = _pipe_list(tmp_path)
    if reader == "file_object":
        from sources import NonSeekable  # tests/ helpers
        back = read_list(NonSeekable(data))
        assert _dicts(back) == _dicts(hl)
        return
    fifo = _Fifo(tmp_path / "pipe", data)
    try:
        if reader == "load_list":
            back = load_list(fifo.path)
        elif reader == "read_list":
            back = read_list(fifo.path)
        elif reader == "read_list_tidehash":
            back = read_list(fifo.path, format="tidehash")
        elif reader == "iter_records":
            assert [r.to_dict() for r in tidehash.formats.iter_records(fifo.path)] == \
                _dicts(hl)
            return
        else:
            m = Matcher.load(fifo.path)
            assert [e.id for x in m.match_pdq("ab" * 32) for e in x.entries] == [1]
            return
    finally:
        fifo.join()
    assert _dicts(back) == _dicts(hl)
    assert back.extra == {"lists": ["x"]}


@needs_fifo
def test_list_file_and_text_lists_from_pipes_merge(tmp_path):
    hl, data = _pipe_list(tmp_path)
    text = tmp_path / "t.txt"
    text.write_text("ef" * 32 + "\n")
    fifo = _Fifo(tmp_path / "pipe", data)
    try:
        back = read_list([str(text), fifo.path])
    finally:
        fifo.join()
    assert sorted(r.hash for r in back.records()) == sorted(
        [r.hash for r in hl.records()] + ["ef" * 32])


@needs_fifo
def test_damaged_or_index_file_from_a_pipe_says_so(tmp_path):
    hl, data = _pipe_list(tmp_path)
    fifo = _Fifo(tmp_path / "pipe", data[:100])
    try:
        with pytest.raises(ListFileError, match="truncated"):
            load_list(fifo.path)
    finally:
        fifo.join()
    ix = tidehash.Index()
    ix.add(np.zeros((2, 32), np.uint8))
    ix.save(tmp_path / "x.idx")
    for load in (load_list, read_list):
        fifo = _Fifo(tmp_path / f"pipe-{load.__name__}", (tmp_path / "x.idx").read_bytes())
        try:
            with pytest.raises(tidehash.HashFormatError, match="not (from )?a pipe"):
                load(fifo.path)
        finally:
            fifo.join()


@pytest.mark.skipif(__import__("shutil").which("bash") is None, reason="needs bash for <(...)")
def test_cli_reads_a_list_file_from_a_pipe(tmp_path):
    """`index info <(cat l.thl)` and `match --against <(cat l.thl)`, as a shell runs them."""
    import subprocess
    import sys
    _, data = _pipe_list(tmp_path)
    (tmp_path / "l.thl").write_bytes(data)
    img = tmp_path / "q.png"
    from PIL import Image
    Image.new("L", (64, 64), 128).save(img)
    th = f"{sys.executable!s} -m tidehash.cli"
    import os
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(tidehash.__file__)))
    r = subprocess.run(["bash", "-c", f"{th} index info --format jsonl <(cat l.thl)"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert (info["kind"], info["pdq"], info["md5"], info["entries"]) == ("list", 2, 1, 3)
    r = subprocess.run(["bash", "-c", f"{th} match --against <(cat l.thl) q.png"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert "cannot tell" not in r.stderr and "bad magic" not in r.stderr
    assert r.returncode in (0, 1), r.stderr  # q.png matches nothing: no traceback
