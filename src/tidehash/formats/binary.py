"""tidehash's binary list file: a whole HashList (every signal type, every entry's
id, source, label, quality and key, duplicates merged) in one file that loads by
memory map in milliseconds, whatever its size. ``tidehash index build`` writes it;
``Matcher.load``, ``read_list`` and ``Index.load`` read it.

Layout (little-endian)::

    0   magic  b"TIDELST\\0"
    8   u32    format version (1)
    12  u32    length L of the JSON directory
    16  u32    CRC-32 of the directory
    20  u32    0 (reserved)
    24  L bytes: the JSON directory
        then the arrays, each at an offset that is a multiple of 64

The directory holds the list's metadata (sources, counts, the lists it was built
from, free-form ``extra``) and, per signal type, its arrays: name -> offset, dtype,
shape and the CRC-32 of the array's bytes. Arrays (see SignalHashes): ``hashes``
(R, width) uint8; ``ids``, ``source_codes``, ``quality``; ``labels`` / ``keys`` as
``*.data`` + ``*.ends``; ``entry_row``, ``offsets``, ``order`` when hashes repeat;
``sorted`` (the rows in byte order, for exact lookups of MD5 / SHA-256); for vPDQ the
frames of all videos flattened (``frames`` = per-video offsets, ``frame_number``,
``frame_quality``, ``frame_hash``, ``frame_timestamp``).

Loading checks what a hostile or damaged file could get wrong before anything uses
it: magic, version, directory checksum, every array inside the file and of an
expected dtype and shape, and (``verify=True``, the default) every array's checksum
and that every stored index points inside its table.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
import zlib

import numpy as np

from .._atomic import atomic_file
from .._version import __version__
from ..errors import HashFormatError
from ..hashes import VPDQFeature
from .detect import INDEX_FILE, LIST_FILE, LIST_FILE_MAGIC, kind_of_prefix
from .model import (
    HASH_BYTES,
    SIGNAL_TYPES,
    BadLine,
    HashList,
    SignalHashes,
    StringColumn,
    sorted_rows,  # noqa: F401  (it was defined here)
)

MAGIC = LIST_FILE_MAGIC
VERSION = 1
_HEAD = struct.Struct("<8sIIII")
#: A list file read from a pipe (not mapped) is read whole into memory, up to this size.
MAX_PIPED_LIST_BYTES = 4 << 30
_ALIGN = 64
# the largest directory accepted (it holds names and numbers, not data)
_MAX_DIRECTORY = 64 << 20

# name -> (dtype, ndim) of every array a group may hold
_ARRAYS = {
    "hashes": ("|u1", 2), "ids": ("<i8", 1), "source_codes": ("<i4", 1),
    "quality": ("<i2", 1), "labels.data": ("|u1", 1), "labels.ends": ("<i8", 1),
    "keys.data": ("|u1", 1), "keys.ends": ("<i8", 1), "entry_row": ("<i8", 1),
    "offsets": ("<i8", 1), "order": ("<i8", 1), "sorted": ("<i8", 1),
    "frames": ("<i8", 1), "frame_number": ("<i8", 1), "frame_quality": ("<i2", 1),
    "frame_hash": ("|u1", 2), "frame_timestamp": ("<f8", 1),
}


class ListFileError(HashFormatError):
    """A tidehash list file that is truncated, corrupt or of an unknown version."""


def is_list_file(prefix: bytes) -> bool:
    """Whether bytes starting a file are a tidehash list file's."""
    return kind_of_prefix(prefix) == LIST_FILE


# ----------------------------------------------------------------------------- write
def _group_arrays(group: SignalHashes) -> dict[str, np.ndarray]:
    arrays = {"ids": group.ids, "source_codes": group.source_codes}
    if group.hashes is not None:
        arrays["hashes"] = group.hashes
        if group.signal in ("md5", "sha256"):
            arrays["sorted"] = group.sorted_rows
    if group.quality is not None:
        arrays["quality"] = group.quality
    for name in ("labels", "keys"):
        column = getattr(group, name)
        if column is not None:
            arrays[f"{name}.data"], arrays[f"{name}.ends"] = column.data, column.ends
    if group.has_duplicates:
        arrays["entry_row"] = group.entry_row
        arrays["offsets"], arrays["order"] = group.offsets, group.order
    if group.features is not None:
        feats = group.features
        counts = np.fromiter((len(f) for f in feats), np.int64, len(feats))
        frames = np.zeros(len(feats) + 1, np.int64)
        np.cumsum(counts, out=frames[1:])
        flat = [f for video in feats for f in video]
        arrays["frames"] = frames
        arrays["frame_number"] = np.fromiter((f.frame_number for f in flat), np.int64,
                                             len(flat))
        arrays["frame_quality"] = np.fromiter((f.quality for f in flat), np.int16, len(flat))
        arrays["frame_timestamp"] = np.fromiter((f.timestamp for f in flat), np.float64,
                                                len(flat))
        arrays["frame_hash"] = (np.frombuffer(bytes.fromhex("".join(f.hex for f in flat)),
                                              np.uint8).reshape(len(flat), 32)
                                if flat else np.empty((0, 32), np.uint8))
    return {name: np.ascontiguousarray(a, dtype=_ARRAYS[name][0]) for name, a in arrays.items()}


def save_list(hash_list: HashList, path, *, extra: dict | None = None,
              before_commit=None) -> int:
    """Write ``hash_list`` to ``path`` as a tidehash list file, atomically (a
    temporary file in the same folder, fsync, rename). ``extra``: JSON-able
    metadata kept in the directory (``tidehash index build`` records the lists it
    read). ``before_commit()`` is called just before the rename; if it raises,
    nothing is written. Returns the file's size in bytes."""
    plan = []  # (name, array)
    groups = {}
    for signal in hash_list.signals:
        group = hash_list[signal]
        entries = {}
        for name, arr in _group_arrays(group).items():
            entries[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape),
                             "crc32": zlib.crc32(arr.data) if arr.size else 0}
            plan.append((signal, name, arr))
        groups[signal] = {"rows": len(group), "entries": group.n_entries, "arrays": entries}
    directory = {
        "tidehash": __version__, "sources": list(hash_list.sources),
        "format": hash_list.format, "error_count": hash_list.error_count,
        "removed": hash_list.removed, "skipped": dict(hash_list.skipped),
        "errors": [[e.source, e.line, e.reason, e.text] for e in hash_list.errors],
        "extra": extra or {}, "groups": groups,
    }

    def encode() -> bytes:
        return json.dumps(directory, sort_keys=True).encode()

    # offsets depend on the directory's length, which depends on the offsets: place the
    # arrays after a directory padded to a fixed, generous size
    for signal, name, _ in plan:
        groups[signal]["arrays"][name]["offset"] = 0
    reserve = len(encode()) + 24 * (len(plan) + 1) + 64
    offset = _align(_HEAD.size + reserve)
    for signal, name, arr in plan:
        groups[signal]["arrays"][name]["offset"] = offset
        offset = _align(offset + arr.nbytes)
    text = encode()
    if len(text) > reserve:  # cannot happen: each offset adds at most 20 digits
        raise AssertionError("list file directory outgrew its space")
    head = _HEAD.pack(MAGIC, VERSION, len(text), zlib.crc32(text), 0)
    with atomic_file(path, before_commit) as f:
        f.write(head + text)
        pos = len(head) + len(text)
        for signal, name, arr in plan:
            start = groups[signal]["arrays"][name]["offset"]
            f.write(b"\0" * (start - pos))
            f.write(arr.data)
            pos = start + arr.nbytes
        f.write(b"\0" * (_align(pos) - pos))
    return _align(pos)  # not f.tell(): a pipe or FIFO cannot tell


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


# ----------------------------------------------------------------------------- read
def load_list(source, *, mmap: bool = True, verify: bool = True) -> HashList:
    """Read a tidehash list file (a path, or its content as bytes). With ``mmap``
    (paths only) the arrays are read-only views of the mapped file: nothing is
    copied, and only the pages a search touches are read. ``verify`` checks every
    array's CRC-32 and every stored index (reads the whole file once). Raises
    ListFileError for a file that is not one, truncated, corrupt or of another
    version. ``HashList.extra`` holds the metadata saved with it."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _parse(np.frombuffer(source, np.uint8), "<bytes>", verify)
    name = os.fspath(source)
    if not stat.S_ISREG(os.stat(name).st_mode):
        # a pipe (<(cat list.thl)) cannot be mapped: read once into memory
        with open(name, "rb") as f:
            data = f.read(MAX_PIPED_LIST_BYTES + 1)
        return load_list_bytes(data, name, verify=verify)
    if not mmap:
        return _parse(np.fromfile(name, np.uint8), name, verify)
    if os.path.getsize(name) < _HEAD.size:  # too short to map; says why it is refused
        return _parse(np.fromfile(name, np.uint8), name, verify)
    return _parse(np.memmap(name, dtype=np.uint8, mode="r"), name, verify)


def load_list_bytes(data, name: str, *, verify: bool = True) -> HashList:
    """load_list of a list file's content read from a pipe (``name`` for messages):
    more than MAX_PIPED_LIST_BYTES is refused."""
    if len(data) > MAX_PIPED_LIST_BYTES:
        raise ListFileError(f"{name}: a list file read from a pipe is limited to "
                            f"{MAX_PIPED_LIST_BYTES} bytes (memory); save it to a file, "
                            "which is memory-mapped instead")
    if kind_of_prefix(data) == INDEX_FILE:
        raise ListFileError(f"{name}: an index file (Index.save), not a list file; an index "
                            "file must be a regular file, not a pipe (Index.load maps it)")
    return _parse(np.frombuffer(data, np.uint8), name, verify)


def _parse(buf: np.ndarray, name: str, verify: bool) -> HashList:
    size = buf.shape[0]
    if size < _HEAD.size and size >= len(MAGIC) and is_list_file(buf[:len(MAGIC)].tobytes()):
        raise ListFileError(f"{name}: truncated ({size} bytes: not even the header)")
    if size < _HEAD.size or not is_list_file(buf[:len(MAGIC)].tobytes()):
        raise ListFileError(f"{name}: not a tidehash list file")
    _, version, length, crc, reserved = _HEAD.unpack(buf[:_HEAD.size].tobytes())
    if version != VERSION:
        raise ListFileError(f"{name}: list file version {version} is not supported "
                            f"(this tidehash reads version {VERSION})")
    if reserved or length > _MAX_DIRECTORY:
        raise ListFileError(f"{name}: corrupt header")
    if _HEAD.size + length > size:
        raise ListFileError(f"{name}: truncated ({size} bytes; its header says the "
                            f"directory alone ends at {_HEAD.size + length})")
    text = buf[_HEAD.size:_HEAD.size + length].tobytes()
    if zlib.crc32(text) != crc:
        raise ListFileError(f"{name}: directory is corrupt (checksum mismatch)")
    try:
        return _parse_directory(buf, name, verify, length, json.loads(
            text, parse_constant=_no_constant))
    except ListFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a hostile directory provokes
        raise ListFileError(f"{name}: malformed directory ({type(exc).__name__}: "
                            f"{str(exc)[:200]})") from None


def _no_constant(word: str):
    raise ValueError(f"{word} is not a number a list file holds")


def _int(value, what: str) -> int:
    """A JSON integer (not a bool, float or string)."""
    if type(value) is not int:
        raise ValueError(f"{what}: {value!r:.40} is not an integer")
    return value


def _str(value, what: str) -> str:
    if type(value) is not str:
        raise ValueError(f"{what}: {value!r:.40} is not a string")
    return value


def _parse_directory(buf: np.ndarray, name: str, verify: bool, length: int,
                     directory) -> HashList:
    if not isinstance(directory, dict) or not isinstance(directory.get("groups"), dict) \
            or not isinstance(directory.get("sources"), list):
        raise ValueError("not a list file directory")
    sources = [_str(s, "source") for s in directory["sources"]]
    groups = directory["groups"]
    _check_gaps(buf, name, _HEAD.size + length, groups, verify)
    out = {}
    for signal, spec in groups.items():
        if signal not in SIGNAL_TYPES:
            raise ListFileError(f"{name}: unknown signal type {signal!r}")
        try:
            arrays = {key: _array(buf, name, key, meta, verify)
                      for key, meta in spec["arrays"].items()}
            out[signal] = _group(signal, arrays, sources, _int(spec["rows"], "rows"),
                                 _int(spec["entries"], "entries"), verify)
        except ListFileError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ListFileError(f"{name}: {signal}: malformed ({type(exc).__name__}: "
                                f"{str(exc)[:200]})") from None
    skipped = directory.get("skipped") or {}
    extra = directory.get("extra") or {}
    fmt = directory.get("format")
    if not isinstance(skipped, dict) or not isinstance(extra, dict) \
            or (fmt is not None and type(fmt) is not str):
        raise ValueError("skipped, extra or format of the wrong type")
    errors = [BadLine(_str(src, "error source"), _int(line, "error line"),
                      _str(reason, "error reason"), _str(text, "error text"))
              for src, line, reason, text in directory.get("errors") or []]
    hl = HashList(out, sources=sources, errors=errors,
                  error_count=_int(directory.get("error_count", 0), "error_count"),
                  skipped={_str(k, "skipped"): _int(v, "skipped") for k, v in skipped.items()},
                  removed=_int(directory.get("removed", 0), "removed"), format=fmt)
    hl.extra = extra
    return hl


def _check_gaps(buf: np.ndarray, name: str, start: int, groups: dict, zeros: bool) -> None:
    """Arrays must not overlap, and (``zeros``) every byte between them (alignment
    padding) must be zero: with the checksums, any changed byte is caught."""
    try:
        spans = sorted((_int(meta["offset"], "offset"),
                        math.prod(_int(n, "shape") for n in meta["shape"])
                        * np.dtype(meta["dtype"]).itemsize)
                       for spec in groups.values() for meta in spec["arrays"].values())
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise ListFileError(f"{name}: malformed directory ({exc})") from None
    # the file ends where save_list ends it: at the last array (or the directory),
    # aligned; a byte more or less is refused, so no byte escapes the checks
    size, want = buf.shape[0], _align(max([start] + [o + n for o, n in spans]))
    if size < want:
        raise ListFileError(f"{name}: truncated ({size} bytes; its directory says {want})")
    if size > want:
        raise ListFileError(f"{name}: corrupt ({size - want} bytes after the end its "
                            f"directory says, {want})")
    pos = start
    for offset, nbytes in spans + [(size, 0)]:
        if offset < pos:
            raise ListFileError(f"{name}: corrupt (arrays overlap)")
        if zeros and np.any(buf[pos:offset]):
            raise ListFileError(f"{name}: data is corrupt (padding is not zero)")
        pos = offset + nbytes


def _array(buf: np.ndarray, name: str, key: str, meta: dict, verify: bool) -> np.ndarray:
    if key not in _ARRAYS:
        raise ListFileError(f"{name}: unknown array {key!r}")
    dtype, ndim = _ARRAYS[key]
    shape = tuple(_int(n, "shape") for n in meta["shape"])
    offset = _int(meta["offset"], "offset")
    if meta["dtype"] != dtype or len(shape) != ndim or min(shape, default=0) < 0:
        raise ListFileError(f"{name}: array {key!r}: unexpected type {meta['dtype']} "
                            f"{list(shape)}")
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if offset % _ALIGN or offset < _HEAD.size or offset + nbytes > buf.shape[0]:
        raise ListFileError(f"{name}: truncated or corrupt (array {key!r} lies outside "
                            f"the file)")
    arr = buf[offset:offset + nbytes].view(dtype).reshape(shape)
    crc = _int(meta["crc32"], "crc32")
    if verify and zlib.crc32(arr.data if arr.size else b"") != crc:
        raise ListFileError(f"{name}: data is corrupt (checksum mismatch in {key!r})")
    if not np.little_endian and arr.dtype.byteorder == "<":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise ValueError(what)


def _in_range(arr: np.ndarray | None, n: int) -> bool:
    return arr is None or arr.size == 0 or (int(arr.min()) >= 0 and int(arr.max()) < n)


def _is_permutation(arr: np.ndarray, n: int) -> bool:
    """Whether ``arr`` holds each of 0 .. n-1 exactly once."""
    return arr.shape == (n,) and _in_range(arr, n) and (
        n == 0 or int(np.bincount(arr, minlength=n).max()) == 1)


def _monotone(ends: np.ndarray, first_zero: bool, last: int) -> bool:
    if ends.size == 0:
        return last == 0
    ok = bool(np.all(ends[1:] >= ends[:-1])) and int(ends[-1]) == last
    return ok and (int(ends[0]) == 0 if first_zero else int(ends[0]) >= 0)


def _column(arrays: dict, key: str, entries: int, verify: bool) -> StringColumn | None:
    if f"{key}.data" not in arrays:
        return None
    data, ends = arrays[f"{key}.data"], arrays[f"{key}.ends"]
    _check(ends.shape[0] == entries, f"{key}: {ends.shape[0]} ends for {entries} entries")
    if verify:
        _check(_monotone(ends, False, data.shape[0]), f"{key}: bad offsets")
    return StringColumn(data, ends)


def _group(signal: str, arrays: dict, sources: list, rows: int, entries: int,
           verify: bool) -> SignalHashes:
    ids, codes = arrays["ids"], arrays["source_codes"]
    _check(ids.shape == (entries,) and codes.shape == (entries,), "entry arrays")
    _check(entries == 0 or len(sources) > 0, "entries without a source table")
    quality = arrays.get("quality")
    _check(quality is None or quality.shape == (entries,), "quality")
    hashes = arrays.get("hashes")
    features = None
    if signal == "vpdq":
        _check(hashes is None, "vpdq rows have no hashes array")
        features = _features(arrays, rows, verify)
    else:
        _check(hashes is not None and hashes.shape == (rows, HASH_BYTES[signal]), "hashes")
    entry_row = arrays.get("entry_row")
    offsets, order = arrays.get("offsets"), arrays.get("order")
    has_groups = entry_row is not None
    _check((offsets is not None) == has_groups == (order is not None), "duplicate tables")
    if has_groups:
        _check(entry_row.shape == (entries,) and order.shape == (entries,)
               and offsets.shape == (rows + 1,), "duplicate tables")
        if verify:
            _check(_in_range(entry_row, rows) and _is_permutation(order, entries)
                   and _monotone(offsets, True, entries), "duplicate tables")
            # the entries of row r (order[offsets[r]:offsets[r+1]]) are those whose row is r
            _check(bool(np.array_equal(entry_row[order], np.repeat(
                np.arange(rows, dtype=np.int64), np.diff(offsets)))), "duplicate tables")
    else:
        _check(rows == entries, f"{rows} rows for {entries} entries without duplicate tables")
    if verify:
        _check(_in_range(codes, len(sources)), "source codes")
        if quality is not None:
            _check(quality.size == 0 or (int(quality.min()) >= -1
                                         and int(quality.max()) <= 100), "quality")
    order_rows = arrays.get("sorted")
    if order_rows is not None:
        _check(order_rows.shape == (rows,), "sorted")
        if verify:
            _check(_is_permutation(order_rows, rows) and _rows_sorted(hashes, order_rows),
                   "sorted: rows out of order")
    return SignalHashes(signal, hashes, ids, sources=sources, source_codes=codes,
                        quality=quality, labels=_column(arrays, "labels", entries, verify),
                        keys=_column(arrays, "keys", entries, verify), entry_row=entry_row,
                        offsets=offsets, order=order, features=features,
                        sorted_rows=order_rows)


def _rows_sorted(hashes: np.ndarray, order: np.ndarray, chunk: int = 1 << 20) -> bool:
    """Whether hashes[order] is in byte order (each row <= the next)."""
    for start in range(0, max(len(order) - 1, 0), chunk):
        idx = order[start:start + chunk + 1]
        a, b = hashes[idx[:-1]], hashes[idx[1:]]
        differ = a != b
        first = differ.argmax(axis=1)
        rows = np.flatnonzero(differ.any(axis=1))
        if np.any(a[rows, first[rows]] > b[rows, first[rows]]):
            return False
    return True


def _features(arrays: dict, rows: int, verify: bool) -> list:
    frames = arrays["frames"]
    number, quality = arrays["frame_number"], arrays["frame_quality"]
    stamp, fhash = arrays["frame_timestamp"], arrays["frame_hash"]
    total = number.shape[0]
    _check(frames.shape == (rows + 1,) and quality.shape == (total,)
           and stamp.shape == (total,) and fhash.shape == (total, 32), "video frames")
    _check(_monotone(frames, True, total), "video frames")
    hexes = [fhash[i].tobytes().hex() for i in range(total)]
    number, quality, stamp = number.tolist(), quality.tolist(), stamp.tolist()
    if verify:
        _check(all(0 <= q <= 100 for q in quality), "frame quality")
    bounds = frames.tolist()
    return [[VPDQFeature(number[i], quality[i], hexes[i], stamp[i])
             for i in range(bounds[v], bounds[v + 1])] for v in range(rows)]
